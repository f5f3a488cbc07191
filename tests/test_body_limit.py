"""BodyLimit, LimitedStream and RequestTooLarge: table tests per rule, hypothesis for the stream's bounds,
the PEP 3333 contract in every request mode, and real frameworks behind the layer."""

from __future__ import annotations

import io
import json
import logging
import pickle
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.validate import validator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsgistack import REGISTRY, BodyLimit, Layer, LayerError, LimitedStream, RequestTooLarge
from wsgistack.body_limit import ENVIRON_KEY, _normalize_path
from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment
from wsgistack.testing import CASES, ContractServer, Probe, check_layer

# --- helpers -----------------------------------------------------------------------------------------


class Source:
    """A wsgi.input that records every request as (position, size) and can return short reads."""

    def __init__(self, body: bytes, *, short: int | None = None) -> None:
        self.body, self.short = body, short
        self.position = 0
        self.requests: list[tuple[int, int]] = []

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            size = len(self.body) - self.position
        self.requests.append((self.position, size))
        if self.short is not None:
            size = min(size, self.short)
        data = self.body[self.position : self.position + size]
        self.position += len(data)
        return data

    def readline(self, size: int = -1, /) -> bytes:  # pragma: no cover - LimitedStream never uses it
        raise AssertionError("LimitedStream must not call the source's readline (unbounded on gunicorn)")

    @property
    def asked_up_to(self) -> int:
        """The furthest position any request reached."""
        return max((start + size for start, size in self.requests), default=0)


class IntoSource(Source):
    """A source with readinto (waitress hands the app a BytesIO or a temporary file)."""

    def readinto(self, buffer: memoryview, /) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Untouchable:
    """A wsgi.input that must never be read: a lazy 100-continue server would then ask for the body."""

    def read(self, size: int = -1, /) -> bytes:
        raise AssertionError("the body was read")

    readline = read

    def readlines(self, hint: int = -1, /) -> list[bytes]:
        raise AssertionError("the body was read")

    def __iter__(self) -> Iterator[bytes]:
        raise AssertionError("the body was read")


class Greedy:
    """A broken source that returns more than it was asked for."""

    def read(self, size: int = -1, /) -> bytes:
        return b"x" * (size + 5)


