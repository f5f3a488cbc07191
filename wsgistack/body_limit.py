"""Request-body limits: :class:`BodyLimit` refuses bodies over a limit, :class:`LimitedStream` bounds reads.

A body whose declared ``Content-Length`` is over the limit is refused with ``413 Content Too Large``
before the app runs and before a byte of it is read, so a server that answers ``Expect: 100-continue``
lazily never asks the client for it. A body of unknown length (chunked, or framed by HTTP/2) is
counted as the app reads it, and the read that would cross the limit raises :class:`RequestTooLarge`
(a 413 while nothing has been sent) instead of returning a truncated body as if it were complete.
Options and the server matrix are documented in ``docs/body_limit.md``.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

from .core import (
    ClosingIterable,
    OptExcInfo,
    ResponseStart,
    StartResponse,
    WSGIApplication,
    WSGIEnvironment,
    parse_content_length,
    plain_response,
)
from .http import negotiate_media_type

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["ENVIRON_KEY", "BodyLimit", "LimitedStream", "RequestTooLarge"]

logger = logging.getLogger("wsgistack.body_limit")

#: Environ key under which :class:`BodyLimit` records the limit that applies to the request (an int).
ENVIRON_KEY = "wsgistack.body_limit"

_BUFFER_SIZE = 64 * 1024
_READ_ALL_STEP = 1024 * 1024
_OFFERED = ("text/plain", "application/json")
_TEXT = "text/plain; charset=utf-8"
_VARY = (("Vary", "Accept"),)


class _Source(Protocol):
    def read(self, size: int, /) -> bytes: ...


class RequestTooLarge(Exception):
    """Reading the request body went past ``limit`` bytes.

    :class:`BodyLimit` turns it into ``413 Content Too Large`` while nothing has been sent, and lets it
    reach the server afterwards (PEP 3333: a response whose headers went out can only be aborted).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit

    def __str__(self) -> str:
        return f"request body over the limit of {self.limit} bytes"


def _step(remaining: int, unknown_length: bool) -> int:
    """How much to ask the source for when reading everything that is left.

    A known length is asked for at once. A limit is only a maximum: some servers' read(n) allocates n
    bytes before it knows how many arrive, so a small body must not cost a limit's worth of memory.
    """
    return min(remaining, _READ_ALL_STEP) if unknown_length else remaining


def _closed(*args: object) -> bytes:
    raise ValueError("I/O operation on closed file")


class _LimitedRaw(io.RawIOBase):
    """The unbuffered bottom of a :class:`LimitedStream` once it buffers: the only code that reads the
    source, so read-ahead by the C ``BufferedReader`` above can never go past the limit either."""

    # ``closed`` as a slot shadows IOBase's property: BufferedReader asks the raw stream whether it is
    # closed on every readline(), and the property's lookup costs more than the line itself.
    __slots__ = ("_read", "_readinto", "closed", "error", "limit", "remaining", "strict")

    def __init__(
        self,
        read: Callable[[int], bytes],
        readinto: Callable[[memoryview], int | None] | None,
        limit: int,
        remaining: int,
        strict: bool,
        error: RequestTooLarge | None,
    ) -> None:
        self._read, self._readinto = read, readinto
        self.limit, self.remaining, self.strict, self.error = limit, remaining, strict, error
        self.closed = False  # type: ignore[misc]  # the slot above, not IOBase's property

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        remaining = self.remaining
        view = memoryview(buffer)
        size = len(view)
        if size > remaining:
            if remaining <= 0:
                self.at_limit()
                return 0
            size = remaining
            view = view[:size]
        if self._readinto is not None:
            got = self._readinto(view) or 0
        else:
            data = self._read(size)
            got = len(data)
            if got <= size:
                view[:got] = data
        if got > size:
            raise OSError(f"wsgi.input returned {got} bytes when asked for {size}")
        self.remaining = remaining - got
        return got

    def readall(self) -> bytes:
        chunks: list[bytes] = []
        while self.remaining > 0:
            step = _step(self.remaining, self.strict)
            data = self._read(step)
            if not data:
                return b"".join(chunks)
            if len(data) > step:
                raise OSError(f"wsgi.input returned {len(data)} bytes when asked for {step}")
            self.remaining -= len(data)
            chunks.append(data)
        self.at_limit()
        return b"".join(chunks)

    def at_limit(self) -> None:
        """At the limit of a stream that must end by itself: one more byte means the body is too large."""
        if self.strict:
            if self.error is None:
                if not self._read(1):
                    self.strict = False  # the stream ended right at the limit: nothing left to check
                    return
                self.error = RequestTooLarge(self.limit)
            raise self.error

    def tell(self) -> int:
        return self.limit - self.remaining

    def close(self) -> None:
        self.closed = True  # type: ignore[misc]  # the source belongs to the server: it stays open


