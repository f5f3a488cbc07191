"""Test helpers: the PEP 3333 contract matrix that every wsgistack middleware passes, usable on yours.

:func:`check_layer` runs one middleware against one inner-app :data:`SHAPES` entry and one iteration
mode (``full``, ``partial``: the server reads one value and closes, ``none``: it closes without
reading), with ``wsgiref.validate`` on both sides of the middleware and a strict in-process server
(:class:`ContractServer`) behind it. It raises AssertionError, naming the case, when the middleware:

* does not call ``close()`` exactly once on the iterable the app returned;
* lets an exception other than the app's own reach the server, or swallows the app's exception
  (a layer that ``handles_errors`` must instead answer 5xx while nothing was sent, re-raise the
  original exception once something was, and keep errors from ``close()`` to itself);
* calls the server's ``start_response`` a second time without ``exc_info``, or drops ``exc_info``;
* mutates the header list the app passed to ``start_response``;
* pulls a further value from the app before handing the server one for the previous value, or
  yields fewer values than the app did (PEP 3333, "Middleware Handling of Block Boundaries");
* breaks any rule ``wsgiref.validate`` checks (str chunks, bad headers, iterating after close...).

The "exc_info after sent" shape expects the app's replacement to be refused once the app's first
non-empty value has gone out. A layer that holds that value back (yielding ``b""`` while a compressor
buffers it) could still accept the replacement correctly; such a layer passes the matrix by handing
the first non-empty value on at once, as ``Compress`` does.

Example, for a middleware class ``Tagging``::

    import pytest
    from wsgistack.testing import CASES, check_layer

    @pytest.mark.parametrize(("shape", "iteration"), CASES)
    def test_contract(shape: str, iteration: str) -> None:
        check_layer(lambda app: Tagging(app, tag="v1"), shape, iteration)
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from wsgiref.util import FileWrapper
from wsgiref.validate import validator

import webtest

from .core import ClosingIterable, Headers, OptExcInfo, StartResponse, WSGIApplication, WSGIEnvironment
from .errors import PROPAGATE_KEY
from .pipeline import Pipeline

__all__ = [
    "CASES",
    "ITERATIONS",
    "PROPAGATE_ERRORS",
    "SHAPES",
    "AppError",
    "Client",
    "CloseTracker",
    "ContractServer",
    "LayerViolation",
    "Probe",
    "Request",
    "Response",
    "Shape",
    "assert_logged",
    "capture_logs",
    "check_layer",
    "client",
    "decoded_body",
    "make_environ",
]

ITERATIONS = ("full", "partial", "none")
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


class AppError(Exception):
    """What the contract's inner apps raise; each run raises a fresh instance, checked by identity."""


@dataclass
class Probe:
    """What the inner app observed: values it yielded, close() calls, the header list it passed."""

    yielded: int = 0
    closes: int = 0
    error: AppError = field(default_factory=lambda: AppError("raised by the inner app"))
    header_lists: list[tuple[Headers, Headers]] = field(default_factory=list)

    def start(self, start_response: StartResponse, status: str, exc_info: OptExcInfo = None) -> None:
        headers = list(_TEXT)
        self.header_lists.append((headers, list(headers)))
        if exc_info is None:
            start_response(status, headers)
        else:
            start_response(status, headers, exc_info)


class _Body:
    """The app's iterable: counts values and close() calls, optionally failing in either."""

    def __init__(self, probe: Probe, chunks: Iterable[bytes], *, fail_in_close: bool = False) -> None:
        self.probe, self.chunks, self.fail_in_close = probe, chunks, fail_in_close

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.probe.yielded += 1
            yield chunk

    def close(self) -> None:
        self.probe.closes += 1
        if self.fail_in_close:
            raise self.probe.error


