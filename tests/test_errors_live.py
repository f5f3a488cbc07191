"""CatchErrors through real servers (wsgiref in a thread, waitress and gunicorn subprocesses), read with raw
sockets so the framing the client gets is checked byte for byte: an error before anything was sent is a
complete 500 with the negotiated body; an error after is an aborted response that never claims to be
complete; an error in close() leaves the response alone; the server keeps serving afterwards.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from tests.live_errors import DECLARED, PARTIAL
from tests.live_errors import app as live_app
from tests.servers import serve

SERVERS = ["wsgiref", "waitress", "gunicorn"]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(server name, base URL) for the name given by indirect parametrisation; one per module."""
    name: str = request.param
    if name != "wsgiref":
        with serve("tests.live_errors:app", server=name) as url:
            yield name, url
        return
    httpd: WSGIServer = make_server("127.0.0.1", 0, live_app, handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield name, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@dataclass
class Reply:
    """What came back on one connection, with the framing decoded by hand."""

    status: int  # 0 when the server closed without answering
    headers: list[tuple[str, str]]
    body: bytes
    complete: bool  # the framing (Content-Length or the last chunk) says the body is all there

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def fetch(base_url: str, path: str, headers: dict[str, str] | None = None) -> Reply:
    url = urlsplit(base_url)
    lines = [f"GET {path} HTTP/1.1", f"Host: {url.netloc}", "Connection: close"]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    data = b""
    with socket.create_connection((url.hostname, url.port), timeout=15) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while chunk := _recv(sock):
            data += chunk
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        return Reply(0, [], b"", False)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = [
        (key.strip(), value.strip()) for key, _, value in (line.partition(":") for line in header_lines)
    ]
    reply = Reply(int(status_line.split()[1]), parsed, rest, False)
    if any(value.lower() == "chunked" for value in reply.header("Transfer-Encoding")):
        reply.body, reply.complete = _dechunk(rest)
    elif lengths := reply.header("Content-Length"):
        reply.complete = len(lengths) == 1 and len(rest) == int(lengths[0])
    return reply


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:  # an abort may arrive as a reset: the response ends there
        return b""


def _dechunk(data: bytes) -> tuple[bytes, bool]:
    body = b""
    while True:
        size_line, separator, data = data.partition(b"\r\n")
        if not separator:
            return body, False
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body, True
        if len(data) < size + 2:
            return body + data[:size], False
        body, data = body + data[:size], data[size + 2 :]


def matrix(cases: Sequence[tuple[str, ...]], *, wsgiref: bool) -> list[object]:
    """Every case on every server; ``wsgiref=False`` cases run on the subprocess servers only."""
    return [
        pytest.param(name, *case, id=f"{name}:{case[0]}")
        for name in SERVERS
        for case in cases
        if wsgiref or name != "wsgiref"
    ]


# (path, Accept, expected Content-Type): every phase before anything was sent, every app kind.
BEFORE_SENDING = [
    ("/call", "application/json", "application/json"),
    ("/started", "text/html", "text/html; charset=utf-8"),
    ("/first", "", "text/plain; charset=utf-8"),
    ("/flask/boom", "application/problem+json", "application/problem+json"),
]
# Django's settings are process-global, so Django is served by the subprocess servers only.
DJANGO_BEFORE_SENDING = [("/django/boom", "application/json", "application/json")]


@pytest.mark.parametrize(
    ("server", "path", "accept", "content_type"),
    matrix(BEFORE_SENDING, wsgiref=True) + matrix(DJANGO_BEFORE_SENDING, wsgiref=False),
    indirect=["server"],
)
def test_error_before_sending_is_a_complete_500(
    server: tuple[str, str], path: str, accept: str, content_type: str
) -> None:
    _, base_url = server
    headers = {"X-Request-ID": "live-7"} | ({"Accept": accept} if accept else {})
    reply = fetch(base_url, path, headers)
    assert reply.status == 500
    assert reply.complete
    assert reply.header("Content-Type") == [content_type]
    assert reply.header("Content-Length") == [str(len(reply.body))]  # one, ours: not the app's as well
    if "json" in content_type:
        assert json.loads(reply.body)["request_id"] == "live-7"
    else:
        assert b"live-7" in reply.body
    assert b"Traceback" not in reply.body
    assert fetch(base_url, "/ok").body == b"ok"


# (path, framing the app declared). wsgiref answers HTTP/1.0, where a body without a length ends with
# the connection, so a truncated chunked-style response is indistinguishable there: framed cases only.
FRAMED_AFTER_SENDING = [("/mid-length", "Content-Length"), ("/write", "Content-Length")]
UNFRAMED_AFTER_SENDING = [("/mid", "chunked"), ("/flask/stream", "chunked"), ("/django/stream", "chunked")]


@pytest.mark.parametrize(
    ("server", "path", "declared"),
    matrix(FRAMED_AFTER_SENDING, wsgiref=True) + matrix(UNFRAMED_AFTER_SENDING, wsgiref=False),
    indirect=["server"],
)
def test_error_after_sending_aborts_the_response(server: tuple[str, str], path: str, declared: str) -> None:
    _, base_url = server
    reply = fetch(base_url, path)
    assert not reply.complete
    assert reply.status in (0, 200)
    assert b"Internal Server Error" not in reply.body  # nothing appended to a response already on its way
    assert reply.body == PARTIAL[: len(reply.body)]
    if reply.status and declared == "Content-Length":
        assert reply.header("Content-Length") == [str(DECLARED)]
        assert len(reply.body) < DECLARED
    if reply.status and declared == "chunked":
        assert reply.header("Transfer-Encoding") == ["chunked"]
    assert fetch(base_url, "/ok").body == b"ok"


@pytest.mark.parametrize("server", SERVERS, indirect=True)
def test_error_in_close_leaves_the_response_alone(server: tuple[str, str]) -> None:
    _, base_url = server
    reply = fetch(base_url, "/close")
    assert (reply.status, reply.body, reply.complete) == (200, b"complete", True)
    assert fetch(base_url, "/ok").body == b"ok"
