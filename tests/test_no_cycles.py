"""A finished request leaves nothing for the cycle collector: every layer, every body shape, whole stacks.

A reference cycle per request keeps the request's objects (its environ, ``wsgi.input``, buffers, the
app's response) alive until the cycle collector runs, which under load means memory that grows in
steps and file handles held for longer than needed. The usual way to make one is a body that holds
the ``start_response`` it was given while that object holds the body. Each case runs one request with
the collector paused, closes the body as a server does, and then asks the collector what it found.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bodies import close_body
from tests.contract_variants import VARIANTS
from wsgistack import AccessLog, BodyLimit, CatchErrors, Compress, Layer, Pipeline, RequestID, StaticFiles
from wsgistack.core import Headers, OptExcInfo, StartResponse, WSGIApplication, WSGIEnvironment
from wsgistack.testing import capture_logs, make_environ

PAGE = b"<!doctype html><title>page</title>" + b"<p>Some text that compresses well.</p>" * 200
HEADERS = [("Content-Type", "text/html; charset=utf-8")]


def list_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [*HEADERS, ("Content-Length", str(len(PAGE)))])
    return [PAGE]


def generator_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return (PAGE[i : i + 1000] for i in range(0, len(PAGE), 1000))


class ClassApp:
    """PEP 3333's own example of an app as a class: the body keeps the start_response it was given."""

    def __init__(self, environ: WSGIEnvironment, start_response: StartResponse) -> None:
        self.start_response = start_response

    def __iter__(self) -> Iterator[bytes]:
        self.start_response("200 OK", HEADERS)
        yield PAGE[:1000]
        yield PAGE[1000:]

    def close(self) -> None:
        pass


def write_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    write = start_response("200 OK", HEADERS)
    write(PAGE[:1000])
    return [PAGE[1000:]]


APPS: dict[str, WSGIApplication] = {
    "list": list_app,
    "generator": generator_app,
    "class body holding start_response": ClassApp,
    "write()": write_app,
}


class Server:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def start_response(
        self, status: str, headers: Headers, exc_info: OptExcInfo = None
    ) -> Callable[[bytes], Any]:
        return self.written.append


def garbage_after_one_request(app: WSGIApplication, path: str = "/page") -> int:
    """Objects the cycle collector frees after one complete request (the server iterated and closed)."""
    environ = make_environ(path, headers={"Accept-Encoding": "gzip"})
    server = Server()
    gc.collect()
    gc.disable()
    try:
        body = app(environ, server.start_response)
        for chunk in body:
            server.written.append(chunk)
        if hasattr(body, "close"):
            close_body(body)
        assert server.written
        del body, environ, server
        return gc.collect()
    finally:
        gc.enable()


LAYER_CASES = [
    pytest.param(name, position, app_name, id=f"{name}#{position + 1}-{app_name}")
    for name, makers in VARIANTS.items()
    for position in range(len(makers))
    for app_name in APPS
]


@pytest.mark.parametrize(("name", "position", "app_name"), LAYER_CASES)
def test_each_layer(name: str, position: int, app_name: str, tmp_path: Path) -> None:
    wrapped = VARIANTS[name][position](tmp_path).build(APPS[app_name])
    with capture_logs("wsgistack", logging.DEBUG):  # the access-log variants that log at WARNING
        garbage_after_one_request(wrapped)  # first request: caches, memos and templates fill up
        assert garbage_after_one_request(wrapped) == 0


def recommended_stack(tmp_path: Path) -> Pipeline:
    (tmp_path / "site.css").write_text("body { margin: 0 }\n")
    return Pipeline(
        Layer(RequestID),
        Layer(AccessLog, format="json"),
        Layer(CatchErrors),
        Layer(BodyLimit, max_bytes=1 << 20),
        Layer(Compress),
        Layer(StaticFiles, directory=tmp_path, prefix="/static/"),
    )


@pytest.mark.parametrize("app_name", APPS)
@pytest.mark.parametrize("path", ["/page", "/static/site.css"])
def test_the_recommended_stack(app_name: str, path: str, tmp_path: Path) -> None:
    wrapped = recommended_stack(tmp_path).wrap(APPS[app_name])
    with capture_logs("wsgistack.access"):
        garbage_after_one_request(wrapped, path)
        assert garbage_after_one_request(wrapped, path) == 0


def test_the_check_finds_a_cycle() -> None:
    """The measurement itself: a layer that makes a cycle per request is caught."""

    def leaky(app: WSGIApplication) -> WSGIApplication:
        def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            state: list[object] = [environ]
            state.append(state)  # a cycle per request, holding the environ
            return app(environ, start_response)

        return layer

    assert garbage_after_one_request(leaky(list_app)) > 0