class _ListBody(list[bytes]):
    """A list body (middlewares may special-case lists) whose close() is counted."""

    def __init__(self, probe: Probe, chunks: Iterable[bytes]) -> None:
        super().__init__(chunks)
        self.probe = probe

    def __iter__(self) -> Iterator[bytes]:
        for chunk in super().__iter__():
            self.probe.yielded += 1
            yield chunk

    def close(self) -> None:
        self.probe.closes += 1


class _File(io.BytesIO):
    def __init__(self, probe: Probe, data: bytes) -> None:
        super().__init__(data)
        self.probe = probe

    def close(self) -> None:
        self.probe.closes += 1
        super().close()


def _list(probe: Probe) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        probe.start(start_response, "200 OK")
        return _ListBody(probe, [b"hello ", b"world"])

    return app


def _generator(*chunks: bytes, fail: str = "") -> Callable[[Probe], WSGIApplication]:
    """A generator app; ``fail`` is where it raises: "start" (first next), "stream" (after a chunk)."""

    def make(probe: Probe) -> WSGIApplication:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            probe.start(start_response, "200 OK")

            def generate() -> Iterator[bytes]:
                if fail == "start":
                    raise probe.error
                yield from chunks
                if fail == "stream":
                    raise probe.error

            return _Body(probe, generate())

        return app

    return make


def _lazy(probe: Probe) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def generate() -> Iterator[bytes]:
            probe.start(start_response, "200 OK")  # PEP 3333 allows calling it as late as this
            yield b"lazy "
            yield b"body"

        return _Body(probe, generate())

    return app


def _write(probe: Probe) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        headers = list(_TEXT)
        probe.header_lists.append((headers, list(headers)))
        write = start_response("200 OK", headers)
        write(b"written ")
        write(b"")
        return _Body(probe, [b"then ", b"iterated"])

    return app


def _file_wrapper(probe: Probe) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        probe.start(start_response, "200 OK")
        # The server's own wrapper; its close() reaches the file, which counts it.
        wrapped: Iterable[bytes] = environ["wsgi.file_wrapper"](_File(probe, b"file body " * 40), 64)
        return wrapped

    return app


def _with_length(probe: Probe) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        headers = [*_TEXT, ("Content-Length", "11")]
        probe.header_lists.append((headers, list(headers)))
        start_response("200 OK", headers)
        return _Body(probe, [b"hello", b" ", b"world"])

    return app


def _raise_at_call(probe: Probe) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise probe.error

    return app


def _raise_in_close(probe: Probe) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        probe.start(start_response, "200 OK")
        return _Body(probe, [b"body"], fail_in_close=True)

    return app


def _replace_before_sent(probe: Probe) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        probe.start(start_response, "200 OK")

        def generate() -> Iterator[bytes]:
            try:
                raise probe.error
            except AppError:
                probe.start(start_response, "500 Internal Server Error", sys.exc_info())
            yield b"error page"

        return _Body(probe, generate())

    return app


def _replace_after_sent(probe: Probe) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        probe.start(start_response, "200 OK")

        def generate() -> Iterator[bytes]:
            yield b"partial body"
            try:
                raise probe.error
            except AppError:
                # Headers are out: PEP 3333 says start_response must re-raise, ending the response.
                probe.start(start_response, "500 Internal Server Error", sys.exc_info())
            yield b"never sent"

        return _Body(probe, generate())

    return app


@dataclass(frozen=True)
class Shape:
    """An inner app and what it does: ``raises`` says when the app's error is raised, if ever:
    "call", "first" (first value), "second" (second value) or "close"; ``replaces`` is the status an
    exc_info replacement before anything was sent should leave at the server."""

    name: str
    make: Callable[[Probe], WSGIApplication]
    method: str = "GET"
    raises: str = ""
    replaces: str = ""


