"""CatchErrors: an unhandled exception becomes a 500 while the response can still be replaced.

PEP 3333 ("The start_response() Callable", "Error Handling") allows an error to replace the status and
headers only until the headers are *sent*, which happens when the first non-empty body chunk reaches the
server. Before that, this middleware answers ``500 Internal Server Error`` instead (replacing the app's
status through ``start_response(status, headers, exc_info)``); after that it re-raises the original
exception so the server aborts the connection and the client sees a truncated response, never a
"complete" one with an error page appended. An exception from the body's ``close()`` is logged and
the response left as it is. Only ``Exception`` is caught: ``KeyboardInterrupt``, ``SystemExit`` and
``GeneratorExit`` pass through.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeAlias, cast

from .core import (
    ClosingIterable,
    ExcInfo,
    Headers,
    OptExcInfo,
    ResponseStart,
    StartResponse,
    Write,
    WSGIApplication,
    WSGIEnvironment,
    check_header,
    plain_response,
)
from .http import negotiate_media_type

if TYPE_CHECKING:
    import traceback

# html, json, traceback and friends are imported where they are used: the error path and
# construction, so that importing the package stays cheap.

__all__ = ["CatchErrors", "ErrorHook"]

#: ``on_error`` callables get the request's environ and ``sys.exc_info()`` of the error.
ErrorHook: TypeAlias = Callable[[WSGIEnvironment, ExcInfo], object]

STATUS = "500 Internal Server Error"
TITLE = "Internal Server Error"
DEFAULT_MESSAGE = "The server could not complete the request because of an internal error."

# The first offered type answers a request without a usable Accept header (curl, health checks).
# application/json is offered for API clients that do not list the problem type (RFC 9457 §3).
_PLAIN, _HTML, _PROBLEM, _JSON = "text/plain", "text/html", "application/problem+json", "application/json"
_OFFERED = (_PLAIN, _HTML, _PROBLEM, _JSON)
_CONTENT_TYPES = {
    _PLAIN: "text/plain; charset=utf-8",
    _HTML: "text/html; charset=utf-8",
    _PROBLEM: _PROBLEM,
    _JSON: _JSON,
}
# An error page must not be stored (a debug page holds the environ), sniffed into another type, or run
# anything: the debug page is static HTML and its policy forbids scripts outright.
_COMMON_HEADERS = (("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"), ("Vary", "Accept"))
_HTML_HEADERS = (
    *_COMMON_HEADERS,
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
)

_BEFORE = "before the response was sent; answering with an error response"
_SENT = "after the response headers were sent; aborting the response"
_CLOSE = "in close(); the response is not altered"
_PROPAGATED = "; propagating it (propagate=True)"
#: Environ key that makes CatchErrors re-raise for that request, as ``propagate=True`` does for all.
PROPAGATE_KEY = "wsgistack.errors.propagate"

#: Environ keys and query parameters whose values never appear on the debug page.
_SECRET_NAMES = re.compile(
    r"cookie|auth|token|secret|passw|pwd|key|session|csrf|xsrf|credential|signature", re.IGNORECASE
)
_REDACTED = "[redacted]"
_MAX_REQUEST_ID = 200
_MAX_LOGGED = 1000
_MAX_VALUE = 2000
_MAX_FRAMES = 100
_CONTEXT_LINES = 2


class CatchErrors:
    """Turn an unhandled exception into a negotiated 500 response while the headers are unsent.

    Errors are caught from the app call, while the body is iterated and from ``close()``; each is
    logged once on ``wsgistack.errors`` with the request's method, path and request id, then passed to
    the ``on_error`` hooks. After the headers were sent the exception is re-raised so the server
    aborts the response. Options are documented in ``docs/errors.md``.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        debug: bool = False,
        propagate: bool = False,
        on_error: ErrorHook | Iterable[ErrorHook] = (),
        error_app: WSGIApplication | None = None,
        message: str = DEFAULT_MESSAGE,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI application (a callable), not {type(app).__name__}")
        for name, flag in (("debug", debug), ("propagate", propagate)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, not {type(flag).__name__}")
        if error_app is not None and not callable(error_app):
            raise TypeError(f"error_app must be a WSGI application or None, not {type(error_app).__name__}")
        if not isinstance(message, str):
            raise TypeError(f"message must be a str, not {type(message).__name__}")
        self.app = app
        self._debug = debug
        self._propagate = propagate
        self._hooks = _hooks(on_error)
        self._error_app = error_app
        self._message = message
        self._logger = logging.getLogger("wsgistack.errors")
        # Without a request id the production body is the same for every error: build it once.
        self._bodies = {media_type: _render(media_type, message, None) for media_type in _OFFERED}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # The server's start_response is deferred until the first value goes out, so an error before
        # that reaches the server as one clean 500 rather than a replacement: some servers (gunicorn
        # 27) keep the first call's headers on an exc_info replacement and send two Content-Lengths.
        # _Exchange is ResponseStart(start_response, defer=True), set up without an __init__ call.
        exchange = _new(_Exchange)
        exchange._catcher, exchange._environ, exchange._start_response = self, environ, start_response
        exchange.status = None
        exchange.forwarded = exchange.sent = False
        try:
            iterable = self.app(environ, exchange.start)
        except Exception:
            return self._failed(environ, exchange, cast(ExcInfo, sys.exc_info()))
        kind = type(iterable)
        # A list or tuple cannot raise while iterated and has no close(); a file_wrapper keeps its
        # identity so the server may send it with sendfile (PEP 3333, "Optional Platform-Specific File
        # Handling"). Either way there is nothing left for this layer to catch.
        if kind is list or kind is tuple or kind is environ.get("wsgi.file_wrapper"):
            exchange.handing_out(b"")  # the deferred start_response, if the app has called it
            return iterable
        exchange._iterable = iterable
        return exchange

    def _propagates(self, environ: WSGIEnvironment) -> bool:
        # An explicit, namespaced switch (set by wsgistack.testing's client) rather than a foreign flag
        # such as paste.throw_errors, which WebTest sets on every request.
        return self._propagate or environ.get(PROPAGATE_KEY) is True

    def _failed(self, environ: WSGIEnvironment, response: ResponseStart, exc_info: ExcInfo) -> list[bytes]:
        """Report the error, then replace the response, or re-raise when it can no longer be replaced."""
        try:
            sent, propagate = response.sent, self._propagates(environ)
            phase = _SENT if sent else _BEFORE
            self._report(environ, exc_info, phase + _PROPAGATED if propagate else phase)
            if sent or propagate:
                # PEP 3333: once the headers are out, the error must reach the server so it drops the
                # connection; appending an error page would corrupt a response already declared complete.
                raise exc_info[1].with_traceback(exc_info[2])
            return self._respond(environ, response, exc_info)
        finally:
            del exc_info  # the re-raised traceback references this frame

    def _closing_failed(self, environ: WSGIEnvironment, exc_info: ExcInfo) -> None:
        try:
            propagate = self._propagates(environ)
            self._report(environ, exc_info, _CLOSE + _PROPAGATED if propagate else _CLOSE)
            if propagate:
                raise exc_info[1].with_traceback(exc_info[2])
        finally:
            del exc_info

    def _report(self, environ: WSGIEnvironment, exc_info: ExcInfo, phase: str) -> None:
        method = _loggable(environ.get("REQUEST_METHOD", ""))
        path = _loggable(f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}")
        request_id = environ.get("wsgistack.request_id")
        request_id = None if request_id is None else _loggable(request_id)
        self._logger.error(
            "Unhandled exception %s: %s %s%s",
            phase,
            method,
            path,
            "" if request_id is None else f" (request id {request_id})",
            exc_info=exc_info,
            extra={"wsgistack": {"method": method, "path": path, "request_id": request_id}},
        )
        for hook in self._hooks:
            try:
                hook(environ, exc_info)
            except Exception:
                self._logger.error(
                    "on_error hook %s failed while reporting the exception above", _name(hook), exc_info=True
                )

    def _respond(self, environ: WSGIEnvironment, response: ResponseStart, exc_info: ExcInfo) -> list[bytes]:
        try:
            page = self._error_page(environ, exc_info) if self._error_app is not None else None
            if page is not None:
                status, headers, data = page
                response(status, headers, exc_info)
                body = [] if environ.get("REQUEST_METHOD") == "HEAD" else [data]
            else:
                media_type = negotiate_media_type(environ.get("HTTP_ACCEPT"), _OFFERED)
                body = plain_response(
                    environ,
                    response,
                    STATUS,
                    self._body(media_type, environ, exc_info),
                    content_type=_CONTENT_TYPES[media_type],
                    headers=_HTML_HEADERS if media_type == _HTML else _COMMON_HEADERS,
                    exc_info=exc_info,
                )
            # Where the server already has the app's status, the call above replaced it (exc_info);
            # otherwise this makes the server's first and only start_response call.
            response.handing_out(b"")
            return body
        finally:
            del exc_info

    def _body(self, media_type: str, environ: WSGIEnvironment, exc_info: ExcInfo) -> bytes:
        request_id = _request_id(environ)
        if self._debug:
            try:
                return _render_debug(media_type, self._message, request_id, environ, exc_info)
            except Exception:
                self._logger.error(
                    "the debug page could not be rendered; sending the plain one", exc_info=True
                )
        if request_id is None:
            return self._bodies[media_type]
        return _render(media_type, self._message, request_id)

    def _error_page(self, environ: WSGIEnvironment, exc_info: ExcInfo) -> tuple[str, Headers, bytes] | None:
        """Run ``error_app`` to completion; None (after logging why) when it fails in any way.

        The page is buffered: only a complete page may replace the response, otherwise the built-in
        body must still be possible.
        """
        assert self._error_app is not None
        started: list[tuple[str, Headers]] = []
        chunks: list[bytes] = []

        def start(status: str, headers: Headers, exc_info: OptExcInfo = None, /) -> Callable[[bytes], object]:
            started.append((status, list(headers)))
            return chunks.append

        page_environ = dict(environ)
        page_environ["wsgistack.exc_info"] = exc_info
        try:
            body = ClosingIterable(self._error_app(page_environ, start))
            try:
                chunks.extend(body)
            finally:
                body.close()
            if not started:
                raise RuntimeError("error_app returned without calling start_response()")
            if not all(type(chunk) is bytes for chunk in chunks):
                raise TypeError("error_app produced a body chunk that is not bytes")
            status, headers = started[-1]
            if not (len(status) > 4 and status[:3].isdigit() and status[3] == " "):
                raise ValueError(f"error_app answered an invalid status {status!r}")
            for name, value in headers:
                check_header(name, value)
            return status, headers, b"".join(chunks)
        except Exception:
            self._logger.error(
                "error_app %s failed while handling the exception above; sending the built-in page",
                _name(self._error_app),
                exc_info=True,
            )
            return None
        finally:
            del page_environ["wsgistack.exc_info"]  # a reference cycle through the traceback otherwise


class _Exchange(ResponseStart):
    """One request: the deferred ``start_response`` handed to the app, then the body handed to the server.

    The body catches errors while iterated and in ``close()``. It keeps
    :class:`~wsgistack.core.ClosingIterable`'s guarantees (a class, so ``close()`` runs even if
    iteration never started; ``close()`` of the iterable the app returned, exactly once, when the server
    closes the response) without nesting one, and one object serves both roles.

    ResponseStart's options are the same for every request, so they are class attributes (shadowing the
    base class's slots) and :meth:`CatchErrors.__call__` sets only what varies, with no ``__init__``
    call.
    """

    __slots__ = ("_catcher", "_environ", "_iterable")
    _rewrite = _map = _trailer = None
    _defer = True
    _catcher: CatchErrors
    _environ: WSGIEnvironment
    _iterable: Iterable[bytes] | None  # the app's, until closed

    def start(self, status: str, headers: Headers, exc_info: OptExcInfo = None, /) -> Write:
        """What the app calls: the first call recorded as it comes, anything else by the full rules."""
        if exc_info is None and self.status is None:
            # Not copied, unlike ResponseStart's record: PEP 3333 lets the server "change its contents in
            # any way it desires", so the app has handed the list over, and the server gets it as it
            # would without this layer. A replacement or a second call goes through ResponseStart.
            self.status, self.headers = status, headers
            return self.write
        return self(status, headers, exc_info)

    def __iter__(self) -> Iterator[bytes]:
        # A generator function as __iter__: iter() makes the generator with no call in between.
        iterable = self._iterable
        if iterable is None:  # closed already
            return
        try:
            for chunk in iterable:
                if not self.sent:  # after that, handing_out() has nothing left to do
                    if self.status is None:
                        # PEP 3333: start_response comes before the first value. Caught below: a 500.
                        raise RuntimeError("the application yielded a value before calling start_response()")
                    self.handing_out(chunk)
                yield chunk
            if not self.forwarded:
                self.handing_out(b"")  # an empty body still needs its deferred start_response
            return
        except Exception:
            page = self._catcher._failed(self._environ, self, cast(ExcInfo, sys.exc_info()))
        # Outside the except clause: the suspended body holds no exception, so no cycle through its traceback.
        yield from page

    def close(self) -> None:
        # Dropping the app's iterable breaks the cycle through a body that holds the start_response it
        # was given (this object): the request's objects are freed at once, not by the cycle collector.
        iterable, self._iterable = self._iterable, None
        if iterable is None:
            return
        close = getattr(iterable, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                self._catcher._closing_failed(self._environ, cast(ExcInfo, sys.exc_info()))


_new = object.__new__


def _hooks(on_error: ErrorHook | Iterable[ErrorHook]) -> tuple[ErrorHook, ...]:
    if callable(on_error):
        return (on_error,)
    try:
        hooks = tuple(on_error)
    except TypeError:
        raise TypeError(
            f"on_error must be a callable or an iterable of callables, not {type(on_error).__name__}"
        ) from None
    for position, hook in enumerate(hooks):
        if not callable(hook):
            raise TypeError(f"on_error[{position}] is not callable: {hook!r}")
    return hooks


def _name(func: object) -> str:
    module, name = getattr(func, "__module__", None), getattr(func, "__qualname__", None)
    return f"{module}.{name}" if module and name else repr(func)


def _loggable(value: object) -> str:
    """``value`` on one line: control and other non-printable characters escaped, length bounded.

    Method, path and request id come from the client; a raw newline in them could forge a log record.
    """
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _MAX_LOGGED:
        text = text[:_MAX_LOGGED] + "..."
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text
    )


def _request_id(environ: WSGIEnvironment) -> str | None:
    """The request id to show the client, if there is a sane one (it may echo a client's header)."""
    value = environ.get("wsgistack.request_id")
    if isinstance(value, str) and 0 < len(value) <= _MAX_REQUEST_ID and value.isprintable():
        return value
    return None


def _problem(message: str, request_id: str | None) -> dict[str, object]:
    # RFC 9457 §4.2.1: with "about:blank" the title is the status phrase.
    problem: dict[str, object] = {"type": "about:blank", "title": TITLE, "status": 500, "detail": message}
    if request_id is not None:
        problem["request_id"] = request_id
    return problem


def _html_page(head: str, body: str) -> str:
    import html

    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(STATUS)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


def _render(media_type: str, message: str, request_id: str | None) -> bytes:
    """The production body: status, message and request id, never anything from the error itself."""
    import html
    import json

    if media_type in (_PROBLEM, _JSON):
        return json.dumps(_problem(message, request_id)).encode()
    if media_type == _HTML:
        rid = "" if request_id is None else f"<p>Request ID: <code>{html.escape(request_id)}</code></p>\n"
        page = _html_page("", f"<h1>{html.escape(TITLE)}</h1>\n<p>{html.escape(message)}</p>\n{rid}")
        return page.encode("utf-8", "backslashreplace")
    rid = "" if request_id is None else f"Request ID: {request_id}\n"
    return f"{STATUS}\n\n{message}\n{rid}".encode("utf-8", "backslashreplace")


# --- debug page -----------------------------------------------------------------------------------

_DEBUG_STYLE = """<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
.warning { background: #fff3cd; border: 1px solid #e0b400; padding: .5em 1em; }
pre { background: #f6f6f6; padding: .5em; overflow-x: auto; }
.frame { margin: 1em 0; } .where { font-family: monospace; }
.current { background: #ffe0e0; }
table { border-collapse: collapse; } td { border-top: 1px solid #ddd; padding: 2px 8px; vertical-align: top; }
td.value { font-family: monospace; white-space: pre-wrap; word-break: break-all; }
</style>
"""


def _redact_query(query: str) -> str:
    from urllib.parse import unquote_plus

    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        parts.append(f"{name}={_REDACTED}" if eq and _SECRET_NAMES.search(unquote_plus(name)) else part)
    return "&".join(parts)


def _redacted_environ(environ: WSGIEnvironment) -> dict[str, str]:
    """The environ as shown on the debug page: sorted, values as text, secrets replaced by a marker.

    A key naming a secret (cookies, credentials, tokens, keys...) hides its whole value; query strings
    keep their parameter names but hide the values of parameters whose names look secret.
    """
    shown: dict[str, str] = {}
    for key in sorted(environ, key=str):
        name = str(key)
        value = environ[key]
        if _SECRET_NAMES.search(name):
            shown[name] = _REDACTED
            continue
        try:
            text = value if isinstance(value, str) else repr(value)
        except Exception:
            text = f"<{type(value).__name__} object: repr() failed>"
        if name == "QUERY_STRING":
            text = _redact_query(text)
        elif name in ("REQUEST_URI", "RAW_URI"):
            path, question, query = text.partition("?")
            text = f"{path}?{_redact_query(query)}" if question else text
        shown[name] = text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE] + "..."
    return shown


