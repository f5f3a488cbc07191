"""StaticFiles behind a real server, for ``test_static_live.py``.

``app`` serves the directory named by ``WSGISTACK_LIVE_STATIC`` at ``/static/`` with an index file and
CORS; everything else reaches a small fallback app that answers 404. Small files are served from memory,
large ones through the server's ``wsgi.file_wrapper`` (sendfile where the server has it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from wsgistack import StaticFiles
from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment, plain_response

FALLBACK_BODY = b"fallback app\n"


def fallback(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    return plain_response(environ, start_response, "404 Not Found", FALLBACK_BODY)


def make_app(directory: str) -> StaticFiles:
    return StaticFiles(fallback, directory, index_file=True, cors="*", cache_max_file_size=16 * 1024)


def _unconfigured(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    raise RuntimeError("set WSGISTACK_LIVE_STATIC to the directory to serve")


_directory = os.environ.get("WSGISTACK_LIVE_STATIC")
app: WSGIApplication = make_app(_directory) if _directory else _unconfigured
