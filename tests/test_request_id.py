"""RequestID: one id per request in the environ, the response, the context variable and log records."""

from __future__ import annotations

import contextvars
import gc
import io
import logging
import logging.config
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import FileWrapper

import pytest

from tests.bodies import close_body
from wsgistack import CatchErrors, Layer, Pipeline, RequestID, RequestIDFilter, request_id_var
from wsgistack.core import (
    Headers,
    OptExcInfo,
    StartResponse,
    WSGIApplication,
    WSGIEnvironment,
)
from wsgistack.request_id import DEFAULT_PATTERN, ENVIRON_KEY, SequentialIds
from wsgistack.testing import capture_logs, make_environ

TEXT = [("Content-Type", "text/plain; charset=utf-8")]
GENERATED = re.compile(r"[0-9a-f]{24}")


def environ(**extra: Any) -> WSGIEnvironment:
    return make_environ(**extra)


class Seen:
    """An app that records what it saw: the environ's ids and the context variable, at each step."""

    def __init__(self, *chunks: bytes, headers: Headers = TEXT) -> None:
        self.chunks, self.headers = chunks, headers
        self.environ: WSGIEnvironment = {}
        self.during_call: str | None = None
        self.during_body: list[str | None] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.environ = environ
        self.during_call = request_id_var.get()
        start_response("200 OK", self.headers)
        return self.body()

    def body(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.during_body.append(request_id_var.get())
            yield chunk


class Server:
    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: Headers = []
        self.body = b""

    def start_response(
        self, status: str, headers: Headers, exc_info: OptExcInfo = None
    ) -> Callable[[bytes], None]:
        self.status, self.headers = status, headers
        return self.write

    def write(self, data: bytes) -> None:
        self.body += data

    def run(self, app: WSGIApplication, env: WSGIEnvironment) -> None:
        result = app(env, self.start_response)
        try:
            for chunk in result:
                self.body += chunk
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def test_generated_id_everywhere_while_the_request_runs() -> None:
    app, server = Seen(b"a", b"b"), Server()
    server.run(RequestID(app), environ())
    (request_id,) = server.header("X-Request-ID")
    assert GENERATED.fullmatch(request_id)
    assert app.environ[ENVIRON_KEY] == app.environ["HTTP_X_REQUEST_ID"] == request_id
    assert app.during_call == request_id
    assert app.during_body == [request_id, request_id]
    assert request_id_var.get() is None  # reset once the response was closed


def test_id_stays_set_until_close_not_just_until_the_call_returns() -> None:
    result = RequestID(Seen(b"x"))(environ(), Server().start_response)
    request_id = request_id_var.get()
    assert request_id is not None
    assert list(result) == [b"x"]
    assert request_id_var.get() == request_id
    close_body(result)
    assert request_id_var.get() is None


def test_reset_when_closed_without_iterating_and_when_the_app_raises() -> None:
    result = RequestID(Seen(b"x"))(environ(), Server().start_response)
    close_body(result)
    assert request_id_var.get() is None

    error = LookupError("gone")

    def failing(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise error

    with pytest.raises(LookupError) as raised:
        RequestID(failing)(environ(), Server().start_response)
    assert raised.value is error
    assert request_id_var.get() is None


def test_closing_in_another_context_closes_the_body_and_leaves_that_context_alone() -> None:
    closes: list[str] = []

    class Body(list[bytes]):
        def close(self) -> None:
            closes.append("closed")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body([b"x"])

    called_in = contextvars.copy_context()
    result = called_in.run(RequestID(app), environ(), Server().start_response)
    assert called_in[request_id_var] is not None
    close_body(result)  # here, where the id was never set: nothing to undo, nothing raised
    assert closes == ["closed"]
    assert request_id_var.get() is None


def test_ids_are_unique() -> None:
    generate = SequentialIds()
    ids = {generate() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(re.fullmatch(DEFAULT_PATTERN, request_id) for request_id in ids)
    assert SequentialIds()()[:16] != generate()[:16]  # another source, another random prefix


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(SequentialIds, id="the source"),
        # What RequestID keeps: the fast callable alone, the source itself no longer referenced.
        pytest.param(lambda: SequentialIds().next_id, id="its next_id only"),
    ],
)
def test_a_forked_worker_draws_a_new_prefix(source: Callable[[], Callable[[], str]]) -> None:
    generate = source()
    gc.collect()
    before = generate()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave without running pytest's teardown
        os.write(writer, generate().encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    after = generate()
    assert GENERATED.fullmatch(child)
    assert child[:16] != before[:16]
    assert after[:16] == before[:16]
    assert int(after[16:], 16) == int(before[16:], 16) + 1


@pytest.mark.parametrize(
    "incoming",
    [
        pytest.param("abc-123", id="simple"),
        pytest.param("a" * 128, id="128 characters"),
        pytest.param("0f8fad5b-d9cb-469f-a165-70867728950e", id="uuid"),
        pytest.param("trace:1-5759e988.bd862e3f_x", id="colon, dot and underscore"),
    ],
)
def test_valid_incoming_id_is_kept_and_echoed(incoming: str) -> None:
    app, server = Seen(b"x"), Server()
    server.run(RequestID(app), environ(HTTP_X_REQUEST_ID=incoming))
    assert server.header("X-Request-ID") == [incoming]
    assert app.environ[ENVIRON_KEY] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 129, id="too long"),
        pytest.param("abc\r\nSet-Cookie: x=1", id="CRLF injection"),
        pytest.param("abc def", id="space"),
        pytest.param("<script>", id="markup"),
        pytest.param("caf\xc3\xa9", id="non-ASCII bytes"),
        pytest.param("abc\x00", id="NUL"),
    ],
)
def test_invalid_incoming_id_is_replaced_never_echoed(incoming: str) -> None:
    app, server = Seen(b"x"), Server()
    with capture_logs("wsgistack.request_id") as records:
        server.run(RequestID(app), environ(HTTP_X_REQUEST_ID=incoming))
    (sent,) = server.header("X-Request-ID")
    assert GENERATED.fullmatch(sent)
    assert app.environ["HTTP_X_REQUEST_ID"] == app.environ[ENVIRON_KEY] == sent
    assert len(records) == 1
    message = records[0].getMessage()
    assert "\n" not in message  # repr() keeps the log line whole
    assert "\r" not in message


