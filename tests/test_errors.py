"""CatchErrors: the four phases for every body shape, negotiation, debug page, hooks, error_app, options."""

from __future__ import annotations

import html
import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.util import FileWrapper
from wsgiref.validate import validator

import pytest
import webtest
from hypothesis import given
from hypothesis import strategies as st

from wsgistack import CatchErrors, Layer, Pipeline
from wsgistack.core import ExcInfo, Headers, OptExcInfo, StartResponse, WSGIApplication, WSGIEnvironment
from wsgistack.errors import DEFAULT_MESSAGE, _loggable, _redacted_environ
from wsgistack.testing import make_environ as base_environ

TEXT = [("Content-Type", "text/plain; charset=utf-8")]
STATUS_500 = "500 Internal Server Error"


class Boom(Exception):
    """What the inner apps raise; each test raises its own instance and checks it by identity."""


def make_environ(
    path: str = "/boom", *, method: str = "GET", accept: str | None = None, **extra: Any
) -> WSGIEnvironment:
    if accept is not None:
        extra["HTTP_ACCEPT"] = accept
    return base_environ(path, method=method, **extra)


@dataclass
class Server:
    """A strict in-process server: headers go out with the first non-empty value or write(), and
    start_response re-raises exc_info once they have (PEP 3333), as wsgiref's handler does."""

    status: str | None = None
    headers: Headers = field(default_factory=list)
    calls: list[tuple[str, bool]] = field(default_factory=list)
    sent: bool = False
    body: bytes = b""
    values: list[bytes] = field(default_factory=list)
    error: BaseException | None = None
    result: Iterable[bytes] | None = None

    def start_response(
        self, status: str, headers: Headers, exc_info: OptExcInfo = None
    ) -> Callable[[bytes], None]:
        given = exc_info is not None and exc_info[1] is not None
        if exc_info is not None and exc_info[1] is not None:
            if self.sent:
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            raise AssertionError("start_response called twice without exc_info")
        self.status, self.headers = status, list(headers)
        self.calls.append((status, given))
        return self.write

    def write(self, data: bytes) -> None:
        assert self.status is not None
        if data:
            self.sent = True
            self.body += data

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def run(self, app: WSGIApplication, environ: WSGIEnvironment, iteration: str = "full") -> Server:
        try:
            self.result = app(environ, self.start_response)
            if iteration != "none":
                for value in self.result:
                    self.values.append(value)
                    self.write(value)
                    if iteration == "partial":
                        break
        except Exception as exc:
            self.error = exc
        finally:
            close = getattr(self.result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    self.error = self.error or exc
        return self


class Body:
    """The app's iterable: counts close() calls; ``fail`` says where it raises."""

    def __init__(self, chunks: Iterable[bytes], error: BaseException, *, fail_in_close: bool = False) -> None:
        self.chunks, self.error, self.fail_in_close = chunks, error, fail_in_close
        self.closes = 0

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closes += 1
        if self.fail_in_close:
            raise self.error


class ListBody(list[bytes]):
    """A list with close(): not a plain list, so it must be closed exactly once."""

    def __init__(self, chunks: Iterable[bytes], error: BaseException, *, fail_in_close: bool = False) -> None:
        super().__init__(chunks)
        self.error, self.fail_in_close, self.closes = error, fail_in_close, 0

    def close(self) -> None:
        self.closes += 1
        if self.fail_in_close:
            raise self.error


class FailingFile(io.BytesIO):
    def __init__(self, error: BaseException) -> None:
        super().__init__(b"file body")
        self.error = error

    def read(self, size: int | None = -1) -> bytes:
        raise self.error


@dataclass
class Inner:
    """One inner app of the phase table: ``shape`` is how it answers, ``fail`` where it raises.

    fail: "call" (before start_response), "started" (after start_response, in the app call),
    "first" (the first next()), "empty" (after an empty value), "chunk" (after a non-empty value),
    "written" (after a non-empty write(), in the app call), "close" (in close()).
    """

    shape: str
    fail: str
    length: bool
    error: Boom = field(default_factory=lambda: Boom("kaboom"))
    body: Body | ListBody | None = None

    @property
    def headers(self) -> Headers:
        return [*TEXT, ("Content-Length", "11")] if self.length else list(TEXT)

    def generate(self, start_response: StartResponse | None = None) -> Iterator[bytes]:
        if self.fail == "first":
            raise self.error
        if start_response is not None:  # lazy: PEP 3333 allows start_response inside the iterable
            start_response("200 OK", self.headers)
            if self.fail == "started":
                raise self.error
        if self.fail == "empty":
            yield b""
            raise self.error
        yield b"hello "
        if self.fail == "chunk":
            raise self.error
        yield b"world"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.fail == "call":
            raise self.error
        closing = self.fail == "close"
        if self.shape == "lazy":
            self.body = Body(self.generate(start_response), self.error, fail_in_close=closing)
            return self.body
        write = start_response("200 OK", self.headers)
        if self.fail == "started":
            raise self.error
        if self.shape == "list":
            self.body = ListBody([b"hello ", b"world"], self.error, fail_in_close=closing)
        elif self.shape == "generator":
            self.body = Body(self.generate(), self.error, fail_in_close=closing)
        elif self.shape == "write":
            write(b"" if self.fail == "empty" else b"hello ")
            if self.fail in ("empty", "written"):
                raise self.error
            rest = self._after_write() if self.fail == "chunk" else iter([b"world"])
            self.body = Body(rest, self.error, fail_in_close=closing)
        elif self.shape == "file_wrapper":
            return environ["wsgi.file_wrapper"](io.BytesIO(b"hello world"), 4)  # type: ignore[no-any-return]
        assert self.body is not None
        return self.body

    def _after_write(self) -> Iterator[bytes]:
        yield from ()
        raise self.error


# (shape, fail) -> what the client gets: "500" (replaced), "abort" (the original error reaches the
# server after bytes went out), "200" (close() failed: logged, response untouched).
PHASES = [
    ("list", "call", "500"),
    ("list", "started", "500"),
    ("list", "close", "200"),
    ("generator", "call", "500"),
    ("generator", "started", "500"),
    ("generator", "first", "500"),
    ("generator", "empty", "500"),
    ("generator", "chunk", "abort"),
    ("generator", "close", "200"),
    ("lazy", "first", "500"),
    ("lazy", "started", "500"),
    ("lazy", "empty", "500"),
    ("lazy", "chunk", "abort"),
    ("lazy", "close", "200"),
    ("write", "empty", "500"),
    ("write", "written", "abort"),
    ("write", "chunk", "abort"),
    ("write", "close", "200"),
    ("file_wrapper", "call", "500"),
    ("file_wrapper", "started", "500"),
]


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.collected = records

    def emit(self, record: logging.LogRecord) -> None:
        self.collected.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """What CatchErrors logged during the test."""
    collected: list[logging.LogRecord] = []
    handler = _Collect(collected)
    logger = logging.getLogger("wsgistack.errors")
    logger.addHandler(handler)
    try:
        yield collected
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("length", [False, True], ids=["no length", "content-length"])
@pytest.mark.parametrize(
    ("shape", "fail", "outcome"), [pytest.param(*case, id="-".join(case[:2])) for case in PHASES]
)
def test_phase_table(
    shape: str, fail: str, outcome: str, length: bool, records: list[logging.LogRecord]
) -> None:
    inner = Inner(shape, fail, length)
    server = Server().run(validator(CatchErrors(validator(inner))), make_environ())

    if outcome == "500":
        assert server.error is None
        assert server.status == STATUS_500
        if fail == "empty":  # the app's status went out with the empty value: replaced via exc_info
            assert server.calls == [("200 OK", False), (STATUS_500, True)]
        else:  # the server heard of nothing before the error: one clean call
            assert server.calls == [(STATUS_500, False)]
        assert server.body == (f"{STATUS_500}\n\n{DEFAULT_MESSAGE}\n".encode())
        assert server.header("Content-Length") == str(len(server.body))
        assert server.header("Content-Type") == "text/plain; charset=utf-8"
    elif outcome == "abort":
        assert server.error is inner.error
        assert server.sent
        assert server.status == "200 OK"
        assert server.body == b"hello "  # no error page appended to a response already on its way
    else:
        assert server.error is None
        assert (server.status, server.body) == ("200 OK", b"hello world")

    assert len(records) == 1
    assert records[0].exc_info is not None
    assert records[0].exc_info[1] is inner.error
    if inner.body is not None:
        assert inner.body.closes == 1


@pytest.mark.parametrize("iteration", ["full", "partial", "none"])
@pytest.mark.parametrize("shape", ["list", "generator", "lazy", "write"])
def test_close_exactly_once_without_errors(
    shape: str, iteration: str, records: list[logging.LogRecord]
) -> None:
    inner = Inner(shape, "", length=False)
    server = Server().run(validator(CatchErrors(validator(inner))), make_environ(), iteration)
    assert server.error is None
    assert inner.body is not None
    assert inner.body.closes == 1
    if iteration == "full":
        assert server.body == b"hello world"
    assert records == []


def test_an_iterator_without_close_that_fails_gets_the_500(records: list[logging.LogRecord]) -> None:
    def value(index: int) -> bytes:
        raise Boom("first value")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", list(TEXT))
        return map(value, range(1))  # no close(): nothing to call when it fails

    server = Server().run(validator(CatchErrors(app)), make_environ())
    assert server.error is None
    assert server.calls == [("500 Internal Server Error", False)]  # one start_response: nothing was sent
    assert len(records) == 1


def test_list_and_file_wrapper_keep_their_identity() -> None:
    body = [b"as is"]
    wrapped = FileWrapper(io.BytesIO(b"file"))

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", list(TEXT))
        return body if environ["PATH_INFO"] == "/list" else wrapped

    assert CatchErrors(app)(make_environ("/list"), Server().start_response) is body
    # The server may send a file_wrapper with sendfile (PEP 3333): its identity must survive.
    assert CatchErrors(app)(make_environ("/file"), Server().start_response) is wrapped


def test_file_wrapper_read_errors_are_the_servers() -> None:
    error = Boom("disk")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", list(TEXT))
        return FileWrapper(FailingFile(error))

    assert Server().run(CatchErrors(app), make_environ()).error is error


def test_block_boundaries_are_kept() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", list(TEXT))
        return iter([b"", b"a", b"", b"b"])

    assert Server().run(CatchErrors(app), make_environ()).values == [b"", b"a", b"", b"b"]


def test_a_value_before_start_response_is_an_error_answered_with_500(
    records: list[logging.LogRecord],
) -> None:
    closes: list[str] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"no status yet"  # PEP 3333: start_response() must come first

        def close(self) -> None:
            closes.append("closed")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return Body()

    server = Server().run(CatchErrors(app), make_environ())
    assert server.status == STATUS_500
    assert b"no status yet" not in server.body
    assert closes == ["closed"]
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert "before calling start_response()" in str(records[0].exc_info[1])


def test_error_response_drops_the_apps_headers() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [*TEXT, ("Set-Cookie", "session=1"), ("Content-Length", "999")])
        raise Boom

    server = Server().run(CatchErrors(app), make_environ())
    assert server.status == STATUS_500
    assert server.header("Set-Cookie") is None
    assert server.header("Content-Length") == str(len(server.body))
    assert server.header("Cache-Control") == "no-store"
    assert server.header("Vary") == "Accept"