def _check_stream_options(limit: object, on_limit: object, buffer_size: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"LimitedStream limit must be an int, not {type(limit).__name__}")
    if limit < 0:
        raise ValueError(f"LimitedStream limit must be >= 0, not {limit}")
    if on_limit not in ("eof", "raise"):
        raise ValueError(f"LimitedStream on_limit must be 'eof' or 'raise', not {on_limit!r}")
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int):
        raise TypeError(f"LimitedStream buffer_size must be an int, not {type(buffer_size).__name__}")
    if buffer_size < 1:
        raise ValueError(f"LimitedStream buffer_size must be >= 1, not {buffer_size}")


class LimitedStream:
    """A read-only file-like view of ``stream`` that never reads more than ``limit`` bytes from it.

    With ``on_limit="eof"`` (the default) ``limit`` is the body's known length, such as
    ``CONTENT_LENGTH``: the stream ends there (the simulated EOF of PEP 3333) and the source is never
    asked for a byte past it. With ``on_limit="raise"`` ``limit`` is a maximum for a stream that ends by
    itself (``wsgi.input_terminated``): the read that would go past it raises :class:`RequestTooLarge`,
    so a body is never returned truncated as if it were complete; the source is asked for at most one
    byte past the limit, to tell a body of exactly ``limit`` bytes from a longer one.

    ``read``, ``read1``, ``readinto``, ``readline``, ``readlines``, ``peek`` and iteration are
    supported; ``readline()`` without a size is bounded by the limit too. ``close()`` leaves the source
    open (it belongs to the server).
    """

    def __init__(
        self,
        stream: _Source,
        limit: int,
        *,
        on_limit: Literal["eof", "raise"] = "eof",
        buffer_size: int = _BUFFER_SIZE,
    ) -> None:
        if type(limit) is not int or limit < 0 or buffer_size != _BUFFER_SIZE:
            _check_stream_options(limit, on_limit, buffer_size)
            self._buffer_size = buffer_size
        if on_limit != "eof":
            if on_limit != "raise":
                raise ValueError(f"LimitedStream on_limit must be 'eof' or 'raise', not {on_limit!r}")
            self._strict = True
        self.limit = limit
        self._source = stream
        self._source_read = stream.read
        self._remaining = limit

    # Per-request objects: class-level defaults keep the common construction to four assignments.
    _strict = False
    _buffer_size = _BUFFER_SIZE
    _error: RequestTooLarge | None = None
    _raw: _LimitedRaw | None = None
    _buffered: io.BufferedReader | None = None

    # Until something needs a buffer (readline, iteration, peek), reads go straight to the source:
    # no copy and one short Python call per read(n).

    def read(self, size: int | None = -1, /) -> bytes:
        remaining = self._remaining
        if size is not None and 0 <= size < remaining:
            data = self._source_read(size)
            got = len(data)
            if got > size:
                raise OSError(f"wsgi.input returned {got} bytes when asked for {size}")
            self._remaining = remaining - got
            return data
        return self._read_to_limit(size)

    def _read_to_limit(self, size: int | None) -> bytes:
        """read(size) for a size that reaches the limit, or read() of all that is left."""
        read = self._source_read
        if read is _closed:
            raise ValueError("I/O operation on closed file")
        if size == 0:
            return b""
        remaining = self._remaining
        if remaining <= 0:
            self._at_limit()
            return b""
        everything = size is None or size < 0
        step = _step(remaining, self._strict and everything)
        data = read(step)
        got = len(data)
        if got > step:
            raise OSError(f"wsgi.input returned {got} bytes when asked for {step}")
        self._remaining = remaining = remaining - got
        if not remaining:
            if size != got:
                self._at_limit()  # the caller wants more than the limit allows: is there more?
            return data
        if not got or not everything:
            return data  # the end of the body, or a short read, which ends read(size)
        chunks = [data]  # read() goes on to the end or the limit
        while True:
            step = _step(remaining, self._strict)
            data = read(step)
            got = len(data)
            if got > step:
                raise OSError(f"wsgi.input returned {got} bytes when asked for {step}")
            if not got:
                return b"".join(chunks)
            self._remaining = remaining = remaining - got
            chunks.append(data)
            if not remaining:
                self._at_limit()
                return b"".join(chunks)

    def _at_limit(self) -> None:
        if self._strict:
            if self._error is None:
                if not self._source_read(1):
                    self._strict = False
                    return
                self._error = RequestTooLarge(self.limit)
            raise self._error

    def read1(self, size: int = -1, /) -> bytes:
        return self.read(self._buffer_size if size is None or size < 0 else size)

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1, /) -> bytes:
        return self._buffer().readline(size)

    def readlines(self, hint: int | None = -1, /) -> list[bytes]:
        return self._buffer().readlines(-1 if hint is None else hint)

    def peek(self, size: int = 0, /) -> bytes:
        return self._buffer().peek(size)

    def __iter__(self) -> Iterator[bytes]:
        return self._buffer()  # the C reader is its own (fast) line iterator

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def _buffer(self) -> io.BufferedReader:
        buffered = self._buffered
        if buffered is None:
            if self._source_read is _closed:
                raise ValueError("I/O operation on closed file")
            readinto = getattr(self._source, "readinto", None)
            raw = _LimitedRaw(
                self._source_read, readinto, self.limit, self._remaining, self._strict, self._error
            )
            size = max(1, min(self._buffer_size, self._remaining))
            buffered = self._buffered = io.BufferedReader(raw, size)
            self._raw = raw
            # From now on the buffer may hold read-ahead bytes, so every read must go through it. Its C
            # methods, stored on the instance, shadow this class's Python ones: a readline() loop then
            # runs without a Python frame per line.
            vars(self).update(
                read=buffered.read,
                read1=buffered.read1,
                readinto=buffered.readinto,
                readline=buffered.readline,
                readlines=buffered.readlines,
                peek=buffered.peek,
            )
        return buffered

    @property
    def exceeded(self) -> RequestTooLarge | None:
        """The :class:`RequestTooLarge` raised by a read that went past the limit, if one did."""
        return self._raw.error if self._raw is not None else self._error

    @property
    def closed(self) -> bool:
        return self._source_read is _closed

    def close(self) -> None:
        if self._buffered is not None:
            self._buffered.close()
        self._source_read = _closed

    def tell(self) -> int:
        """Bytes returned so far."""
        if self._buffered is not None:
            return self._buffered.tell()
        return self.limit - self._remaining

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def __enter__(self) -> LimitedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"read={self.tell()}"
        return f"<LimitedStream limit={self.limit} {state}>"


