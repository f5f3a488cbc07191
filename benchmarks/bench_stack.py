"""The full recommended stack against a Paste-era stack and against the bare app, in-process, per request.

The wsgistack stack is the README's: ``Pipeline(Layer(RequestID), Layer(AccessLog, format="combined"),
Layer(CatchErrors), Layer(BodyLimit, max_bytes=10 MiB), Layer(Compress), Layer(StaticFiles, <a temporary
directory>, prefix="/static/"))``. The Paste-era stack is ``TransLogger(ErrorMiddleware(gzipper(app)))``:
an access log, a 500 page and gzip, with no request ids, no body limit and no static layer. Both access
logs go to a logger with only a ``NullHandler`` (propagation off, so nothing prints), and so do the
errors CatchErrors logs; Paste's ErrorMiddleware writes its report to ``wsgi.errors``, which discards it.

Cases, each for the bare app, the wsgistack stack and the Paste-era stack:

- a dynamic HTML page of 2 KiB requested with ``Accept-Encoding: gzip``: both stacks compress it (the
  output sizes are noted: speed is only comparable at a similar ratio);
- the same page without ``Accept-Encoding``;
- a JSON response of about 200 bytes with ``Accept-Encoding: gzip``: below Compress's minimum size, so
  wsgistack sends it as it is, while paste.gzipper compresses everything ``text/*`` or ``application/*``;
- a 10 KiB CSS file, requested without ``Accept-Encoding`` (the cost of serving it, not of compressing
  it): StaticFiles serves it from the directory for the wsgistack stack; the Paste-era stack has no static
  layer, so for it (and for the bare app) the application serves the same bytes from memory;
- an application that raises: the 500 page of each stack. The bare app has no 500 page, so this case
  has no bare timing.

Every response is checked before it is timed (status, body, coding), so no case can silently measure an
error page. Each case records ``wsgistack / paste-era`` and ``wsgistack / bare`` per-request time.
"""

from __future__ import annotations

import json
import logging
import tempfile
import zlib
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.bench_compress import html_page
from benchmarks.harness import Discard, Report, failing_app, make_environ, measure, wsgi_request
from wsgistack import AccessLog, BodyLimit, CatchErrors, Compress, Layer, Pipeline, RequestID, StaticFiles
from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment

SUITE = "stack"
PAGE = html_page(2 * 1024)
DATA = json.dumps(
    {"id": 1234, "name": "widget", "tags": ["blue", "large", "sale"], "price": 19.95, "stock": 42,
     "updated": "2026-01-15T10:20:30Z", "links": {"self": "/api/items/1234", "owner": "/api/users/7"}},
    separators=(",", ":"),
).encode()  # fmt: skip
CSS = b"".join(b".rule-%d { color: #%06x }\n" % (i, i * 7919 % 0xFFFFFF) for i in range(600))[: 10 * 1024]
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) bench/1.0"


def _app(body: bytes, content_type: str) -> WSGIApplication:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", list(headers))
        return [body]

    return app


def _silenced(name: str, stack: ExitStack) -> logging.Logger:
    """A logger at INFO whose records reach only a NullHandler; restored when ``stack`` closes."""
    logger = logging.getLogger(name)
    handler = logging.NullHandler()
    previous = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]

    stack.callback(restore)
    return logger


def _exchange(app: WSGIApplication, environ: WSGIEnvironment) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Any:
        seen["status"], seen["headers"] = status, {name.lower(): value for name, value in headers}
        return lambda data: None

    result = app(dict(environ), start_response)
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return seen["status"], seen["headers"], body


def _decoded(headers: dict[str, str], body: bytes) -> bytes:
    coding = headers.get("content-encoding")
    assert coding in (None, "gzip"), coding
    return zlib.decompress(body, wbits=31) if coding == "gzip" else body