def _chain(exc_info: ExcInfo) -> list[traceback.TracebackException]:
    """The exception and its causes/contexts, oldest first, as Python prints them."""
    import traceback

    exc = traceback.TracebackException(*exc_info, limit=-_MAX_FRAMES)
    chain: list[traceback.TracebackException] = []
    current: traceback.TracebackException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    return chain[::-1]


def _frame_html(frame: traceback.FrameSummary) -> str:
    import html
    import linecache

    where = (
        f'<div class="where">File "{html.escape(frame.filename)}", line {frame.lineno}, '
        f"in {html.escape(frame.name)}</div>\n"
    )
    lines = []
    lineno = frame.lineno or 0
    for number in range(max(lineno - _CONTEXT_LINES, 1), lineno + _CONTEXT_LINES + 1):
        source = linecache.getline(frame.filename, number).rstrip()
        if not source and number != lineno:
            continue
        text = f"{number:>5}  {html.escape(source)}"
        lines.append(f'<span class="current">{text}</span>\n' if number == lineno else text + "\n")
    return f'<div class="frame">{where}<pre>{"".join(lines)}</pre></div>\n'


def _render_debug(
    media_type: str, message: str, request_id: str | None, environ: WSGIEnvironment, exc_info: ExcInfo
) -> bytes:
    """The debug body: the production content plus traceback and (redacted) environ."""
    import html
    import json
    import traceback

    shown = _redacted_environ(environ)
    text_traceback = "".join(traceback.format_exception(*exc_info, limit=-_MAX_FRAMES))
    if media_type in (_PROBLEM, _JSON):
        problem = _problem(message, request_id)
        problem["exception"] = "".join(traceback.format_exception_only(exc_info[1])).strip()
        problem["traceback"] = text_traceback
        problem["environ"] = shown
        return json.dumps(problem).encode()
    if media_type == _HTML:
        sections = []
        for position, exc in enumerate(_chain(exc_info)):
            if position:
                sections.append("<p><em>The exception above led to the one below.</em></p>\n")
            frames = "".join(_frame_html(frame) for frame in exc.stack)
            summary = html.escape("".join(exc.format_exception_only()))
            sections.append(f"<h2>Traceback</h2>\n{frames}<pre>{summary}</pre>\n")
        rows = "".join(
            f'<tr><td>{html.escape(key)}</td><td class="value">{html.escape(value)}</td></tr>\n'
            for key, value in shown.items()
        )
        rid = "" if request_id is None else f"<p>Request ID: <code>{html.escape(request_id)}</code></p>\n"
        body = (
            f"<h1>{html.escape(TITLE)}</h1>\n<p>{html.escape(message)}</p>\n{rid}"
            '<p class="warning">Debug mode is on: this page shows source code and request data. '
            "Never enable it in production.</p>\n"
            f"{''.join(sections)}<h2>Environment</h2>\n<table>\n{rows}</table>\n"
        )
        return _html_page(_DEBUG_STYLE, body).encode("utf-8", "backslashreplace")
    environ_text = "".join(f"{key} = {value}\n" for key, value in shown.items())
    rid = "" if request_id is None else f"Request ID: {request_id}\n"
    return f"{STATUS}\n\n{message}\n{rid}\n{text_traceback}\nEnvironment:\n{environ_text}".encode(
        "utf-8", "backslashreplace"
    )
