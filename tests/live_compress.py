"""Apps behind Compress for the real-server tests in ``test_compress_live.py``.

``/page`` is a list body (compressed in one shot), ``/stream?sync=FILE`` a generator that sends its first
value, then waits until the test creates ``FILE`` before producing the second, ``/events`` a server-sent
event stream, ``/write`` uses the ``write()`` callable, and ``/image`` is not compressible.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from urllib.parse import parse_qs

from wsgistack import Compress
from wsgistack.core import StartResponse, WSGIEnvironment

PAGE = b"".join(
    b"<tr><td class='n'>%d</td><td>compressible row of a table in a generated report</td></tr>\n" % i
    for i in range(1500)
)
FIRST = b"<!DOCTYPE html><title>stream</title>\n" + b"<p>first part, sent at once</p>\n" * 60
SECOND = b"<p>second part, produced only after the client saw the first</p>\n" * 60
EVENTS = [b"event: tick\ndata: %d %s\n\n" % (i, b"payload " * 40) for i in range(3)]
#: How long /stream waits for the test's signal before giving up.
WAIT = 10.0


def _router(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    html = [("Content-Type", "text/html; charset=utf-8")]
    if path == "/page":
        start_response("200 OK", [*html, ("Content-Length", str(len(PAGE))), ("ETag", '"page-v1"')])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [PAGE]
    if path == "/stream":
        sync = parse_qs(environ.get("QUERY_STRING", "")).get("sync", [""])[0]
        start_response("200 OK", html)
        return _stream(sync)
    if path == "/events":
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        return iter(EVENTS)
    if path == "/write":
        write = start_response("200 OK", html)
        write(FIRST)
        return [SECOND]
    if path == "/image":
        start_response("200 OK", [("Content-Type", "image/png"), ("Content-Length", str(len(PAGE)))])
        return [PAGE]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def _stream(sync: str) -> Iterator[bytes]:
    yield FIRST
    deadline = time.monotonic() + WAIT
    while not os.path.exists(sync) and time.monotonic() < deadline:
        time.sleep(0.01)
    yield SECOND


app = Compress(_router, minimum_size=200)