def test_head_gets_headers_without_body() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise Boom

    server = Server().run(validator(CatchErrors(app)), make_environ(method="HEAD"))
    assert server.status == STATUS_500
    assert server.body == b""
    assert int(server.header("Content-Length") or 0) > 0


# --- BaseException that is not an Exception passes through ---------------------------------------


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_base_exceptions_at_call_pass_through(
    exc_type: type[BaseException], records: list[logging.LogRecord]
) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise exc_type

    with pytest.raises(exc_type):
        CatchErrors(app)(make_environ(), Server().start_response)
    assert records == []


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_while_iterating_pass_through_and_close_runs(exc_type: type[BaseException]) -> None:
    def generate() -> Iterator[bytes]:
        yield from ()
        raise exc_type

    body = Body(generate(), Boom())

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", list(TEXT))
        return body

    result: Any = CatchErrors(app)(make_environ(), Server().start_response)
    with pytest.raises(exc_type):
        list(result)
    result.close()
    assert body.closes == 1


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("read_to_end", [True, False], ids=["body ends", "server closes early"])
def test_base_exceptions_in_close_pass_through(exc_type: type[BaseException], read_to_end: bool) -> None:
    body = Body([b"x", b"y"], exc_type(), fail_in_close=True)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", list(TEXT))
        return body

    result: Any = CatchErrors(app)(make_environ(), Server().start_response)
    iterator = iter(result)
    assert next(iterator) == b"x"
    if read_to_end:
        assert list(iterator) == [b"y"]
        assert body.closes == 0  # the app's close() waits for the server's
    with pytest.raises(exc_type):
        result.close()
    result.close()  # a second close() is a no-op
    assert body.closes == 1


