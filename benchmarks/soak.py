"""Soak test: gunicorn with 2 workers serving the full stack, under a bounded mixed workload.

``python -m benchmarks.soak [--requests N] [--concurrency C]`` (default 100 000 requests). The mix covers
compressed pages, JSON, static hits, ranges and 304s, streamed responses the client abandons mid-way,
uploads under the limit (declared and chunked), declared-oversized uploads (413 without reading the body)
and an endpoint that raises (500). It fails (exit 1) on any unexpected status, any worker that died or
was replaced, or worker RSS growing by 5 MiB or more between the end of the warm-up (the first 10 %)
and the end.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tests.servers import final_status, raw, request, serve

RSS_BUDGET = 5 * 1024 * 1024


@dataclass
class Outcome:
    statuses: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int, expected: set[int]) -> None:
        with self.lock:
            self.statuses[f"{kind} {status}"] += 1
            if status not in expected:
                self.unexpected.append(f"{kind}: {status}")


def workload(base: str, outcome: Outcome) -> list[Callable[[], None]]:
    host = urlsplit(base).hostname
    etag = request(base, "/static/app.js", {})[1].get("etag", '"none"')

    def page() -> None:
        status, headers, _ = request(base, "/", {"Accept-Encoding": "gzip, br, zstd"})
        outcome.record(
            "page", status, {200} if headers.get("content-encoding") in ("zstd", "br", "gzip") else set()
        )

    def json_() -> None:
        outcome.record("json", request(base, "/json", {})[0], {200})

    def static() -> None:
        outcome.record("static", request(base, "/static/app.js", {"Accept-Encoding": "gzip"})[0], {200})

    def static_range() -> None:
        outcome.record("range", request(base, "/static/app.js", {"Range": "bytes=0-99"})[0], {206})

    def static_304() -> None:
        outcome.record("304", request(base, "/static/app.js", {"If-None-Match": etag})[0], {304})

    def abandoned_stream() -> None:
        head = f"GET /stream?n=4096 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        status = raw(base, head).split(b" ", 2)[1]
        outcome.record("abandoned stream", int(status), {200})

    def upload() -> None:
        status, _, data = request(base, "/upload", {"Content-Type": "text/plain"}, "POST", b"x" * 50_000)
        outcome.record("upload", status, {200} if data == b"50000" else set())

    def chunked_upload() -> None:
        chunk = b"y" * 10_000
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
        head = (
            f"POST /upload HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: text/plain\r\nConnection: close\r\n\r\n"
        ).encode()
        # Read to the end: a request id in the headers may well contain "30000" itself.
        response = raw(base, head + body, until=None)
        ok = response.endswith(b"\r\n\r\n30000")
        outcome.record("chunked upload", int(response.split(b" ", 2)[1]), {200} if ok else set())

    def oversized() -> None:
        head = (
            f"POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Length: 10000000000\r\n"
            "Expect: 100-continue\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
        ).encode()
        outcome.record("oversized", final_status(base, head), {413})

    def error() -> None:
        outcome.record("error", request(base, "/error", {"Accept": "application/json"})[0], {500})

    weights = [
        (page, 30), (json_, 15), (static, 15), (static_range, 5), (static_304, 10), (abandoned_stream, 5),
        (upload, 8), (chunked_upload, 4), (oversized, 4), (error, 4),
    ]  # fmt: skip
    return [task for task, weight in weights for _ in range(weight)]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _wait_for_workers(pid: int, count: int, timeout: float = 30.0) -> list[int]:
    """The master's worker pids once all ``count`` have been forked (the port opens with the first)."""
    deadline = time.monotonic() + timeout
    while True:
        workers = sorted(_children(pid))
        if len(workers) >= count or time.monotonic() > deadline:
            return workers
        time.sleep(0.05)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _run_tasks(tasks: list[Callable[[], None]], count: int, concurrency: int, seed: int) -> None:
    rng = random.Random(seed)
    plan = iter([rng.choice(tasks) for _ in range(count)])
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                task = next(plan, None)
            if task is None:
                return
            task()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def soak(requests: int, concurrency: int = 4, seed: int = 1) -> dict[str, object]:
    """Run the soak; return its figures (see ``ok``)."""
    outcome = Outcome()
    args = ["--workers", "2", "--max-requests", "0", "--timeout", "60"]
    with (
        tempfile.TemporaryDirectory(prefix="wsgistack-soak-") as static,
        serve(
            "benchmarks.e2e_app:stack", server="gunicorn", args=args, env={"WSGISTACK_E2E_STATIC": static}
        ) as base,
    ):
        tasks = workload(base, outcome)
        workers = _wait_for_workers(base.process.pid, 2)
        warm = max(1, requests // 10)
        started = time.perf_counter()
        _run_tasks(tasks, warm, concurrency, seed)
        rss_warm = {pid: _rss(pid) for pid in workers}
        _run_tasks(tasks, requests - warm, concurrency, seed + 1)
        elapsed = time.perf_counter() - started
        rss_end = {pid: _rss(pid) for pid in workers if Path(f"/proc/{pid}").exists()}
        still = sorted(_children(base.process.pid))
    growth = max((rss_end.get(pid, 0) - rss_warm[pid] for pid in workers), default=0)
    replaced = sorted(set(workers) ^ set(still))
    return {
        "requests": requests,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(requests / elapsed),
        "unexpected": outcome.unexpected[:20],
        "unexpected_count": len(outcome.unexpected),
        "workers_replaced": replaced,
        "max_worker_rss_growth_bytes": growth,
        "statuses": dict(sorted(outcome.statuses.items())),
        "ok": not outcome.unexpected and not replaced and growth < RSS_BUDGET,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = soak(args.requests, args.concurrency, args.seed)
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
