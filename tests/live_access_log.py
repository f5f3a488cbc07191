"""A streaming app behind RequestID, AccessLog and CatchErrors, for ``test_access_log_live.py``.

Run by real servers in subprocesses. The access log is written to the file named by the environment
variable ``WSGISTACK_LIVE_ACCESS_LOG``, one line per request in :data:`FORMAT`, so the test reads what
the server process logged. Routes:

* ``/stream?chunks=N&size=S&delay=SECONDS``: N chunks of S bytes, sleeping before each; once the server
  asks for the value after the last one, the app stores how long it streamed (µs) in the environ key
  ``live.stream_us``, which the log line shows next to its own duration;
* ``/error``: fails after start_response, before any body (CatchErrors answers 500).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from urllib.parse import parse_qs

from wsgistack import Layer, Pipeline
from wsgistack.core import StartResponse, WSGIEnvironment

LOG_FILE_VARIABLE = "WSGISTACK_LIVE_ACCESS_LOG"
FORMAT = "%(s)s %(B)s %(D)s %(aborted)s %({live.stream_us}e)s %(request_id)s %(r)s"
TEXT = [("Content-Type", "application/octet-stream")]


def _configure_logging() -> None:
    # Application configuration, as a deployment would do it: the library itself adds no handlers.
    path = os.environ.get(LOG_FILE_VARIABLE)
    if not path:
        return
    handler = logging.FileHandler(path)  # opened for appending: every worker writes whole lines
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("wsgistack.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _stream(environ: WSGIEnvironment, chunks: int, size: int, delay: float) -> Iterator[bytes]:
    started = time.perf_counter()
    chunk = b"x" * size
    for _ in range(chunks):
        if delay:
            time.sleep(delay)
        yield chunk
    environ["live.stream_us"] = str(int((time.perf_counter() - started) * 1_000_000))


def _app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/stream":
        query = {key: values[0] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
        start_response("200 OK", TEXT)
        return _stream(environ, int(query["chunks"]), int(query["size"]), float(query.get("delay", "0")))
    if path == "/error":
        start_response("200 OK", TEXT)
        raise RuntimeError("failed before the body")
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


_configure_logging()
app = Pipeline(
    Layer.named("request_id"), Layer.named("access_log", format=FORMAT), Layer.named("errors")
).wrap(_app)