def environ(
    path: str = "/",
    *,
    method: str = "POST",
    body: bytes | None = None,
    stream: Any = None,
    length: str | None = None,
    chunked: bool = False,
    terminated: bool = False,
    protocol: str = "HTTP/1.1",
    accept: str | None = None,
    streamed: bool = False,
) -> WSGIEnvironment:
    """A request; ``streamed`` is a chunked upload on a server that terminates the stream (gunicorn)."""
    if streamed:
        chunked = terminated = True
    env: WSGIEnvironment = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": protocol,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": stream if stream is not None else io.BytesIO(body or b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if length is not None:
        env["CONTENT_LENGTH"] = length
    elif body is not None and not chunked:
        env["CONTENT_LENGTH"] = str(len(body))
    if chunked:
        env["HTTP_TRANSFER_ENCODING"] = "chunked"
    if terminated:
        env["wsgi.input_terminated"] = True
    if accept is not None:
        env["HTTP_ACCEPT"] = accept
    return env


class Seen:
    """What the echo app saw."""

    def __init__(self) -> None:
        self.calls = 0
        self.body: bytes | None = None
        self.error: RequestTooLarge | None = None
        self.environ: WSGIEnvironment = {}


def echo(seen: Seen, *, read: Callable[[Any], bytes] = lambda stream: stream.read()) -> WSGIApplication:
    """Reads the whole body when called and echoes it."""

    def app(env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.calls += 1
        seen.environ = env
        seen.body = read(env["wsgi.input"])
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [seen.body]

    return app


def serve(app: WSGIApplication, env: WSGIEnvironment, *, lint: bool = True) -> ContractServer:
    """One exchange through a strict in-process server, with wsgiref.validate around the layer."""
    server = ContractServer()
    server.run(validator(app) if lint else app, env, "full", Probe())
    return server


def body_of(server: ContractServer) -> bytes:
    return server.written + b"".join(server.values)


def header(server: ContractServer, name: str) -> str | None:
    return next((value for key, value in server.headers if key.lower() == name.lower()), None)


# --- LimitedStream -----------------------------------------------------------------------------------

BODY = b"first line\nsecond\n\nlast without newline"


def _readlines(s: LimitedStream) -> bytes:
    return b"".join(s.readlines())


def _iterate(s: LimitedStream) -> bytes:
    return b"".join(s)


def _next_loop(s: LimitedStream) -> bytes:
    out = b""
    while True:
        try:
            out += next(s)
        except StopIteration:
            return out


def _readline_loop(s: LimitedStream) -> bytes:
    out = b""
    while line := s.readline():
        out += line
    return out


def _small_reads(s: LimitedStream) -> bytes:
    out = b""
    while data := s.read(3):
        out += data
    return out


def _readinto_loop(s: LimitedStream) -> bytes:
    out, buffer = b"", bytearray(4)
    while n := s.readinto(buffer):
        out += bytes(buffer[:n])
    return out


def _read1_loop(s: LimitedStream) -> bytes:
    out = b""
    while data := s.read1(5):
        out += data
    return out


def _mixed(s: LimitedStream) -> bytes:
    return s.read(4) + s.readline() + s.read(2) + s.readline(3) + s.read()


READERS = [
    pytest.param(lambda s: s.read(), id="read()"),
    pytest.param(lambda s: s.read(None), id="read(None)"),
    pytest.param(lambda s: s.read(10_000), id="read(large)"),
    pytest.param(_small_reads, id="read(3) loop"),
    pytest.param(_readline_loop, id="readline loop"),
    pytest.param(_readlines, id="readlines"),
    pytest.param(_iterate, id="iteration"),
    pytest.param(_next_loop, id="next()"),
    pytest.param(_readinto_loop, id="readinto"),
    pytest.param(_read1_loop, id="read1"),
    pytest.param(_mixed, id="mixed read and readline"),
]


@pytest.mark.parametrize("source_type", [Source, IntoSource])
@pytest.mark.parametrize("limit", [0, 1, 11, 17, len(BODY), len(BODY) + 10])
@pytest.mark.parametrize("reader", READERS)
def test_stream_returns_the_prefix_and_never_asks_past_the_limit(
    reader: Callable[[LimitedStream], bytes], limit: int, source_type: type[Source]
) -> None:
    source = source_type(BODY)
    stream = LimitedStream(source, limit)
    assert reader(stream) == BODY[:limit]
    assert source.asked_up_to <= limit
    assert stream.read() == b""  # EOF stays EOF
    assert stream.read(5) == b""
    assert stream.readline() == b""


@pytest.mark.parametrize("reader", READERS)
def test_raise_mode_returns_a_body_of_exactly_the_limit(reader: Callable[[LimitedStream], bytes]) -> None:
    source = Source(BODY)
    stream = LimitedStream(source, len(BODY), on_limit="raise")
    assert reader(stream) == BODY
    assert stream.exceeded is None
    assert source.asked_up_to <= len(BODY) + 1


@pytest.mark.parametrize("source_type", [Source, IntoSource])
@pytest.mark.parametrize("reader", READERS)
def test_raise_mode_never_returns_a_truncated_body(
    reader: Callable[[LimitedStream], bytes], source_type: type[Source]
) -> None:
    source = source_type(BODY)
    stream = LimitedStream(source, len(BODY) - 1, on_limit="raise")
    with pytest.raises(RequestTooLarge) as raised:
        reader(stream)
    assert raised.value.limit == len(BODY) - 1
    assert stream.exceeded is raised.value
    assert source.asked_up_to <= len(BODY)  # one byte past the limit at most, to tell
    with pytest.raises(RequestTooLarge):  # and it stays refused
        stream.read()


def test_raise_mode_reads_up_to_the_limit_without_raising() -> None:
    stream = LimitedStream(io.BytesIO(b"0123456789"), 4, on_limit="raise")
    assert stream.read(4) == b"0123"  # does not cross: no error
    assert stream.exceeded is None
    with pytest.raises(RequestTooLarge):
        stream.read(1)  # the read that crosses


def test_raise_mode_read_past_the_limit_raises_even_with_bytes_in_hand() -> None:
    stream = LimitedStream(io.BytesIO(b"0123456789"), 4, on_limit="raise")
    assert stream.read(2) == b"01"
    with pytest.raises(RequestTooLarge):
        stream.read(5)  # 2 + 5 > 4, and the body goes on


def test_raise_mode_shorter_body_is_not_an_error() -> None:
    stream = LimitedStream(io.BytesIO(b"abc"), 10, on_limit="raise")
    assert stream.read(100) == b"abc"
    assert stream.read() == b""


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda s: s.readline(), b"abc\n", id="readline"),
        pytest.param(lambda s: s.readline(2), b"ab", id="readline(size)"),
        pytest.param(lambda s: s.readline(None), b"abc\n", id="readline(None)"),
        pytest.param(lambda s: s.readlines(1), [b"abc\n"], id="readlines(hint)"),
        pytest.param(lambda s: s.readlines(None), [b"abc\n", b"de"], id="readlines(None)"),
        pytest.param(lambda s: s.peek(1)[:1], b"a", id="peek"),
        pytest.param(lambda s: s.read(0), b"", id="read(0)"),
        pytest.param(lambda s: s.tell(), 0, id="tell"),
        pytest.param(lambda s: (s.readable(), s.writable(), s.seekable()), (True, False, False), id="modes"),
    ],
)
def test_stream_methods(make: Callable[[LimitedStream], object], expected: object) -> None:
    assert make(LimitedStream(io.BytesIO(b"abc\ndefgh"), 6)) == expected


def test_readline_without_size_is_bounded_by_the_limit() -> None:
    source = Source(b"x" * 1_000_000)  # one "line" of a megabyte: gunicorn's readline() reads it all
    assert LimitedStream(source, 100).readline() == b"x" * 100
    assert source.asked_up_to == 100


def test_short_reads_from_the_source() -> None:
    source = Source(BODY, short=3)
    stream = LimitedStream(source, 20)
    assert stream.read(10) == BODY[:3]  # read(n) may return less, like any raw stream
    assert stream.read() == BODY[3:20]  # read() goes on to the limit
    assert _readline_loop(LimitedStream(Source(BODY, short=2), 30)) == BODY[:30]