def run(report: Report, quick: bool) -> None:
    from paste.exceptions.errormiddleware import ErrorMiddleware
    from paste.gzipper import middleware as gzip_middleware
    from paste.translogger import TransLogger

    with ExitStack() as stack:
        static = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-stack-")))
        (static / "site.css").write_bytes(CSS)
        ours_log = _silenced("benchmarks.stack.wsgistack", stack)
        paste_log = _silenced("benchmarks.stack.paste", stack)
        _silenced("wsgistack.errors", stack)  # CatchErrors logs the traceback of the error case there
        pipeline = Pipeline(
            Layer(RequestID),
            Layer(AccessLog, format="combined", logger=ours_log),
            Layer(CatchErrors),
            Layer(BodyLimit, max_bytes=10 * 1024 * 1024),
            Layer(Compress),
            Layer(StaticFiles, static, prefix="/static/"),
        )

        def paste_era(app: WSGIApplication) -> WSGIApplication:
            logged: WSGIApplication = TransLogger(ErrorMiddleware(gzip_middleware(app)), logger=paste_log)
            return logged

        def environ(path: str, accept: str | None) -> WSGIEnvironment:
            headers = {"User-Agent": USER_AGENT, "Referer": "http://example.org/", "Accept": "*/*"}
            if accept:
                headers["Accept-Encoding"] = accept
            env = make_environ(path, headers=headers)
            env["wsgi.errors"] = Discard()  # Paste reports there; wsgistack logs (silenced above)
            return env

        html, api = _app(PAGE, "text/html; charset=utf-8"), _app(DATA, "application/json")
        css = _app(CSS, "text/css; charset=utf-8")
        # case: (inner app, environ, expected status, expected decoded body, Content-Encoding per stack)
        cases: dict[str, tuple[WSGIApplication, WSGIEnvironment, str, bytes, dict[str, str | None]]] = {
            "2 KiB HTML page, Accept-Encoding: gzip": (
                html, environ("/items/1", "gzip"), "200", PAGE,
                {"bare": None, "wsgistack": "gzip", "paste-era": "gzip"},
            ),
            "2 KiB HTML page, no Accept-Encoding": (
                html, environ("/items/1", None), "200", PAGE,
                {"bare": None, "wsgistack": None, "paste-era": None},
            ),
            f"{len(DATA)} B JSON, Accept-Encoding: gzip": (
                api, environ("/api/items/1234", "gzip"), "200", DATA,
                {"bare": None, "wsgistack": None, "paste-era": "gzip"},
            ),
            "10 KiB static file (paste-era: from memory)": (
                css, environ("/static/site.css", None), "200", CSS,
                {"bare": None, "wsgistack": None, "paste-era": None},
            ),
            "app raises (500 page)": (
                failing_app, environ("/items/1", "gzip"), "500", b"",
                {"wsgistack": None, "paste-era": None},
            ),
        }  # fmt: skip
        for case, (app, env, status, expected, codings) in cases.items():
            stacks = {"bare": app, "wsgistack": pipeline.wrap(app), "paste-era": paste_era(app)}
            sizes = {}
            for impl, coding in codings.items():
                got_status, headers, body = _exchange(stacks[impl], env)
                assert got_status.startswith(status), (case, impl, got_status)
                assert headers.get("content-encoding") == coding, (case, impl, headers)
                if expected:
                    assert _decoded(headers, body) == expected, (case, impl)
                if impl == "wsgistack" and case.startswith("10 KiB static"):
                    assert "etag" in headers, "the file was not served by StaticFiles"
                sizes[impl] = len(body)
            for impl in codings:
                report.add(SUITE, case, impl, measure(wsgi_request(stacks[impl], env), quick=quick))
            report.compare(SUITE, case, "wsgistack", "paste-era")
            if "bare" in codings:
                report.compare(SUITE, case, "wsgistack", "bare")
            if any(codings.values()):
                report.note(
                    f"stack, {case}: response bytes "
                    + ", ".join(f"{impl} {size}" for impl, size in sizes.items())
                    + "."
                )
    report.note(
        "stack: wsgistack is RequestID, AccessLog (combined), CatchErrors, BodyLimit, Compress and "
        "StaticFiles; paste-era is TransLogger, ErrorMiddleware and paste.gzipper (no request ids, body "
        "limit or static layer: it gets the static file from the app, from memory)."
    )
