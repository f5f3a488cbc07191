"""Real servers on 127.0.0.1 run INI-configured stacks: gunicorn --paste, waitress-serve, uWSGI --ini-paste.

Each server loads ``tests/config_files/stack.ini`` (wsgistack's filters through their PasteDeploy entry
points around the demo app) and answers real HTTP requests.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path

import pytest

from tests.servers import free_port, run_command, serve

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "tests" / "config_files" / "stack.ini"
BIN = Path(sys.executable).parent
STOP_TIMEOUT = 10.0


def running(command: Sequence[str], port: int, env: dict[str, str] | None = None) -> ContextManager[str]:
    """Start ``command`` (which listens on ``port``) and yield its base URL (see tests.servers)."""
    return run_command(command, port, env)


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={k.replace("_", "-"): v for k, v in headers.items()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:  # servers differ in header name case: keys are lower-cased
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def check_stack(base: str) -> None:
    status, headers, body = fetch(f"{base}/", Accept_Encoding="gzip")
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert b"wsgistack demo" in gzip.decompress(body)
    assert len(headers["x-request-id"]) == 24
    status, headers, body = fetch(f"{base}/api/info")
    assert status == 200
    assert json.loads(body)["request_id"] == headers["x-request-id"]
    status, headers, body = fetch(f"{base}/static/demo.css")
    assert status == 200
    assert headers["cache-control"] == "public, max-age=120"
    assert b"font-family" in body
    assert fetch(f"{base}/boom")[0] == 500
    assert fetch(f"{base}/stream")[2].count(b"line ") == 3


def test_gunicorn_paste() -> None:
    port = free_port()
    command = [
        str(BIN / "gunicorn"),
        "--paste",
        str(STACK),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--graceful-timeout",
        "3",
        "--log-level",
        "warning",
    ]
    with running(command, port) as base:
        check_stack(base)


def test_waitress_serve_pastedeploy_app() -> None:
    port = free_port()
    command = [str(BIN / "waitress-serve"), f"--listen=127.0.0.1:{port}", "tests.live_config:pastedeploy_app"]
    with running(command, port) as base:
        check_stack(base)


@pytest.mark.parametrize("server", ["waitress", "gunicorn"])
def test_wsgistack_loader_under_real_servers(server: str) -> None:
    with serve("tests.live_config:app", server=server) as base:
        check_stack(base)


def test_uwsgi_ini_paste() -> None:
    uwsgi = shutil.which("uwsgi", path=str(BIN))
    assert uwsgi is not None, "uwsgi is in the test environment (pip install uwsgi)"
    port = free_port()
    env = {"WSGISTACK_TEST_PORT": str(port), "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    with running([uwsgi, "--ini-paste", str(STACK)], port, env) as base:
        check_stack(base)
