"""The app that ``test_body_limit_live.py`` runs under real servers: BodyLimit around an app that reads
the whole body and answers its size and SHA-256, logging each call it gets to ``$BODY_LIMIT_LOG`` so the
test can tell whether the app ran at all."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

from wsgistack import BodyLimit
from wsgistack.core import StartResponse, WSGIEnvironment

LIMIT = 1024
UPLOAD_LIMIT = 256 * 1024


def record(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    log = os.environ.get("BODY_LIMIT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}\n")
    data = environ["wsgi.input"].read()
    answer = f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]


app = BodyLimit(record, max_bytes=LIMIT, limits={"/upload": UPLOAD_LIMIT})
