"""BodyLimit through real servers (wsgiref in a thread, waitress and gunicorn subprocesses), spoken to over
raw sockets so the test controls exactly which body bytes are sent: a chunked upload within the limit
arrives intact, one over it gets 413, and a huge declared Content-Length with ``Expect: 100-continue`` gets
413 while the app never runs and nothing on the WSGI side reads a byte of the body (counted around the
server's ``wsgi.input``, see ``tests/live_body_limit.py``), whether the client waits for the final status
or, like curl, starts sending when the server says ``100 Continue``.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import threading
import time
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
    reads: Path

    def calls(self) -> list[str]:
        """The requests the app got since the last call."""
        lines = self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []
        self.log.write_text("", encoding="utf-8")
        return lines

    def read_count(self, target: str) -> int:
        """How many body bytes the WSGI side read from the server for the request to ``target`` (path and
        query, unique per request); logged when the server closes the response, so waited for."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            lines = self.reads.read_text(encoding="utf-8").splitlines() if self.reads.exists() else []
            counts = [int(line.split(" ")[2]) for line in lines if line.split(" ")[1] == target]
            if counts:
                assert len(counts) == 1, counts
                return counts[0]
            assert time.monotonic() < deadline, f"no read count logged for {target}: {lines}"
            time.sleep(0.01)