SHAPES: dict[str, Shape] = {
    shape.name: shape
    for shape in (
        Shape("list", _list),
        Shape("generator", _generator(b"one ", b"two ", b"three")),
        Shape("empty chunks", _generator(b"", b"x", b"")),
        Shape("empty body", _generator()),
        Shape("lazy start_response", _lazy),
        Shape("write() callable", _write),
        Shape("file_wrapper", _file_wrapper),
        Shape("content-length", _with_length),
        Shape("HEAD", _list, method="HEAD"),
        Shape("raise at call", _raise_at_call, raises="call"),
        Shape("raise after start_response", _generator(b"x", fail="start"), raises="first"),
        Shape("raise mid-stream", _generator(b"first ", fail="stream"), raises="second"),
        Shape("raise in close", _raise_in_close, raises="close"),
        Shape("exc_info before sent", _replace_before_sent, replaces="500"),
        Shape("exc_info after sent", _replace_after_sent, raises="second"),
    )
}
#: Every (shape, iteration) pair, for ``pytest.mark.parametrize``.
CASES = [(shape, iteration) for shape in SHAPES for iteration in ITERATIONS]


class ContractServer:
    """A strict PEP 3333 server in-process: it enforces the start_response rules the way wsgiref's
    handler does, sends headers at the first non-empty value, and records what happened."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: Headers = []
        self.calls: list[tuple[str, bool]] = []  # (status, exc_info given) per start_response call
        self.headers_sent = False
        self.values: list[bytes] = []
        self.written = b""
        self.error: BaseException | None = None
        self.sent_when_failed = False
        self.pulled_ahead: list[str] = []

    def start_response(
        self, status: str, headers: Headers, exc_info: OptExcInfo = None
    ) -> Callable[[bytes], None]:
        try:
            given = exc_info is not None and exc_info[1] is not None
            if exc_info is not None and exc_info[1] is not None:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            elif self.status is not None:
                raise AssertionError("the server's start_response was called again without exc_info")
            self.status, self.headers = status, headers
            self.calls.append((status, given))
            return self.write
        finally:
            exc_info = None

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise AssertionError("write() called before start_response()")
        if data:
            self.headers_sent = True
            self.written += data

    def run(self, app: WSGIApplication, environ: WSGIEnvironment, iteration: str, probe: Probe) -> None:
        result: Iterable[bytes] | None = None
        try:
            result = app(environ, self.start_response)
            if iteration != "none":
                for value in result:
                    if self.status is None:
                        raise AssertionError("a body value was yielded before start_response was called")
                    self.values.append(value)
                    if probe.yielded > len(self.values):
                        self.pulled_ahead.append(
                            f"value {len(self.values)} came after {probe.yielded} app values"
                        )
                    if value:
                        self.headers_sent = True
                    if iteration == "partial":
                        break
        except Exception as exc:
            self.error, self.sent_when_failed = exc, self.headers_sent
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    if self.error is None:
                        self.error, self.sent_when_failed = exc, self.headers_sent


def make_environ(
    path: str = "/",
    *,
    method: str = "GET",
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    **extra: Any,
) -> WSGIEnvironment:
    """A complete PEP 3333 environ for one request, as a server would build it.

    ``headers`` are given as sent (``{"Accept-Encoding": "gzip"}``) and become ``HTTP_*`` keys (or
    ``CONTENT_TYPE``/``CONTENT_LENGTH``); a ``body`` sets ``wsgi.input`` and ``CONTENT_LENGTH``; ``extra``
    environ keys override everything else.
    """
    environ: WSGIEnvironment = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    environ.update(extra)
    return environ


def contract_environ(method: str = "GET") -> WSGIEnvironment:
    """The request every contract case makes: a miss for file-serving layers, accepting compression."""
    return make_environ(
        "/contract/resource",
        method=method,
        query="q=1",
        headers={"Host": "127.0.0.1", "Accept": "*/*", "Accept-Encoding": "gzip, br, zstd"},
    )


def _reached(raises: str, iteration: str) -> bool:
    """Whether the app's error point is reached when the server iterates this much."""
    return {
        "call": True,
        "close": True,
        "first": iteration in ("full", "partial"),
        "second": iteration == "full",
    }.get(raises, False)


