"""The app behind the end-to-end benchmarks and the soak test: ``bare``, and ``stack`` (the same app
inside the full recommended stack). Served by real servers as ``benchmarks.e2e_app:bare`` / ``:stack``.

Routes: ``/`` a 2 KiB HTML page; ``/json``; ``/stream?n=N`` N chunks of 1 KiB; ``/upload`` (POST) echoes the
body size; ``/error`` raises; ``/static/app.js`` (stack only) a 20 KiB script with a precompressed
variant. Access records go to a file named by ``WSGISTACK_ACCESS_LOG`` (default: discarded, but still
formatted, so the logging cost is measured). Importing this module configures that logger and writes the
static files: it is meant for server processes; tests take the content from ``benchmarks.e2e_content``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import parse_qs

from benchmarks.e2e_content import PAGE, SCRIPT
from wsgistack import Layer, Pipeline
from wsgistack.core import StartResponse, WSGIEnvironment


def bare(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        start_response(
            "200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(PAGE)))]
        )
        return [PAGE]
    if path == "/json":
        data = json.dumps({"ok": True, "items": list(range(50))}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]
    if path == "/stream":
        count = int(parse_qs(environ.get("QUERY_STRING", "")).get("n", ["16"])[0])
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return _chunks(count)
    if path == "/upload" and environ["REQUEST_METHOD"] == "POST":
        size = sum(len(chunk) for chunk in iter(lambda: environ["wsgi.input"].read(65536), b""))
        data = str(size).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
        return [data]
    if path == "/error":
        raise RuntimeError("the /error endpoint always fails")
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


def _chunks(count: int) -> Iterator[bytes]:
    line = b"x" * 1023 + b"\n"
    for _ in range(count):
        yield line


def _static_dir() -> str:
    directory = Path(os.environ.get("WSGISTACK_E2E_STATIC") or tempfile.mkdtemp(prefix="wsgistack-e2e-"))
    directory.mkdir(parents=True, exist_ok=True)
    from wsgistack import codecs

    # Every worker process imports this module: rewriting an identical file would change its mtime,
    # and with it the validators, under the workers that already scanned it.
    for name, data in (("app.js", SCRIPT), ("app.js.gz", codecs.compress("gzip", SCRIPT))):
        path = directory / name
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    return str(directory)


def _configure_logging() -> None:
    logger = logging.getLogger("wsgistack.access")
    if not logger.handlers:
        handler = logging.FileHandler(os.environ.get("WSGISTACK_ACCESS_LOG", os.devnull))
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


PIPELINE = Pipeline(
    Layer.named("request_id"),
    Layer.named("access_log"),
    Layer.named("errors"),
    Layer.named("body_limit", max_bytes=1 << 20),
    Layer.named("compress"),
    Layer.named("static", _static_dir()),
)
_configure_logging()
stack = PIPELINE.wrap(bare)
