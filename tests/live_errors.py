"""Apps that fail in every phase, behind CatchErrors, for the real-server tests in ``test_errors_live.py``.

``app`` dispatches on the path: ``/flask/...`` to a Flask app, ``/django/...`` to a Django app, anything
else to plain WSGI apps; each sits in its own pipeline. Flask and Django are set up on their first
request, so importing this module (the wsgiref test does, in-process) configures neither.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Iterable, Iterator

from wsgistack import Layer, Pipeline
from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment

TEXT = [("Content-Type", "text/plain; charset=utf-8")]
#: Sent before a mid-stream failure; large enough that every server writes it out.
PARTIAL = b"partial body " * 2000
#: What /mid-length declares: more than it ever sends.
DECLARED = len(PARTIAL) * 2


class Failure(Exception):
    """Raised by the apps below."""


def request_ids(app: WSGIApplication) -> WSGIApplication:
    """Passes the client's X-Request-ID on as ``wsgistack.request_id`` (what a request-id layer does)."""

    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if "HTTP_X_REQUEST_ID" in environ:
            environ["wsgistack.request_id"] = environ["HTTP_X_REQUEST_ID"]
        return app(environ, start_response)

    return layer


STACK = Pipeline(Layer(request_ids), Layer.named("errors"))


class _ClosingFails:
    def __iter__(self) -> Iterator[bytes]:
        yield b"complete"

    def close(self) -> None:
        raise Failure("close() failed")


def _plain(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/call":
        raise Failure("raised by the app call")
    if path == "/close":
        start_response("200 OK", [*TEXT, ("Content-Length", "8")])
        return _ClosingFails()
    if path == "/write":
        write = start_response("200 OK", [*TEXT, ("Content-Length", str(DECLARED))])
        write(PARTIAL)
        raise Failure("raised after write()")
    if path == "/started":
        start_response("200 OK", [*TEXT, ("Content-Length", str(DECLARED))])
        raise Failure("raised after start_response")
    if path in ("/first", "/mid", "/mid-length"):
        length = [("Content-Length", str(DECLARED))] if path == "/mid-length" else []
        start_response("200 OK", [*TEXT, *length])
        return _failing(send_first=path != "/first")
    start_response("200 OK", [*TEXT, ("Content-Length", "2")])
    return [b"ok"]


def _failing(*, send_first: bool) -> Iterator[bytes]:
    if send_first:
        yield PARTIAL
    raise Failure("raised while iterating")


def _flask() -> WSGIApplication:
    import flask

    flask_app = flask.Flask("live_errors")
    # Flask turns errors into its own 500 unless told to let them reach the WSGI stack.
    flask_app.config["PROPAGATE_EXCEPTIONS"] = True

    @flask_app.get("/flask/boom")
    def boom() -> str:
        raise Failure("raised by a Flask view")

    @flask_app.get("/flask/stream")
    def stream() -> flask.Response:
        return flask.Response(_failing(send_first=True), mimetype="text/plain")

    @flask_app.get("/flask/ok")
    def ok() -> str:
        return "flask ok"

    return flask_app


def _django() -> WSGIApplication:
    # Django ships no type information, hence the ignores.
    from django.conf import settings  # type: ignore[import-untyped]
    from django.http import HttpRequest, HttpResponse, StreamingHttpResponse  # type: ignore[import-untyped]
    from django.urls import path  # type: ignore[import-untyped]

    def boom(request: HttpRequest) -> HttpResponse:
        raise Failure("raised by a Django view")

    def stream(request: HttpRequest) -> StreamingHttpResponse:
        return StreamingHttpResponse(_failing(send_first=True), content_type="text/plain")

    def ok(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"django ok", content_type="text/plain")

    urls = types.ModuleType("live_errors_urls")  # a hashable stand-in for a urls.py module
    urls.__dict__["urlpatterns"] = [
        path("django/boom", boom),
        path("django/stream", stream),
        path("django/ok", ok),
    ]
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            # Django answers its own 500 unless told to let errors reach the WSGI stack.
            DEBUG_PROPAGATE_EXCEPTIONS=True,
            SECRET_KEY="live-errors-test-only",
            ROOT_URLCONF=urls,
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
            INSTALLED_APPS=[],
            MIDDLEWARE=[],
            LOGGING_CONFIG=None,
            USE_TZ=True,
        )
    import django  # type: ignore[import-untyped]
    from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]

    django.setup(set_prefix=False)
    handler: WSGIApplication = get_wsgi_application()
    return handler


_lock = threading.Lock()
_built: dict[str, WSGIApplication] = {}
_FACTORIES: dict[str, Callable[[], WSGIApplication]] = {
    "plain": lambda: _plain,
    "flask": _flask,
    "django": _django,
}


def _stack(name: str) -> WSGIApplication:
    with _lock:
        if name not in _built:
            _built[name] = STACK.wrap(_FACTORIES[name]())
        return _built[name]


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    first = environ.get("PATH_INFO", "").split("/")[1]
    return _stack(first if first in ("flask", "django") else "plain")(environ, start_response)
