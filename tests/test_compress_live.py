"""Compress through real servers (waitress and gunicorn subprocesses) and real clients.

curl decodes with its own gzip/brotli/zstd libraries; http.client reads the raw coded bytes, which are
decoded here, piece by piece for the streamed response: its first part must be readable before the app
has produced the second (the app waits for a file this test creates only after reading the first part).
"""

from __future__ import annotations

import http.client
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.live_compress import EVENTS, FIRST, PAGE, SECOND
from tests.servers import serve
from tests.test_codecs import StreamDecoder, decode

CODINGS = ["gzip", "br", "zstd"]
CURL = "/usr/bin/curl"


@pytest.fixture(scope="module", params=["waitress", "gunicorn"])
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with serve("tests.live_compress:app", server=request.param) as url:
        yield url


def connect(base_url: str) -> http.client.HTTPConnection:
    url = urlsplit(base_url)
    assert url.hostname is not None
    return http.client.HTTPConnection(url.hostname, url.port, timeout=20)


def fetch(
    base_url: str, path: str, accept: str | None, method: str = "GET"
) -> tuple[http.client.HTTPResponse, bytes]:
    """The response and its raw (still coded) body."""
    connection = connect(base_url)
    try:
        connection.request(method, path, headers={"Accept-Encoding": accept} if accept else {})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("coding", CODINGS)
def test_curl_decodes_each_coding(base_url: str, coding: str, tmp_path: Path) -> None:
    header_file = tmp_path / "headers"
    command = [CURL, "--silent", "--show-error", "--compressed", "--max-time", "20"]
    command += ["-H", f"Accept-Encoding: {coding}", "--dump-header", str(header_file), f"{base_url}/page"]
    body = subprocess.run(command, check=True, capture_output=True).stdout
    headers = header_file.read_bytes().decode("latin-1").lower().split("\r\n")
    assert f"content-encoding: {coding}" in headers
    assert "vary: accept-encoding" in headers
    assert 'etag: w/"page-v1"' in headers
    assert body == PAGE


@pytest.mark.parametrize("coding", CODINGS)
def test_list_body_has_an_exact_length(base_url: str, coding: str) -> None:
    response, raw = fetch(base_url, "/page", coding)
    assert response.status == 200
    assert response.getheader("Content-Encoding") == coding
    assert response.getheader("Content-Length") == str(len(raw))
    assert len(raw) < len(PAGE) / 5
    assert decode(coding, raw) == PAGE


@pytest.mark.parametrize("coding", CODINGS)
def test_first_part_arrives_before_the_app_makes_the_second(
    base_url: str, coding: str, tmp_path: Path
) -> None:
    signal = tmp_path / "go"
    connection = connect(base_url)
    connection.request("GET", f"/stream?sync={signal}", headers={"Accept-Encoding": coding})
    try:
        streamed(connection.getresponse(), coding, signal)
    finally:
        connection.close()


def streamed(response: http.client.HTTPResponse, coding: str, signal: Path) -> None:
    assert response.status == 200
    assert response.getheader("Content-Encoding") == coding
    assert response.getheader("Content-Length") is None
    decoder = StreamDecoder(coding)
    received = b""
    while len(received) < len(FIRST):
        piece = response.read1(65536)
        assert piece, "the stream ended before its first part was complete"
        received += decoder.feed(piece)
    assert received == FIRST  # decodable although the app is still waiting for the signal
    signal.touch()
    received += decoder.feed(response.read())
    assert received == FIRST + SECOND
    assert decoder.finished


@pytest.mark.parametrize("coding", CODINGS)
def test_write_callable(base_url: str, coding: str) -> None:
    response, raw = fetch(base_url, "/write", coding)
    assert response.getheader("Content-Encoding") == coding
    assert decode(coding, raw) == FIRST + SECOND


def test_server_sent_events(base_url: str) -> None:
    response, raw = fetch(base_url, "/events", "gzip, br")
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.getheader("Content-Encoding") == "br"
    assert decode("br", raw) == b"".join(EVENTS)


def test_incompressible_type_is_untouched(base_url: str) -> None:
    response, raw = fetch(base_url, "/image", "gzip, br, zstd")
    assert response.getheader("Content-Encoding") is None
    assert response.getheader("Vary") is None
    assert raw == PAGE


def test_no_accept_encoding_gets_identity_with_vary(base_url: str) -> None:
    response, raw = fetch(base_url, "/page", None)
    assert response.getheader("Content-Encoding") is None
    assert response.getheader("Vary") == "Accept-Encoding"
    assert response.getheader("ETag") == '"page-v1"'
    assert raw == PAGE


def test_head_has_the_headers_of_get(base_url: str) -> None:
    get, _ = fetch(base_url, "/page", "zstd")
    head, body = fetch(base_url, "/page", "zstd", method="HEAD")
    assert body == b""
    for name in ("Content-Encoding", "Vary", "ETag", "Content-Type"):
        assert head.getheader(name) == get.getheader(name), name
