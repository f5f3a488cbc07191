"""The demo application served by ``wsgistack serve recipes/demo.ini``.

A plain WSGI app with one page per thing the recommended stack handles: an HTML page using static
assets (served by StaticFiles, compressed by Compress), a JSON endpoint, a streaming endpoint (chunks go
out as they are produced), an upload form (BodyLimit caps the body) and an endpoint that raises
(CatchErrors answers 500; AccessLog logs it with the request id).
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterable, Iterator

from .core import StartResponse, WSGIApplication, WSGIEnvironment, plain_response

__all__ = ["make_app"]

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{root}/static/demo.css">
</head>
<body>
<h1>{title}</h1>
<p>This page came through the stack
<code>request_id → access_log → errors → body_limit → compress → static → app</code>.</p>
<ul>
<li><a href="{root}/api/info">JSON endpoint</a> (<code>/api/info</code>) — <span id="info">…</span></li>
<li><a href="{root}/stream">streaming endpoint</a> (<code>/stream</code>): one line every {delay} s</li>
<li><a href="{root}/boom">an endpoint that raises</a> (<code>/boom</code>): CatchErrors answers 500</li>
</ul>
<form method="post" action="{root}/upload" enctype="multipart/form-data">
<p>Upload a file (the body limit applies): <input type="file" name="file"> <button>Upload</button></p>
</form>
<script src="{root}/static/demo.js"></script>
</body>
</html>
"""


def make_app(
    *, title: str = "wsgistack demo", stream_lines: int = 5, stream_delay: float = 0.5
) -> WSGIApplication:
    """The demo WSGI application; ``stream_lines`` lines every ``stream_delay`` seconds on ``/stream``."""
    if stream_lines < 0 or stream_delay < 0:
        raise ValueError("stream_lines and stream_delay must not be negative")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        root = html.escape(environ.get("SCRIPT_NAME", ""))
        if path == "/":
            page = _PAGE.format(title=html.escape(title), root=root, delay=stream_delay)
            return plain_response(
                environ, start_response, "200 OK", page, content_type="text/html; charset=utf-8"
            )
        if path == "/api/info":
            body = json.dumps(
                {
                    "app": "wsgistack demo",
                    "request_id": environ.get("wsgistack.request_id"),
                    "method": method,
                    "server": environ.get("SERVER_SOFTWARE"),
                }
            )
            return plain_response(environ, start_response, "200 OK", body, content_type="application/json")
        if path == "/stream":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return _stream(stream_lines, stream_delay)
        if path == "/upload" and method == "POST":
            received = _drain(environ)
            content_type = environ.get("CONTENT_TYPE", "")
            return plain_response(
                environ, start_response, "200 OK", f"received {received} bytes ({content_type})\n"
            )
        if path == "/boom":
            raise RuntimeError("the demo's /boom endpoint raises on purpose")
        return plain_response(environ, start_response, "404 Not Found", "Not Found\n")

    return app


def _stream(lines: int, delay: float) -> Iterator[bytes]:
    for number in range(1, lines + 1):
        yield f"line {number} of {lines} at {time.strftime('%H:%M:%S')}\n".encode()
        if number < lines:
            time.sleep(delay)


def _drain(environ: WSGIEnvironment) -> int:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    remaining = int(length) if length.isdigit() else None
    total = 0
    while remaining is None or remaining > 0:
        chunk = stream.read(65536 if remaining is None else min(65536, remaining))
        if not chunk:
            break
        total += len(chunk)
        if remaining is not None:
            remaining -= len(chunk)
    return total