# --- negotiation, request id, what the production body never shows -------------------------------


def raising_app(error: BaseException | None = None) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise error if error is not None else Boom("kaboom")

    return app


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        pytest.param(None, "text/plain; charset=utf-8", id="absent"),
        pytest.param("*/*", "text/plain; charset=utf-8", id="anything"),
        pytest.param(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "text/html; charset=utf-8",
            id="browser",
        ),
        pytest.param("application/json", "application/json", id="json"),
        pytest.param("application/problem+json", "application/problem+json", id="problem"),
        pytest.param("application/json;q=0.5, application/problem+json", "application/problem+json", id="q"),
        pytest.param("text/plain;q=0, text/html", "text/html; charset=utf-8", id="plain refused"),
        pytest.param("image/png", "text/plain; charset=utf-8", id="no match"),
        pytest.param(";;=,", "text/plain; charset=utf-8", id="garbage"),
    ],
)
def test_body_is_negotiated(accept: str | None, content_type: str) -> None:
    server = Server().run(validator(CatchErrors(raising_app())), make_environ(accept=accept))
    assert server.status == STATUS_500
    assert server.header("Content-Type") == content_type
    text = server.body.decode()
    if "json" in content_type:
        assert json.loads(text) == {
            "type": "about:blank",
            "title": "Internal Server Error",
            "status": 500,
            "detail": DEFAULT_MESSAGE,
        }
    elif "html" in content_type:
        assert text.startswith("<!DOCTYPE html>")
        assert "<h1>Internal Server Error</h1>" in text
        assert server.header("Content-Security-Policy") is not None
    else:
        assert text == f"{STATUS_500}\n\n{DEFAULT_MESSAGE}\n"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param("text/plain", "Request ID: req-42", id="text"),
        pytest.param("text/html", "Request ID: <code>req-42</code>", id="html"),
        pytest.param("application/problem+json", '"request_id": "req-42"', id="json"),
    ],
)
def test_request_id_is_shown(accept: str, expected: str, records: list[logging.LogRecord]) -> None:
    environ = make_environ(accept=accept, **{"wsgistack.request_id": "req-42"})
    server = Server().run(CatchErrors(raising_app()), environ)
    assert expected in server.body.decode()
    assert "req-42" in records[0].getMessage()
    assert records[0].__dict__["wsgistack"]["request_id"] == "req-42"


