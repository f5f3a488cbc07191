"""Real WSGI servers (waitress, gunicorn) in subprocesses on 127.0.0.1, for integration tests.

``serve("tests.live_x:app", server="gunicorn")`` starts the server on a free port, waits until it
accepts connections, yields its base URL and stops it on exit (SIGTERM, then SIGKILL after a bound).
The app reference is imported from the repository root. Whatever the server printed is attached to
the error if it fails to start, and is available afterwards via :func:`last_output`.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "SERVERS",
    "ServerURL",
    "final_status",
    "free_port",
    "last_output",
    "raw",
    "request",
    "run_command",
    "serve",
    "wait_for_port",
]

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("waitress", "gunicorn")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_outputs: list[str] = []


class ServerURL(str):
    """The base URL (``http://127.0.0.1:PORT``), carrying the server's process for tests that watch it."""

    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"server did not listen on 127.0.0.1:{port} within {timeout} s")


def command(app_ref: str, server: str, port: int, args: Sequence[str] = ()) -> list[str]:
    if server == "waitress":
        return [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=4", *args, app_ref]
    if server == "gunicorn":
        return [
            sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
            "--graceful-timeout", "3", "--log-level", "warning", *args, app_ref,
        ]  # fmt: skip
    raise ValueError(f"unknown server {server!r}; known: {', '.join(SERVERS)}")


@contextmanager
def run_command(command: Sequence[str], port: int, env: dict[str, str] | None = None) -> Iterator[ServerURL]:
    """Run a server ``command`` that listens on 127.0.0.1:``port`` from the repository root; yield its
    base URL once it accepts connections; stop it by its pid (SIGTERM, then SIGKILL after a bound)."""
    child_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    child_env.update(env or {})
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_for_port(port, process)
            except (RuntimeError, TimeoutError) as exc:
                log.seek(0)
                raise RuntimeError(
                    f"{' '.join(command[:3])}: {exc}\n{log.read().decode(errors='replace')}"
                ) from None
            url = ServerURL(f"http://127.0.0.1:{port}")
            url.process = process
            yield url
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.seek(0)
            _outputs.append(log.read().decode(errors="replace"))


@contextmanager
def serve(
    app_ref: str,
    *,
    server: str = "waitress",
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
) -> Iterator[ServerURL]:
    """Run ``app_ref`` ("module:attr") under ``server``; yield ``http://127.0.0.1:PORT``."""
    port = free_port()
    with run_command(command(app_ref, server, port, args), port, env) as url:
        yield url


def last_output() -> str:
    """What the most recently stopped server printed (stdout and stderr)."""
    return _outputs[-1] if _outputs else ""


# --- clients ---------------------------------------------------------------------------------------------


def _address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    return parts.hostname or "127.0.0.1", parts.port or 80


def request(
    base: str,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client on a fresh connection: status, headers (lower-cased names), body."""
    connection = http.client.HTTPConnection(*_address(base), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def raw(base: str, data: bytes, until: bytes | None = b"\r\n\r\n") -> bytes:
    """Send ``data`` on a raw socket; read until ``until`` is in the reply (the default: the response
    head, an impatient or aborting client) or, with None, to the end of the connection."""
    with socket.create_connection(_address(base), timeout=30) as sock:
        sock.sendall(data)
        received = b""
        while until is None or until not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def final_status(base: str, head: bytes) -> int:
    """Send a request head without its body; the final status, past interim 1xx responses (gunicorn and
    waitress answer ``Expect: 100-continue`` themselves). 0 if the connection closes first."""
    with socket.create_connection(_address(base), timeout=30) as sock:
        sock.sendall(head)
        received = b""
        while True:
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    return 0
                received += chunk
            block, received = received.split(b"\r\n\r\n", 1)
            status = int(block.split(b" ", 2)[1])
            if status >= 200:
                return status
