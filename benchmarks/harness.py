"""Benchmark harness: per-call medians, comparisons against peers measured in the same run.

A suite is a module ``benchmarks/bench_<name>.py`` defining ``run(report: Report, quick: bool) -> None``.
It times callables with :func:`measure` (warm-up, calibration to ``min_time`` per run, several runs,
median per call, garbage collector paused while timing), records them with :meth:`Report.add`, and
states what is compared with :meth:`Report.compare` (a plain ratio, or a ratio of overheads over a bare
baseline), optionally against the goal the project set. ``python -m benchmarks.run`` runs every suite
and prints Markdown tables; ``--json FILE`` writes the results; ``--quick`` uses tiny counts (a smoke
run that proves the suites work, not a measurement).

:func:`wsgi_request` turns a WSGI app and a request into a zero-argument callable that performs the
whole exchange: call, iterate the body, close — what a server does.
"""

from __future__ import annotations

import gc
import io
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from wsgistack.testing import make_environ

__all__ = [
    "Comparison",
    "Report",
    "Stats",
    "generator_app",
    "list_app",
    "make_environ",
    "measure",
    "measure_interleaved",
    "wsgi_request",
]


@dataclass(frozen=True)
class Stats:
    """Seconds per call: the median over ``runs``, and each run's per-call time."""

    median: float
    runs: tuple[float, ...]
    number: int

    @property
    def spread(self) -> float:
        """Half the interquartile range of the runs (their range, below 4 runs), relative to the median."""
        if not self.runs or not self.median:
            return 0.0
        if len(self.runs) < 4:
            return (max(self.runs) - min(self.runs)) / 2 / self.median
        first, _, third = statistics.quantiles(self.runs, n=4)
        return (third - first) / 2 / self.median


def measure(
    func: Callable[[], object],
    *,
    quick: bool = False,
    min_time: float = 0.02,
    repeat: int = 41,
    number: int | None = None,
) -> Stats:
    """Time ``func()``: warm up, pick a loop count so a run lasts ``min_time``, take the median of runs.

    Many short runs rather than a few long ones: on a shared machine a busy spell spoils some runs
    entirely and leaves the others clean, and the median of many runs is then a clean one, where every
    long run would have caught part of the spell.
    """
    if quick:
        min_time, repeat = 0.002, 2
    for _ in range(3):
        func()
    if number is None:
        number = 1
        while True:
            elapsed = _run(func, number)
            if elapsed >= min_time or number >= 1 << 24:
                break
            number = max(number * 2, int(number * min_time / max(elapsed, 1e-9) * 1.1))
    runs = tuple(_run(func, number) / number for _ in range(repeat))
    return Stats(statistics.median(runs), runs, number)


def measure_interleaved(
    funcs: Mapping[str, Callable[[], object]], *, quick: bool = False, rounds: int = 5
) -> dict[str, Stats]:
    """Time several implementations of one case in interleaved rounds; each gets its rounds' median.

    For calls of a millisecond or so (codecs, reading a 1 MiB body), where a run holds few calls: a
    busy spell of the machine then falls on every implementation alike instead of on one of them.
    """
    runs: dict[str, list[Stats]] = {name: [] for name in funcs}
    for _ in range(2 if quick else rounds):
        for name, func in funcs.items():
            runs[name].append(measure(func, quick=quick, min_time=0.05, repeat=3))
    result = {}
    for name, stats in runs.items():
        medians = tuple(item.median for item in stats)
        result[name] = Stats(statistics.median(medians), medians, stats[-1].number)
    return result


def _run(func: Callable[[], object], number: int) -> float:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        loop = range(number)
        start = time.perf_counter()
        for _ in loop:
            func()
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()


_HELLO_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "11")]


def list_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The inner app of overhead measurements: a list body."""
    start_response("200 OK", _HELLO_HEADERS)
    return [b"hello world"]


def generator_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The inner app of overhead measurements: a generator body of two chunks."""
    start_response("200 OK", _HELLO_HEADERS)
    return _hello_chunks()


