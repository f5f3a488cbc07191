"""wsgistack.testing's client: the wsgi.errors policy, blame per layer, log capture, close tracking."""

from __future__ import annotations

import gc
import logging
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import webtest

from wsgistack import Layer, Pipeline
from wsgistack.core import Headers, OptExcInfo, ResponseStart, StartResponse, WSGIApplication, WSGIEnvironment
from wsgistack.testing import (
    PROPAGATE_ERRORS,
    CloseTracker,
    LayerViolation,
    assert_logged,
    capture_logs,
    client,
    decoded_body,
)


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"hello ", b"world"]


def noisy(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    environ["wsgi.errors"].write("deprecated call\n")
    return hello(environ, start_response)


class Passing:
    """A correct layer built on the core."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = ResponseStart(start_response)
        return response.body(self.app(environ, response))


def yields_str(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = app(environ, start_response)

        class Text:
            def __iter__(self) -> Iterator[Any]:
                return (chunk.decode() for chunk in body)

            def close(self) -> None:
                getattr(body, "close", lambda: None)()

        return cast(Iterable[bytes], Text())

    return layer


def forgets_close(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return list(app(environ, start_response))

    return layer


def mutates_headers(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def forward(status: str, headers: Headers, exc_info: OptExcInfo = None) -> Callable[[bytes], object]:
            headers.append(("X-Added", "1"))
            return start_response(status, headers, exc_info)

        return app(environ, forward)

    return layer


def forwards(app: WSGIApplication) -> WSGIApplication:
    """Hands the app's own header list outwards unchanged, as PEP 3333 allows."""

    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return app(environ, start_response)

    return layer


def bad_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return cast(Iterable[bytes], ["text, not bytes"])


def test_client_wraps_an_app_in_the_pipeline() -> None:
    tracker = CloseTracker(hello)
    app = client(tracker, pipeline=Pipeline(Layer(Passing), Layer(Passing)))
    assert app.get("/").text == "hello world"
    assert isinstance(app, webtest.TestApp)
    tracker.assert_closed()
    assert tracker.calls == 1


def test_close_tracker_reports_a_missing_close() -> None:
    tracker = CloseTracker(hello)
    tracker(
        {"REQUEST_METHOD": "GET"},
        cast(StartResponse, lambda status, headers, exc_info=None: lambda data: None),
    )
    with pytest.raises(AssertionError, match="1 responses, 0 close"):
        tracker.assert_closed()


def test_wsgi_errors_are_recorded_not_fatal_by_default() -> None:
    app = client(noisy)
    assert app.get("/").text == "hello world"
    app.get("/")
    assert app.wsgi_errors == ["deprecated call\n", "deprecated call\n"]


def test_strict_errors_fails_like_webtest() -> None:
    with pytest.raises(webtest.AppError, match="Application had errors logged"):
        client(noisy, strict_errors=True).get("/")


def test_status_is_still_checked() -> None:
    def missing(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no"]

    with pytest.raises(webtest.AppError, match="404 Not Found"):
        client(missing).get("/")
    assert client(missing).get("/", status=404).text == "no"


def test_propagate_errors_sets_the_flag_and_extra_environ_is_kept() -> None:
    seen: dict[str, Any] = {}

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.update(environ)
        return hello(environ, start_response)

    client(app, propagate_errors=True, extra_environ={"REMOTE_USER": "ada"}).get("/")
    assert seen[PROPAGATE_ERRORS] is True
    assert seen["REMOTE_USER"] == "ada"
    seen.clear()
    client(app).get("/")
    assert PROPAGATE_ERRORS not in seen


def test_layer_lint_passes_a_correct_stack() -> None:
    tracker = CloseTracker(hello)
    app = client(tracker, pipeline=Pipeline(Layer(Passing), Layer(Passing)), layer_lint=True)
    assert app.get("/").text == "hello world"
    assert app.head("/").status_int == 200
    tracker.assert_closed()


@pytest.mark.parametrize(
    ("layers", "app", "message"),
    [
        pytest.param(
            [Layer(Passing), Layer(yields_str), Layer(Passing)],
            hello,
            r"^layer 2 \(yields_str\): Iterator yielded non-bytestring",
            id="str chunk",
        ),
        pytest.param(
            [Layer(Passing), Layer(Passing), Layer(forgets_close)],
            hello,
            r"^layer 3 \(forgets_close\) did not close the iterable returned by the app",
            id="forgets close",
        ),
        pytest.param(
            [Layer(Passing), Layer(forgets_close), Layer(Passing)],
            hello,
            r"^layer 2 \(forgets_close\) did not close the iterable returned by layer 3 \(Passing\)",
            id="forgets close in the middle",
        ),
        pytest.param(
            [Layer(forgets_close), Layer(Passing), Layer(Passing)],
            hello,
            r"^layer 1 \(forgets_close\) did not close the iterable returned by layer 2 \(Passing\)",
            id="forgets close outermost",
        ),
        pytest.param(
            [Layer(mutates_headers), Layer(Passing)],
            hello,
            r"^layer 1 \(mutates_headers\) mutated the header list layer 2 \(Passing\) gave it",
            id="mutates headers",
        ),
        pytest.param(
            [Layer(mutates_headers), Layer(forwards)],
            hello,
            r"^layer 1 \(mutates_headers\) mutated the header list layer 2 \(forwards\) gave it",
            id="mutates a list passed through unchanged",
        ),
        pytest.param(
            [Layer(Passing)], bad_app, r"^the app: Iterator yielded non-bytestring", id="the app itself"
        ),
    ],
)
def test_layer_lint_blames_the_layer_at_fault(
    layers: list[Layer[Any]], app: WSGIApplication, message: str
) -> None:
    with pytest.raises(LayerViolation, match=message):
        client(app, pipeline=Pipeline(*layers), layer_lint=True, lint=False).get("/")
    gc.collect()


@pytest.mark.parametrize("position", [0, 1, 2])
def test_layer_lint_closes_what_a_layer_left_open(monkeypatch: pytest.MonkeyPatch, position: int) -> None:
    """After naming the layer that forgot close(), the client closes what it left open: the app's
    iterable is closed once, and no validator complains later, when it is garbage-collected."""
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: unraisable.append(str(report.exc_value)))
    tracker = CloseTracker(hello)
    layers = [Layer(Passing), Layer(Passing), Layer(Passing)]
    layers[position] = Layer(forgets_close)
    with pytest.raises(LayerViolation, match=rf"^layer {position + 1} \(forgets_close\) did not close"):
        client(tracker, pipeline=Pipeline(*layers), layer_lint=True, lint=False).get("/")
    gc.collect()
    assert tracker.closes == 1
    assert unraisable == []


def test_layer_lint_needs_the_pipeline() -> None:
    with pytest.raises(ValueError, match="layer_lint needs the layers"):
        client(hello, layer_lint=True)


def forgets_close_filter(global_conf: dict[str, Any]) -> Callable[[WSGIApplication], WSGIApplication]:
    """A ``paste.filter_factory`` (``use = call:...``) giving the broken layer above."""
    return forgets_close


def yields_str_layer(app: WSGIApplication) -> WSGIApplication:
    """A ``module:factory`` layer for TOML."""
    return yields_str(app)


def hello_app(global_conf: dict[str, Any]) -> WSGIApplication:
    return hello


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        pytest.param(
            "stack.ini",
            """
            [pipeline:main]
            pipeline = request_id forgets compress hello

            [filter:request_id]
            use = egg:wsgistack#request_id

            [filter:forgets]
            use = call:tests.test_testing:forgets_close_filter

            [filter:compress]
            use = egg:wsgistack#compress

            [app:hello]
            use = call:tests.test_testing:hello_app
            """,
            r"^layer 2 \(call:tests.test_testing:forgets_close_filter\) "
            r"did not close the iterable returned by layer 3 \(compress\)",
            id="ini",
        ),
        pytest.param(
            "wsgistack.toml",
            """
            app = "tests.test_testing:hello"

            [[layer]]
            use = "request_id"

            [[layer]]
            use = "tests.test_testing:yields_str_layer"
            """,
            r"^layer 2 \(yields_str_layer\): Iterator yielded non-bytestring",
            id="toml",
        ),
    ],
)
def test_layer_lint_blames_layers_of_a_configuration_file(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    with pytest.raises(LayerViolation, match=message):
        client(path, layer_lint=True, lint=False).get("/")
    gc.collect()


def test_layer_lint_passes_the_demo_stack() -> None:
    demo = Path(__file__).resolve().parent.parent / "recipes" / "demo.ini"
    app = client(demo, layer_lint=True)
    assert app.get("/").status_int == 200
    assert app.get("/api/info").json["app"] == "wsgistack demo"
    assert app.get("/static/nothing-here", status=404).status_int == 404


def test_capture_logs_collects_and_restores() -> None:
    logger = logging.getLogger("wsgistack.example")
    parent = logging.getLogger("wsgistack")
    level = parent.level
    with capture_logs() as records:
        logger.debug("debug %s", "detail")
        logging.getLogger("elsewhere").warning("not ours")
    logger.warning("after")
    assert [record.getMessage() for record in records] == ["debug detail"]
    assert parent.level == level
    assert parent.handlers == []


@pytest.mark.parametrize("log_format", ["combined", "json"])
def test_assert_logged_compares_the_record_with_what_the_client_got(log_format: str) -> None:
    from wsgistack import AccessLog, Compress

    page = b"<p>logged</p>" * 200

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [page]

    stack = Pipeline(Layer(AccessLog, format=log_format), Layer(Compress))
    with capture_logs("wsgistack.access") as records:
        compressed = client(app, pipeline=stack).get("/", headers={"Accept-Encoding": "gzip"})
        plain = client(app, pipeline=stack).get("/")
    assert len(compressed.body) < len(page) == len(plain.body)  # the compressed bytes are what counts
    assert_logged(records[0], compressed)
    assert_logged(records[1], plain)
    with pytest.raises(AssertionError, match=r"recorded \d+ body bytes; the client received 2600"):
        assert_logged(records[0], plain)


def test_assert_logged_checks_the_status_and_the_record_kind() -> None:
    from wsgistack import AccessLog, CatchErrors

    def failing(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise LookupError("logged as 500")

    stack = Pipeline(Layer(AccessLog), Layer(CatchErrors))
    with capture_logs() as records:
        response = client(failing, pipeline=stack).get("/", status=500)
    access = [record for record in records if record.name == "wsgistack.access"]
    assert_logged(access[0], response)
    other = next(record for record in records if record.name == "wsgistack.errors")
    with pytest.raises(AssertionError, match="not an AccessLog record"):
        assert_logged(other, response)
    with pytest.raises(AssertionError, match="recorded status 500; the client got 200"):
        assert_logged(access[0], webtest.TestResponse(body=response.body, status="200 OK"))


def test_propagate_errors_makes_catch_errors_reraise() -> None:
    from wsgistack import CatchErrors

    def failing(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise LookupError("the app's own error")

    stack = Pipeline(Layer(CatchErrors))
    assert client(failing, pipeline=stack).get("/", status=500).status_int == 500
    with capture_logs("wsgistack.errors"), pytest.raises(LookupError, match="the app's own error"):
        client(failing, pipeline=stack, propagate_errors=True).get("/")


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_client_shows_compressed_responses_as_sent(coding: str) -> None:
    from wsgistack import Compress

    page = b"<p>compress me</p>" * 100

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(page)))])
        return [page]

    response = client(Compress(app)).get("/", headers={"Accept-Encoding": coding})
    assert response.headers["Content-Encoding"] == coding
    assert response.body != page
    assert decoded_body(response) == page
    assert decoded_body(client(app).get("/")) == page


def test_decoded_body_names_an_unknown_coding() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Encoding", "compress")])
        return [b"?"]

    with pytest.raises(ValueError, match="cannot decode Content-Encoding 'compress'"):
        decoded_body(client(app).get("/"))
