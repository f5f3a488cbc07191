"""StaticFiles through waitress and gunicorn on 127.0.0.1, read with http.client, raw sockets and curl.

All requests of a test share one keep-alive connection, so a wrong Content-Length would corrupt the next
response. Large files go through each server's ``wsgi.file_wrapper`` (gunicorn sends them with
sendfile). The servers run with ResourceWarning shown, and their output is checked for unclosed files.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import brotli
import pytest
import zstandard

from tests.live_static import FALLBACK_BODY
from tests.servers import SERVERS, last_output, serve

T0 = 1_700_000_000
CSS = b"body { color: red }\n" * 20
BIG = os.urandom(3 * 1024 * 1024 + 123)
JS = b"".join(b"console.log('live %d');\n" % (i % 13) for i in range(2000))
VARIANTS = {
    "gzip": (".gz", gzip.compress(JS, mtime=0)),
    "br": (".br", brotli.compress(JS)),
    "zstd": (".zst", zstandard.ZstdCompressor(level=19).compress(JS)),
}
SECRET = b"TOP SECRET, outside the static root\n"


def write(root: Path, name: str, data: bytes) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (T0, T0))


@dataclass
class Live:
    server: str
    host: str
    port: int
    root: Path

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=20)


@pytest.fixture(scope="module", params=SERVERS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = tmp_path_factory.mktemp(f"live-static-{request.param}")
    root = base / "public"
    write(root, "app.css", CSS)
    write(root, "big.bin", BIG)
    write(root, "app.js", JS)
    for suffix, data in VARIANTS.values():
        write(root, "app.js" + suffix, data)
    write(root, "docs/index.html", b"<h1>docs</h1>\n")
    write(base, "secret.txt", SECRET)
    (root / "leak.txt").symlink_to(base / "secret.txt")
    env = {"WSGISTACK_LIVE_STATIC": str(root), "PYTHONWARNINGS": "always::ResourceWarning"}
    with serve("tests.live_static:app", server=request.param, env=env) as url:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        yield Live(request.param, parts.hostname, parts.port, root)
    # Only files are ours to close: gunicorn's master reports its own listening socket at exit.
    leaks = [
        line for line in last_output().splitlines() if "ResourceWarning" in line and "socket" not in line
    ]
    leaks = [line for line in leaks if "tracemalloc" not in line]
    assert leaks == [], last_output()


def fetch(
    connection: http.client.HTTPConnection,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.headers, response.read()


def test_small_and_large_files(live: Live) -> None:
    connection = live.connection()
    try:
        for path, data in (("/static/app.css", CSS), ("/static/big.bin", BIG), ("/static/app.css", CSS)):
            status, headers, body = fetch(connection, path)
            assert status == 200
            assert body == data
            assert headers["Content-Length"] == str(len(data))
            assert headers["Access-Control-Allow-Origin"] == "*"
        status, headers, body = fetch(connection, "/static/big.bin", method="HEAD")
        assert (status, headers["Content-Length"], body) == (200, str(len(BIG)), b"")
        assert fetch(connection, "/static/app.css")[2] == CSS  # the connection survived HEAD
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["/static/big.bin", "/static/app.css"], ids=["disk", "memory"])
def test_ranges(live: Live, path: str) -> None:
    data = BIG if path.endswith(".bin") else CSS
    size = len(data)
    connection = live.connection()
    try:
        for value, first, last in (
            ("bytes=0-0", 0, 0),
            ("bytes=-1", size - 1, size - 1),
            ("bytes=100-299", 100, 299),
            (f"bytes={size - 10}-", size - 10, size - 1),
            ("bytes=5-99999999999", 5, size - 1),
        ):
            status, headers, body = fetch(connection, path, {"Range": value})
            assert status == 206, value
            assert headers["Content-Range"] == f"bytes {first}-{last}/{size}"
            assert body == data[first : last + 1]
        status, headers, body = fetch(connection, path, {"Range": f"bytes={size}-"})
        assert (status, headers["Content-Range"], body) == (416, f"bytes */{size}", b"")
        assert headers["Access-Control-Allow-Origin"] == "*"
        status, headers, body = fetch(connection, path, {"Range": "bytes=0-1,100-101"})
        assert status == 206
        boundary = re.fullmatch(r"multipart/byteranges; boundary=(\w+)", headers["Content-Type"])
        assert boundary is not None
        assert body.count(b"--" + boundary[1].encode()) == 3
        assert data[0:2] in body
        assert data[100:102] in body
        status, _, body = fetch(connection, path, {"Range": "bytes=9-1"})
        assert (status, body) == (200, data)
    finally:
        connection.close()


def test_conditional_requests(live: Live) -> None:
    connection = live.connection()
    try:
        _, headers, _ = fetch(connection, "/static/big.bin")
        etag, modified = headers["ETag"], headers["Last-Modified"]
        for conditions in (
            {"If-None-Match": etag},
            {"If-None-Match": f"W/{etag}"},
            {"If-Modified-Since": modified},
        ):
            status, headers, body = fetch(connection, "/static/big.bin", conditions)
            assert (status, body) == (304, b"")
            assert headers["ETag"] == etag
            assert headers["Access-Control-Allow-Origin"] == "*"
        status, _, body = fetch(connection, "/static/big.bin", {"Range": "bytes=0-3", "If-Range": etag})
        assert (status, body) == (206, BIG[:4])
        status, _, body = fetch(connection, "/static/big.bin", {"Range": "bytes=0-3", "If-Range": '"stale"'})
        assert (status, len(body)) == (200, len(BIG))
        assert fetch(connection, "/static/big.bin", {"If-Match": '"stale"'})[0] == 412
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        pytest.param("br", "br", id="br"),
        pytest.param("gzip", "gzip", id="gzip"),
        pytest.param("zstd", "zstd", id="zstd"),
        pytest.param("gzip;q=0, identity", None, id="refused"),
        pytest.param(None, None, id="none"),
    ],
)
def test_precompressed_negotiation(live: Live, accept: str | None, coding: str | None) -> None:
    connection = live.connection()
    try:
        status, headers, body = fetch(
            connection, "/static/app.js", {"Accept-Encoding": accept} if accept else {}
        )
        assert status == 200
        assert headers["Content-Encoding"] == coding
        assert headers["Vary"] == "Accept-Encoding"
        assert body == (VARIANTS[coding][1] if coding else JS)
        status, headers, _ = fetch(
            connection,
            "/static/app.js",
            {"If-None-Match": headers["ETag"], **({"Accept-Encoding": accept} if accept else {})},
        )
        assert status == 304
        assert headers["Vary"] == "Accept-Encoding"
    finally:
        connection.close()


def test_curl_decodes_and_resumes(live: Live, tmp_path: Path) -> None:
    base = f"http://{live.host}:{live.port}"
    decoded = subprocess.run(
        ["/usr/bin/curl", "-sS", "--fail", "--compressed", f"{base}/static/app.js"],
        capture_output=True,
        check=True,
    )
    assert decoded.stdout == JS
    partial = tmp_path / "big.part"
    partial.write_bytes(BIG[:1_000_000])
    subprocess.run(
        ["/usr/bin/curl", "-sS", "--fail", "-C", "-", "-o", str(partial), f"{base}/static/big.bin"],
        capture_output=True,
        check=True,
    )
    assert partial.read_bytes() == BIG


def test_misses_index_and_methods(live: Live) -> None:
    connection = live.connection()
    try:
        assert fetch(connection, "/static/missing.css")[::2] == (404, FALLBACK_BODY)
        assert fetch(connection, "/static/leak.txt")[::2] == (404, FALLBACK_BODY)
        assert fetch(connection, "/static/app.js.gz")[::2] == (404, FALLBACK_BODY)
        status, headers, _ = fetch(connection, "/static/docs?x=1")
        assert (status, headers["Location"]) == (302, "docs/?x=1")
        assert fetch(connection, "/static/docs/")[::2] == (200, b"<h1>docs</h1>\n")
        status, headers, _ = fetch(connection, "/static/app.css", method="POST")
        assert (status, headers["Allow"]) == (405, "GET, HEAD")
    finally:
        connection.close()


def raw_request(live: Live, target: bytes) -> bytes:
    with socket.create_connection((live.host, live.port), timeout=20) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "target",
    [
        b"/static/../secret.txt",
        b"/static/%2e%2e/secret.txt",
        b"/static/%2e%2e%2fsecret.txt",
        b"/static/..%5csecret.txt",
        b"/static/%252e%252e/secret.txt",
        b"/static/%c0%ae%c0%ae/secret.txt",
        b"/static//../../secret.txt",
        b"/static/leak.txt",
    ],
)
def test_traversal_through_the_server(live: Live, target: bytes) -> None:
    reply = raw_request(live, target)
    assert reply.startswith((b"HTTP/1.1 404", b"HTTP/1.1 400", b"HTTP/1.0 400")), reply[:200]
    assert SECRET not in reply


def test_client_abort_mid_file_keeps_the_server_healthy(live: Live) -> None:
    for _ in range(3):
        with socket.create_connection((live.host, live.port), timeout=20) as sock:
            sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    connection = live.connection()
    try:
        assert fetch(connection, "/static/big.bin", {"Range": "bytes=0-9"})[2] == BIG[:10]
    finally:
        connection.close()
