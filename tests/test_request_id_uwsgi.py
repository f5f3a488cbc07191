"""Request ids stay unique across uWSGI workers, which uWSGI forks from C without running Python's
at-fork hooks (unless py-call-osafterfork is set, which this test deliberately leaves off)."""

from __future__ import annotations

import shutil
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.servers import free_port, run_command


def test_uwsgi_workers_draw_their_own_prefix() -> None:
    uwsgi = shutil.which("uwsgi", path=str(Path(sys.executable).parent))
    assert uwsgi is not None, "uwsgi is in the test environment (pip install uwsgi)"
    port = free_port()
    command = [
        uwsgi, "--http-socket", f"127.0.0.1:{port}", "--master", "--processes", "2",
        "--module", "tests.live_request_id:app", "--virtualenv", str(Path(sys.executable).parent.parent),
        "--die-on-term", "--disable-logging",
    ]  # fmt: skip
    with run_command(command, port) as base, ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda _: urllib.request.urlopen(base + "/slow", timeout=30).read(), range(4))
        )
    by_pid: dict[str, set[str]] = {}
    for answer in answers:
        request_id, pid = answer.decode().split()
        by_pid.setdefault(pid, set()).add(request_id[:16])
    assert len(by_pid) == 2, f"expected both workers to answer: {answers}"
    prefixes = [prefix for prefixes in by_pid.values() for prefix in prefixes]
    assert all(len(prefixes_of_one) == 1 for prefixes_of_one in by_pid.values())
    assert len(set(prefixes)) == 2, f"two workers share an id prefix: {by_pid}"
