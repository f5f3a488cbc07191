"""The full recommended stack around a demo app, served by waitress and gunicorn on 127.0.0.1 and read
with a real HTTP client: static hits, ranges and 304s, compressed responses decoded, uploads under and
over the limit (declared and chunked), errors, streaming, request ids and the access log."""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import brotli
import pytest
import zstandard

from benchmarks.e2e_content import PAGE, SCRIPT
from tests.servers import SERVERS, raw, serve
from tests.servers import request as get


@pytest.fixture(scope="module", params=SERVERS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp(f"stack-{request.param}")
    log = directory / "access.log"
    env = {"WSGISTACK_E2E_STATIC": str(directory / "static"), "WSGISTACK_ACCESS_LOG": str(log)}
    with serve("benchmarks.e2e_app:stack", server=request.param, env=env) as base:
        yield base, log


DECODERS = {
    "gzip": gzip.decompress,
    "br": brotli.decompress,
    "zstd": lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
}


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_compressed_page_decodes_to_the_original(live: tuple[str, Path], coding: str) -> None:
    status, headers, body = get(live[0], "/", {"Accept-Encoding": coding})
    assert status == 200
    assert headers["content-encoding"] == coding
    assert "accept-encoding" in headers["vary"].lower()
    assert DECODERS[coding](body) == PAGE


def test_identity_when_the_client_refuses_compression(live: tuple[str, Path]) -> None:
    status, headers, body = get(live[0], "/", {"Accept-Encoding": "gzip;q=0"})
    assert status == 200
    assert "content-encoding" not in headers
    assert body == PAGE


def test_static_hit_range_and_304(live: tuple[str, Path]) -> None:
    base = live[0]
    status, headers, body = get(base, "/static/app.js")
    assert (status, body) == (200, SCRIPT)
    assert headers["content-type"].startswith("text/javascript")
    status, headers, body = get(base, "/static/app.js", {"Range": "bytes=10-19"})
    assert (status, body) == (206, SCRIPT[10:20])
    assert headers["content-range"] == f"bytes 10-19/{len(SCRIPT)}"
    status, headers, body = get(base, "/static/app.js", {"If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"")


def test_static_precompressed_variant(live: tuple[str, Path]) -> None:
    status, headers, body = get(live[0], "/static/app.js", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == SCRIPT


def test_upload_under_the_limit_arrives_intact(live: tuple[str, Path]) -> None:
    status, _, body = get(live[0], "/upload", {"Content-Type": "text/plain"}, "POST", b"z" * 300_000)
    assert (status, body) == (200, b"300000")


def test_chunked_upload_under_the_limit(live: tuple[str, Path]) -> None:
    chunk = b"c" * 40_000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    response = raw(live[0], head + body, until=None)
    assert response.startswith(b"HTTP/1.1 200")
    assert response.endswith(b"\r\n\r\n200000")


def test_chunked_upload_over_the_limit_gets_413(live: tuple[str, Path]) -> None:
    chunk = b"c" * 100_000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(12)) + b"0\r\n\r\n"
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    assert raw(live[0], head + body).startswith(b"HTTP/1.1 413")


def test_declared_oversized_upload_gets_413(live: tuple[str, Path], request: pytest.FixtureRequest) -> None:
    """Both servers answer ``Expect: 100-continue`` themselves. gunicorn then runs the app at once, so
    BodyLimit's 413 arrives before the client has sent a byte of the body; waitress buffers every body
    before calling the app, so the client has to send it and gets the 413 after."""
    size = 2_000_000
    parts = urlsplit(live[0])
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=30) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n"
            b"Connection: close\r\n\r\n" % size
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 100 Continue")
        reply = reply.split(b"\r\n\r\n", 1)[1]
        sock.settimeout(1.0)
        try:
            while b"\r\n\r\n" not in reply:
                reply += sock.recv(65536)
            answered_before_body = True
        except TimeoutError:
            answered_before_body = False
            sock.settimeout(30)
            sock.sendall(b"u" * size)
            while b"\r\n\r\n" not in reply:
                reply += sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413")
    assert answered_before_body is (request.node.callspec.params["live"] == "gunicorn")


def test_error_becomes_a_negotiated_500(live: tuple[str, Path]) -> None:
    status, headers, body = get(live[0], "/error", {"Accept": "application/problem+json"})
    assert status == 500
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["status"] == 500
    assert "RuntimeError" not in body.decode()
    assert headers["x-request-id"] in body.decode()


def test_streamed_response_and_request_ids(live: tuple[str, Path]) -> None:
    status, headers, body = get(live[0], "/stream?n=64", {"X-Request-ID": "client-chosen-id.1"})
    assert status == 200
    assert body == (b"x" * 1023 + b"\n") * 64
    assert headers["x-request-id"] == "client-chosen-id.1"
    status, headers, _ = get(live[0], "/json", {"X-Request-ID": "bad id; <script>"})
    assert status == 200
    assert headers["x-request-id"] != "bad id; <script>"
    assert headers["x-request-id"].isalnum()


def test_access_log_records_what_was_sent(live: tuple[str, Path]) -> None:
    base, log = live
    _, _, body = get(base, "/stream?n=8", {"X-Request-ID": "log-check-1"})
    assert len(body) == 8 * 1024
    # The line is written when the server closes the response, which may be just after the client has
    # read the last byte: wait for it (bounded).
    deadline = time.monotonic() + 10
    while not (lines := [line for line in log.read_text().splitlines() if "/stream?n=8" in line]):
        assert time.monotonic() < deadline, "the streamed request was not logged"
        time.sleep(0.02)
    assert '"GET /stream?n=8 HTTP/1.1" 200 8192 ' in lines[-1]