@pytest.mark.parametrize("buffered", [False, True], ids=["direct", "after readline"])
def test_read_all_of_an_unknown_length_asks_in_bounded_steps(buffered: bool) -> None:
    """Some servers' read(n) allocates n bytes up front: a 10-byte body under a 1 GiB limit must not."""
    source = Source(b"line\n12345")
    stream = LimitedStream(source, 2**30, on_limit="raise")
    head = stream.readline() if buffered else b""
    assert head + stream.read() == b"line\n12345"
    assert max(size for _, size in source.requests) <= 2**20


def test_read_all_of_a_known_length_asks_once() -> None:
    source = Source(b"x" * 3_000_000)
    assert len(LimitedStream(source, 3_000_000).read()) == 3_000_000
    assert source.requests == [(0, 3_000_000)]


def test_tell_counts_bytes_returned() -> None:
    stream = LimitedStream(io.BytesIO(b"ab\ncd\nef"), 8)
    stream.read(1)
    assert stream.tell() == 1
    stream.readline()  # switches to the buffered reader, which read ahead
    assert stream.tell() == 3


def test_a_source_returning_too_much_is_an_error() -> None:
    with pytest.raises(OSError, match="returned 8 bytes when asked for 3"):
        LimitedStream(Greedy(), 10).read(3)
    with pytest.raises(OSError, match="asked for"):
        LimitedStream(Greedy(), 10).readline()
    with pytest.raises(OSError, match="asked for"):
        LimitedStream(Greedy(), 10).read()


def test_close_leaves_the_source_open() -> None:
    source = io.BytesIO(b"abc\ndef")
    with LimitedStream(source, 7) as stream:
        assert stream.readline() == b"abc\n"
    assert stream.closed
    assert not source.closed
    for call in (stream.read, stream.readline, lambda: stream.read(1), lambda: list(stream)):
        with pytest.raises(ValueError, match="closed"):
            call()
    assert "closed" in repr(stream)


def test_closed_before_buffering() -> None:
    stream = LimitedStream(io.BytesIO(b"abc"), 3)
    assert not stream.closed
    stream.close()
    for call in (lambda: stream.read(1), stream.read, stream.readline, lambda: iter(stream)):
        with pytest.raises(ValueError, match="closed"):
            call()


def test_repr() -> None:
    stream = LimitedStream(io.BytesIO(b"abc"), 3)
    stream.read(2)
    assert repr(stream) == "<LimitedStream limit=3 read=2>"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param({"limit": True}, TypeError, "limit must be an int", id="bool limit"),
        pytest.param({"limit": 1.5}, TypeError, "limit must be an int", id="float limit"),
        pytest.param({"limit": "10"}, TypeError, "limit must be an int", id="str limit"),
        pytest.param({"limit": -1}, ValueError, "limit must be >= 0", id="negative limit"),
        pytest.param({"limit": 1, "on_limit": "truncate"}, ValueError, "on_limit", id="unknown on_limit"),
        pytest.param(
            {"limit": 1, "buffer_size": 0}, ValueError, "buffer_size must be >= 1", id="zero buffer"
        ),
        pytest.param({"limit": 1, "buffer_size": False}, TypeError, "buffer_size", id="bool buffer"),
    ],
)
def test_stream_options_are_checked(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        LimitedStream(io.BytesIO(), **kwargs)


def test_request_too_large_exception() -> None:
    error = RequestTooLarge(10)
    assert str(error) == "request body over the limit of 10 bytes"
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, RequestTooLarge)
    assert copy.limit == 10


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["read", "readline", "readlines", "read1", "readinto", "next", "peek"]),
        st.one_of(st.none(), st.integers(-1, 40)),
    ),
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(
    body=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"line\n", b"\r\n", b"\x00"]), max_size=60).map(
        b"".join
    ),
    limit=st.integers(0, 200),
    strict=st.booleans(),
    into=st.booleans(),
    short=st.one_of(st.none(), st.integers(1, 7)),
    buffer_size=st.sampled_from([1, 3, 16, 65536]),
    ops=_OPS,
)
def test_any_reads_return_the_prefix_and_stay_within_the_limit(
    body: bytes,
    limit: int,
    strict: bool,
    into: bool,
    short: int | None,
    buffer_size: int,
    ops: list[tuple[str, int | None]],
) -> None:
    source = (IntoSource if into else Source)(body, short=short)
    stream = LimitedStream(source, limit, on_limit="raise" if strict else "eof", buffer_size=buffer_size)
    allowed = body[:limit]
    too_large = strict and len(body) > limit
    got = b""
    raised = False
    for op, arg in ops:
        size = -1 if arg is None else arg
        try:
            if op == "read":
                got += stream.read(arg)
            elif op == "readline":
                got += stream.readline(arg)
            elif op == "readlines":
                got += b"".join(stream.readlines(arg))
            elif op == "read1":
                got += stream.read1(size)
            elif op == "readinto":
                buffer = bytearray(max(size, 0))
                got += bytes(buffer[: stream.readinto(buffer)])
            elif op == "next":
                got += next(iter(stream), b"")
            else:
                assert allowed[len(got) :].startswith(stream.peek(size))
        except RequestTooLarge:
            raised = True
        assert got == allowed[: len(got)]  # always a prefix of what the limit allows
    # The source is never asked for a byte past the limit, except one probe in raise mode.
    for start, size in source.requests:
        assert start + size <= limit or (strict and start == limit and size == 1)
    assert not raised or too_large
    # Reading on to the end gives the whole allowed body, or refuses it: never a truncated body.
    if too_large:
        with pytest.raises(RequestTooLarge):
            stream.read()
    else:
        got += stream.read()
        assert got == allowed


