"""LimitedStream against raw BytesIO and the LimitedStreams of Django and Werkzeug (1 MiB body read in
64 KiB chunks, and line by line), and BodyLimit's per-request cost: the 413 decision, and the overhead it
adds to requests it lets through."""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks.harness import Report, make_environ, measure, measure_interleaved, wsgi_request
from wsgistack import BodyLimit, LimitedStream
from wsgistack.core import StartResponse, WSGIEnvironment

SUITE = "body_limit"
MIB = 1 << 20


def _lines_body(size: int = MIB) -> bytes:
    """Realistic text: lines of 20 to 140 bytes (form fields, CSV rows, multipart headers)."""
    rng = random.Random(5)
    lines, total = [], 0
    while total < size:
        line = b"x" * (rng.randint(20, 140) - 1) + b"\n"
        lines.append(line)
        total += len(line)
    return b"".join(lines)[:size]


def _streams() -> dict[str, Callable[[io.BytesIO, int], Any]]:
    from django.core.handlers.wsgi import LimitedStream as DjangoStream  # type: ignore[import-untyped]
    from werkzeug.wsgi import LimitedStream as WerkzeugStream

    return {
        "raw BytesIO": lambda source, limit: source,
        "wsgistack": LimitedStream,
        "django": DjangoStream,
        "werkzeug": WerkzeugStream,
    }


def _chunks(make: Callable[[io.BytesIO, int], Any], source: io.BytesIO) -> Callable[[], None]:
    def run() -> None:
        source.seek(0)
        read = make(source, MIB).read
        while read(65536):
            pass

    return run


def _c_buffered_reader(source: io.BytesIO, limit: int) -> io.BufferedReader:
    """CPython's own buffered reader, exact C types and no limit: the floor for a C-level readline over a
    raw stream. Over its own BytesIO, since closing the reader closes the raw stream."""
    return io.BufferedReader(io.BytesIO(source.getvalue()), 65536)


def _readlines(make: Callable[[io.BytesIO, int], Any], source: io.BytesIO) -> Callable[[], None]:
    def run() -> None:
        source.seek(0)
        stream = make(source, MIB)
        while stream.readline():
            pass

    return run


def _app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    data = environ["wsgi.input"].read() if environ.get("CONTENT_LENGTH") else b""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok" if len(data) >= 0 else b""]


def _werkzeug_413() -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
    from werkzeug.exceptions import RequestEntityTooLarge
    from werkzeug.wrappers import Request

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = 1024
        try:
            request.get_data()
        except RequestEntityTooLarge as error:
            return error(environ, start_response)
        return _app(environ, start_response)

    return app


def run(report: Report, quick: bool) -> None:
    streams = _streams()
    body = _lines_body()
    source = io.BytesIO(body)
    for case, bench, goal in (
        ("read 1 MiB in 64 KiB chunks", _chunks, 1.2),
        ("readline() loop over 1 MiB of 20-140 byte lines", _readlines, 1.5),
    ):
        # Werkzeug's readline reads byte by byte (about 1 s per call): timed on its own, briefly.
        slow = {"werkzeug"} if bench is _readlines else set()
        makers = dict(streams)
        if bench is _readlines:
            makers["io.BufferedReader"] = _c_buffered_reader
        calls = {name: bench(make, source) for name, make in makers.items() if name not in slow}
        for name, stats in measure_interleaved(calls, quick=quick).items():
            report.add(SUITE, case, name, stats)
        for name in slow:
            report.add(SUITE, case, name, measure(bench(streams[name], source), quick=quick, repeat=3))
        report.compare(SUITE, case, "wsgistack", "raw BytesIO", goal=goal)
        report.compare(SUITE, case, "django", "raw BytesIO")
        report.compare(SUITE, case, "werkzeug", "raw BytesIO")
        report.compare(SUITE, case, "wsgistack", "django")
        report.compare(SUITE, case, "wsgistack", "werkzeug")
        if bench is _readlines:
            report.compare(SUITE, case, "io.BufferedReader", "raw BytesIO")
            report.compare(SUITE, case, "wsgistack", "io.BufferedReader")

    layer = BodyLimit(_app, max_bytes=1024)
    huge = make_environ("/upload", method="POST", headers={"Content-Length": str(10 * 2**30)})
    case = "413 for a declared 10 GiB body"
    report.add(SUITE, case, "bare app", measure(wsgi_request(_app, make_environ("/")), quick=quick))
    report.add(SUITE, case, "wsgistack", measure(wsgi_request(layer, huge), quick=quick))
    report.add(SUITE, case, "werkzeug", measure(wsgi_request(_werkzeug_413(), huge), quick=quick))
    report.compare(SUITE, case, "wsgistack", "werkzeug", base="bare app")
    decision = report.median(SUITE, case, "wsgistack") - report.median(SUITE, case, "bare app")
    report.note(
        f"BodyLimit's 413 decision (time over a bare exchange): {decision * 1e6:.2f} us (goal <= 2 us)."
    )

    passing = {
        "GET, no body": make_environ("/"),
        "GET on a server that sets wsgi.input_terminated": {
            **make_environ("/"),
            "wsgi.input_terminated": True,
        },
        "POST 1 KiB declared, read": make_environ("/form", method="POST", body=b"f" * 1024),
    }
    for case, environ in passing.items():
        report.add(SUITE, case, "bare app", measure(wsgi_request(_app, environ), quick=quick))
        report.add(SUITE, case, "wsgistack", measure(wsgi_request(layer, environ), quick=quick))
        overhead = report.median(SUITE, case, "wsgistack") - report.median(SUITE, case, "bare app")
        report.note(f"BodyLimit overhead, {case}: {overhead * 1e6:.2f} us per request.")
