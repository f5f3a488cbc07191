"""The app that ``test_body_limit_live.py`` runs under real servers: BodyLimit around an app that reads
the whole body and answers its size and SHA-256, logging each call it gets to ``$BODY_LIMIT_LOG`` so the
test can tell whether the app ran at all.

Outside BodyLimit, :func:`count_reads` wraps the server's ``wsgi.input`` before any layer sees it and,
when the response is closed, appends ``METHOD PATH?QUERY BYTES`` to ``$BODY_LIMIT_READS``: how many body
bytes the WSGI side read from the server, whoever read them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from wsgistack import BodyLimit
from wsgistack.core import ClosingIterable, StartResponse, WSGIApplication, WSGIEnvironment

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


class CountedInput:
    """The server's ``wsgi.input``, counting the bytes returned through it."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.count = 0

    def read(self, *size: int | None) -> bytes:
        data: bytes = self.stream.read(*size)
        self.count += len(data)
        return data

    def readline(self, *size: int | None) -> bytes:
        line: bytes = self.stream.readline(*size)
        self.count += len(line)
        return line

    def readlines(self, *hint: int | None) -> list[bytes]:
        lines: list[bytes] = self.stream.readlines(*hint)
        self.count += sum(map(len, lines))
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            self.count += len(line)
            yield line


def _report(environ: WSGIEnvironment, stream: CountedInput) -> None:
    log = os.environ.get("BODY_LIMIT_READS")
    if log:
        target = f"{environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')}"
        with open(log, "a", encoding="utf-8") as file:
            file.write(f"{environ['REQUEST_METHOD']} {target} {stream.count}\n")


def count_reads(app: WSGIApplication) -> WSGIApplication:
    def counting(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        stream = environ["wsgi.input"] = CountedInput(environ["wsgi.input"])
        return ClosingIterable(app(environ, start_response), on_close=(partial(_report, environ, stream),))

    return counting


app = count_reads(BodyLimit(record, max_bytes=LIMIT, limits={"/upload": UPLOAD_LIMIT}))
