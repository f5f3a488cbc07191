"""Access logging after the response went out: :class:`AccessLog`.

One record per request, emitted when the server closes the response iterable (or at once when the app
call raised). By then the status is the final one (after any ``exc_info`` replacement, e.g. an error
page), the byte count is what was handed to the server, and the duration covers the whole stream. The
record's message is rendered lazily: a handler that never formats it (a ``NullHandler``, a level filter)
costs no formatting at all.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from ._process import Current, hooks_unreliable
from .core import ResponseStart, StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["FORMATS", "AccessLog"]

#: Named formats; any other ``format`` string is parsed as ``%(atom)s`` atoms.
FORMATS: Final = {
    "common": '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s',
    "combined": '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
}
_CONSOLE_HANDLER = "wsgistack.access_log.console"
_SOURCE = __file__
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- text helpers -------------------------------------------------------------------------------------

# Apache's ap_escape_logitem: printable ASCII passes except '"' and '\', which get a backslash; C
# whitespace escapes; every other byte is \xhh. WSGI strings carry one byte per character (latin-1).
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_NAMED_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    if ord(char) < 256:
        return f"\\x{ord(char):02x}"
    return "".join(f"\\x{byte:02x}" for byte in char.encode("utf-8", "surrogatepass"))


_escape = functools.partial(_UNSAFE.sub, _escape_char)


def _json_text(value: object) -> str | None:
    """A value for the JSON line: None when absent or empty; bytes-as-latin-1 strings shown as UTF-8."""
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else str(value)
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:  # not UTF-8 on the wire (or already decoded): keep the WSGI string
        return text


def _json_value(value: object, encode_string: Callable[[str], str]) -> str:
    if value.__class__ is str:
        return encode_string(value)
    if value is None:
        return "null"
    if value.__class__ is bool:
        return "true" if value else "false"
    return str(value)


_PATH_SAFE = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~-]*")


def _quote_path(path: str) -> str:
    """Percent-encode a decoded WSGI path (one byte per character) back to a request-target path."""
    if _PATH_SAFE.fullmatch(path):
        return path
    from urllib.parse import quote  # only for unusual paths; urllib.parse imports ipaddress

    try:
        raw = path.encode("latin-1")
    except UnicodeError:
        raw = path.encode("utf-8", "surrogatepass")
    return quote(raw, safe="/:@!$&'()*+,;=")


def _utc_offset(tm: time.struct_time, separator: str) -> str:
    minutes = tm.tm_gmtoff // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{separator}{minutes:02d}"


def _clf_time(tm: time.struct_time) -> str:
    # Built by hand rather than with strftime("%b"): Apache's month names are English in every locale.
    return (
        f"{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year:04d}:{tm.tm_hour:02d}:{tm.tm_min:02d}:"
        f"{tm.tm_sec:02d} {_utc_offset(tm, '')}"
    )


def _per_second(render: Callable[[time.struct_time], str]) -> Callable[[float, bool], str]:
    """``render(localtime(t))``, plain or in brackets, remembered for the last second: a busy server
    logs many lines per second."""
    last = (-1, "", "")

    def text(start: float, brackets: bool) -> str:
        nonlocal last
        second = int(start)
        cached = last  # one read: another thread may replace it meanwhile, never half-way
        if cached[0] != second:
            plain = render(time.localtime(second))
            cached = last = (second, plain, f"[{plain}]")
        return cached[2] if brackets else cached[1]

    return text


def _iso_time_formatter() -> Callable[[float], str]:
    seconds = _per_second(
        lambda tm: (
            f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}T{tm.tm_hour:02d}:{tm.tm_min:02d}:"
            f"{tm.tm_sec:02d}.%03d{_utc_offset(tm, ':')}"
        )
    )
    return lambda start: seconds(start, False) % (int(start * 1000) % 1000)


# --- records --------------------------------------------------------------------------------------------

# The LogRecord.__init__ versions that _Records mirrors; tests compare every field with a real record's.
_MIRRORED = sys.version_info[:2] in {(3, 11), (3, 12), (3, 13)}
_NS_CLOCK = sys.version_info >= (3, 13)  # created/msecs/relativeCreated from time.time_ns()
_TASK_NAMES = sys.version_info >= (3, 12)  # records carry taskName
_stock_make_record = logging.Logger.makeRecord
_new_record = logging.LogRecord.__new__


class _Records:
    """Makes the access log's records, equal field for field to what ``logger.makeRecord()`` makes.

    ``LogRecord.__init__`` recomputes per record what is the same on every access-log line, the file
    name and module of the call site through ``os.path`` above all; that is most of the cost of a
    record that no handler formats. With the stock record factory and ``Logger.makeRecord``, on the
    Python versions whose ``LogRecord`` this mirrors, a record is a copy of a template record with the
    per-record fields (time, thread, process, asyncio task) filled in exactly as ``LogRecord`` fills
    them. Otherwise (a custom factory, a Logger subclass overriding ``makeRecord``, another Python)
    ``makeRecord`` makes it.
    """

    __slots__ = ("_ask_pid", "_level", "_logger", "_template")

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self._logger = logger
        self._level = level
        self._template: dict[str, object] | None = None
        self._ask_pid = hooks_unreliable()  # else the process id comes from the at-fork hook

    def __call__(self, message: object) -> logging.LogRecord:
        logger = self._logger
        if not (
            _MIRRORED
            and logging.getLogRecordFactory() is logging.LogRecord
            and type(logger).makeRecord is _stock_make_record
            and "makeRecord" not in logger.__dict__  # nor patched onto this logger
        ):
            return logger.makeRecord(logger.name, self._level, _SOURCE, 0, message, (), None)
        template = self._template
        if template is None:
            # A plain dict: copying a record's own __dict__ (an instance dict) is twice as slow.
            template = self._template = dict(
                logger.makeRecord(logger.name, self._level, _SOURCE, 0, "", (), None).__dict__
            )
        if _NS_CLOCK:
            ns = time.time_ns()
            created = ns / 1e9
            msecs = (ns % 1_000_000_000) // 1_000_000 + 0.0
            if msecs == 999.0 and int(created) != ns // 1_000_000_000:
                msecs = 0.0
            relative = (ns - logging._startTime) / 1e6  # type: ignore[attr-defined]
        else:
            created = time.time()
            msecs = int((created - int(created)) * 1000) + 0.0
            relative = (created - logging._startTime) * 1000  # type: ignore[attr-defined]
        if logging.logThreads:
            thread: int | None = threading.get_ident()
            thread_name: str | None = threading.current_thread().name
        else:
            thread = thread_name = None
        record = _new_record(logging.LogRecord)
        record.__dict__ = fields = {
            **template,
            "msg": message,
            "levelname": logging.getLevelName(self._level),  # logging.addLevelName() may rename it
            "created": created,
            "msecs": msecs,
            "relativeCreated": relative,
            "thread": thread,
            "threadName": thread_name,
            "processName": _process_name() if logging.logMultiprocessing else None,
            "process": (os.getpid() if self._ask_pid else Current.pid) if logging.logProcesses else None,
        }
        if _TASK_NAMES:
            fields["taskName"] = _task_name()
        return record


def _process_name() -> str:
    # LogRecord's processName: multiprocessing's name for this process, once multiprocessing is imported.
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is not None:
        try:
            return multiprocessing.current_process().name  # type: ignore[no-any-return]
        except Exception:
            return "MainProcess"
    return "MainProcess"


def _task_name() -> str | None:
    # LogRecord's taskName (Python 3.12+): the running asyncio task's name, if any.
    if not getattr(logging, "logAsyncioTasks", False):
        return None
    asyncio = sys.modules.get("asyncio")
    if asyncio:
        try:
            return asyncio.current_task().get_name()  # type: ignore[no-any-return]
        except Exception:
            pass
    return None


# --- per request ---------------------------------------------------------------------------------------


class _Exchange(ResponseStart):
    """One request: the ``start_response`` handed to the app, the body handed to the server, then the log
    record's message.

    As the body it counts the bytes handed out and logs when the server closes it; it keeps
    :class:`~wsgistack.core.ClosingIterable`'s guarantees (``close()`` of the iterable the app returned
    exactly once, even if iteration never started; the record is logged even if that ``close()``
    raises) without nesting one. ``str()`` renders the line only when a handler asks for it (once, then
    cached), so a record that no handler formats costs no formatting. Like the records of
    ``django.request``, the message refers to the request's environ until the record is released.
    """

    __slots__ = ("_iterable", "completed", "duration_ns", "environ", "failed", "fields", "log", "nbytes",
                 "request", "start", "started", "text")  # fmt: skip

    # ResponseStart(start_response) with its options fixed as class attributes (they shadow the base
    # class's slots): __init__ sets only what varies per request.
    _rewrite = _map = _trailer = None
    _defer = False

    log: AccessLog
    environ: WSGIEnvironment
    #: REQUEST_METHOD, SCRIPT_NAME, PATH_INFO and QUERY_STRING as the request arrived.
    request: tuple[str | None, str | None, str | None, str | None]
    start: float
    started: int
    duration_ns: int
    nbytes: int
    completed: bool
    failed: bool
    text: str | None
    fields: dict[str, object]  # the json format's values, also the record's extra attributes
    _iterable: Iterable[bytes] | None  # the app's, until closed

    def __init__(self, log: AccessLog, environ: WSGIEnvironment, start_response: StartResponse) -> None:
        self._start_response = start_response
        self.status = None
        self.headers = []  # read by the formats even when the app never called start_response
        self.forwarded = self.sent = False
        self.log = log
        self.environ = environ
        # Captured now: routers rewrite SCRIPT_NAME and PATH_INFO in place while dispatching, and a
        # method-override layer may change REQUEST_METHOD; the log shows the request as it arrived.
        get = environ.get
        self.request = (get("REQUEST_METHOD"), get("SCRIPT_NAME"), get("PATH_INFO"), get("QUERY_STRING"))
        self.nbytes = 0
        self.completed = self.failed = False
        self.text = None
        self.start = time.time()
        self.started = time.perf_counter_ns()

    def __iter__(self) -> Iterator[bytes]:
        # A generator function as __iter__. A `for` loop, not `yield from`: closing the generator must
        # not close the app's iterator, which close() below closes exactly once.
        iterable = self._iterable
        if iterable is None:  # closed already
            return
        try:
            for chunk in iterable:
                self.nbytes += len(chunk)
                if chunk:
                    self.sent = True  # handing_out(): the headers went out with the app's call
                yield chunk
        except GeneratorExit:
            raise
        except BaseException:
            self.failed = True
            raise
        self.completed = True

    def close(self) -> None:
        iterable, self._iterable = self._iterable, None  # the record may outlive the response
        if iterable is None:
            return
        close = getattr(iterable, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self.finish()

    def write(self, data: bytes) -> None:
        # Bytes written through the legacy write() callable reach the server without the iterable.
        super().write(data)
        self.nbytes += len(data)

    def finish(self) -> None:
        """Log the request: called once, when the server closes the response or when the app raised."""
        self.duration_ns = time.perf_counter_ns() - self.started
        log = self.log
        logger, level = log._logger, log._level
        if logger.isEnabledFor(level):
            # makeRecord + handle rather than logger.log(): log() walks the stack to find the caller
            # (this module, which tells nobody anything), the most expensive part of it.
            record = log._records(self)
            if log._json:
                # Not makeRecord's extra=, which raises if a custom record factory set one of the names
                # (a request_id, say): the factory's value stands.
                attributes = record.__dict__
                for name, value in log._fields(self).items():
                    attributes.setdefault(name, value)
            logger.handle(record)

    def __str__(self) -> str:
        text = self.text
        if text is None:
            text = self.text = self.log._render(self)
        return text

    def __repr__(self) -> str:
        return f"<access log entry {str(self)!r}>"

    def logged_status(self) -> str | None:
        """The status code the client got."""
        # An exception that escaped before anything was sent makes the server answer 500 itself
        # (wsgiref, waitress and gunicorn all do); once bytes went out, the status that was sent stands.
        if self.failed and not self.sent:
            return "500"
        return self.status.partition(" ")[0] if self.status else None

    def target(self) -> str:
        """The request target as the server received it (RAW_URI/REQUEST_URI), else rebuilt."""
        raw = self.environ.get("RAW_URI") or self.environ.get("REQUEST_URI")
        if raw:
            return str(raw)
        _, script, path, query = self.request
        path = _quote_path(f"{script or ''}{path or ''}")
        return f"{path}?{query}" if query else path


# --- formats ------------------------------------------------------------------------------------------

#: An atom gives the raw text of one field, or None or "" when there is none (logged as "-").
Atom = Callable[[_Exchange], "str | None"]


def _duration_l(ex: _Exchange) -> str:
    seconds, micros = divmod(ex.duration_ns // 1000, 1_000_000)
    return f"{seconds}.{micros:06d}"


def _bytes_or_dash(ex: _Exchange) -> str:
    return str(ex.nbytes) if ex.nbytes else "-"


def _request_line(ex: _Exchange) -> str:
    environ = ex.environ
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ex.target()
    return f"{ex.request[0]} {target} {environ.get('SERVER_PROTOCOL')}"


def _environ_atom(key: str) -> Atom:
    def atom(ex: _Exchange) -> str | None:
        value = ex.environ.get(key)
        return value if value is None or value.__class__ is str else str(value)

    return atom


_ATOMS: dict[str, Atom] = {
    "h": _environ_atom("REMOTE_ADDR"),
    "u": _environ_atom("REMOTE_USER"),
    "t": lambda ex: ex.log._time_text(ex.start, True),
    "r": _request_line,
    "m": lambda ex: ex.request[0],
    "U": lambda ex: _quote_path(f"{ex.request[1] or ''}{ex.request[2] or ''}"),
    "q": lambda ex: ex.request[3],
    "H": _environ_atom("SERVER_PROTOCOL"),
    "s": _Exchange.logged_status,
    "b": _bytes_or_dash,
    "B": lambda ex: str(ex.nbytes),
    "f": _environ_atom("HTTP_REFERER"),
    "a": _environ_atom("HTTP_USER_AGENT"),
    "T": lambda ex: str(ex.duration_ns // 1_000_000_000),
    "M": lambda ex: str(ex.duration_ns // 1_000_000),
    "D": lambda ex: str(ex.duration_ns // 1000),
    "L": _duration_l,
    "p": lambda ex: f"<{os.getpid()}>",
    "request_id": _environ_atom("wsgistack.request_id"),
    "aborted": lambda ex: None if ex.completed else "aborted",
    # Paste TransLogger's names, so its format strings keep working.
    "REMOTE_ADDR": _environ_atom("REMOTE_ADDR"),
    "REMOTE_USER": _environ_atom("REMOTE_USER"),
    "time": lambda ex: ex.log._time_text(ex.start, False),
    "REQUEST_METHOD": lambda ex: ex.request[0],
    "REQUEST_URI": _Exchange.target,
    "HTTP_VERSION": _environ_atom("SERVER_PROTOCOL"),
    "status": _Exchange.logged_status,
    "bytes": _bytes_or_dash,
    "HTTP_REFERER": _environ_atom("HTTP_REFERER"),
    "HTTP_USER_AGENT": _environ_atom("HTTP_USER_AGENT"),
}
#: Atoms whose text never changes, folded into the template.
_CONSTANT_ATOMS = {"l": "-"}
#: Every atom name accepted in ``%(name)s`` (besides ``{header}i``, ``{header}o`` and ``{key}e``).
ATOMS: Final = frozenset(_ATOMS) | frozenset(_CONSTANT_ATOMS)
_TOKEN = re.compile(r"%\((?P<name>[^()]*)\)(?P<conversion>.?)|%(?P<other>.?)", re.DOTALL)
_BRACED = re.compile(r"\{(?P<key>[^{}]+)\}(?P<kind>[ioe])")


def _request_header(name: str) -> Atom:
    key = name.upper().replace("-", "_")
    return _environ_atom(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}")


def _response_header(name: str) -> Atom:
    lowered = name.lower()

    def atom(ex: _Exchange) -> str | None:
        for key, value in ex.headers:
            if key.lower() == lowered:
                return value
        return None

    return atom


def _atom(name: str) -> Atom:
    braced = _BRACED.fullmatch(name)
    if braced is not None:
        key, kind = braced.group("key"), braced.group("kind")
        return {"i": _request_header, "o": _response_header, "e": _environ_atom}[kind](key)
    atom = _ATOMS.get(name)
    if atom is None:
        hint = " (headers and environ keys are written {name}i, {name}o, {key}e)" if "{" in name else ""
        raise ValueError(f"format: unknown atom %({name})s{hint}; known atoms: {', '.join(sorted(ATOMS))}")
    return atom


def _compile(format: str) -> tuple[str, tuple[Atom, ...]]:
    """Turn a ``%(atom)s`` format into a ``%s`` template and one function per atom."""
    template: list[str] = []
    atoms: list[Atom] = []
    position = 0
    for match in _TOKEN.finditer(format):
        template.append(format[position : match.start()].replace("%", "%%"))
        position = match.end()
        if match.group("other") == "%":
            template.append("%%")
            continue
        name = match.group("name")
        if name is None:
            raise ValueError(f"format: lone '%' at position {match.start()} (write '%%' for a percent sign)")
        if match.group("conversion") != "s":
            raise ValueError(f"format: atom %({name}) must end in 's', as in %({name})s")
        if name in _CONSTANT_ATOMS:
            template.append(_CONSTANT_ATOMS[name])
        else:
            atoms.append(_atom(name))
            template.append("%s")
    template.append(format[position:].replace("%", "%%"))
    return "".join(template), tuple(atoms)


def _render_text(template: str, atoms: tuple[Atom, ...], exchange: _Exchange) -> str:
    values = [atom(exchange) or "-" for atom in atoms]
    # One scan over all values: nearly every line has nothing to escape.
    if _UNSAFE.search("".join(values)):
        values = [_escape(value) for value in values]
    return template % tuple(values)


def _render_clf(exchange: _Exchange, combined: bool) -> str:
    """``common`` or ``combined`` without a call per atom: what most deployments log, on every request.

    Gives what the generic path gives for ``FORMATS["common"]`` and ``FORMATS["combined"]`` (for the
    string values PEP 3333 puts in the environ; the tests hold the two paths to that)."""
    get = exchange.environ.get
    values = [
        get("REMOTE_ADDR") or "-",
        get("REMOTE_USER") or "-",
        _request_line(exchange),
        exchange.logged_status() or "-",
        str(exchange.nbytes) if exchange.nbytes else "-",
    ]
    if combined:
        values += (get("HTTP_REFERER") or "-", get("HTTP_USER_AGENT") or "-")
    try:
        joined = "".join(values)
    except TypeError:  # a layer stored a non-string under a CGI key
        values = [value if value.__class__ is str else str(value) for value in values]
        joined = "".join(values)
    if _UNSAFE.search(joined):
        values = [_escape(value) for value in values]
    address, user, request, status, size, *rest = values
    line = f'{address} - {user} {exchange.log._time_text(exchange.start, True)} "{request}" {status} {size}'
    return f'{line} "{rest[0]}" "{rest[1]}"' if combined else line


#: The json format's keys, in order; ``AccessLog._fields`` builds its dict in the same order.
_JSON_KEYS = ("time", "remote_addr", "user", "method", "path", "query", "target", "protocol", "status",
              "bytes", "duration_us", "referer", "user_agent", "request_id", "aborted")  # fmt: skip
_JSON_TEMPLATE = "{" + ",".join(f'"{key}":%s' for key in _JSON_KEYS) + "}"


def _render_json(fields: dict[str, object], encode_string: Callable[[str], str]) -> str:
    # A fixed template is faster than json.dumps; strings go through the json module's own C encoder
    # (ASCII only, so a log line can never be split by a raw newline or U+2028).
    return _JSON_TEMPLATE % tuple([_json_value(value, encode_string) for value in fields.values()])


# --- options ------------------------------------------------------------------------------------------


def _level(level: int | str) -> int:
    if isinstance(level, bool) or not isinstance(level, int | str):
        raise TypeError(f"level must be a logging level name or number, not {type(level).__name__}")
    if isinstance(level, str):
        text = level.strip()
        if text.isdigit():
            level = int(text)
        else:
            names = logging.getLevelNamesMapping()
            if text.upper() not in names:
                raise ValueError(f"level: unknown logging level {level!r}; known: {', '.join(names)}")
            level = names[text.upper()]
    if level <= 0:
        raise ValueError(f"level must be a positive logging level, not {level}")
    return level


def _logger(logger: logging.Logger | str) -> logging.Logger:
    if isinstance(logger, logging.Logger):
        return logger
    if not isinstance(logger, str):
        raise TypeError(f"logger must be a logger name or a logging.Logger, not {type(logger).__name__}")
    if not logger.strip():
        raise ValueError("logger: the logger name is empty")
    return logging.getLogger(logger)


def _skip_test(
    exclude_paths: Iterable[str], exclude_regex: str | re.Pattern[str] | None
) -> Callable[[str], object] | None:
    if isinstance(exclude_paths, str | bytes):
        raise TypeError("exclude_paths must be a list of path prefixes, not a single string")
    prefixes = list(exclude_paths)
    for prefix in prefixes:
        if not isinstance(prefix, str):
            raise TypeError(f"exclude_paths: {prefix!r} is not a string")
        if not prefix.startswith("/"):
            raise ValueError(f"exclude_paths: {prefix!r} must start with '/'")
    tests: list[Callable[[str], object]] = []
    if prefixes:
        # Whole segments only: "/health" skips "/health" and "/health/live", not "/healthcare".
        alternatives = "|".join(re.escape(prefix.rstrip("/")) for prefix in prefixes)
        tests.append(re.compile(f"(?:{alternatives})(?:/|$)").match)
    if exclude_regex is not None:
        if isinstance(exclude_regex, str):
            try:
                exclude_regex = re.compile(exclude_regex)
            except re.error as exc:
                raise ValueError(f"exclude_regex: invalid regular expression: {exc}") from None
        elif not isinstance(exclude_regex, re.Pattern):
            raise TypeError(
                f"exclude_regex must be a string or compiled pattern, not {type(exclude_regex).__name__}"
            )
        tests.append(exclude_regex.search)
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    first, second = tests
    return lambda path: first(path) or second(path)


def _time_formatter(time_format: str | None) -> Callable[[float, bool], str]:
    if time_format is None:
        return _per_second(_clf_time)
    if not isinstance(time_format, str):
        raise TypeError(f"time_format must be a strftime format string, not {type(time_format).__name__}")
    try:
        time.strftime(time_format)
    except ValueError as exc:
        raise ValueError(f"time_format: {exc}") from None
    return _per_second(lambda tm: time.strftime(time_format, tm))


def _add_console_handler(logger: logging.Logger, level: int) -> None:
    # Opt-in (Paste TransLogger's setup_console_handler): one handler per logger however many
    # middlewares ask, unlike TransLogger, which added another on every instantiation.
    if not any(handler.name == _CONSOLE_HANDLER for handler in logger.handlers):
        handler = logging.StreamHandler()
        handler.name = _CONSOLE_HANDLER
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.propagate = False
    if not logger.isEnabledFor(level):
        logger.setLevel(level)


# --- the middleware -----------------------------------------------------------------------------------


class AccessLog:
    """Log one line per request after its body was sent: final status, bytes sent, duration.

    The record goes to ``logger`` (``wsgistack.access`` by default) at ``level`` when the server closes the
    response, or when the app raised. Requests are passed through untouched while the logger is disabled
    for ``level`` and when the path is excluded. Formats, atoms and options are in ``docs/access_log.md``.
    """

    __slots__ = ("_atoms", "_clf", "_encode_string", "_iso_time", "_json", "_level", "_logger", "_records",
                 "_skip", "_template", "_time_text", "app", "format")  # fmt: skip

    _atoms: tuple[Atom, ...]
    _template: str
    _time_text: Callable[[float, bool], str]
    _iso_time: Callable[[float], str]
    _encode_string: Callable[[str], str]

    def __init__(
        self,
        app: WSGIApplication,
        *,
        format: str = "combined",
        logger: logging.Logger | str = "wsgistack.access",
        level: int | str = logging.INFO,
        exclude_paths: Iterable[str] = (),
        exclude_regex: str | re.Pattern[str] | None = None,
        time_format: str | None = None,
        console: bool = False,
    ) -> None:
        if not isinstance(format, str):
            raise TypeError(f"format must be a string, not {type(format).__name__}")
        if not format.strip():
            raise ValueError("format: the format is empty")
        if not isinstance(console, bool):
            raise TypeError(f"console must be a bool, not {type(console).__name__}")
        self.app = app
        self.format = format
        self._level = _level(level)
        self._logger = _logger(logger)
        self._records = _Records(self._logger, self._level)
        self._skip = _skip_test(exclude_paths, exclude_regex)
        self._time_text = _time_formatter(time_format)
        self._iso_time = _iso_time_formatter()
        self._json = format == "json"
        if self._json:
            from json.encoder import encode_basestring_ascii  # imported by the json format only

            self._encode_string = encode_basestring_ascii
        self._template, self._atoms = ("", ()) if self._json else _compile(FORMATS.get(format, format))
        self._clf = {"common": False, "combined": True}.get(format)
        if console:
            _add_console_handler(self._logger, self._level)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self._logger.isEnabledFor(self._level) or (
            self._skip is not None
            and self._skip(f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}")
        ):
            return self.app(environ, start_response)
        exchange = _Exchange(self, environ, start_response)
        try:
            exchange._iterable = self.app(environ, exchange)
        except BaseException:
            exchange.failed = True
            exchange._iterable = None
            exchange.finish()
            raise
        return exchange

    def _render(self, exchange: _Exchange) -> str:
        if self._clf is not None:
            return _render_clf(exchange, self._clf)
        if self._json:
            return _render_json(exchange.fields, self._encode_string)
        return _render_text(self._template, self._atoms, exchange)

    def _fields(self, ex: _Exchange) -> dict[str, object]:
        get = ex.environ.get
        method, script, path, query = ex.request
        remote_addr, user, protocol, referer, user_agent, request_id, method, path, query, target = [
            # Inline fast path: nearly every value is absent or a non-empty ASCII string.
            v if v is None or (v.__class__ is str and v.isascii() and v) else _json_text(v)
            for v in (
                get("REMOTE_ADDR"), get("REMOTE_USER"), get("SERVER_PROTOCOL"), get("HTTP_REFERER"),
                get("HTTP_USER_AGENT"), get("wsgistack.request_id"), method,
                f"{script or ''}{path or ''}", query, ex.target(),
            )
        ]  # fmt: skip
        code = ex.logged_status()
        fields = ex.fields = {
            "time": self._iso_time(ex.start),
            "remote_addr": remote_addr,
            "user": user,
            "method": method,
            "path": path,
            "query": query,
            "target": target,
            "protocol": protocol,
            "status": int(code) if code is not None and code.isdigit() else None,
            "bytes": ex.nbytes,
            "duration_us": ex.duration_ns // 1000,
            "referer": referer,
            "user_agent": user_agent,
            "request_id": request_id,
            "aborted": not ex.completed,
        }
        return fields