def _require(condition: bool, message: str) -> None:
    """Like ``assert``, but not stripped by ``python -O`` (the same reason wsgiref.validate has assert_)."""
    if not condition:
        raise AssertionError(message)


class _FreshIterators:
    """The app's body as the layer under test sees it: ``iter()`` of it is a new iterator, never the body.

    wsgiref.validate's wrapper is its own iterator, so through it alone, a layer that closes the iterator
    it got from ``iter(body)`` instead of ``body`` would close the app's iterable by accident and pass.
    Here only ``body.close()`` reaches the app.
    """

    __slots__ = ("_body",)

    def __init__(self, body: Iterable[bytes]) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:  # noqa: UP028  (yield from would close the body with this generator)
            yield chunk

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


def _fresh_iterators(app: WSGIApplication) -> WSGIApplication:
    def fresh(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return _FreshIterators(app(environ, start_response))

    return fresh


def check_layer(
    wrap: Callable[[WSGIApplication], WSGIApplication],
    shape: str | Shape,
    iteration: str,
    *,
    handles_errors: bool = False,
) -> ContractServer:
    """Run ``wrap(app)`` for one contract case; raise AssertionError on a violation, else return the
    server for further assertions."""
    case = shape if isinstance(shape, Shape) else SHAPES[shape]
    if iteration not in ITERATIONS:
        raise ValueError(f"iteration must be one of {ITERATIONS}, not {iteration!r}")
    label = f"[{case.name} / {iteration}]"
    probe = Probe()
    server = ContractServer()
    app = _fresh_iterators(validator(case.make(probe)))
    server.run(validator(wrap(app)), contract_environ(case.method), iteration, probe)
    failed = _reached(case.raises, iteration)

    if failed and handles_errors:
        if case.raises == "close":
            _require(server.error is None, f"{label} an error from close() escaped: {server.error!r}")
        elif server.error is not None:
            _require(
                server.error is probe.error and server.sent_when_failed,
                (
                    f"{label} {server.error!r} reached the server although nothing had been sent: "
                    "an error-handling layer must answer 5xx then"
                ),
            )
        else:
            _require(
                not server.headers_sent or (server.status or "").startswith("5"),
                f"{label} the app failed after the headers were sent and the error never reached the server: "
                "it must be re-raised so the server aborts, not turned into more body",
            )
            _require(
                (server.status or "").startswith("5"),
                f"{label} status {server.status!r} after the app failed",
            )
    elif failed:
        _require(
            server.error is probe.error,
            (
                f"{label} the server got {server.error!r} instead of the app's own exception"
                + (" (headers were already sent, so it must be re-raised)" if server.sent_when_failed else "")
            ),
        )
    else:
        _require(server.error is None, f"{label} unexpected error {server.error!r}")

    if case.replaces and iteration != "none" and server.error is None:
        _require(
            (server.status or "").startswith(case.replaces),
            f"{label} the exc_info replacement was lost: final status {server.status!r}",
        )
    if case.raises != "call":
        _require(
            probe.closes == 1, f"{label} close() of the app's iterable ran {probe.closes} times, not once"
        )
    for given, snapshot in probe.header_lists:
        _require(given == snapshot, f"{label} the app's header list was mutated: {snapshot} -> {given}")
    _require(not server.pulled_ahead, f"{label} buffered app values: {'; '.join(server.pulled_ahead)}")
    if iteration == "full" and server.error is None:
        _require(
            len(server.values) >= probe.yielded,
            f"{label} {probe.yielded} app values became {len(server.values)} (PEP 3333 block boundaries)",
        )
    return server


# --- the in-process client ------------------------------------------------------------------------------


class LayerViolation(AssertionError):
    """A PEP 3333 violation, blamed on the layer (or app) that committed it."""


class Response(webtest.TestResponse):
    """A WebTest response whose body and headers are exactly what the stack sent.

    WebTest decodes gzip bodies (dropping ``Content-Encoding``) and fails on br and zstd, which hides
    what a compressing layer did; here nothing is decoded (see :func:`decoded_body`).
    """

    def decode_content(self) -> None:
        """Keep the body as sent (WebTest calls this on every response)."""


def decoded_body(response: webtest.TestResponse) -> bytes:
    """The body of ``response`` with its ``Content-Encoding`` (gzip, x-gzip, deflate, br, zstd) undone."""
    coding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    body: bytes = response.body
    if coding == "identity":
        return body
    if coding in ("gzip", "x-gzip"):
        import gzip

        return gzip.decompress(body)
    if coding == "deflate":
        import zlib

        return zlib.decompress(body)
    if coding == "br":
        import brotli

        return bytes(brotli.decompress(body))
    if coding == "zstd":
        import zstandard

        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(body))
    raise ValueError(f"cannot decode Content-Encoding {coding!r}")