def test_unprintable_request_id_is_not_echoed(records: list[logging.LogRecord]) -> None:
    environ = make_environ(accept="text/html", **{"wsgistack.request_id": "a\r\n<b>"})
    server = Server().run(CatchErrors(raising_app()), environ)
    assert b"Request ID" not in server.body
    assert "\n" not in records[0].getMessage()
    assert "a\\r\\n<b>" in records[0].getMessage()


@pytest.mark.parametrize("accept", ["text/plain", "text/html", "application/problem+json"])
def test_production_body_never_shows_the_error_or_the_request(accept: str) -> None:
    environ = make_environ(
        "/path-MARKER1",
        accept=accept,
        QUERY_STRING="q=MARKER2",
        HTTP_COOKIE="sid=MARKER3",
        HTTP_X_NOTE="MARKER5",
    )
    server = Server().run(CatchErrors(raising_app(Boom("MARKER4"))), environ)
    assert server.status == STATUS_500
    assert b"MARKER" not in server.body
    assert b"Traceback" not in server.body
    assert b"Boom" not in server.body


def test_message_option_is_the_detail() -> None:
    environ = make_environ(accept="application/json")
    server = Server().run(CatchErrors(raising_app(), message="Try again later."), environ)
    assert json.loads(server.body)["detail"] == "Try again later."


def test_paste_throw_errors_is_not_honoured() -> None:
    environ = make_environ()
    environ["paste.throw_errors"] = True
    server = Server().run(CatchErrors(raising_app()), environ)
    assert (server.error, server.status) == (None, STATUS_500)