# --- BodyLimit: decisions ----------------------------------------------------------------------------

LIMIT = 16


@pytest.mark.parametrize(
    ("env", "status", "body"),
    [
        pytest.param(environ(method="GET"), "200 OK", b"", id="no body"),
        pytest.param(environ(body=b"hello"), "200 OK", b"hello", id="within the limit"),
        pytest.param(environ(body=b"x" * LIMIT), "200 OK", b"x" * LIMIT, id="exactly the limit"),
        pytest.param(environ(body=b""), "200 OK", b"", id="Content-Length 0"),
        pytest.param(environ(body=b"hello", length=" 3 "), "200 OK", b"hel", id="body ends at its length"),
        pytest.param(environ(body=b"hello", length=""), "200 OK", b"", id="empty Content-Length is absent"),
        pytest.param(
            environ(body=b"hello", chunked=True, terminated=True), "200 OK", b"hello", id="chunked within"
        ),
        pytest.param(
            environ(body=b"y" * LIMIT, chunked=True, terminated=True),
            "200 OK",
            b"y" * LIMIT,
            id="chunked exactly the limit",
        ),
        pytest.param(
            environ(body=b"x" * LIMIT, protocol="HTTP/2", terminated=True),
            "200 OK",
            b"x" * LIMIT,
            id="HTTP/2 without length",
        ),
        pytest.param(
            environ(stream=io.BytesIO(b"unframed")),
            "200 OK",
            b"",
            id="no length, not terminated: empty (PEP 3333)",
        ),
        pytest.param(
            environ(body=b"x" * (LIMIT + 1)), "413 Content Too Large", None, id="declared over the limit"
        ),
        pytest.param(
            environ(stream=Untouchable(), length=str(10 * 2**30)),
            "413 Content Too Large",
            None,
            id="10 GB declared, nothing read",
        ),
        pytest.param(
            environ(body=b"z" * (LIMIT + 1), chunked=True, terminated=True),
            "413 Content Too Large",
            None,
            id="chunked over the limit",
        ),
        pytest.param(
            environ(body=b"z" * 100, protocol="HTTP/2.0", terminated=True),
            "413 Content Too Large",
            None,
            id="HTTP/2 over the limit",
        ),
        pytest.param(
            environ(stream=Untouchable(), chunked=True),
            "411 Length Required",
            None,
            id="chunked, not terminated",
        ),
        pytest.param(
            environ(body=b"hello", length="5", chunked=True, terminated=True),
            "400 Bad Request",
            None,
            id="Content-Length and Transfer-Encoding",
        ),
    ],
)
def test_decisions(env: WSGIEnvironment, status: str, body: bytes | None) -> None:
    seen = Seen()
    server = serve(BodyLimit(echo(seen), max_bytes=LIMIT), env)
    assert server.error is None
    assert server.status == status
    if body is not None:
        assert body_of(server) == body
        assert seen.environ["wsgi.input_terminated"] is True
        assert seen.environ[ENVIRON_KEY] == LIMIT
    if status != "200 OK" and ("CONTENT_LENGTH" in env or not env.get("wsgi.input_terminated")):
        assert seen.calls == 0  # refused before the app ran


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("abc", id="letters"),
        pytest.param("-5", id="negative"),
        pytest.param("+5", id="plus sign"),
        pytest.param("5, 5", id="two values"),
        pytest.param("5,5", id="two values, no space"),
        pytest.param("1e3", id="exponent"),
        pytest.param("0x10", id="hex"),
        pytest.param("5.0", id="decimal point"),
        pytest.param("\u0663", id="arabic-indic digit"),
        pytest.param("\uff15", id="fullwidth digit"),
        pytest.param("5\r\nX-Injected: 1", id="CRLF injection"),
        pytest.param("9" * 5000, id="5000 digits"),
    ],
)
def test_invalid_content_length_is_400(value: str) -> None:
    seen = Seen()
    server = serve(
        BodyLimit(echo(seen), max_bytes=LIMIT), environ(stream=Untouchable(), length=value), lint=False
    )
    assert seen.calls == 0
    if value == "9" * 5000:  # a valid number, just an absurd one
        assert server.status == "413 Content Too Large"
    else:
        assert server.status == "400 Bad Request"
        assert body_of(server) == b"400 Bad Request: Content-Length must be a single decimal number.\n"


def test_leading_zeros_are_a_number() -> None:
    seen = Seen()
    server = serve(BodyLimit(echo(seen), max_bytes=LIMIT), environ(body=b"abc", length="003"))
    assert body_of(server) == b"abc"


def test_no_length_not_terminated_leaves_the_server_stream_alone() -> None:
    seen = Seen()
    serve(BodyLimit(echo(seen), max_bytes=LIMIT), environ(method="GET", stream=Untouchable()))
    assert seen.body == b""


def test_assume_terminated_reads_an_unterminated_stream_to_its_end() -> None:
    seen = Seen()
    layer = BodyLimit(echo(seen), max_bytes=LIMIT, assume_terminated=True)
    assert body_of(serve(layer, environ(body=b"stream", length=None, chunked=True))) == b"stream"
    server = serve(layer, environ(body=b"s" * 40, length=None, chunked=True))
    assert server.status == "413 Content Too Large"