class Request(webtest.TestRequest):
    ResponseClass = Response


class Client(webtest.TestApp):
    """A ``webtest.TestApp`` that shows responses as sent (see :class:`Response`), with an explicit
    policy for what the app writes to ``wsgi.errors``.

    WebTest fails any request whose app wrote to ``wsgi.errors``, which surprises apps that log there
    on purpose. Here the output is recorded in :attr:`wsgi_errors` (one string per request that wrote
    any) and the request succeeds; ``strict_errors=True`` restores WebTest's failure.
    """

    RequestClass = Request

    def __init__(self, app: WSGIApplication, *, strict_errors: bool = False, **options: Any) -> None:
        super().__init__(app, **options)
        self.strict_errors = strict_errors
        self.wsgi_errors: list[str] = []

    def do_request(
        self, req: webtest.TestRequest, status: Any = None, expect_errors: bool | None = None
    ) -> webtest.TestResponse:
        response = super().do_request(req, status=status, expect_errors=True)
        errors: str = getattr(response, "errors", "")
        if errors:
            self.wsgi_errors.append(errors)
        if not expect_errors:
            checks: Any = self  # WebTest's own checks; its type stubs omit them
            checks._check_status(status, response)
            if self.strict_errors:
                checks._check_errors(response)
        return response


def client(
    app_or_config: WSGIApplication | str | os.PathLike[str],
    *,
    pipeline: Pipeline | None = None,
    name: str = "main",
    lint: bool = True,
    layer_lint: bool = False,
    propagate_errors: bool = False,
    strict_errors: bool = False,
    extra_environ: dict[str, Any] | None = None,
    **options: Any,
) -> Client:
    """A WebTest client for an app, an app wrapped in ``pipeline``, or a configuration file.

    ``app_or_config`` is a WSGI app, or the path of an INI/TOML file loaded with :func:`wsgistack.load`
    (section ``name``). ``layer_lint=True`` puts a PEP 3333 validator between every two layers of
    ``pipeline``, or of each pipeline the configuration file builds, so that a violation raises
    :class:`LayerViolation` naming the layer that committed it ("layer 3 (compress) yielded a str
    chunk"), including a layer that never closes the iterable of the layer below.
    ``propagate_errors=True`` makes ``CatchErrors`` re-raise, so the app's own traceback shows in the
    test (it sets ``wsgistack.errors.propagate`` in the environ). ``lint`` is WebTest's lint around the
    whole stack; the other options go to ``webtest.TestApp``.
    """
    lint_loaded = layer_lint and pipeline is None  # the layers are those of the configuration file
    if isinstance(app_or_config, (str, os.PathLike)):
        app: WSGIApplication = _load_stack(app_or_config, name, layer_lint=lint_loaded)
    elif lint_loaded:
        raise ValueError(
            "layer_lint needs the layers: pass pipeline=Pipeline(...) with the bare app, "
            "or a configuration file"
        )
    else:
        app = app_or_config
    if pipeline is not None:
        app = _lint_layers(pipeline, app) if layer_lint else pipeline.wrap(app)
    environ = dict(extra_environ or {})
    if propagate_errors:
        environ[PROPAGATE_ERRORS] = True
    return Client(app, lint=lint, strict_errors=strict_errors, extra_environ=environ, **options)


