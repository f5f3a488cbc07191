"""CatchErrors against Paste's ErrorMiddleware, in-process: the cost per request when nothing is raised
(the overhead over the bare app, for list, generator and closable bodies), and the error path itself.

Paste steps aside when ``paste.throw_errors`` is in the environ; the requests here never carry it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from benchmarks.harness import (
    Discard,
    Report,
    Stats,
    failing_app,
    generator_app,
    list_app,
    make_environ,
    measure,
    wsgi_request,
)
from wsgistack import CatchErrors
from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment

SUITE = "errors"
GOAL_OVERHEAD = 0.6e-6  # seconds per request when nothing is raised
HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "11")]


class _Response:
    """The shape of a Flask or Django response: an iterable object with close()."""

    __slots__ = ("chunks",)

    def __init__(self) -> None:
        self.chunks = [b"hello world"]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        pass


def object_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return _Response()


def run(report: Report, quick: bool) -> None:
    from paste.exceptions.errormiddleware import ErrorMiddleware

    environ = make_environ("/items/1", headers={"Accept": "text/html"})
    environ["wsgi.errors"] = Discard()  # Paste reports there; wsgistack logs (silenced below)
    cases: dict[str, WSGIApplication] = {
        "no error, list body": list_app,
        "no error, generator body": generator_app,
        "no error, closable body (Flask/Django shape)": object_app,
    }
    for case, app in cases.items():
        timings = {
            "bare": measure(wsgi_request(app, environ), quick=quick),
            "wsgistack": measure(wsgi_request(CatchErrors(app), environ), quick=quick),
            "paste": measure(wsgi_request(ErrorMiddleware(app), environ), quick=quick),
        }
        for impl, stats in timings.items():
            report.add(SUITE, case, impl, stats)
        report.compare(SUITE, case, "wsgistack", "paste", base="bare", goal=1.0)
        # The budget as a pseudo-implementation, so the table states the absolute goal too.
        budget = timings["bare"].median + GOAL_OVERHEAD
        report.add(SUITE, case, "bare + 0.6 us budget", Stats(budget, (budget,), 1))
        report.compare(
            SUITE,
            case,
            "wsgistack",
            "bare + 0.6 us budget",
            base="bare",
            goal=1.0,
            label="wsgistack overhead / 0.6 us",
        )

    logger = logging.getLogger("wsgistack.errors")
    previous = logger.disabled
    logger.disabled = True  # the error case would print a traceback per request
    try:
        case = "error raised by the app (500 page)"
        report.add(
            SUITE, case, "wsgistack", measure(wsgi_request(CatchErrors(failing_app), environ), quick=quick)
        )
        report.add(
            SUITE, case, "paste", measure(wsgi_request(ErrorMiddleware(failing_app), environ), quick=quick)
        )
        report.compare(SUITE, case, "wsgistack", "paste")
    finally:
        logger.disabled = previous
