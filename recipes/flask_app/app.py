"""A small Flask application: a page with static assets, a JSON endpoint, a stream, an upload, an error.

It knows nothing about the stack around it, apart from reading what the stack put in the environ
(``wsgistack.request_id``, ``wsgistack.body_limit``). The stack is in ``wsgi.py`` (Python),
``recipes/production.ini`` (PasteDeploy format) and ``recipes/wsgistack.toml``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, render_template, request, url_for


def create_app(*, stream_lines: int = 5, stream_delay: float = 0.2) -> Flask:
    """The Flask app; ``/stream`` sends ``stream_lines`` lines, ``stream_delay`` seconds apart."""
    app = Flask(__name__)
    # Exceptions go on to CatchErrors, which answers the 500 (carrying the request id) and logs the
    # traceback once, instead of being turned into a page by Flask inside the stack.
    app.config["PROPAGATE_EXCEPTIONS"] = True

    @app.get("/")
    def index() -> str:
        return render_template("index.html", request_id=request.environ.get("wsgistack.request_id"))

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return {
            "request_id": request.environ.get("wsgistack.request_id"),
            "body_limit": request.environ.get("wsgistack.body_limit"),
            "url": url_for("info", _external=True),  # https behind a proxy that says so
            "pid": os.getpid(),  # which worker process answered
        }

    @app.post("/upload")
    def upload() -> dict[str, int]:
        received = 0
        while chunk := request.stream.read(64 * 1024):  # read in chunks: BodyLimit stops it at the limit
            received += len(chunk)
        return {"received": received}

    @app.get("/stream")
    def stream() -> Response:
        def lines() -> Iterator[str]:
            for number in range(1, stream_lines + 1):
                if number > 1:
                    time.sleep(stream_delay)
                yield f"line {number}\n"

        return Response(lines(), mimetype="text/plain")

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom: CatchErrors answers 500 and logs this traceback")

    return app


def make_app(global_conf: dict[str, str], **settings: str) -> Flask:
    """``paste.app_factory`` for configuration files: ``use = call:recipes.flask_app.app:make_app``.

    INI values arrive as strings; ``stream_lines`` and ``stream_delay`` are the only settings.
    """
    unknown = set(settings) - {"stream_lines", "stream_delay"}
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    return create_app(
        stream_lines=int(settings.get("stream_lines", 5)),
        stream_delay=float(settings.get("stream_delay", 0.2)),
    )
