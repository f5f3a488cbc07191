"""The PEP 3333 contract, for every registered middleware and variant (see ``contract_variants.py``).

Each case runs one layer around one inner-app shape with one iteration mode through
``wsgistack.testing.check_layer``: wsgiref.validate on both sides, close() exactly once, exc_info and
the app's exceptions reaching the server, the app's header list untouched, block boundaries kept.
Test-only layers built on ``wsgistack.core`` join the matrix, and deliberately broken layers prove
that the matrix fails when a layer forgets close(), drops exc_info, buffers, mutates headers, ...
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from tests.contract_variants import VARIANTS
from wsgistack import REGISTRY, Layer
from wsgistack.core import (
    ClosingIterable,
    Headers,
    OptExcInfo,
    ResponseStart,
    StartResponse,
    WSGIApplication,
    WSGIEnvironment,
    plain_response,
    remove_headers,
    replace_header,
)
from wsgistack.testing import CASES, SHAPES, check_layer

# --- test-only layers built on the core --------------------------------------------------------------


class Observe:
    """Sees every chunk and the final status without changing them (the shape of an access log)."""

    def __init__(self, app: WSGIApplication, *, tag: str | None = None) -> None:
        self.app, self.tag = app, tag

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        sizes: list[int] = []

        def count(chunk: bytes) -> bytes:
            sizes.append(len(chunk))
            return chunk

        def tag(status: str, headers: Headers) -> tuple[str, Headers]:
            return status, replace_header(headers, "X-Tag", self.tag or "")

        response = ResponseStart(start_response, map_chunk=count, rewrite=tag if self.tag else None)
        return response.body(self.app(environ, response), on_close=[lambda: sizes.clear()])


class Shout:
    """Transforms the body (upper case), decides its headers at the first value (``defer``) and may
    append a trailer: the shape of a compressor."""

    def __init__(self, app: WSGIApplication, *, trailer: bytes = b"") -> None:
        self.app, self.trailer = app, trailer

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        head = environ["REQUEST_METHOD"] == "HEAD"

        def rewrite(status: str, headers: Headers) -> tuple[str, Headers]:
            return status, remove_headers(headers, "Content-Length")  # the length changes

        response = ResponseStart(
            start_response,
            rewrite=rewrite,
            map_chunk=bytes.upper,
            trailer=(lambda: b"" if head else self.trailer),
            defer=True,
        )
        return response.body(self.app(environ, response))


class Catch:
    """Turns exceptions into a 500 while nothing was sent, re-raises after: a minimal error catcher."""

    def __init__(self, app: WSGIApplication, *, body: str = "error\n") -> None:
        self.app, self.text = app, body

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = ResponseStart(start_response)
        try:
            body = self.app(environ, response)
        except Exception:
            return self.error(environ, start_response, sys.exc_info())
        return _Caught(self, body, response, environ, start_response)

    def error(
        self, environ: WSGIEnvironment, start_response: StartResponse, exc_info: OptExcInfo
    ) -> list[bytes]:
        return plain_response(
            environ, start_response, "500 Internal Server Error", self.text, exc_info=exc_info
        )


class _Caught:
    def __init__(
        self,
        layer: Catch,
        body: Iterable[bytes],
        response: ResponseStart,
        environ: WSGIEnvironment,
        start_response: StartResponse,
    ) -> None:
        self.layer, self.body, self.response = layer, body, response
        self.environ, self.start_response = environ, start_response

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self.body)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except Exception:
                if self.response.sent:
                    raise
                yield from self.layer.error(self.environ, self.start_response, sys.exc_info())
                return
            self.response.handing_out(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        except Exception:
            logging.getLogger("tests.contract").debug("close() failed", exc_info=True)


TEST_LAYERS: dict[str, tuple[Callable[..., WSGIApplication], bool, list[dict[str, Any]]]] = {
    "test:observe": (Observe, False, [{}, {"tag": "v1"}]),
    "test:shout": (Shout, False, [{}, {"trailer": b"\n-- end --\n"}]),
    "test:catch": (Catch, True, [{}, {"body": "something went wrong\n"}]),
}


def _matrix() -> Iterator[Any]:
    for name, (factory, handles_errors, option_sets) in TEST_LAYERS.items():
        for index, options in enumerate(option_sets):
            yield pytest.param(
                lambda d, f=factory, o=options: Layer(f, **o), handles_errors, id=f"{name}#{index}"
            )
    for name, makers in VARIANTS.items():
        handles_errors = REGISTRY[name].handles_errors if name in REGISTRY else False
        for index, make in enumerate(makers):
            yield pytest.param(make, handles_errors, id=f"{name}#{index}")
    # A layer registered without variants joins at once with its default options (and
    # test_every_registered_layer_has_variants asks for a configured variant too).
    for name in REGISTRY:
        if name not in VARIANTS:
            yield pytest.param(
                lambda d, n=name: Layer.named(n), REGISTRY[name].handles_errors, id=f"{name}#defaults"
            )


LAYERS = list(_matrix())


@pytest.mark.parametrize(("make_layer", "handles_errors"), LAYERS)
@pytest.mark.parametrize(("shape", "iteration"), CASES)
def test_contract(
    make_layer: Callable[[Path], Layer[Any]], handles_errors: bool, shape: str, iteration: str, tmp_path: Path
) -> None:
    layer = make_layer(tmp_path)
    check_layer(layer.build, shape, iteration, handles_errors=handles_errors)


def test_every_registered_layer_has_variants() -> None:
    for name in REGISTRY:
        assert name in VARIANTS, f"registered layer {name!r} has no entry in tests/contract_variants.py"
        assert len(VARIANTS[name]) >= 2, f"{name!r} needs its defaults and at least one configured variant"
    assert set(VARIANTS) <= set(REGISTRY), (
        f"variants for unregistered layers: {set(VARIANTS) - set(REGISTRY)}"
    )


def test_matrix_size() -> None:
    assert len(CASES) >= 22
    assert {shape.raises for shape in SHAPES.values()} == {"", "call", "first", "second", "close"}


def test_transforming_layer_output_is_checked() -> None:
    server = check_layer(lambda app: Shout(app, trailer=b"!"), "generator", "full")
    assert b"".join(server.values) == b"ONE TWO THREE!"
    assert server.calls == [("200 OK", False)]
    assert ("Content-Type", "text/plain; charset=utf-8") in server.headers


def test_write_callable_goes_through_the_transform() -> None:
    server = check_layer(Shout, "write() callable", "full")
    assert server.written == b"WRITTEN "
    assert b"".join(server.values) == b"THEN ITERATED"


def test_catching_layer_answers_500_before_sending() -> None:
    server = check_layer(Catch, "raise after start_response", "full", handles_errors=True)
    assert server.status == "500 Internal Server Error"
    assert server.calls == [("200 OK", False), ("500 Internal Server Error", True)]
    assert b"".join(server.values) == b"error\n"


# --- deliberately broken layers: the matrix must catch each ------------------------------------------


def forgets_close(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = app(environ, start_response)
        return (chunk for chunk in body)  # a generator: the app's close() is lost

    return layer


def closes_its_iterator(app: WSGIApplication) -> WSGIApplication:
    """Closes the iterator it got from iter(body), not the body the app returned (DESIGN §2.2)."""

    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        iterator = iter(app(environ, start_response))

        class Body:
            def __iter__(self) -> Iterator[bytes]:
                return iterator

            def close(self) -> None:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()

        return Body()

    return layer


def closes_twice(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = app(environ, start_response)
        close = getattr(body, "close", lambda: None)

        class Twice(list[bytes]):
            def close(self) -> None:
                close()
                close()

        return Twice(body)

    return layer


def drops_exc_info(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def forward(status: str, headers: Headers, exc_info: OptExcInfo = None) -> Callable[[bytes], object]:
            return start_response(status, headers)  # the bug: exc_info is not passed on

        return ResponseStart(forward).body(app(environ, forward))

    return layer


def mutates_headers(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def forward(status: str, headers: Headers, exc_info: OptExcInfo = None) -> Callable[[bytes], object]:
            headers.append(("X-Added", "1"))
            return start_response(status, headers, exc_info)

        return app(environ, forward)

    return layer


def yields_str(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        as_text = cast(Callable[[bytes], bytes], bytes.decode)  # the bug: str chunks
        return ClosingIterable(app(environ, start_response), map_chunk=as_text)

    return layer


def buffers_body(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            getattr(body, "close", lambda: None)()

    return layer


def swallows_errors(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except Exception:
            return plain_response(environ, start_response, "200 OK", "fine")

    return layer


def appends_after_error(app: WSGIApplication) -> WSGIApplication:
    """Paste's ErrorMiddleware: an error after the headers went out is appended to the body."""

    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = ResponseStart(start_response)
        body = app(environ, response)

        def generate() -> Iterator[bytes]:
            try:
                yield from body
            except Exception:
                yield b"<html>Internal Server Error</html>"

        return response.body(generate(), on_close=[getattr(body, "close", lambda: None)])

    return layer