def test_incoming_ids_are_ignored_when_not_trusted() -> None:
    app, server = Seen(b"x"), Server()
    server.run(RequestID(app, trust_incoming=False), environ(HTTP_X_REQUEST_ID="client-chosen"))
    (sent,) = server.header("X-Request-ID")
    assert GENERATED.fullmatch(sent)
    assert app.environ["HTTP_X_REQUEST_ID"] == sent


@pytest.mark.parametrize(
    ("validator", "incoming", "kept"),
    [
        pytest.param(r"[0-9a-f]{32}", "0" * 32, True, id="regex accepts"),
        pytest.param(r"[0-9a-f]{32}", "abc", False, id="regex refuses"),
        pytest.param(re.compile(r"req-\d+"), "req-42", True, id="compiled regex"),
        pytest.param(lambda value: value.startswith("ok"), "ok-1", True, id="callable accepts"),
        pytest.param(
            lambda value: True, "ok\r\nX: y", False, id="a header value stays safe whatever it says"
        ),
        pytest.param(lambda value: True, " padded ", False, id="no surrounding spaces"),
    ],
)
def test_custom_validator(validator: Any, incoming: str, kept: bool) -> None:
    server = Server()
    server.run(RequestID(Seen(b"x"), validator=validator), environ(HTTP_X_REQUEST_ID=incoming))
    assert (server.header("X-Request-ID") == [incoming]) is kept


def test_custom_header_and_generator() -> None:
    ids = iter(["first", "second"])
    app, server = Seen(b"x"), Server()
    layer = RequestID(app, header="X-Correlation-ID", generator=lambda: next(ids))
    server.run(layer, environ(HTTP_X_REQUEST_ID="ignored"))
    assert server.header("X-Correlation-ID") == ["first"]
    assert server.header("X-Request-ID") == []
    assert app.environ["HTTP_X_CORRELATION_ID"] == "first"
    assert app.environ["HTTP_X_REQUEST_ID"] == "ignored"


@pytest.mark.parametrize(
    ("generated", "error"),
    [
        pytest.param(42, TypeError, id="not a string"),
        pytest.param("a\r\nb", ValueError, id="not a header value"),
    ],
)
def test_a_bad_generator_fails_loudly(generated: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="generator returned"):
        RequestID(Seen(b"x"), generator=lambda: generated)(environ(), Server().start_response)


def test_response_header_can_be_left_out() -> None:
    app, server = Seen(b"x"), Server()
    server.run(RequestID(app, response_header=False), environ())
    assert server.header("X-Request-ID") == []
    assert GENERATED.fullmatch(app.environ[ENVIRON_KEY])


def test_the_apps_own_header_is_replaced_not_duplicated() -> None:
    server = Server()
    app = Seen(b"x", headers=[*TEXT, ("x-request-id", "from-app")])
    server.run(RequestID(app), environ(HTTP_X_REQUEST_ID="ours"))
    assert server.header("X-Request-ID") == ["ours"]
    assert app.headers == [*TEXT, ("x-request-id", "from-app")]  # the app's list is never changed


