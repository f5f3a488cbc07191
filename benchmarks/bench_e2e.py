"""End-to-end: the bare app and the full stack under gunicorn (sync, gthread) and waitress on 127.0.0.1,
driven by wrk (or the built-in asyncio client): requests/s, p50/p99 latency, the stack's cost vs bare."""

from __future__ import annotations

from benchmarks.harness import Report, Stats
from benchmarks.loadgen import run_load
from tests.servers import serve

SERVERS: dict[str, tuple[str, list[str]]] = {
    "gunicorn sync": ("gunicorn", ["--workers", "2"]),
    # One gthread worker: with keep-alive, wrk's connections stick to whichever worker accepted them,
    # and with two workers the split (sometimes all on one) changed throughput threefold between runs.
    "gunicorn gthread": ("gunicorn", ["--workers", "1", "--worker-class", "gthread", "--threads", "4"]),
    "waitress": ("waitress", []),
}
REQUESTS = {
    "GET / (2 KiB HTML)": ("/", {"Accept-Encoding": "gzip, br"}),
    "GET /json": ("/json", {}),
}


def run(report: Report, quick: bool) -> None:
    seconds = 0.5 if quick else 5.0
    servers = {"waitress": SERVERS["waitress"]} if quick else SERVERS
    rows = []
    for label, (server, args) in servers.items():
        for case, (path, headers) in REQUESTS.items():
            for app in ("bare", "stack"):
                with serve(f"benchmarks.e2e_app:{app}", server=server, args=args) as base:
                    run_load(base + path, seconds=min(seconds, 1.0), headers=headers)  # warm-up
                    load = run_load(base + path, seconds=seconds, headers=headers)
                name = f"{label}: {case}"
                report.add(
                    "e2e", name, app, Stats(1 / load.rps if load.rps else float("inf"), (), load.requests)
                )
                rows.append(
                    f"| {label} | {case} | {app} | {load.rps:,.0f} | {load.p50 * 1e3:.2f} | "
                    f"{load.p99 * 1e3:.2f} | {load.errors} | {load.tool} |"
                )
            report.compare(
                "e2e", f"{label}: {case}", "stack", "bare", label="stack / bare (time per request)"
            )
    report.note(
        "| server | request | app | requests/s | p50 ms | p99 ms | errors | load tool |\n"
        "|---|---|---|---:|---:|---:|---:|---|\n" + "\n".join(rows)
    )
