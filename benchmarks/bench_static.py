"""StaticFiles against WhiteNoise and werkzeug's SharedDataMiddleware, in-process, in the same run.

Cases: a 10 KiB hit with the body iterated (wsgistack with its small-file memory cache on and off), a
304 answered from If-None-Match, a miss that falls through to the app (overhead over the bare app), and
a single byte range; each is timed in alternating rounds and the best round kept. Finally the peak RSS
growth of serving one large file (1 GiB, 8 MiB with ``--quick``) without ``wsgi.file_wrapper``, in a
fresh subprocess, for wsgistack and WhiteNoise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks.harness import Report, Stats, make_environ, measure, wsgi_request
from wsgistack import StaticFiles
from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment

SUITE = "static"
HIT_GOAL_CACHED = 0.5  # x WhiteNoise per request
HIT_GOAL_UNCACHED = 0.8
NOT_MODIFIED_GOAL = 0.8
MISS_BUDGET = 0.5e-6  # seconds over the bare app
RSS_BUDGET = 16 * 1024 * 1024
ROUNDS = 3
BODY = b"".join(b".rule-%d { color: #%06x }\n" % (i, i * 7919 % 0xFFFFFF) for i in range(600))[: 10 * 1024]


def bare_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
    return [b"not found\n"]


def _implementations(root: str) -> dict[str, WSGIApplication]:
    from werkzeug.middleware.shared_data import SharedDataMiddleware
    from whitenoise import WhiteNoise  # type: ignore[import-untyped]

    return {
        "wsgistack (memory cache)": StaticFiles(bare_app, root),
        "wsgistack (no cache)": StaticFiles(bare_app, root, cache_max_file_size=0),
        "whitenoise": WhiteNoise(bare_app, root=root, prefix="static/"),
        "werkzeug": SharedDataMiddleware(bare_app, {"/static": root}),
    }


def _etag(app: WSGIApplication) -> str:
    found: dict[str, str] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        found.update((name.lower(), value) for name, value in headers)
        return lambda data: None

    body = app(make_environ("/static/hit.css"), start_response)
    close = getattr(body, "close", None)
    if close is not None:
        close()
    return found["etag"]


def _measure_interleaved(
    report: Report, case: str, requests: dict[str, Callable[[], object]], quick: bool
) -> None:
    """Time every implementation of a case in alternating rounds; keep each one's best round.

    On a shared machine a burst of load in one round would otherwise land on one implementation only;
    alternating spreads it, and the best round of each (as ``timeit`` advises) filters it out.
    """
    best: dict[str, Stats] = {}
    for _ in range(1 if quick else ROUNDS):
        for name, request in requests.items():
            stats = measure(request, quick=quick, min_time=0.1, repeat=5)
            if name not in best or stats.median < best[name].median:
                best[name] = stats
    for name, stats in best.items():
        report.add(SUITE, case, name, stats)


def run(report: Report, quick: bool) -> None:
    with tempfile.TemporaryDirectory() as root:
        Path(root, "hit.css").write_bytes(BODY)
        apps = _implementations(root)
        hit = make_environ("/static/hit.css", headers={"Accept-Encoding": "gzip, deflate, br"})
        ranged = make_environ("/static/hit.css", headers={"Range": "bytes=1000-1999"})
        miss = make_environ("/app/page")
        cases: dict[str, dict[str, Callable[[], object]]] = {
            "miss": {"bare app": wsgi_request(bare_app, miss)},
            "10 KiB hit": {},
            "304": {},
            "range 1000-1999": {},
        }
        for name, app in apps.items():
            not_modified = make_environ("/static/hit.css", headers={"If-None-Match": _etag(app)})
            cases["miss"][name] = wsgi_request(app, miss)
            cases["10 KiB hit"][name] = wsgi_request(app, hit)
            cases["304"][name] = wsgi_request(app, not_modified)
            cases["range 1000-1999"][name] = wsgi_request(app, ranged)
        for case, requests in cases.items():
            _measure_interleaved(report, case, requests, quick)

    ours, cold = "wsgistack (memory cache)", "wsgistack (no cache)"
    report.compare(SUITE, "10 KiB hit", ours, "whitenoise", goal=HIT_GOAL_CACHED)
    report.compare(SUITE, "10 KiB hit", cold, "whitenoise", goal=HIT_GOAL_UNCACHED)
    report.compare(SUITE, "10 KiB hit", ours, "werkzeug")
    report.compare(SUITE, "304", ours, "whitenoise", goal=NOT_MODIFIED_GOAL)
    report.compare(SUITE, "304", ours, "werkzeug")
    report.compare(SUITE, "range 1000-1999", ours, "whitenoise")
    report.compare(SUITE, "range 1000-1999", cold, "whitenoise")
    report.compare(SUITE, "miss", ours, "whitenoise", base="bare app")
    overhead = report.median(SUITE, "miss", ours) - report.median(SUITE, "miss", "bare app")
    verdict = "within" if overhead <= MISS_BUDGET else "OVER"
    report.note(f"static miss: {overhead * 1e6:.2f} us over the bare app ({verdict} the 0.5 us budget).")
    report.note("static range: werkzeug ignores Range and sends the whole file (a 200).")

    size = 8 * 1024 * 1024 if quick else 1024 * 1024 * 1024
    for impl in ("wsgistack", "whitenoise"):
        growth = rss_growth(impl, size)
        verdict = "within" if growth <= RSS_BUDGET else "OVER"
        report.note(
            f"static {impl}: peak RSS growth serving a {size >> 20} MiB file: {growth / 2**20:.1f} MiB "
            f"({verdict} the 16 MiB budget)."
        )


_RSS_SCRIPT = r"""
import json, os, resource, sys, tempfile
impl, size = sys.argv[1], int(sys.argv[2])

def bare(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b""]

with tempfile.TemporaryDirectory() as root:
    with open(os.path.join(root, "big.bin"), "wb") as file:
        file.truncate(size)  # sparse: the page cache, not this process, holds what is read
    if impl == "wsgistack":
        from wsgistack import StaticFiles
        app = StaticFiles(bare, root)
    else:
        from whitenoise import WhiteNoise
        app = WhiteNoise(bare, root=root, prefix="static/")
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/static/big.bin", "QUERY_STRING": "",
               "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    body = app(environ, lambda status, headers, exc_info=None: None)
    sent = 0
    for chunk in body:
        sent += len(chunk)
    body.close()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert sent == size, sent
print(json.dumps({"growth": (after - before) * 1024}))
"""


def rss_growth(impl: str, size: int) -> int:
    """Bytes the peak RSS of a fresh interpreter grows while ``impl`` serves a ``size``-byte file."""
    done = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, impl, str(size)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    growth: int = json.loads(done.stdout)["growth"]
    return growth