def _load_stack(path: str | os.PathLike[str], name: str, *, layer_lint: bool) -> WSGIApplication:
    """Section ``name`` of a configuration file, with a guard between every two layers of each of its
    pipelines if ``layer_lint`` (the pytest plugin's ``wsgi_app`` fixture loads its stack with this)."""
    from .config import FILTER_CHAIN, load

    token = FILTER_CHAIN.set(_lint_labelled if layer_lint else None)
    try:
        return load(os.fspath(path), name=name)
    finally:
        FILTER_CHAIN.reset(token)


#: Environ key that makes CatchErrors re-raise instead of answering 500 (set by ``propagate_errors``).
PROPAGATE_ERRORS = PROPAGATE_KEY
_GUARDS = "wsgistack.testing.guards"


_Wrap = Callable[[WSGIApplication], WSGIApplication]


def _lint_layers(pipeline: Pipeline, app: WSGIApplication) -> WSGIApplication:
    return _lint_chain([(layer.build, layer.name) for layer in pipeline.layers], app)


def _lint_labelled(filters: Sequence[tuple[_Wrap, str]], app: WSGIApplication) -> WSGIApplication:
    """A configuration file's pipeline (diagram labels such as ``compress(minimum_size=256)  [filter:c]``)."""
    return _lint_chain([(wrap, label.split("(", 1)[0].split()[0]) for wrap, label in filters], app)


def _lint_chain(layers: Sequence[tuple[_Wrap, str]], app: WSGIApplication) -> WSGIApplication:
    """``layers`` (wrap function and name, outermost first) around ``app``, a guard between every two."""
    labels = [f"layer {index} ({name})" for index, (_, name) in enumerate(layers, 1)]
    callee, callee_label = app, "the app"
    for (wrap, _), label in zip(reversed(layers), reversed(labels), strict=True):
        callee, callee_label = wrap(_Guard(callee, callee_label, label)), label
    return _Guard(callee, callee_label, "the server", outermost=True)


def _blame_caller(message: str) -> bool:
    """wsgiref.validate messages about the environ or iterating after close() concern the caller."""
    lowered = message.lower()
    return "environ" in lowered or "after it has been closed" in lowered or "read after" in lowered


class _Guard:
    """Sits between a caller (a layer or the server) and a callee (a layer or the app): a validator
    checks what crosses, and violations are blamed on whichever side committed them."""

    def __init__(
        self, callee: WSGIApplication, callee_label: str, caller_label: str, outermost: bool = False
    ) -> None:
        self.app, self.callee, self.caller, self.outermost = (
            validator(callee),
            callee_label,
            caller_label,
            outermost,
        )

    def violation(self, error: AssertionError) -> LayerViolation:
        if isinstance(error, LayerViolation):
            return error
        blamed = self.caller if _blame_caller(str(error)) else self.callee
        return LayerViolation(f"{blamed}: {error} (between {self.caller} and {self.callee})")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        guards: list[_GuardedBody] = environ.setdefault(_GUARDS, []) if not self.outermost else []
        if self.outermost:
            environ[_GUARDS] = guards
        given: list[tuple[Headers, Headers]] = []

        def checked_start_response(status: str, headers: Headers, exc_info: OptExcInfo = None) -> Any:
            given.append((headers, list(headers)))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            body = self.app(environ, checked_start_response)
        except AssertionError as error:
            raise self.violation(error) from error
        guarded = _GuardedBody(self, body, given, guards if self.outermost else None)
        guards.append(guarded)
        return guarded