def _check_size(option: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"BodyLimit {option} must be an int (bytes), not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"BodyLimit {option} must be >= 0, not {value}")
    return value


def _normalize_path(path: str) -> str:
    """``path`` without dot segments (RFC 3986 §5.2.4) or empty ones, to match prefixes against.

    Servers pass PATH_INFO as the client sent it, percent-decoded but not normalized, so
    ``/upload/../api`` must not get the ``/upload`` limit.
    """
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    return "/" + "/".join(segments)


def _compile_limits(limits: object) -> tuple[tuple[str, str, int], ...]:
    """``(prefix, prefix + "/", limit)`` per entry of the ``limits`` option, longest prefix first."""
    if limits is None:
        return ()
    if not isinstance(limits, Mapping):
        raise TypeError(
            f"BodyLimit limits must be a mapping of path prefix to bytes, not {type(limits).__name__}"
        )
    compiled: dict[str, int] = {}
    for prefix, value in limits.items():
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ValueError(f"BodyLimit limits key {prefix!r} must be a path starting with '/'")
        normal = _normalize_path(prefix)
        if normal != prefix.rstrip("/") or normal == "/":
            reason = "covers every path (use max_bytes)" if normal == "/" else "is not a normalized path"
            raise ValueError(f"BodyLimit limits key {prefix!r} {reason}")
        # PEP 3333 hands PATH_INFO over as latin-1 decoded bytes; the prefix must look the same.
        wsgi_prefix = normal.encode("utf-8").decode("latin-1")
        if wsgi_prefix in compiled:
            raise ValueError(f"BodyLimit limits key {prefix!r} repeats another key")
        compiled[wsgi_prefix] = _check_size(f"limits[{prefix!r}]", value)
    ordered = sorted(compiled.items(), key=lambda item: len(item[0]), reverse=True)
    return tuple((prefix, prefix + "/", limit) for prefix, limit in ordered)


_Refusal: TypeAlias = tuple[str, bytes, bytes]


def _refusal(status: str, detail: str) -> _Refusal:
    """Status, text body and JSON body (RFC 9457's member names); none of it comes from the request."""
    code, _, title = status.partition(" ")
    problem = {"status": int(code), "title": title, "detail": detail}
    return status, f"{status}: {detail}\n".encode(), json.dumps(problem).encode()


def _too_large(limit: int) -> _Refusal:
    return _refusal("413 Content Too Large", f"The request body is over the limit of {limit} bytes.")


_BAD_LENGTH = _refusal("400 Bad Request", "Content-Length must be a single decimal number.")
# RFC 9112 §6.1: a message with both is how requests are smuggled past a proxy.
_BOTH_FRAMINGS = _refusal("400 Bad Request", "Content-Length and Transfer-Encoding must not both be sent.")
_LENGTH_REQUIRED = _refusal(
    "411 Length Required", "This server cannot read a request body without a Content-Length."
)


def _drain(stream: LimitedStream, budget: int) -> None:
    """Read and discard up to ``budget`` unread body bytes, so a keep-alive server that does not drain
    the body itself does not read the rest as the next request."""
    try:
        while budget > 0:
            data = stream.read(min(budget, _BUFFER_SIZE))
            if not data:
                return
            budget -= len(data)
    except Exception:  # a client that went away, a body over the limit: the connection is done anyway
        logger.debug("draining the request body stopped", exc_info=True)


@lru_cache(maxsize=256)
def _wants_json(accept: str) -> bool:
    return negotiate_media_type(accept, _OFFERED) == "application/json"


def _server_error(status: str | None) -> bool:
    return status is not None and status[:1] == "5"


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, and bound ``wsgi.input`` so no read passes it.

    A declared Content-Length over the limit is refused before the app runs, without reading the body;
    one within it makes ``wsgi.input`` end there. A body of unknown length (``wsgi.input_terminated``) is
    counted as the app reads it: the read that crosses the limit raises :class:`RequestTooLarge`, which
    becomes a 413 while nothing has been sent. ``limits`` maps path prefixes to their own limits; the
    limit in force is recorded in ``environ["wsgistack.body_limit"]``.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        max_bytes: int,
        limits: Mapping[str, int] | None = None,
        drain: int = 0,
        assume_terminated: bool = False,
    ) -> None:
        self.app = app
        self.max_bytes = _check_size("max_bytes", max_bytes)
        self.drain = _check_size("drain", drain)
        if not isinstance(assume_terminated, bool):
            raise TypeError(
                f"BodyLimit assume_terminated must be a bool, not {type(assume_terminated).__name__}"
            )
        self.assume_terminated = assume_terminated
        self._prefixes = _compile_limits(limits)
        self._too_large = {
            limit: _too_large(limit) for limit in {self.max_bytes, *(limit for _, _, limit in self._prefixes)}
        }

    def limit_for(self, path: str) -> int:
        """The limit for a request to ``path`` (a PATH_INFO): the longest matching prefix's, or max_bytes."""
        if not self._prefixes:
            return self.max_bytes
        if "//" in path or "/." in path:
            path = _normalize_path(path)
        for prefix, directory, limit in self._prefixes:
            if path.startswith(directory) or path == prefix:
                return limit
        return self.max_bytes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        limit = self.limit_for(environ.get("PATH_INFO", ""))
        environ[ENVIRON_KEY] = limit
        declared = environ.get("CONTENT_LENGTH")
        if declared:
            try:
                length = parse_content_length(declared)
            except ValueError:
                return self._refuse(environ, start_response, _BAD_LENGTH, "invalid length %r", declared[:40])
            if length is not None:
                if "HTTP_TRANSFER_ENCODING" in environ:
                    return self._refuse(environ, start_response, _BOTH_FRAMINGS, "two framings")
                if length > limit:
                    # Nothing is read: a server that sends 100 Continue on the first read never asks
                    # the client for the body (PEP 3333, "Input and Error Streams").
                    refusal = self._too_large[limit]
                    return self._refuse(environ, start_response, refusal, "length %d > %d", length, limit)
                stream = LimitedStream(environ["wsgi.input"], length)
                environ["wsgi.input"] = stream
                environ["wsgi.input_terminated"] = True
                if self.drain and length:
                    return self._draining(self.app(environ, start_response), stream)
                return self.app(environ, start_response)
        framed = "HTTP_TRANSFER_ENCODING" in environ
        if not (self.assume_terminated or environ.get("wsgi.input_terminated")):
            if framed:
                # The body is there but its end is unknown to us: refuse rather than read it as empty.
                return self._refuse(environ, start_response, _LENGTH_REQUIRED, "no length")
            # PEP 3333: without CONTENT_LENGTH and a terminated stream the body is empty, and reading
            # the server's stream might block on the connection.
            environ["wsgi.input"] = io.BytesIO()
            environ["wsgi.input_terminated"] = True
            return self.app(environ, start_response)
        stream = LimitedStream(environ["wsgi.input"], limit, on_limit="raise")
        environ["wsgi.input"] = stream
        environ["wsgi.input_terminated"] = True
        if framed or not environ.get("SERVER_PROTOCOL", "HTTP/1.1").startswith("HTTP/1."):
            return self._streamed(environ, start_response, stream)
        # An HTTP/1.x request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3):
        # every GET on a server that sets wsgi.input_terminated (gunicorn) comes here, so the response
        # is not wrapped. A body can only show up from a server that drops Transfer-Encoding without
        # setting CONTENT_LENGTH; reading it past the limit while the app is called is still a 413, and
        # the server re-raises exc_info if the app had already sent its headers (PEP 3333).
        try:
            result = self.app(environ, start_response)
        except RequestTooLarge as exc:
            return self._refuse(
                environ,
                start_response,
                self._refusal(exc),
                "body over %d",
                exc.limit,
                exc_info=sys.exc_info(),
            )
        return self._draining(result, stream) if self.drain else result

    def _draining(self, result: Iterable[bytes], stream: LimitedStream) -> ClosingIterable:
        return ClosingIterable(result, on_close=(partial(_drain, stream, self.drain),))

    def _streamed(
        self, environ: WSGIEnvironment, start_response: StartResponse, stream: LimitedStream
    ) -> Iterable[bytes]:
        """A body of unknown length: a RequestTooLarge while the app is called or its body produced is a
        413 while nothing has been sent, and so is a 5xx that the app made of one."""

        def check(chunk: bytes) -> bytes:
            error = stream.exceeded
            if error is not None and _server_error(response.status):
                raise error
            return chunk

        response = ResponseStart(start_response, map_chunk=check)
        try:
            result = self.app(environ, response)
        except RequestTooLarge as exc:
            return self._refuse_streamed(environ, response, exc)
        error = stream.exceeded
        if error is not None and not response.sent and _server_error(response.status):
            # Frameworks (Flask, Django) turn an exception in a view into a 500 page; the client's
            # error is the body's size, and it gets the 413.
            close = getattr(result, "close", None)
            if close is not None:
                close()
            return self._refuse_streamed(environ, response, error)
        on_close = (partial(_drain, stream, self.drain),) if self.drain else ()
        return _Guard(
            response.body(result, on_close=on_close), partial(self._refuse_streamed, environ, response)
        )

    def _refusal(self, error: RequestTooLarge) -> _Refusal:
        # The app may have made a LimitedStream of its own, with a limit of its own.
        return self._too_large.get(error.limit) or _too_large(error.limit)

    def _refuse_streamed(
        self, environ: WSGIEnvironment, response: ResponseStart, error: RequestTooLarge
    ) -> list[bytes]:
        """The 413 through ``response``, replacing what the app started; re-raises once something was sent."""
        exc_info: OptExcInfo = None
        if response.status is not None:
            traceback = error.__traceback__
            exc_info = (type(error), error, traceback) if traceback is not None else sys.exc_info()
        try:
            return self._refuse(
                environ, response, self._refusal(error), "body over %d", error.limit, exc_info=exc_info
            )
        finally:
            exc_info = None

    def _refuse(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        refusal: _Refusal,
        reason: str,
        *args: object,
        exc_info: OptExcInfo = None,
    ) -> list[bytes]:
        status, text, problem = refusal
        if logger.isEnabledFor(logging.INFO):
            method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
            logger.info("%s %r refused with %s: " + reason, method, path, status, *args)
        accept = environ.get("HTTP_ACCEPT")
        if accept and _wants_json(accept):
            body, content_type = problem, "application/json"
        else:
            body, content_type = text, _TEXT
        try:
            return plain_response(
                environ,
                start_response,
                status,
                body,
                content_type=content_type,
                headers=_VARY,
                exc_info=exc_info,
            )
        finally:
            exc_info = None


class _Guard:
    """The app's body for a streamed request: a :class:`RequestTooLarge` raised while it is produced
    becomes the 413 while nothing has been sent; after that it reaches the server, which aborts."""

    __slots__ = ("_body", "_chunks", "_refuse")

    def __init__(self, body: Iterable[bytes], refuse: Callable[[RequestTooLarge], list[bytes]]) -> None:
        self._body = body
        self._chunks: Iterator[bytes] = iter(body)
        self._refuse = refuse

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except RequestTooLarge as exc:
            self._chunks = iter(self._refuse(exc))
        return next(self._chunks)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()
