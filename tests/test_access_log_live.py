"""AccessLog through real servers: what the server process logged against what the client received.

waitress and gunicorn run ``tests/live_access_log.py`` in a subprocess that writes its access log to a
file; each request carries its own X-Request-ID so the test finds its line.
"""

from __future__ import annotations

import http.client
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.live_access_log import LOG_FILE_VARIABLE
from tests.servers import SERVERS, serve


@dataclass
class Live:
    host: str
    port: int
    log: Path

    def line(self, request_id: str, timeout: float = 15.0) -> list[str]:
        """The fields of the log line for ``request_id``, waiting until the server has written it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in self.log.read_text().splitlines():
                fields = text.split(" ", 6)
                if fields[5] == request_id:
                    return fields
            time.sleep(0.02)
        raise AssertionError(f"no access log line for {request_id} in:\n{self.log.read_text()}")


@pytest.fixture(scope="module", params=SERVERS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    log = tmp_path_factory.mktemp(request.param) / "access.log"
    log.touch()
    with serve("tests.live_access_log:app", server=request.param, env={LOG_FILE_VARIABLE: str(log)}) as url:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        yield Live(parts.hostname, parts.port, log)


def get(live: Live, path: str, request_id: str) -> tuple[http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection(live.host, live.port, timeout=15)
    try:
        connection.request("GET", path, headers={"X-Request-ID": request_id})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def test_streamed_response_logs_the_bytes_received_and_the_whole_duration(live: Live) -> None:
    response, body = get(live, "/stream?chunks=5&size=1000&delay=0.05", "stream-1")
    assert response.status == 200
    assert response.getheader("X-Request-ID") == "stream-1"
    status, sent, duration_us, aborted, stream_us, request_id, request_line = live.line("stream-1")
    assert (status, aborted, request_id) == ("200", "-", "stream-1")
    assert request_line == "GET /stream?chunks=5&size=1000&delay=0.05 HTTP/1.1"
    assert int(sent) == len(body) == 5000
    # The app measured its own streaming, from its first chunk until the server came back after the last:
    # the logged duration, from the call to close(), contains that whole interval.
    assert int(duration_us) >= int(stream_us) > 0


def test_client_gone_mid_stream_is_logged_aborted(live: Live) -> None:
    chunks, size = 400, 65536
    with socket.create_connection((live.host, live.port), timeout=15) as sock:
        sock.sendall(
            f"GET /stream?chunks={chunks}&size={size}&delay=0.002 HTTP/1.1\r\nHost: test\r\n"
            "X-Request-ID: gone-1\r\n\r\n".encode()
        )
        received = 0
        while received < 2 * size:
            data = sock.recv(65536)
            assert data
            received += len(data)
        # Close with a reset, as a client that vanishes does: the server's next write fails.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    status, sent, _, aborted, stream_us, request_id, _ = live.line("gone-1")
    assert (status, aborted, request_id, stream_us) == ("200", "aborted", "gone-1", "-")
    assert 0 < int(sent) < chunks * size


def test_error_page_is_logged_with_its_status_and_size(live: Live) -> None:
    response, body = get(live, "/error", "error-1")
    assert response.status == 500
    status, sent, _, aborted, _, _, _ = live.line("error-1")
    assert (status, aborted) == ("500", "-")
    assert int(sent) == len(body) > 0
