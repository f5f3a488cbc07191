"""AccessLog against Paste's TransLogger, and RequestID against its budget, in-process.

The access-log cases measure the overhead per request over the bare app in two logging setups: records
that reach only a ``NullHandler`` (nothing asks for the text, so AccessLog renders nothing), and a
handler that formats every line to a null stream. TransLogger does less (it logs at start_response,
without a duration or the bytes really sent) and renders eagerly. Both log the same Apache combined line.
"""

from __future__ import annotations

import logging
import os
import uuid
from contextlib import ExitStack

from benchmarks.harness import Report, Stats, generator_app, list_app, make_environ, measure, wsgi_request
from wsgistack import AccessLog, RequestID
from wsgistack.core import WSGIApplication

SUITE = "access_log"
GOALS = {"NullHandler": 0.5, "formatting handler": 1.0}  # AccessLog overhead / TransLogger overhead
REQUEST_ID_BUDGET = 1.5e-6  # seconds per request when the id is generated


def _logger(name: str, handler: logging.Handler, stack: ExitStack) -> logging.Logger:
    logger = logging.getLogger(f"benchmarks.access_log.{name}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True

    stack.callback(restore)
    return logger


def _handler(setup: str, stack: ExitStack) -> logging.Handler:
    if setup == "NullHandler":
        return logging.NullHandler()
    handler = logging.FileHandler(os.devnull, encoding="utf-8")  # closed when the logger is restored
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def run(report: Report, quick: bool) -> None:
    from paste.translogger import TransLogger

    environ = make_environ(
        "/items/1",
        query="page=2",
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) bench/1.0", "Referer": "http://example.org/"},
    )
    bodies: dict[str, WSGIApplication] = {"list body": list_app, "generator body": generator_app}
    for setup, goal in GOALS.items():
        for body, app in bodies.items():
            case = f"{setup}, {body}"
            with ExitStack() as stack:
                impls: dict[str, WSGIApplication] = {
                    "bare": app,
                    "wsgistack": AccessLog(app, logger=_logger("ours", _handler(setup, stack), stack)),
                    "wsgistack json": AccessLog(
                        app, format="json", logger=_logger("json", _handler(setup, stack), stack)
                    ),
                    "paste": TransLogger(app, logger=_logger("paste", _handler(setup, stack), stack)),
                }
                for impl, wrapped in impls.items():
                    report.add(SUITE, case, impl, measure(wsgi_request(wrapped, environ), quick=quick))
            report.compare(SUITE, case, "wsgistack", "paste", base="bare", goal=goal)
            report.compare(SUITE, case, "wsgistack json", "paste", base="bare")

    case = "RequestID, id generated"
    bare = report.add(SUITE, case, "bare", measure(wsgi_request(list_app, environ), quick=quick))
    report.add(SUITE, case, "wsgistack", measure(wsgi_request(RequestID(list_app), environ), quick=quick))
    report.add(
        SUITE,
        case,
        "wsgistack, uuid4 ids",
        measure(wsgi_request(RequestID(list_app, generator=lambda: uuid.uuid4().hex), environ), quick=quick),
    )
    budget = bare.median + REQUEST_ID_BUDGET
    report.add(SUITE, case, "bare + 1.5 us budget", Stats(budget, (budget,), 1))
    report.compare(
        SUITE,
        case,
        "wsgistack",
        "bare + 1.5 us budget",
        base="bare",
        goal=1.0,
        label="wsgistack overhead / 1.5 us",
    )
    report.note(
        "access_log: AccessLog logs after the body with the bytes sent and the duration; TransLogger logs at "
        "start_response. Both produce the Apache combined line."
    )
