"""Request ids: :class:`RequestID`, the :data:`request_id_var` context variable and :class:`RequestIDFilter`.

Every request gets an id: the incoming header's value when it passes the validator (and incoming ids
are trusted), else a freshly generated one. The id is stored in ``environ["wsgistack.request_id"]``,
sent back in the response header, and exposed through :data:`request_id_var` while the request runs, so
:class:`RequestIDFilter` can add it to every log record emitted meanwhile. Ids are for correlating log
lines, not secrets: the default ones are a random per-process prefix plus a counter.
"""

from __future__ import annotations

import itertools
import logging
import operator
import os
import re
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar, Token
from typing import Final

from ._process import hooks_unreliable
from .core import (
    Headers,
    OptExcInfo,
    StartResponse,
    WSGIApplication,
    WSGIEnvironment,
    check_header,
    replace_header,
)

__all__ = [
    "DEFAULT_PATTERN",
    "ENVIRON_KEY",
    "RequestID",
    "RequestIDFilter",
    "SequentialIds",
    "request_id_var",
]

#: The request id while a request runs (from the app call until the response is closed), else None.
request_id_var: ContextVar[str | None] = ContextVar("wsgistack.request_id", default=None)
#: The environ key holding the request id.
ENVIRON_KEY: Final = "wsgistack.request_id"
#: Incoming ids must match this (whole value) unless another ``validator`` is given.
DEFAULT_PATTERN: Final = r"[A-Za-z0-9._:-]{1,128}"
# Whatever a custom validator or generator lets through still has to be a harmless header value.
_HEADER_SAFE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_log = logging.getLogger("wsgistack.request_id")
Write = Callable[[bytes], object]


class SequentialIds:
    """The default id source: 16 random hex digits per process, then a hex counter (``…0000002a``).

    Several times cheaper than ``uuid.uuid4().hex`` (no system call per id), and unique across processes:
    a forked child draws a new prefix before its first id, so pre-forked workers never share a sequence.
    The ids are predictable and must not be used as secrets or tokens.
    """

    __slots__ = ("__weakref__", "_ask", "_format", "_next", "_pid")

    _next: Callable[[], str]

    def __init__(self) -> None:
        # Python's at-fork hook gives a forked child a new prefix (see _forked below). Where forks may
        # skip that hook (inside uWSGI), every id asks the system for the process id instead: a changed
        # one means a forked child, which draws a new prefix.
        self._ask = hooks_unreliable()
        self._reseed()
        _LIVE.add(self)

    def _reseed(self) -> None:
        self._pid = os.getpid() if self._ask else 0
        # The ids come out of C iterators, each one self._format % n, the format read from this object
        # (which the at-fork hook may give a new prefix): no Python frame per id. The iterators hold this
        # object, so the hook finds it as long as anything can still ask for an id.
        self._format = f"{os.urandom(8).hex()}%08x"
        self._next = map(operator.mod, map(_format_of, itertools.repeat(self)), itertools.count(1)).__next__

    @property
    def next_id(self) -> Callable[[], str]:
        """The cheapest callable returning the next id: the bound ``__call__`` (it checks the process id)
        where forks may skip Python's at-fork hook, else the C iterator's ``__next__``, which the hook
        keeps right."""
        return self.__call__ if self._ask else self._next

    def __call__(self) -> str:
        if self._ask and self._pid != os.getpid():
            self._reseed()
        return self._next()


_format_of = operator.attrgetter("_format")
_LIVE: weakref.WeakSet[SequentialIds] = weakref.WeakSet()


def _forked() -> None:
    """In a forked child: a new prefix for every id source, so no two workers share a sequence."""
    for ids in list(_LIVE):
        ids._format = f"{os.urandom(8).hex()}%08x"


if hasattr(os, "register_at_fork"):  # no fork(), no hook needed
    os.register_at_fork(after_in_child=_forked)


def _validator(validator: str | re.Pattern[str] | Callable[[str], object] | None) -> Callable[[str], object]:
    if validator is None:
        return re.compile(DEFAULT_PATTERN).fullmatch
    if isinstance(validator, str):
        try:
            pattern = re.compile(validator)
        except re.error as exc:
            raise ValueError(f"validator: invalid regular expression {validator!r}: {exc}") from None
    elif isinstance(validator, re.Pattern):
        pattern = validator
    elif callable(validator):
        check = validator
        return lambda value: _HEADER_SAFE.fullmatch(value) and check(value)
    else:
        raise TypeError(f"validator must be a regex or a callable, not {type(validator).__name__}")
    match = pattern.fullmatch
    return lambda value: _HEADER_SAFE.fullmatch(value) and match(value)


def _checked(generator: Callable[[], str]) -> Callable[[], str]:
    def generate() -> str:
        value = generator()
        if not isinstance(value, str):
            raise TypeError(f"RequestID generator returned {type(value).__name__}, not str")
        if not _HEADER_SAFE.fullmatch(value):
            raise ValueError(f"RequestID generator returned {value!r}, which is not a valid header value")
        return value

    return generate