def test_webtest_sees_the_500() -> None:
    # WebTest sets paste.throw_errors on every request; the error must still be caught.
    response = webtest.TestApp(CatchErrors(raising_app())).get("/", status=500)
    assert response.content_type == "text/plain"
    assert response.headers["Content-Length"] == str(len(response.body))


# --- logging ---------------------------------------------------------------------------------------


def test_log_record_has_the_request_context(records: list[logging.LogRecord]) -> None:
    error = Boom("kaboom")
    Server().run(
        CatchErrors(raising_app(error)), make_environ("/orders/7", method="POST", SCRIPT_NAME="/api")
    )
    (record,) = records
    assert record.name == "wsgistack.errors"
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[1] is error
    assert "POST /api/orders/7" in record.getMessage()
    assert "before the response was sent" in record.getMessage()
    assert record.__dict__["wsgistack"] == {"method": "POST", "path": "/api/orders/7", "request_id": None}


@pytest.mark.parametrize(
    "path", ["/a\nERROR:forged record", "/a\r\nx", "/a\x85b", "/a\x1b[31mred", "/\u2028x"], ids=repr
)
def test_log_injection_cannot_forge_records(path: str, records: list[logging.LogRecord]) -> None:
    Server().run(CatchErrors(raising_app()), make_environ(path))
    message = records[0].getMessage()
    assert len(message.splitlines()) == 1
    assert message.isprintable()


@given(st.text())
def test_loggable_is_one_printable_line(text: str) -> None:
    line = _loggable(text)
    assert line.isprintable()
    assert len(line.splitlines()) <= 1


# --- debug page -------------------------------------------------------------------------------------

SECRET_ENVIRON = {
    "HTTP_COOKIE": "session=SECRET1",
    "HTTP_AUTHORIZATION": "Bearer SECRET2",
    "HTTP_X_API_KEY": "SECRET3",
    "QUERY_STRING": "q=visible&access_token=SECRET4&Password=SECRET5",
    "REQUEST_URI": "/p?api%5Fkey=SECRET6&page=2",
    "myapp.db_password": "SECRET7",
    "HTTP_PROXY_AUTHORIZATION": "Basic SECRET8",
    "HTTP_X_CSRFTOKEN": "SECRET9",
}


def debug_page(
    accept: str, error: BaseException | None = None, extra: dict[str, Any] | None = None
) -> Server:
    environ = make_environ("/debug", accept=accept, **{**SECRET_ENVIRON, **(extra or {})})
    return Server().run(validator(CatchErrors(raising_app(error), debug=True)), environ)


@pytest.mark.parametrize("accept", ["text/plain", "text/html", "application/problem+json"])
def test_debug_page_redacts_secrets(accept: str) -> None:
    server = debug_page(accept)
    assert server.status == STATUS_500
    assert b"SECRET" not in server.body
    assert b"[redacted]" in server.body
    assert b"q=visible" in server.body
    assert b"page=2" in server.body
    assert b"kaboom" in server.body  # the exception itself is shown in debug mode


def test_debug_html_escapes_everything() -> None:
    error = Boom("<script>alert('message')</script>")
    hostile = {"PATH_INFO": "/<img src=x onerror=alert(1)>", "HTTP_X_NOTE": '"><script>x'}
    server = debug_page("text/html", error, hostile)
    page = server.body.decode()
    assert "<script" not in page.lower()
    assert "<img" not in page
    assert html.escape("<script>alert('message')</script>") in page
    assert html.escape("/<img src=x onerror=alert(1)>") in page
    policy = server.header("Content-Security-Policy") or ""
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # scripts fall under default-src 'none'
    assert server.header("Cache-Control") == "no-store"


def test_debug_html_shows_source_context_and_the_chain() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        lookup: dict[str, str] = {}
        try:
            lookup["missing"]
        except KeyError as exc:
            raise Boom("wrapped") from exc
        return []  # pragma: no cover

    environ = make_environ(accept="text/html")
    page = Server().run(CatchErrors(app, debug=True), environ).body.decode()
    assert html.escape('raise Boom("wrapped") from exc') in page
    assert html.escape('lookup["missing"]') in page
    assert page.index("KeyError") < page.index("Boom: wrapped")  # oldest first, as Python prints
    assert "Debug mode is on" in page