# Every refusal: the request (besides Accept), its status and the detail its body gives.
REFUSALS = [
    pytest.param(
        {"body": b"too long"},
        "413 Content Too Large",
        "The request body is over the limit of 4 bytes.",
        id="413",
    ),
    pytest.param(
        {"stream": Untouchable(), "length": "abc"},
        "400 Bad Request",
        "Content-Length must be a single decimal number.",
        id="400 invalid length",
    ),
    pytest.param(
        {"body": b"hello", "length": "5", "chunked": True, "terminated": True},
        "400 Bad Request",
        "Content-Length and Transfer-Encoding must not both be sent.",
        id="400 two framings",
    ),
    pytest.param(
        {"stream": Untouchable(), "chunked": True},
        "411 Length Required",
        "This server cannot read a request body without a Content-Length.",
        id="411",
    ),
]


@pytest.mark.parametrize(("request_options", "status", "detail"), REFUSALS)
@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        pytest.param(None, "text/plain; charset=utf-8", id="no Accept"),
        pytest.param("*/*", "text/plain; charset=utf-8", id="anything"),
        pytest.param("application/json", "application/json", id="json"),
        pytest.param("text/html,application/json;q=0.9", "application/json", id="html or json"),
        pytest.param("application/json;q=0.5, text/plain", "text/plain; charset=utf-8", id="text preferred"),
        pytest.param("image/png", "text/plain; charset=utf-8", id="nothing matches"),
        pytest.param("application/json;q=x, ,;;", "text/plain; charset=utf-8", id="malformed"),
    ],
)
def test_refusal_is_negotiated(
    accept: str | None, content_type: str, request_options: dict[str, Any], status: str, detail: str
) -> None:
    seen = Seen()
    server = serve(
        BodyLimit(echo(seen), max_bytes=4),
        environ(accept=accept, **request_options),
        lint="length" not in request_options,  # wsgiref.validate refuses a CONTENT_LENGTH like "abc"
    )
    assert seen.calls == 0
    assert server.status == status
    assert header(server, "Content-Type") == content_type
    assert header(server, "Vary") == "Accept"
    body = body_of(server)
    assert header(server, "Content-Length") == str(len(body))
    if content_type == "application/json":
        code, _, title = status.partition(" ")
        assert json.loads(body) == {"status": int(code), "title": title, "detail": detail}
    else:
        assert body == f"{status}: {detail}\n".encode()


def test_refusal_to_head_has_no_body() -> None:
    server = serve(BodyLimit(echo(Seen()), max_bytes=4), environ(method="HEAD", body=b"too long"))
    assert server.status == "413 Content Too Large"
    assert body_of(server) == b""
    text = b"413 Content Too Large: The request body is over the limit of 4 bytes.\n"
    assert header(server, "Content-Length") == str(len(text))  # the length a GET would get


@pytest.mark.parametrize(
    ("request_options", "status"),
    [
        pytest.param({"body": b"secret-token-in-body"}, "413 Content Too Large", id="413"),
        pytest.param(
            {"stream": Untouchable(), "length": "20\r\nSet-Cookie: secret=1"}, "400 Bad Request", id="400"
        ),
        pytest.param(
            {"body": b"secret-token-in-body", "length": "20", "chunked": True, "terminated": True},
            "400 Bad Request",
            id="400 two framings",
        ),
        pytest.param({"stream": Untouchable(), "chunked": True}, "411 Length Required", id="411"),
    ],
)
def test_refusal_carries_no_request_data(
    caplog: pytest.LogCaptureFixture, request_options: dict[str, Any], status: str
) -> None:
    path = "/<script>alert(1)</script>\r\nSet-Cookie: x=1"
    caplog.set_level(logging.INFO, logger="wsgistack.body_limit")
    for accept in ("text/plain", "application/json"):
        server = serve(
            BodyLimit(echo(Seen()), max_bytes=4),
            environ(path, accept=accept, **request_options),
            lint=False,
        )
        assert server.status == status
        body = body_of(server)
        for leaked in (b"script", b"Set-Cookie", b"secret", b"20"):
            assert leaked not in body
    # The log names the request, but escaped: no line break can forge a log line.
    messages = [record.getMessage() for record in caplog.records if record.name == "wsgistack.body_limit"]
    assert len(messages) == 2
    assert all("\n" not in message and status in message for message in messages)


# --- per-prefix limits -------------------------------------------------------------------------------