class RequestID:
    """Give every request an id: environ, response header, :data:`request_id_var` and log records.

    Options are documented in ``docs/request_id.md``.
    """

    __slots__ = ("_environ_key", "_generate", "_header", "_response_header", "_trust", "_valid", "app")

    def __init__(
        self,
        app: WSGIApplication,
        *,
        header: str = "X-Request-ID",
        trust_incoming: bool = True,
        validator: str | re.Pattern[str] | Callable[[str], object] | None = None,
        generator: Callable[[], str] | None = None,
        response_header: bool = True,
    ) -> None:
        if not isinstance(header, str):
            raise TypeError(f"header must be a string, not {type(header).__name__}")
        try:
            check_header(header, "")
        except ValueError as exc:
            raise ValueError(f"header: {exc}") from None
        for name, flag in (("trust_incoming", trust_incoming), ("response_header", response_header)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, not {type(flag).__name__}")
        if generator is not None and not callable(generator):
            raise TypeError(f"generator must be a callable returning a str, not {type(generator).__name__}")
        self.app = app
        self._header = header
        key = header.upper().replace("-", "_")
        self._environ_key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"
        self._trust = trust_incoming
        self._valid = _validator(validator)
        self._generate = SequentialIds().next_id if generator is None else _checked(generator)
        self._response_header = response_header

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = environ.get(self._environ_key) if self._trust else None
        if request_id is None:
            request_id = self._generate()
        elif not self._valid(request_id):
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("replaced an invalid incoming %s header: %.80r", self._header, request_id)
            request_id = self._generate()
        # The app sees the id in force under both keys, never a rejected or untrusted client value.
        environ[ENVIRON_KEY] = environ[self._environ_key] = request_id
        token = request_id_var.set(request_id)
        try:
            if self._response_header:
                header = self._header

                # A closure rather than core.ResponseStart: adding a header depends neither on the status
                # nor on whether headers were sent, and that bookkeeping would be a third of this
                # middleware's cost. exc_info goes to the server exactly as given (PEP 3333).
                def start(status: str, headers: Headers, exc_info: OptExcInfo = None, /) -> Write:
                    headers = replace_header(headers, header, request_id)
                    if exc_info is None:
                        return start_response(status, headers)
                    try:
                        return start_response(status, headers, exc_info)
                    finally:
                        exc_info = None  # the traceback references this frame

                result = self.app(environ, start)
            else:
                result = self.app(environ, start_response)
        except BaseException:
            _reset(token)
            raise
        if type(result) is not list:
            file_wrapper = environ.get("wsgi.file_wrapper")
            if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
                # Sending a file runs no app code; the wrapper itself keeps the server's sendfile.
                _reset(token)
                return result
        scoped = _new(_Scoped)  # without an __init__ call: this is every request's path
        scoped._iterable, scoped._token = result, token
        return scoped


class _Scoped:
    """The app's body; the request id stays set until the server closes it (then it is reset, once).

    :class:`~wsgistack.core.ClosingIterable`'s guarantees for the one thing this layer does on close:
    ``close()`` of the iterable the app returned runs exactly once, even if iteration never started,
    and the id is reset even if that ``close()`` raises. Iteration is the app's own iterator.
    """

    __slots__ = ("_iterable", "_token")

    _iterable: Iterable[bytes] | None  # the app's, until closed
    _token: Token[str | None]

    def __iter__(self) -> Iterator[bytes]:
        iterable = self._iterable
        return iter(() if iterable is None else iterable)

    def close(self) -> None:
        iterable, self._iterable = self._iterable, None
        if iterable is None:
            return
        try:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        finally:
            try:  # noqa: SIM105 (_reset(), inlined: this is every request's path)
                request_id_var.reset(self._token)
            except ValueError:
                pass  # closed from another context: see _reset()


_new = object.__new__


def _reset(token: Token[str | None]) -> None:
    try:  # noqa: SIM105 (contextlib.suppress costs as much again, on every request)
        request_id_var.reset(token)
    except ValueError:
        # Closed from another context than the one that called the app (an unusual server): the id
        # was never set in this one, so there is nothing to undo here.
        pass


class RequestIDFilter(logging.Filter):
    """A logging filter that sets ``record.request_id`` to the current request's id (``default`` outside).

    Attach it to handlers (a logger's filters do not see records propagated from child loggers). A
    ``request_id`` already on the record, e.g. passed through ``extra``, is kept.
    """

    def __init__(self, *, default: str = "-") -> None:
        super().__init__()
        if not isinstance(default, str):
            raise TypeError(f"default must be a string, not {type(default).__name__}")
        self.default = default

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            request_id = request_id_var.get()
            record.request_id = self.default if request_id is None else request_id
        return True
