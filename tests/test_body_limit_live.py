"""BodyLimit through real servers (wsgiref in a thread, waitress and gunicorn subprocesses), spoken to over
raw sockets so the test controls exactly which body bytes are sent: a chunked upload within the limit
arrives intact, one over it gets 413, and a huge declared Content-Length with ``Expect: 100-continue`` gets
413 while the client sends no body at all and the app never runs.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from tests.live_body_limit import LIMIT, UPLOAD_LIMIT
from tests.live_body_limit import app as live_app
from tests.servers import serve

SERVERS = ["wsgiref", "waitress", "gunicorn"]
TIMEOUT = 10.0
OURS = f"413 Content Too Large: The request body is over the limit of {LIMIT} bytes.\n".encode()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Live:
    name: str
    host: str
    port: int
    log: Path

    def calls(self) -> list[str]:
        """The requests the app got since the last call."""
        lines = self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []
        self.log.write_text("", encoding="utf-8")
        return lines


@pytest.fixture(scope="module", params=SERVERS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    name: str = request.param
    log = tmp_path_factory.mktemp(name) / "calls.log"
    if name != "wsgiref":
        with serve("tests.live_body_limit:app", server=name, env={"BODY_LIMIT_LOG": str(log)}) as url:
            parts = urlsplit(url)
            assert parts.hostname is not None
            assert parts.port is not None
            yield Live(name, parts.hostname, parts.port, log)
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BODY_LIMIT_LOG", str(log))
        httpd: WSGIServer = make_server("127.0.0.1", 0, live_app, handler_class=_QuietHandler)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield Live(name, "127.0.0.1", httpd.server_address[1], log)
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join()


@dataclass
class Reply:
    interim: list[int]  # 1xx statuses received before the final one
    status: int
    headers: dict[str, str]
    body: bytes
    body_sent: int  # request body bytes the client actually sent


class Connection:
    """One HTTP/1.1 exchange over a raw socket."""

    def __init__(self, live: Live) -> None:
        self.sock = socket.create_connection((live.host, live.port), timeout=TIMEOUT)
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status_line = self.file.readline()
        assert status_line.startswith(b"HTTP/1."), status_line
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := self.file.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        if status < 200:
            return status, headers, b""
        if "content-length" in headers:
            return status, headers, self.file.read(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int(self.file.readline().split(b";")[0], 16):
                body += self.file.read(size)
                self.file.readline()
            self.file.readline()
            return status, headers, body
        return status, headers, self.file.read()

    def final(self) -> tuple[list[int], int, dict[str, str], bytes]:
        interim: list[int] = []
        while True:
            status, headers, body = self.response()
            if status >= 200:
                return interim, status, headers, body
            interim.append(status)


def request_head(live: Live, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {live.host}:{live.port}", "Connection: close"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body: bytes, size: int = 1000) -> bytes:
    out = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)
    )
    return out + b"0\r\n\r\n"


def upload_chunked(live: Live, path: str, body: bytes) -> Reply:
    connection = Connection(live)
    try:
        connection.send(request_head(live, path, {"Transfer-Encoding": "chunked"}) + chunked(body))
        return Reply(*connection.final(), body_sent=len(body))
    finally:
        connection.close()


def upload_declared(live: Live, path: str, body: bytes) -> Reply:
    connection = Connection(live)
    try:
        connection.send(request_head(live, path, {"Content-Length": str(len(body))}) + body)
        return Reply(*connection.final(), body_sent=len(body))
    finally:
        connection.close()


def answer(body: bytes) -> bytes:
    return f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()


def test_chunked_upload_within_the_limit_arrives_intact(live: Live) -> None:
    body = os.urandom(200 * 1024)
    reply = upload_chunked(live, "/upload/file.bin", body)
    if live.name == "wsgiref":
        # wsgiref neither decodes chunked bodies nor sets wsgi.input_terminated: reading would hang or
        # return chunk framing, so the body is refused as one without a length.
        assert reply.status == 411
        assert live.calls() == []
        return
    assert reply.status == 200
    assert reply.body == answer(body)
    assert live.calls() == ["POST /upload/file.bin"]


def test_chunked_upload_over_the_limit_gets_413(live: Live) -> None:
    reply = upload_chunked(live, "/form", b"x" * (2 * LIMIT))
    if live.name == "wsgiref":
        assert reply.status == 411
        assert live.calls() == []
        return
    assert reply.status == 413
    assert reply.body == OURS
    if live.name == "gunicorn":
        # gunicorn streams the chunked body: the app ran, its read crossed the limit and was refused.
        assert live.calls() == ["POST /form"]
    else:
        # waitress buffers a chunked body and hands it over with a Content-Length: refused up front.
        assert live.calls() == []


def test_chunked_upload_over_a_prefix_limit_gets_413(live: Live) -> None:
    reply = upload_chunked(live, "/upload/big.bin", b"y" * (UPLOAD_LIMIT + 1))
    assert reply.status == (411 if live.name == "wsgiref" else 413)
    assert live.calls() == (["POST /upload/big.bin"] if live.name == "gunicorn" else [])


def test_declared_body_within_the_limit_arrives_intact(live: Live) -> None:
    body = os.urandom(LIMIT)
    reply = upload_declared(live, "/form", body)
    assert reply.status == 200
    assert reply.body == answer(body)
    assert live.calls() == ["POST /form"]


def test_declared_body_over_the_limit_gets_413_before_the_app_runs(live: Live) -> None:
    reply = upload_declared(live, "/form", b"z" * (LIMIT + 1))
    assert reply.status == 413
    assert reply.body == OURS
    assert live.calls() == []


def expect_continue(live: Live, length: int) -> Connection:
    """A connection that has sent only the headers of a request declaring ``length`` bytes."""
    connection = Connection(live)
    headers = {"Content-Length": str(length), "Expect": "100-continue"}
    connection.send(request_head(live, "/upload/huge.bin", headers))
    return connection


@pytest.mark.parametrize("live", ["wsgiref", "gunicorn"], indirect=True)
def test_10_gb_with_expect_continue_gets_413_and_no_body_is_sent(live: Live) -> None:
    connection = expect_continue(live, 10 * 2**30)
    try:
        # Not a byte of body is sent: the final answer must come anyway.
        interim, status, _, body = connection.final()
    finally:
        connection.close()
    assert status == 413
    assert body == OURS.replace(str(LIMIT).encode(), str(UPLOAD_LIMIT).encode())
    assert live.calls() == []  # the app never ran
    # gunicorn and wsgiref send 100 Continue as soon as they have the headers; the client may (and here
    # does) wait for the final status instead of sending, and BodyLimit answered without reading.
    assert interim in ([], [100])


@pytest.mark.parametrize("live", ["waitress"], indirect=True)
def test_waitress_decides_on_expect_continue_before_any_app(live: Live) -> None:
    """waitress reads the whole body before it calls the app, so no WSGI layer can refuse it unread:
    it answers 100 Continue from the headers alone, and refuses a body of max_request_body_size (1 GiB by
    default) or more itself. Its own limit is the one that saves the upload; see docs/body_limit.md."""
    connection = expect_continue(live, 2 * LIMIT)
    try:
        assert connection.response()[0] == 100  # solicited before BodyLimit could see the request
    finally:
        connection.close()
    reply = upload_declared(live, "/upload/x", b"")  # the connection above was dropped mid-request
    assert reply.status == 200
    connection = Connection(live)
    try:
        connection.send(request_head(live, "/upload/huge.bin", {"Content-Length": str(10 * 2**30)}))
        _, status, _, body = connection.final()
    finally:
        connection.close()
    assert status == 413
    assert b"max_body" in body  # waitress's own answer
    assert live.calls() == ["POST /upload/x"]


def test_server_keeps_serving(live: Live) -> None:
    body = b"after the refusals"
    assert upload_declared(live, "/form", body).body == answer(body)
    live.calls()
