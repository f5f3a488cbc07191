"""A small app for the configuration examples: it answers with its name and the path it was given."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment


def make_app(global_conf: dict[str, Any], *, name: str) -> WSGIApplication:
    """``paste.app_factory``: ``use = call:recipes.snippets.echo:make_app`` with a ``name``."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = f"{name} SCRIPT_NAME={environ['SCRIPT_NAME']!r} PATH_INFO={environ['PATH_INFO']!r}"
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [body.encode()]

    return app