def _hello_chunks() -> Iterator[bytes]:
    yield b"hello "
    yield b"world"


def _start_response(
    status: str, headers: list[tuple[str, str]], exc_info: object = None
) -> Callable[[bytes], None]:
    return _write


def _write(data: bytes) -> None:
    pass


def failing_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """An app that raises before start_response: the error-path cases."""
    raise ValueError("benchmark")


class Discard:
    """A ``wsgi.errors`` stream that drops what is written (Paste's middlewares report there)."""

    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def wsgi_request(app: WSGIApplication, environ: WSGIEnvironment) -> Callable[[], int]:
    """A callable doing one full exchange with a fresh copy of ``environ``; returns the body size.

    ``wsgi.input`` is rewound for each call, so a request body can be read every time.
    """
    body_input = environ.get("wsgi.input")

    def request() -> int:
        if isinstance(body_input, io.BytesIO):
            body_input.seek(0)
        result = app(dict(environ), _start_response)
        size = 0
        try:
            for chunk in result:
                size += len(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return size

    return request


@dataclass
class Comparison:
    suite: str
    case: str
    label: str
    ratio: float
    goal: float | None = None

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.ratio <= self.goal


@dataclass
class Report:
    """Timings and comparisons of one run."""

    timings: dict[tuple[str, str, str], Stats] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, suite: str, case: str, impl: str, stats: Stats) -> Stats:
        self.timings[suite, case, impl] = stats
        return stats

    def median(self, suite: str, case: str, impl: str) -> float:
        return self.timings[suite, case, impl].median

    def compare(
        self,
        suite: str,
        case: str,
        impl: str,
        peer: str,
        *,
        base: str | None = None,
        goal: float | None = None,
        label: str | None = None,
    ) -> float:
        """Record ``impl / peer`` (per-call time), or with ``base`` the ratio of their overheads over it."""
        ours, theirs = self.median(suite, case, impl), self.median(suite, case, peer)
        if base is not None:
            bare = self.median(suite, case, base)
            ours, theirs = ours - bare, theirs - bare
        ratio = ours / theirs if theirs > 0 else float("inf")
        kind = f" (overhead over {base})" if base else ""
        self.comparisons.append(Comparison(suite, case, label or f"{impl} / {peer}{kind}", ratio, goal))
        return ratio

    def note(self, text: str) -> None:
        self.notes.append(text)

    def markdown(self) -> str:
        lines = ["| suite | case | implementation | median per call | spread |", "|---|---|---|---:|---:|"]
        lines += [
            f"| {suite} | {case} | {impl} | {_human(stats.median)} | ±{stats.spread:.0%} |"
            for (suite, case, impl), stats in self.timings.items()
        ]
        if self.comparisons:
            lines += [
                "",
                "| suite | case | comparison | ratio | goal | met |",
                "|---|---|---|---:|---:|:---:|",
            ]
            for c in self.comparisons:
                goal = "" if c.goal is None else f"<= {c.goal:g}"
                met = {None: "", True: "yes", False: "**no**"}[c.met]
                lines.append(f"| {c.suite} | {c.case} | {c.label} | {c.ratio:.2f} | {goal} | {met} |")
        lines += [f"\n{note}" for note in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "python": sys.version.split()[0],
            "timings": [
                {"suite": s, "case": c, "impl": i, **asdict(stats)}
                for (s, c, i), stats in self.timings.items()
            ],
            "comparisons": [{**asdict(c), "met": c.met} for c in self.comparisons],
            "notes": self.notes,
        }

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.to_json(), file, indent=2)


def _human(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def suites(names: Iterable[str] | None = None) -> list[str]:
    """Names of the suites in this folder (``bench_<name>.py``), optionally restricted to ``names``."""
    from pathlib import Path

    found = sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))
    if names is None:
        return found
    wanted = list(names)
    unknown = sorted(set(wanted) - set(found))
    if unknown:
        raise SystemExit(f"unknown suite(s) {', '.join(unknown)}; available: {', '.join(found)}")
    return wanted