def test_debug_json_has_traceback_and_environ() -> None:
    problem = json.loads(debug_page("application/problem+json").body)
    assert problem["status"] == 500
    assert problem["exception"].endswith("Boom: kaboom")
    assert "Traceback (most recent call last)" in problem["traceback"]
    assert problem["environ"]["HTTP_COOKIE"] == "[redacted]"
    assert problem["environ"]["PATH_INFO"] == "/debug"


def test_debug_page_survives_hostile_environ_values() -> None:
    class Unrepresentable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    # Not under wsgiref.validate: it formats repr(environ) eagerly and would fail first.
    hostile: dict[str, Any] = {"app.thing": Unrepresentable(), "app.text": "\ud800 lone surrogate"}
    environ = make_environ("/debug", accept="text/html", **hostile)
    server = Server().run(CatchErrors(raising_app(), debug=True), environ)
    assert server.status == STATUS_500
    assert b"Unrepresentable object: repr() failed" in server.body
    assert b"\\ud800 lone surrogate" in server.body


def test_debug_renderer_failure_falls_back_to_the_plain_body(
    monkeypatch: pytest.MonkeyPatch, records: list[logging.LogRecord]
) -> None:
    def broken(*args: object) -> bytes:
        raise RuntimeError("renderer bug")

    monkeypatch.setattr("wsgistack.errors._render_debug", broken)
    server = debug_page("text/plain")
    assert server.status == STATUS_500
    assert server.body == f"{STATUS_500}\n\n{DEFAULT_MESSAGE}\n".encode()
    assert [str(r.exc_info[1]) if r.exc_info else None for r in records] == ["kaboom", "renderer bug"]


def test_redacted_environ_table() -> None:
    shown = _redacted_environ(make_environ(**SECRET_ENVIRON))
    assert shown["QUERY_STRING"] == "q=visible&access_token=[redacted]&Password=[redacted]"
    assert shown["REQUEST_URI"] == "/p?api%5Fkey=[redacted]&page=2"
    assert shown["HTTP_COOKIE"] == shown["myapp.db_password"] == "[redacted]"
    assert shown["PATH_INFO"] == "/boom"


@given(st.text(min_size=1), st.text())
def test_secret_looking_keys_never_show_their_values(prefix: str, value: str) -> None:
    shown = _redacted_environ({f"{prefix}_TOKEN": value})
    assert shown == {f"{prefix}_TOKEN": "[redacted]"}


# --- hooks and error_app ---------------------------------------------------------------------------


def test_on_error_hooks_get_environ_and_exc_info(records: list[logging.LogRecord]) -> None:
    seen: list[tuple[WSGIEnvironment, ExcInfo]] = []
    error = Boom("hooked")
    environ = make_environ()

    def hook(environ: WSGIEnvironment, exc_info: ExcInfo) -> None:
        seen.append((environ, exc_info))

    server = Server().run(CatchErrors(raising_app(error), on_error=[hook, hook]), environ)
    assert server.status == STATUS_500
    assert len(seen) == 2
    assert all(got is environ and info[1] is error for got, info in seen)
    assert len(records) == 1


def test_failing_hook_does_not_lose_the_error(records: list[logging.LogRecord]) -> None:
    calls: list[str] = []

    def broken(environ: WSGIEnvironment, exc_info: ExcInfo) -> None:
        raise RuntimeError("hook bug")

    def working(environ: WSGIEnvironment, exc_info: ExcInfo) -> None:
        calls.append(str(exc_info[1]))

    server = Server().run(CatchErrors(raising_app(), on_error=[broken, working]), make_environ())
    assert server.status == STATUS_500
    assert calls == ["kaboom"]
    assert [str(r.exc_info[1]) if r.exc_info else None for r in records] == ["kaboom", "hook bug"]
    assert "on_error hook" in records[1].getMessage()


def test_hooks_see_close_errors() -> None:
    seen: list[BaseException] = []
    inner = Inner("generator", "close", length=False)
    server = Server().run(
        CatchErrors(inner, on_error=lambda environ, info: seen.append(info[1])), make_environ()
    )
    assert server.status == "200 OK"
    assert seen == [inner.error]


def page_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    exc_info = environ["wsgistack.exc_info"]
    start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "5")])
    return [b"custom page: ", str(exc_info[1]).encode()]