BROKEN = [
    pytest.param(forgets_close, "list", "none", False, "ran 0 times", id="forgets close"),
    pytest.param(closes_twice, "list", "full", False, "ran 2 times", id="closes twice"),
    pytest.param(closes_its_iterator, "list", "full", False, "ran 0 times", id="closes its iterator"),
    pytest.param(
        drops_exc_info, "exc_info before sent", "full", False, "without exc_info", id="drops exc_info"
    ),
    pytest.param(mutates_headers, "list", "full", False, "header list was mutated", id="mutates headers"),
    pytest.param(yields_str, "list", "full", False, "non-bytestring", id="yields str"),
    pytest.param(buffers_body, "generator", "full", False, "buffered app values", id="buffers the body"),
    pytest.param(swallows_errors, "raise at call", "full", False, "instead of the app's own", id="swallows"),
    pytest.param(
        appends_after_error, "raise mid-stream", "full", True, "error never reached the server", id="appends"
    ),
]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(("broken", "shape", "iteration", "handles_errors", "message"), BROKEN)
def test_broken_layer_fails_the_contract(
    broken: Callable[[WSGIApplication], WSGIApplication],
    shape: str,
    iteration: str,
    handles_errors: bool,
    message: str,
) -> None:
    with pytest.raises(AssertionError, match=message):
        check_layer(broken, shape, iteration, handles_errors=handles_errors)
    gc.collect()  # wsgiref.validate reports an unclosed iterator from __del__: let it happen here
