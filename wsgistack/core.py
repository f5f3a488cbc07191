"""The WSGI protocol core: every wsgistack middleware handles PEP 3333's traps through this module.

Two classes carry the per-request protocol state:

* :class:`ClosingIterable` hands the app's body to the server and guarantees ``close()``;
* :class:`ResponseStart` stands in for the server's ``start_response`` and knows whether the
  response headers have been *sent* (the first non-empty body chunk went out), which is what decides
  whether an error may still replace the status (PEP 3333, "The start_response() Callable").

The rest are small, pure helpers for header lists and plain responses. Nothing here mutates a list
that it was given, and nothing runs on import.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TypeAlias
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "HOP_BY_HOP",
    "ClosingIterable",
    "ExcInfo",
    "Headers",
    "OptExcInfo",
    "ResponseStart",
    "StartResponse",
    "WSGIApplication",
    "WSGIEnvironment",
    "check_header",
    "get_header",
    "merge_header",
    "parse_content_length",
    "plain_response",
    "remove_headers",
    "replace_header",
    "run_all",
]

Headers: TypeAlias = list[tuple[str, str]]
ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType]
OptExcInfo: TypeAlias = ExcInfo | tuple[None, None, None] | None
Write: TypeAlias = Callable[[bytes], object]

#: Headers an application (and so a middleware) must not set: PEP 3333 leaves connection
#: management to the server, and wsgiref's handler rejects them outright.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
     "transfer-encoding", "upgrade"}
)  # fmt: skip
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def run_all(callbacks: Iterable[Callable[[], object]]) -> None:
    """Call every callback in order; all of them run even if one raises, then the first error propagates.

    A chain that stops at the first failure (werkzeug's ``ClosingIterator`` did) skips the callbacks
    that release resources or write the access log.
    """
    error: BaseException | None = None
    for callback in callbacks:
        try:
            callback()
        except BaseException as exc:
            if error is None:
                error = exc
    if error is not None:
        try:
            raise error
        finally:
            error = None  # no reference cycle through the traceback


class ClosingIterable:
    """The body handed to the server: yields the app's chunks and closes the app's iterable exactly once.

    A class rather than a generator with ``finally``: a generator closed before its first ``next()``
    (HEAD, an aborted client, a server that never iterates) never runs its ``finally``, and the app's
    ``close()`` would be skipped. ``close()`` here is idempotent and calls, in order, ``close()`` of the
    iterable the app *returned* (not of an iterator made from it), then each ``on_close`` callback; all
    run even if one raises.

    ``map_chunk`` transforms each chunk; it is called once per app value and its result is yielded even
    when empty, so the middleware yields at least one value per value the app yields (PEP 3333,
    "Middleware Handling of Block Boundaries"). ``trailer`` is called after the last chunk; a non-empty
    result is yielded as one more value. With neither hook, iteration is the app's own iterator.
    """

    __slots__ = ("_closed", "_iterable", "_map", "_on_close", "_response", "_trailer")

    def __init__(
        self,
        iterable: Iterable[bytes],
        *,
        on_close: Iterable[Callable[[], object]] = (),
        map_chunk: Callable[[bytes], bytes] | None = None,
        trailer: Callable[[], bytes] | None = None,
        response: ResponseStart | None = None,
    ) -> None:
        self._iterable = iterable
        self._on_close = on_close if type(on_close) is tuple else tuple(on_close)
        self._map = map_chunk
        self._trailer = trailer
        self._response = response
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        if self._map is None and self._trailer is None and self._response is None:
            return iter(self._iterable)
        return self._chunks()

    def _chunks(self) -> Iterator[bytes]:
        map_chunk, response = self._map, self._response
        for chunk in self._iterable:
            if map_chunk is not None:
                chunk = map_chunk(chunk)
            if response is not None:
                response.handing_out(chunk)
            yield chunk
        tail = self._trailer() if self._trailer is not None else b""
        if response is not None:
            response.handing_out(tail)  # an empty body still needs its deferred headers
        if tail:
            yield tail

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._iterable, "close", None)
        callbacks = self._on_close
        if close is None:
            if len(callbacks) == 1:
                callbacks[0]()  # the common case, without run_all's bookkeeping
            elif callbacks:
                run_all(callbacks)
        elif callbacks:
            run_all((close, *callbacks))
        else:
            close()


class ResponseStart:
    """Per-request stand-in for the server's ``start_response``; pass the instance to the inner app.

    It records ``status`` and ``headers`` (a copy: the app's list is never mutated), applies
    ``rewrite(status, headers) -> (status, headers)`` before they go out (again for an ``exc_info``
    replacement, so the replacing response gets the same treatment), and forwards ``exc_info``
    exactly as PEP 3333 requires: an error may replace status and headers until the headers are *sent*,
    and after that it is re-raised so the server aborts the connection instead of appending to a
    response that already went out. ``sent`` becomes true when the first non-empty chunk is handed to
    the server through a wrapping :meth:`body`, :meth:`write` or :meth:`handing_out`; "start_response
    was called" is not the same thing (Paste's and werkzeug's error pages get this wrong).

    With ``defer=True`` the server's ``start_response`` is called only when the first value (or the end
    of an empty body) is handed out, after ``map_chunk`` has seen it, so a middleware can decide its
    headers from the first chunk. Nothing is ever yielded before the server's ``start_response`` ran.

    ``write`` is the legacy ``write()`` callable returned to the app; its data goes through
    ``map_chunk`` too.

    A middleware whose per-request state is itself the ResponseStart may subclass it: the options
    ``_rewrite``, ``_map``, ``_trailer`` and ``_defer`` are only read after ``__init__``, so a subclass
    can fix them as class attributes (hooks as its own methods, which then hold no reference back to
    the instance) and skip ``__init__``, setting ``_start_response``, ``status`` (None),
    ``forwarded`` and ``sent`` (False) itself; ``headers`` is set with the status and
    ``_server_write`` when the headers are forwarded. CatchErrors, AccessLog and Compress do so: one
    object per request, and no cycle.
    """

    __slots__ = ("_defer", "_map", "_rewrite", "_server_write", "_start_response", "_trailer", "forwarded",
                 "headers", "sent", "status")  # fmt: skip

    def __init__(
        self,
        start_response: StartResponse,
        *,
        rewrite: Callable[[str, Headers], tuple[str, Headers]] | None = None,
        map_chunk: Callable[[bytes], bytes] | None = None,
        trailer: Callable[[], bytes] | None = None,
        defer: bool = False,
    ) -> None:
        self._start_response = start_response
        self._rewrite = rewrite
        self._map = map_chunk
        self._trailer = trailer
        self._defer = defer
        self._server_write: Write | None = None
        #: The response as it stands: the app's until forwarded, then what the server was given.
        self.status: str | None = None
        self.headers: Headers = []
        self.forwarded = False
        self.sent = False

    def __call__(self, status: str, headers: Headers, exc_info: OptExcInfo = None, /) -> Write:
        if exc_info is None or exc_info[1] is None:
            if self.status is not None:
                raise RuntimeError("start_response() called a second time without exc_info (PEP 3333)")
            self.headers = headers = list(headers)  # first: a list() that raises leaves nothing half set
            self.status = status
            if self._defer:
                pass
            elif self._rewrite is None:  # the common case, inlined: this runs on every request
                self._server_write = self._start_response(status, headers)
                self.forwarded = True
            else:
                self._forward()
            return self.write
        try:
            if self.sent:
                raise exc_info[1].with_traceback(exc_info[2])
            self.status, self.headers = status, list(headers)
            if self.forwarded or not self._defer:
                self._forward(exc_info)
            return self.write
        finally:
            exc_info = None  # the traceback references this frame

    def _forward(self, exc_info: OptExcInfo = None) -> None:
        assert self.status is not None
        if self._rewrite is not None:
            self.status, self.headers = self._rewrite(self.status, self.headers)
        if exc_info is not None and exc_info[1] is not None:
            self._server_write = self._start_response(self.status, self.headers, exc_info)
        else:
            self._server_write = self._start_response(self.status, self.headers)
        self.forwarded = True

    def handing_out(self, chunk: bytes) -> None:
        """Note that ``chunk`` is about to go to the server: forward deferred headers, track *sent*."""
        if not self.forwarded and self.status is not None:
            if self._rewrite is None:  # _forward() inlined: the first value of every deferred response
                self._server_write = self._start_response(self.status, self.headers)
                self.forwarded = True
            else:
                self._forward()
        if chunk:
            self.sent = True

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable (PEP 3333): data goes out through ``map_chunk``, in order."""
        if self.status is None:
            raise RuntimeError("write() called before start_response()")
        if self._map is not None:
            data = self._map(data)
        self.handing_out(data)
        if data:
            assert self._server_write is not None
            self._server_write(data)

    def body(
        self,
        iterable: Iterable[bytes],
        *,
        on_close: Iterable[Callable[[], object]] = (),
        track: bool = False,
    ) -> Iterable[bytes]:
        """The app's iterable prepared for the server: hooks applied, closed exactly once.

        Without ``map_chunk``, ``trailer``, ``defer`` or ``track`` there is nothing to do per chunk, so
        the app's iterable is returned as it is (wrapped only to run ``on_close``): no per-chunk cost,
        and a ``wsgi.file_wrapper`` keeps its identity. ``sent`` is then not tracked, and that is still
        exact: an ``exc_info`` replacement goes to the server, which knows what it sent and re-raises.
        A layer that decides for itself between replacing and re-raising passes ``track=True``.
        """
        if self._map is None and self._trailer is None and not self._defer and not track:
            on_close = tuple(on_close)
            return ClosingIterable(iterable, on_close=on_close) if on_close else iterable
        return ClosingIterable(
            iterable, on_close=on_close, map_chunk=self._map, trailer=self._trailer, response=self
        )


def get_header(headers: Headers, name: str) -> str | None:
    """Value of the first header called ``name`` (case-insensitive), or None."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def remove_headers(headers: Headers, *names: str) -> Headers:
    """A new list without any header called one of ``names`` (case-insensitive)."""
    drop = {name.lower() for name in names}
    return [(key, value) for key, value in headers if key.lower() not in drop]


def replace_header(headers: Headers, name: str, value: str) -> Headers:
    """A new list where ``name`` appears once, with ``value``, in place of its first occurrence."""
    lowered = name.lower()
    for key, _ in headers:
        if key.lower() == lowered:
            break
    else:  # the common case, a header the app did not set: one scan, then a copy made in C
        return [*headers, (name, value)]
    out, placed = [], False
    for key, old in headers:
        if key.lower() != lowered:
            out.append((key, old))
        elif not placed:
            out.append((key, value))
            placed = True
    return out


def merge_header(headers: Headers, name: str, *tokens: str) -> Headers:
    """A new list where the comma-separated header ``name`` (such as Vary) also lists ``tokens``.

    Existing fields are folded into one, duplicates (case-insensitive) dropped and order kept;
    ``*`` already present absorbs everything else (RFC 9110 §12.5.5).
    """
    lowered = name.lower()
    present = [part.strip() for key, value in headers if key.lower() == lowered for part in value.split(",")]
    merged: list[str] = []
    seen: set[str] = set()
    for token in (*present, *tokens):
        if token and token.lower() not in seen:
            seen.add(token.lower())
            merged.append(token)
    return replace_header(headers, name, "*" if "*" in seen else ", ".join(merged))


def check_header(name: str, value: str) -> None:
    """Raise ValueError unless ``name: value`` is a header a middleware may emit.

    Used on headers that come from configuration: a token name (RFC 9110 §5.1), no hop-by-hop
    name, and no CR, LF, NUL or other control character in the value (header injection).
    """
    if not name or not set(name) <= _TCHAR:
        raise ValueError(f"header name {name!r} is not an HTTP token")
    if name.lower() in HOP_BY_HOP:
        raise ValueError(f"header {name!r} is hop-by-hop; only the server may set it (PEP 3333)")
    if any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in value):
        raise ValueError(f"header {name!r} has a control character in its value {value!r}")


def parse_content_length(value: str | None) -> int | None:
    """Content-Length as an int; None when absent or empty (PEP 3333 allows both).

    Raises ValueError for anything but ASCII digits (RFC 9110 §8.6: ``1*DIGIT``), which rejects signs,
    several comma-separated values and Unicode digits that ``int()`` would accept.
    """
    if value is None:
        return None
    value = value.strip(" \t")
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"invalid Content-Length {value!r}")
    digits = value.lstrip("0") or "0"
    # A valid but absurd length (int() refuses more than 4300 digits) is simply larger than any limit.
    return sys.maxsize if len(digits) > 18 else int(digits)


def plain_response(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    status: str,
    body: str | bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    headers: Iterable[tuple[str, str]] = (),
    exc_info: OptExcInfo = None,
) -> list[bytes]:
    """Answer a small complete response: Content-Type, exact Content-Length, no body for HEAD.

    ``exc_info`` is forwarded so the call can replace a response an inner app had started.
    """
    data = body.encode() if isinstance(body, str) else body
    response_headers = [("Content-Type", content_type), ("Content-Length", str(len(data))), *headers]
    try:
        if exc_info is not None and exc_info[1] is not None:
            start_response(status, response_headers, exc_info)
        else:
            start_response(status, response_headers)
    finally:
        exc_info = None
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [data]