def test_error_app_renders_the_page(records: list[logging.LogRecord]) -> None:
    inner = Inner("generator", "first", length=True)
    server = Server().run(validator(CatchErrors(validator(inner), error_app=page_app)), make_environ())
    assert server.status == "503 Service Unavailable"
    assert server.calls == [("503 Service Unavailable", False)]
    assert server.header("Retry-After") == "5"
    assert server.body == b"custom page: kaboom"
    assert len(records) == 1


class PageBody:
    def __init__(self, chunks: Iterable[Any], *, fail: bool = False) -> None:
        self.chunks, self.fail, self.closes = chunks, fail, 0

    def __iter__(self) -> Iterator[Any]:
        yield from self.chunks
        if self.fail:
            raise RuntimeError("error_app bug")

    def close(self) -> None:
        self.closes += 1


def broken_error_app(kind: str) -> tuple[WSGIApplication, list[PageBody]]:
    bodies: list[PageBody] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if kind == "raises":
            raise RuntimeError("error_app bug")
        if kind == "bad status":
            start_response("oops", list(TEXT))
        elif kind == "bad header":
            start_response("500 Internal Server Error", [*TEXT, ("X-Note", "a\r\nSet-Cookie: x=1")])
        elif kind == "hop-by-hop":
            start_response("500 Internal Server Error", [*TEXT, ("Connection", "close")])
        elif kind != "silent":
            start_response("500 Internal Server Error", list(TEXT))
        body = PageBody(["text, not bytes"] if kind == "str" else [b"partial"], fail=kind == "iteration")
        bodies.append(body)
        return body

    return app, bodies


@pytest.mark.parametrize(
    "kind", ["raises", "iteration", "silent", "str", "bad status", "bad header", "hop-by-hop"]
)
def test_failing_error_app_falls_back_to_the_built_in_page(
    kind: str, records: list[logging.LogRecord]
) -> None:
    error_app, bodies = broken_error_app(kind)
    server = Server().run(validator(CatchErrors(raising_app(), error_app=error_app)), make_environ())
    assert server.status == STATUS_500
    assert server.body == f"{STATUS_500}\n\n{DEFAULT_MESSAGE}\n".encode()
    assert len(records) == 2
    assert records[0].exc_info is not None
    assert str(records[0].exc_info[1]) == "kaboom"
    assert "error_app" in records[1].getMessage()
    assert all(body.closes == 1 for body in bodies)


# --- propagate --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "fail"), [("generator", "call"), ("generator", "first"), ("generator", "close")]
)
def test_propagate_lets_the_error_through(shape: str, fail: str, records: list[logging.LogRecord]) -> None:
    inner = Inner(shape, fail, length=False)
    server = Server().run(CatchErrors(inner, propagate=True), make_environ())
    assert server.error is inner.error
    assert server.status != STATUS_500
    assert len(records) == 1
    assert "propagate=True" in records[0].getMessage()
    if inner.body is not None:
        assert inner.body.closes == 1


# --- options ------------------------------------------------------------------------------------------


def ok_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", list(TEXT))
    return [b"ok"]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"debug": "true"}, TypeError, "debug must be a bool", id="debug"),
        pytest.param({"propagate": 1}, TypeError, "propagate must be a bool", id="propagate"),
        pytest.param({"on_error": 3}, TypeError, "on_error must be a callable", id="on_error"),
        pytest.param(
            {"on_error": [print, "x"]}, TypeError, r"on_error\[1\] is not callable", id="on_error item"
        ),
        pytest.param({"error_app": "app"}, TypeError, "error_app must be a WSGI application", id="error_app"),
        pytest.param({"message": b"bytes"}, TypeError, "message must be a str", id="message"),
    ],
)
def test_options_are_validated(options: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        CatchErrors(ok_app, **options)


def test_app_must_be_callable() -> None:
    with pytest.raises(TypeError, match="app must be a WSGI application"):
        CatchErrors("app")  # type: ignore[arg-type]


def test_registered_as_errors_layer() -> None:
    app = Pipeline(Layer.named("errors", debug=True, on_error=())).wrap(raising_app())
    assert isinstance(app, CatchErrors)
    assert Server().run(app, make_environ()).status == STATUS_500