def test_error_responses_carry_the_id_too() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        try:
            raise KeyError("missing")
        except KeyError:
            start_response("404 Not Found", TEXT, sys.exc_info())
        return [b"no"]

    server = Server()
    server.run(RequestID(app), environ(HTTP_X_REQUEST_ID="r-1"))
    assert server.status == "404 Not Found"
    assert server.header("X-Request-ID") == ["r-1"]

    def failing(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise ValueError("boom")

    server = Server()
    with capture_logs("wsgistack.errors"):
        server.run(
            Pipeline(Layer(RequestID), Layer(CatchErrors)).wrap(failing), environ(HTTP_X_REQUEST_ID="r-2")
        )
    assert server.status is not None
    assert server.status.startswith("500")
    assert server.header("X-Request-ID") == ["r-2"]


def test_file_wrapper_bodies_keep_their_identity() -> None:
    body = FileWrapper(io.BytesIO(b"file"))

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return body

    result = RequestID(app)(environ(**{"wsgi.file_wrapper": FileWrapper}), Server().start_response)
    assert result is body  # the server can still use sendfile
    assert request_id_var.get() is None


# --- the logging filter -----------------------------------------------------------------------------------


def test_filter_adds_the_id_to_records_from_the_app() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIDFilter())
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    logger = logging.getLogger("tests.request_id.app")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        logger.info("in the call")
        start_response("200 OK", TEXT)
        return body()

    def body() -> Iterator[bytes]:
        logger.info("in the body")
        yield b"x"

    try:
        logger.info("before")
        Server().run(RequestID(app), environ(HTTP_X_REQUEST_ID="r-7"))
        logger.info("after")
        logger.info("explicit", extra={"request_id": "given"})
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = True, logging.NOTSET
    assert stream.getvalue().splitlines() == [
        "- before",
        "r-7 in the call",
        "r-7 in the body",
        "- after",
        "given explicit",
    ]


def test_filter_from_dict_config_with_a_default() -> None:
    stream = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"request_id": {"()": "wsgistack.RequestIDFilter", "default": "none"}},
            "handlers": {
                "memory": {
                    "class": "logging.StreamHandler",
                    "stream": stream,
                    "filters": ["request_id"],
                    "formatter": "plain",
                }
            },
            "formatters": {"plain": {"format": "[%(request_id)s] %(message)s"}},
            "loggers": {
                "tests.request_id.config": {"handlers": ["memory"], "level": "INFO", "propagate": False}
            },
        }
    )
    logger = logging.getLogger("tests.request_id.config")
    try:
        logger.info("outside")
        token = request_id_var.set("r-8")
        logger.info("inside")
        request_id_var.reset(token)
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate, logger.level = True, logging.NOTSET
    assert stream.getvalue().splitlines() == ["[none] outside", "[r-8] inside"]


# --- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param({"header": 1}, TypeError, "header", id="header type"),
        pytest.param(
            {"header": "X Request"}, ValueError, "header: header name 'X Request'", id="not a token"
        ),
        pytest.param({"header": "Connection"}, ValueError, "hop-by-hop", id="hop-by-hop"),
        pytest.param({"trust_incoming": "yes"}, TypeError, "trust_incoming", id="trust_incoming type"),
        pytest.param({"response_header": 1}, TypeError, "response_header", id="response_header type"),
        pytest.param({"validator": "("}, ValueError, "validator: invalid regular expression", id="bad regex"),
        pytest.param({"validator": 3}, TypeError, "validator", id="validator type"),
        pytest.param({"generator": "uuid4"}, TypeError, "generator", id="generator not callable"),
    ],
)
def test_options_are_checked_when_built(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        RequestID(Seen(), **options)


def test_filter_default_must_be_text() -> None:
    with pytest.raises(TypeError, match="default"):
        RequestIDFilter(default=None)  # type: ignore[arg-type]


def test_layer_by_registry_name() -> None:
    server = Server()
    server.run(Pipeline(Layer.named("request_id", header="X-Trace-ID")).wrap(Seen(b"x")), environ())
    assert len(server.header("X-Trace-ID")) == 1


def test_ids_change_after_a_fork_that_skips_pythons_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside uWSGI (its module present), a changed process id alone draws a new prefix."""
    import os
    import sys
    import types

    from wsgistack.request_id import SequentialIds

    pid = [1000]
    monkeypatch.setitem(sys.modules, "uwsgi", types.ModuleType("uwsgi"))
    monkeypatch.setattr(os, "getpid", lambda: pid[0])
    ids = SequentialIds()
    first, second = ids(), ids()
    assert first[:16] == second[:16]
    assert (first[16:], second[16:]) == ("00000001", "00000002")
    pid[0] = 1001  # a worker forked from C: no at-fork hook ran
    third = ids()
    assert third[:16] != first[:16]
    assert third[16:] == "00000001"


def test_outside_uwsgi_the_process_id_is_not_consulted(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import sys

    from wsgistack.request_id import SequentialIds

    monkeypatch.delitem(sys.modules, "uwsgi", raising=False)
    calls: list[int] = []

    def getpid() -> int:
        calls.append(1)
        return 1

    monkeypatch.setattr(os, "getpid", getpid)
    ids = SequentialIds()
    ids()
    ids()
    assert calls == []  # no system call per id