@pytest.fixture(scope="module", params=SERVERS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    name: str = request.param
    directory = tmp_path_factory.mktemp(name)
    log, reads = directory / "calls.log", directory / "reads.log"
    env = {"BODY_LIMIT_LOG": str(log), "BODY_LIMIT_READS": str(reads)}
    if name != "wsgiref":
        with serve("tests.live_body_limit:app", server=name, env=env) as url:
            parts = urlsplit(url)
            assert parts.hostname is not None
            assert parts.port is not None
            yield Live(name, parts.hostname, parts.port, log, reads)
        return
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        httpd: WSGIServer = make_server("127.0.0.1", 0, live_app, handler_class=_QuietHandler)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield Live(name, "127.0.0.1", httpd.server_address[1], log, reads)
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
    reply = upload_declared(live, "/form?within", body)
    assert reply.status == 200
    assert reply.body == answer(body)
    assert live.calls() == ["POST /form"]
    assert live.read_count("/form?within") == LIMIT  # the count sees what the app read


def test_declared_body_over_the_limit_gets_413_before_the_app_runs(live: Live) -> None:
    reply = upload_declared(live, "/form?over", b"z" * (LIMIT + 1))
    assert reply.status == 413
    assert reply.body == OURS
    assert live.calls() == []
    assert live.read_count("/form?over") == 0


def expect_continue(live: Live, length: int) -> Connection:
    """A connection that has sent only the headers of a request declaring ``length`` bytes."""
    connection = Connection(live)
    headers = {"Content-Length": str(length), "Expect": "100-continue"}
    connection.send(request_head(live, "/upload/huge.bin", headers))
    return connection


EXPECT_TIMEOUT = 1.0  # how long curl waits for an answer before it sends the body anyway
CHUNK = b"u" * 16384
# The client's send buffer, fixed (the kernel doubles it and no longer grows it): what the client can
# have sent before the server reacts is then this plus the server's receive window, however late it is.
SEND_BUFFER = 65536
SEND_CAP = 8 * 2**20  # the client gives up sending here whatever happens (the tests expect far less)


class RawClient:
    """A socket and what it received so far, without a buffered reader in between: ``select`` then tells
    whether the server has said more, as curl's event loop does."""

    def __init__(self, live: Live) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self.sock.settimeout(TIMEOUT)  # sends then return what the kernel took, never block for good
        self.sock.connect((live.host, live.port))
        self.received = b""
        self.eof = False

    def close(self) -> None:
        self.sock.close()

    def pump(self, timeout: float) -> bool:
        """Receive what arrives within ``timeout`` seconds (0: only what is there); False if nothing."""
        if self.eof or not select.select([self.sock], [], [], timeout)[0]:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        self.eof = not data
        self.received += data
        return True

    def next_head(self, timeout: float) -> tuple[int, dict[str, str]] | None:
        """The next response head, taken out of what was received; None if none came within ``timeout``."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.received:
            assert not self.eof, f"the connection closed before a response: {self.received!r}"
            if not self.pump(max(0.0, deadline - time.monotonic())):
                return None
        block, self.received = self.received.split(b"\r\n\r\n", 1)
        status_line, *lines = block.decode("latin-1").split("\r\n")
        assert status_line.startswith("HTTP/1."), status_line
        fields = (line.partition(":") for line in lines)
        return int(status_line.split()[1]), {key.strip().lower(): value.strip() for key, _, value in fields}

    def body(self, length: int) -> bytes:
        while len(self.received) < length and not self.eof:
            assert self.pump(TIMEOUT), "the response body stopped coming"
        return self.received[:length]


def upload_expecting_continue(live: Live, target: str, length: int, *, send: bool) -> Reply:
    """A request declaring ``length`` body bytes with ``Expect: 100-continue``.

    With ``send``, the client behaves like curl: it waits up to a second for an answer; a final status
    means it sends nothing, while ``100 Continue`` (or silence) makes it send the body, a chunk whenever
    the socket can take one and the server has not answered, stopping as soon as the final status is
    there. Without ``send`` it never sends a byte of the body and waits for the final status.
    ``body_sent`` is what the client's kernel accepted: at most the send buffer plus the server's receive
    window more than what the server read.
    """
    client = RawClient(live)
    try:
        headers = {"Content-Length": str(length), "Expect": "100-continue"}
        client.sock.sendall(request_head(live, target, headers))
        interim: list[int] = []
        sent = 0
        head = client.next_head(EXPECT_TIMEOUT if send else TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while head is None or head[0] < 200:
            if head is not None:
                interim.append(head[0])
            if send and sent < min(length, SEND_CAP):
                assert time.monotonic() < deadline, f"no final response after {sent} bytes"
                readable, writable, _ = select.select([client.sock], [client.sock], [], TIMEOUT)
                if writable and not readable:  # the server said nothing more: send on
                    try:
                        sent += client.sock.send(CHUNK)
                    except OSError:  # the server closed, or stopped reading: curl stops sending too
                        send = False
                head = client.next_head(0)
            else:
                head = client.next_head(TIMEOUT)
                assert head is not None, "no final response"
        status, response_headers = head
        body = client.body(int(response_headers["content-length"]))
        return Reply(interim, status, response_headers, body, body_sent=sent)
    finally:
        client.close()


# The interim responses each server sends to a request with Expect: 100-continue that BodyLimit refuses
# from its headers alone, before the final 413.
INTERIM = {
    # http.server answers an expectation only on an HTTP/1.1 connection, and wsgiref's handler speaks
    # HTTP/1.0 (BaseHTTPRequestHandler.protocol_version): no 100, the 413 is the only answer.
    "wsgiref": [],
    # gunicorn sends 100 Continue while it builds the environ, before it calls the app (http/wsgi.py).
    "gunicorn": [100],
}


@pytest.mark.parametrize("live", ["wsgiref", "gunicorn"], indirect=True)
@pytest.mark.parametrize(
    "send", [pytest.param(True, id="sends-on-100-like-curl"), pytest.param(False, id="waits-for-final")]
)
def test_10_gb_with_expect_continue_gets_413_and_no_body_is_read(live: Live, send: bool) -> None:
    target = f"/upload/huge.bin?send={send}"
    reply = upload_expecting_continue(live, target, 10 * 2**30, send=send)
    assert reply.status == 413
    assert reply.body == OURS.replace(str(LIMIT).encode(), str(UPLOAD_LIMIT).encode())
    assert reply.interim == INTERIM[live.name]
    if live.name == "gunicorn" and send:
        # curl's case: 100 Continue came first, so it started sending. BodyLimit answers 413 from the
        # headers and nothing reads the body, so the client's kernel can take no more than its send
        # buffer and the server's receive window (plus the 64 KiB gunicorn reads off while it closes)
        # before the 413 stops it: well under 1 MiB of the 10 GB, however late the 413 is.
        assert reply.body_sent < 2**20
    else:
        assert reply.body_sent == 0  # the 413 was the first answer, or the client waited for it
    assert live.read_count(target) == 0  # nothing on the WSGI side read a byte of the body
    assert live.calls() == []  # the app never ran


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
