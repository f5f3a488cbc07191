"""Writing your own middleware on wsgistack.core: a Server-Timing header and a byte count.

``ResponseStart`` stands in for the server's start_response (it forwards exc_info, copies headers and
knows when the headers were really sent); ``body()`` hands the app's iterable to the server and
closes it exactly once, whatever the server does. This class passes the contract matrix
(``wsgistack.testing.check_layer``) in tests/test_recipes_core.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from wsgistack.core import (
    Headers,
    ResponseStart,
    StartResponse,
    WSGIApplication,
    WSGIEnvironment,
    merge_header,
)


class Timing:
    """Adds ``Server-Timing: app;dur=<ms>`` (time until the app started its response) and records
    the bytes the server was handed in ``environ["timing.bytes"]`` once the response is closed."""

    def __init__(self, app: WSGIApplication, *, metric: str = "app") -> None:
        if not metric.isidentifier():
            raise ValueError(f"metric must be a simple token, got {metric!r}")
        self.app, self.metric = app, metric

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        sent = [0]

        def add_timing(status: str, headers: Headers) -> tuple[str, Headers]:
            elapsed = (time.perf_counter() - started) * 1000
            return status, merge_header(headers, "Server-Timing", f"{self.metric};dur={elapsed:.1f}")

        def count(chunk: bytes) -> bytes:
            sent[0] += len(chunk)
            return chunk

        def record() -> None:
            environ["timing.bytes"] = sent[0]

        response = ResponseStart(start_response, rewrite=add_timing, map_chunk=count)
        return response.body(self.app(environ, response), on_close=[record])