class _GuardedBody:
    def __init__(
        self,
        guard: _Guard,
        body: Iterable[bytes],
        given: list[tuple[Headers, Headers]],
        guards: list[Any] | None,
    ) -> None:
        self.guard, self.body, self.given, self.guards, self.closed = guard, body, given, guards, False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.body
        except AssertionError as error:
            raise self.guard.violation(error) from error

    def close(self) -> None:
        self.closed = True
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        except AssertionError as error:
            raise self.guard.violation(error) from error
        if self.guards is None:
            return
        # The outermost guard: the request is over. Every layer must have closed what the layer below
        # returned. Guards were listed as their calls returned, innermost first; a layer that forgets
        # close() also leaves every guard below it unclosed (the layers under it are never closed), so the
        # outermost unclosed guard is the one whose caller is at fault.
        for inner in reversed(self.guards):
            if not inner.closed:
                violation = LayerViolation(
                    f"{inner.guard.caller} did not close the iterable returned by {inner.guard.callee}"
                )
                # Close what the layer left open, as it should have: files and sockets below are released
                # now, and the validators there do not complain later, at a garbage collection that would
                # land in some other test. Errors on the way are secondary to the violation reported.
                for unclosed in reversed(self.guards):
                    if not unclosed.closed:
                        with contextlib.suppress(Exception):
                            unclosed.close()
                raise violation
        # A header list handed outwards unchanged is seen by every guard it crossed: the outermost guard
        # that finds it changed names the layer that changed it. (The server may change what it gets.)
        for guarded in reversed(self.guards[:-1]):
            for headers, snapshot in guarded.given:
                if headers != snapshot:
                    raise LayerViolation(
                        f"{guarded.guard.caller} mutated the header list {guarded.guard.callee} gave it"
                    )


# --- assertions users make about stacks -----------------------------------------------------------------


class CloseTracker:
    """Wraps an app and counts ``close()`` calls on the iterables it returns: ``tracker.closes``."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app, self.calls, self.closes = app, 0, 0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.calls += 1
        return ClosingIterable(self.app(environ, start_response), on_close=[self._count])

    def _count(self) -> None:
        self.closes += 1

    def assert_closed(self) -> None:
        """Every response the app returned was closed exactly once."""
        _require(self.closes == self.calls, f"{self.calls} responses, {self.closes} close() calls")


def assert_logged(record: logging.LogRecord, response: webtest.TestResponse) -> None:
    """Check that an access-log ``record`` shows what the client of ``response`` got.

    ``record`` comes from the ``access_log`` fixture or :func:`capture_logs` (an ``AccessLog`` record of
    any format); ``response`` is the client's. The record must carry the status code the client got and
    exactly as many body bytes as the client received (``len(response.body)``, still encoded: AccessLog
    counts the bytes handed to the server, after compression). Raises AssertionError saying what differs.
    """
    entry = record.msg
    logged_bytes = getattr(entry, "nbytes", None)
    logged_status = getattr(entry, "logged_status", None)
    if not isinstance(logged_bytes, int) or not callable(logged_status):
        raise AssertionError(f"not an AccessLog record: {record.getMessage()!r} from logger {record.name!r}")
    received = len(response.body)
    _require(
        logged_bytes == received,
        f"the access log recorded {logged_bytes} body bytes; the client received {received}",
    )
    status = logged_status()
    _require(
        status == str(response.status_int),
        f"the access log recorded status {status}; the client got {response.status_int}",
    )


@contextmanager
def capture_logs(name: str = "wsgistack", level: int = logging.DEBUG) -> Iterator[list[logging.LogRecord]]:
    """Collect the records logged under ``name`` (default: every ``wsgistack.*`` logger) while inside.

    The logger's level is lowered to ``level`` for the duration (records below a logger's level are
    never created), then restored; no other handler or logger is touched.
    """
    records: list[logging.LogRecord] = []
    handler = _ListHandler(records)
    logger = logging.getLogger(name)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


class _ListHandler(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