UPLOADS = {"/upload": 100, "/upload/avatars/": 10, "/caf\u00e9": 50, "/api/v1/import": 1000}


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        pytest.param("/", 5, id="root"),
        pytest.param("/upload", 100, id="the prefix itself"),
        pytest.param("/upload/", 100, id="with slash"),
        pytest.param("/upload/file.bin", 100, id="below"),
        pytest.param("/uploads/file.bin", 5, id="segment boundary"),
        pytest.param("/upload/avatars/me.png", 10, id="longest prefix wins"),
        pytest.param("/upload/avatars", 10, id="longest prefix, no slash"),
        pytest.param("/upload/../api/x", 5, id="dot segments are resolved"),
        pytest.param("/upload/./avatars/x", 10, id="single dot"),
        pytest.param("//upload//file", 100, id="empty segments"),
        pytest.param("/x/../upload/f", 100, id="dot segments into the prefix"),
        pytest.param("/UPLOAD/file", 5, id="case-sensitive"),
        pytest.param("/caf\u00c3\u00a9/x", 50, id="non-ASCII prefix as PEP 3333 latin-1"),
        pytest.param("/api/v1/import/csv", 1000, id="deep prefix"),
        pytest.param("", 5, id="empty PATH_INFO"),
    ],
)
def test_limit_for(path: str, limit: int) -> None:
    assert BodyLimit(echo(Seen()), max_bytes=5, limits=UPLOADS).limit_for(path) == limit


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/", "/", id="root"),
        pytest.param("/a/b", "/a/b", id="plain"),
        pytest.param("/a/./b", "/a/b", id="dot"),
        pytest.param("/a/../b", "/b", id="dot-dot"),
        pytest.param("/../../b", "/b", id="above the root"),
        pytest.param("//a///b/", "/a/b", id="empty segments"),
        pytest.param("/a/..", "/", id="trailing dot-dot"),
        pytest.param("/a/.../b", "/a/.../b", id="three dots is a name"),
    ],
)
def test_normalize_path(path: str, expected: str) -> None:
    assert _normalize_path(path) == expected


def test_prefix_limit_is_applied_and_recorded() -> None:
    seen = Seen()
    layer = BodyLimit(echo(seen), max_bytes=5, limits={"/upload": 100})
    server = serve(layer, environ("/upload/big", body=b"u" * 50))
    assert body_of(server) == b"u" * 50
    assert seen.environ[ENVIRON_KEY] == 100
    assert serve(layer, environ("/other", body=b"u" * 50)).status == "413 Content Too Large"
    assert (
        serve(layer, environ("/upload/../other", body=b"u" * 50), lint=False).status
        == "413 Content Too Large"
    )


# --- BodyLimit: streamed bodies and the app's reactions ----------------------------------------------


