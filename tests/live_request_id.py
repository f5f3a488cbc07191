"""An app behind RequestID that answers its request id (after a pause on ``/slow``, so that concurrent
requests land on different worker processes). Served by uWSGI in test_request_id_uwsgi.py."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from wsgistack import RequestID
from wsgistack.core import StartResponse, WSGIEnvironment


def _app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/slow":
        time.sleep(0.5)
    body = f"{environ['wsgistack.request_id']} {os.getpid()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = RequestID(_app)