def reader_app(
    *, status_after: str | None = None, lazy: bool = False, chunks_before: int = 0, write_first: bool = False
) -> tuple[WSGIApplication, Probe]:
    """An app that reads the whole body; ``status_after`` makes it catch RequestTooLarge and answer that
    status itself; ``lazy`` reads in the body generator, after ``chunks_before`` chunks went out."""
    probe = Probe()

    def read_body(env: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        try:
            body = env["wsgi.input"].read()
        except RequestTooLarge:
            if status_after is None:
                raise
            start_response(status_after, [("Content-Type", "text/plain")], sys.exc_info())
            yield b"app's own answer"
            return
        yield body

    class Body:
        def __init__(self, chunks: Iterable[bytes]) -> None:
            self.chunks = chunks

        def __iter__(self) -> Iterator[bytes]:
            yield from self.chunks

        def close(self) -> None:
            probe.closes += 1

    def app(env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        if write_first:
            write(b"written first")
        if lazy:

            def generate() -> Iterator[bytes]:
                for _ in range(chunks_before):
                    yield b"early chunk"
                yield from read_body(env, start_response)

            return Body(generate())
        return Body(list(read_body(env, start_response)))

    return app, probe


@pytest.mark.parametrize(
    ("options", "status", "error", "closes"),
    [
        pytest.param({}, "413 Content Too Large", False, 0, id="uncaught while called"),
        pytest.param(
            {"lazy": True}, "413 Content Too Large", False, 1, id="uncaught in the body, nothing sent"
        ),
        pytest.param({"status_after": "500 Oops"}, "413 Content Too Large", False, 1, id="app answers 500"),
        pytest.param(
            {"status_after": "503 Busy", "lazy": True},
            "413 Content Too Large",
            False,
            1,
            id="lazy app answers 503",
        ),
        pytest.param({"status_after": "400 Nope"}, "400 Nope", False, 1, id="app answers 400 itself"),
        pytest.param({"status_after": "413 Mine"}, "413 Mine", False, 1, id="app answers 413 itself"),
        pytest.param({"lazy": True, "chunks_before": 1}, "200 OK", True, 1, id="after a chunk was sent"),
        pytest.param({"write_first": True}, "200 OK", True, 0, id="after write()"),
    ],
)
def test_streamed_body_over_the_limit(options: dict[str, Any], status: str, error: bool, closes: int) -> None:
    app, probe = reader_app(**options)
    server = serve(BodyLimit(app, max_bytes=8), environ(body=b"b" * 20, streamed=True))
    assert server.status == status
    assert probe.closes == closes  # 0: the app raised before it returned an iterable
    if error:  # headers are out: the server must abort the response, not get more body
        assert isinstance(server.error, RequestTooLarge)
        assert server.sent_when_failed
        assert b"413" not in body_of(server)
    else:
        assert server.error is None
        if status.startswith("413 Content"):
            assert (
                body_of(server) == b"413 Content Too Large: The request body is over the limit of 8 bytes.\n"
            )
            # The app had started a 200: the 413 replaces it through exc_info.
            assert server.calls[0] == ("200 OK", False)
            assert server.calls[-1] == ("413 Content Too Large", True)


def test_streamed_body_within_the_limit_is_untouched() -> None:
    app, probe = reader_app(lazy=True, chunks_before=2)
    server = serve(BodyLimit(app, max_bytes=100), environ(body=b"b" * 20, streamed=True))
    assert server.status == "200 OK"
    assert server.values == [b"early chunk", b"early chunk", b"b" * 20]
    assert probe.closes == 1


def test_unframed_request_on_terminated_server_keeps_the_app_iterable() -> None:
    """gunicorn sets wsgi.input_terminated on every request: a GET must keep its file_wrapper."""
    marker = [b"body"]

    def app(env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        return marker

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], None]:
        return lambda data: None

    layer = BodyLimit(app, max_bytes=8)
    assert layer(environ(method="GET", terminated=True), start_response) is marker
    assert layer(environ(body=b"ab"), start_response) is marker
    assert layer(environ(method="GET"), start_response) is marker


def test_unframed_request_with_a_body_anyway_is_still_bounded() -> None:
    """A server that dechunks and drops Transfer-Encoding without setting CONTENT_LENGTH: still 413."""
    seen = Seen()
    env = environ(stream=io.BytesIO(b"q" * 40), terminated=True)
    assert serve(BodyLimit(echo(seen), max_bytes=8), env).status == "413 Content Too Large"


def test_app_swallowing_and_answering_500_after_return_is_replaced() -> None:
    def app(env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            env["wsgi.input"].read()
        except RequestTooLarge:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"server error"]
        raise AssertionError("the body should be too large")

    server = serve(BodyLimit(app, max_bytes=2), environ(body=b"abc", streamed=True))
    assert server.status == "413 Content Too Large"
    assert server.calls == [("500 Internal Server Error", False), ("413 Content Too Large", True)]


def test_app_own_limited_stream_is_answered_with_its_limit() -> None:
    def app(env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        LimitedStream(env["wsgi.input"], 3, on_limit="raise").read()
        raise AssertionError("unreachable")

    server = serve(BodyLimit(app, max_bytes=100), environ(body=b"abcdef", streamed=True))
    assert server.status == "413 Content Too Large"
    assert b"limit of 3 bytes" in body_of(server)


# --- drain ---------------------------------------------------------------------------------------------


def ignore_body(env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"did not read"]


@pytest.mark.parametrize(
    ("env", "drain", "consumed"),
    [
        pytest.param(environ(body=b"d" * 50), 0, 0, id="off"),
        pytest.param(environ(body=b"d" * 50), 1000, 50, id="all of it"),
        pytest.param(environ(body=b"d" * 50), 20, 20, id="up to the budget"),
        pytest.param(environ(body=b"d" * 50, length="30"), 1000, 30, id="never past the length"),
        pytest.param(environ(body=b"d" * 50, streamed=True), 1000, 41, id="streamed: stops past the limit"),
        pytest.param(environ(body=b"d" * 30, streamed=True), 1000, 30, id="streamed within"),
        pytest.param(environ(body=b"d" * 500), 1000, 0, id="refused: never read"),
    ],
)
def test_drain(env: WSGIEnvironment, drain: int, consumed: int) -> None:
    source = env["wsgi.input"]
    serve(BodyLimit(ignore_body, max_bytes=40 if "HTTP_TRANSFER_ENCODING" in env else 100, drain=drain), env)
    assert source.tell() == consumed


def test_drain_survives_a_client_that_went_away() -> None:
    class Gone:
        def read(self, size: int = -1, /) -> bytes:
            raise ConnectionResetError("client went away")

    env = environ(stream=Gone(), length="10")
    server = serve(BodyLimit(ignore_body, max_bytes=100, drain=100), env, lint=False)
    assert server.error is None
    assert body_of(server) == b"did not read"


# --- the PEP 3333 contract in every mode ---------------------------------------------------------------


def preset(layer: WSGIApplication, **changes: Any) -> WSGIApplication:
    """Give the layer a request with a body (the contract's own request has none)."""

    def app(env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        env.update(changes)
        env["wsgi.input"] = io.BytesIO(b"request body")
        return layer(env, start_response)

    return app


MODES = [
    pytest.param({"CONTENT_LENGTH": "12"}, {"max_bytes": 100}, id="declared"),
    pytest.param({"CONTENT_LENGTH": "12"}, {"max_bytes": 100, "drain": 100}, id="declared+drain"),
    pytest.param(
        {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}, {"max_bytes": 100}, id="chunked"
    ),
    pytest.param(
        {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True},
        {"max_bytes": 100, "drain": 10},
        id="chunked+drain",
    ),
    pytest.param(
        {"SERVER_PROTOCOL": "HTTP/2", "wsgi.input_terminated": True}, {"max_bytes": 100}, id="HTTP/2"
    ),
    pytest.param({"wsgi.input_terminated": True}, {"max_bytes": 100}, id="terminated, no body"),
]


@pytest.mark.parametrize(("changes", "options"), MODES)
@pytest.mark.parametrize(("shape", "iteration"), CASES)
def test_contract_in_every_mode(
    changes: dict[str, Any], options: dict[str, Any], shape: str, iteration: str
) -> None:
    check_layer(lambda app: preset(BodyLimit(app, **options), **changes), shape, iteration)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"CONTENT_LENGTH": "500"}, id="declared"),
        pytest.param({"CONTENT_LENGTH": "x"}, id="invalid"),
        pytest.param({"HTTP_TRANSFER_ENCODING": "chunked"}, id="411"),
    ],
)
@pytest.mark.parametrize(("shape", "iteration"), CASES)
def test_refusals_never_run_the_app(changes: dict[str, Any], shape: str, iteration: str) -> None:
    with pytest.raises(AssertionError, match=r"ran 0 times|instead of the app's own|replacement was lost"):
        check_layer(lambda app: preset(BodyLimit(app, max_bytes=100), **changes), shape, iteration)


def test_no_state_on_the_instance() -> None:
    layer = BodyLimit(echo(Seen()), max_bytes=8, limits={"/a": 4}, drain=10)
    before = dict(vars(layer))
    for env in (environ(body=b"ab"), environ(body=b"x" * 20, streamed=True), environ("/a/b", body=b"x" * 5)):
        serve(layer, env)
    assert vars(layer) == before


# --- options -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param({"max_bytes": True}, TypeError, "max_bytes must be an int", id="bool max_bytes"),
        pytest.param({"max_bytes": "10MB"}, TypeError, "max_bytes must be an int", id="str max_bytes"),
        pytest.param({"max_bytes": 1.0}, TypeError, "max_bytes must be an int", id="float max_bytes"),
        pytest.param({"max_bytes": -1}, ValueError, "max_bytes must be >= 0", id="negative max_bytes"),
        pytest.param({"max_bytes": 1, "drain": -5}, ValueError, "drain must be >= 0", id="negative drain"),
        pytest.param({"max_bytes": 1, "drain": False}, TypeError, "drain must be an int", id="bool drain"),
        pytest.param(
            {"max_bytes": 1, "assume_terminated": "yes"}, TypeError, "assume_terminated", id="str bool"
        ),
        pytest.param(
            {"max_bytes": 1, "limits": [("/a", 1)]}, TypeError, "limits must be a mapping", id="list"
        ),
        pytest.param(
            {"max_bytes": 1, "limits": {"a": 1}}, ValueError, "starting with '/'", id="relative key"
        ),
        pytest.param({"max_bytes": 1, "limits": {1: 1}}, ValueError, "starting with '/'", id="int key"),
        pytest.param({"max_bytes": 1, "limits": {"/": 1}}, ValueError, "use max_bytes", id="root key"),
        pytest.param({"max_bytes": 1, "limits": {"/a/../b": 1}}, ValueError, "not a normalized", id="dots"),
        pytest.param(
            {"max_bytes": 1, "limits": {"//a": 1}}, ValueError, "not a normalized", id="double slash"
        ),
        pytest.param({"max_bytes": 1, "limits": {"/a": 1, "/a/": 2}}, ValueError, "repeats", id="duplicate"),
        pytest.param({"max_bytes": 1, "limits": {"/a": True}}, TypeError, r"limits\['/a'\]", id="bool value"),
        pytest.param({"max_bytes": 1, "limits": {"/a": -1}}, ValueError, r"limits\['/a'\]", id="negative"),
    ],
)
def test_options_are_checked(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        BodyLimit(echo(Seen()), **options)


def test_registered_and_checked_by_layer() -> None:
    assert REGISTRY["body_limit"].factory is BodyLimit
    assert not REGISTRY["body_limit"].handles_errors
    with pytest.raises(LayerError, match="max_bytes"):
        Layer.named("body_limit", max_byts=10)
    with pytest.raises(LayerError):
        Layer.named("body_limit")  # max_bytes is required


# --- real frameworks behind the layer ------------------------------------------------------------------


def flask_app() -> WSGIApplication:
    from flask import Flask, request

    app = Flask("body_limit_test")

    @app.post("/echo")
    def echo_view() -> bytes:
        return request.get_data()

    @app.post("/form")
    def form_view() -> str:
        return ",".join(f"{key}={value}" for key, value in sorted(request.form.items()))

    return app


@pytest.mark.parametrize(
    ("env", "status", "body"),
    [
        pytest.param(environ("/echo", body=b"hello"), "200 OK", b"hello", id="declared"),
        pytest.param(environ("/echo", body=b"hello", streamed=True), "200 OK", b"hello", id="chunked"),
        pytest.param(environ("/echo", body=b"h" * 64), "413 Content Too Large", None, id="declared over"),
        pytest.param(
            environ("/echo", body=b"h" * 64, streamed=True), "413 Content Too Large", None, id="chunked over"
        ),
    ],
)
def test_flask(env: WSGIEnvironment, status: str, body: bytes | None) -> None:
    server = serve(BodyLimit(flask_app(), max_bytes=32), env)
    assert server.status == status
    if body is not None:
        assert body_of(server) == body


def test_flask_form_through_a_chunked_body() -> None:
    env = environ("/form", body=b"a=1&b=two", streamed=True)
    env["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    server = serve(BodyLimit(flask_app(), max_bytes=32), env)
    assert body_of(server) == b"a=1,b=two"


def test_webob_reads_the_bounded_body() -> None:
    from webob import Request

    def app(env: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        data = Request(env).body
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [data]

    env = environ(body=b"abcdef", length="4")
    assert body_of(serve(BodyLimit(app, max_bytes=10), env)) == b"abcd"
    assert body_of(serve(BodyLimit(app, max_bytes=10), environ(body=b"chunked", streamed=True))) == b"chunked"
