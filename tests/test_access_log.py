"""AccessLog: one record per request, after the body, with the final status and the bytes really sent."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bodies import close_body
from wsgistack import AccessLog, CatchErrors, Layer, Pipeline, RequestID, RequestIDFilter
from wsgistack import access_log as access_log_module
from wsgistack.core import (
    Headers,
    OptExcInfo,
    StartResponse,
    WSGIApplication,
    WSGIEnvironment,
)
from wsgistack.testing import (
    CASES,
    SHAPES,
    ContractServer,
    Probe,
    capture_logs,
    contract_environ,
    make_environ,
)

START = 1_700_000_000.25  # the fake clock's wall time when a test starts
CLF_TIME = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(int(START)))
HEAD = f'192.0.2.7 - - [{CLF_TIME}] "GET /items/1?page=2 HTTP/1.1"'
TEXT = [("Content-Type", "text/plain; charset=utf-8")]


class Clock:
    """Stands in for the ``time`` module inside access_log: time moves only when a test says so."""

    def __init__(self) -> None:
        self.ns = self.base = 10**12
        self.localtime = time.localtime
        self.strftime = time.strftime

    def time(self) -> float:
        return START + (self.ns - self.base) / 1e9

    def perf_counter_ns(self) -> int:
        return self.ns

    def advance(self, microseconds: int) -> None:
        self.ns += microseconds * 1000


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(access_log_module, "time", fake)
    return fake


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    with capture_logs("wsgistack.access", level=logging.INFO) as captured:
        yield captured


def environ(path: str = "/items/1", *, query: str = "", method: str = "GET", **extra: Any) -> WSGIEnvironment:
    return make_environ(
        path, query=query, method=method, REMOTE_ADDR="192.0.2.7", HTTP_HOST="example.org", **extra
    )


class Server:
    """A minimal server: calls the app, takes ``take`` values (all by default), then closes."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.body = b""
        self.error: BaseException | None = None

    def start_response(
        self, status: str, headers: Headers, exc_info: OptExcInfo = None
    ) -> Callable[[bytes], None]:
        self.status = status
        return self.write

    def write(self, data: bytes) -> None:
        self.body += data

    def run(
        self, app: WSGIApplication, env: WSGIEnvironment, *, take: int | None = None
    ) -> Iterable[bytes] | None:
        result = None
        try:
            result = app(env, self.start_response)
            chunks = iter(result)
            while take is None or take > 0:  # stop without pulling another value, as a server would
                chunk = next(chunks, None)
                if chunk is None:
                    break
                self.body += chunk
                take = None if take is None else take - 1
        except Exception as exc:
            self.error = exc
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return result


def text_app(*chunks: bytes, status: str = "200 OK", headers: Headers = TEXT) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response(status, headers)
        return list(chunks)

    return app


def generator_app(*chunks: bytes, clock: Clock | None = None, step_us: int = 0) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return body()

    def body() -> Iterator[bytes]:
        for chunk in chunks:
            if clock is not None:
                clock.advance(step_us)
            yield chunk

    return app


def failing_body(fail: bool = True) -> Iterator[bytes]:
    if fail:
        raise ValueError("boom")
    yield b"never"


def line(record: logging.LogRecord) -> str:
    return record.getMessage()


# --- formats and fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("format", "extra", "expected"),
    [
        pytest.param(
            "combined",
            {"HTTP_REFERER": "http://example.org/", "HTTP_USER_AGENT": "curl/8.5"},
            f'{HEAD} 200 11 "http://example.org/" "curl/8.5"',
            id="combined",
        ),
        pytest.param("combined", {}, f'{HEAD} 200 11 "-" "-"', id="combined, no referer or user agent"),
        pytest.param("common", {"REMOTE_USER": "ann"}, f"{HEAD.replace(' - - ', ' - ann ')} 200 11",
                     id="common with a user"),
        pytest.param("%(m)s %(U)s %(q)s %(H)s", {}, "GET /items/1 page=2 HTTP/1.1", id="request parts"),
        pytest.param("%(s)s %(b)s %(B)s", {}, "200 11 11", id="status and bytes"),
        pytest.param("%(T)s %(M)s %(D)s %(L)s", {}, "2 2500 2500000 2.500000", id="durations"),
        pytest.param("%(p)s", {}, None, id="pid"),
        pytest.param("%(t)s|%(time)s", {}, f"[{CLF_TIME}]|{CLF_TIME}", id="times"),
        pytest.param(
            "%({X-Trace}i)s %({content-type}o)s %({wsgi.url_scheme}e)s %({x-missing}i)s %({x-none}o)s",
            {"HTTP_X_TRACE": "t-1"},
            "t-1 text/plain; charset=utf-8 http - -",
            id="headers and environ",
        ),
        pytest.param("%({Content-Type}i)s %({content-length}i)s",
                     {"CONTENT_TYPE": "text/csv", "CONTENT_LENGTH": "0"},
                     "text/csv 0", id="Content-Type and Content-Length are not HTTP_ keys"),
        pytest.param("%(request_id)s %(aborted)s", {"wsgistack.request_id": "r-1"}, "r-1 -", id="request id"),
        pytest.param("100%% %(s)s", {}, "100% 200", id="percent sign"),
        pytest.param(
            '%(REMOTE_ADDR)s - %(REMOTE_USER)s [%(time)s] "%(REQUEST_METHOD)s %(REQUEST_URI)s '
            '%(HTTP_VERSION)s" %(status)s %(bytes)s "%(HTTP_REFERER)s" "%(HTTP_USER_AGENT)s"',
            {"HTTP_USER_AGENT": "curl/8.5"},
            f'{HEAD} 200 11 "-" "curl/8.5"',
            id="Paste TransLogger's format",
        ),
    ],
)  # fmt: skip
def test_formats(
    clock: Clock, records: list[logging.LogRecord], format: str, extra: dict[str, str], expected: str | None
) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        clock.advance(2_500_000)
        return [b"hello ", b"world"]

    Server().run(AccessLog(app, format=format), environ(query="page=2", **extra))
    assert len(records) == 1
    if expected is None:
        assert re.fullmatch(r"<\d+>", line(records[0]))
    else:
        assert line(records[0]) == expected


def test_clf_time_uses_english_months_and_the_utc_offset() -> None:
    tm = time.struct_time((2024, 3, 5, 7, 8, 9, 1, 65, 0, "XYZ", -(5 * 3600 + 30 * 60)))
    assert access_log_module._clf_time(tm) == "05/Mar/2024:07:08:09 -0530"
    east = time.struct_time((2024, 12, 31, 23, 59, 59, 1, 366, 0, "XYZ", 3600 + 45 * 60))
    assert access_log_module._clf_time(east) == "31/Dec/2024:23:59:59 +0145"


def test_time_format_option(clock: Clock, records: list[logging.LogRecord]) -> None:
    Server().run(AccessLog(text_app(b"x"), format="%(t)s %(time)s", time_format="%Y-%m-%d"), environ())
    day = time.strftime("%Y-%m-%d", time.localtime(START))
    assert line(records[0]) == f"[{day}] {day}"


def test_remote_addr_is_not_taken_from_proxy_headers(records: list[logging.LogRecord]) -> None:
    env = environ(HTTP_X_FORWARDED_FOR="203.0.113.9")
    Server().run(AccessLog(text_app(b"x"), format="%(h)s"), env)
    assert line(records[0]) == "192.0.2.7"


def test_user_set_by_an_inner_layer_is_logged(records: list[logging.LogRecord]) -> None:
    def login(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["REMOTE_USER"] = "ann"
        return text_app(b"x")(environ, start_response)

    Server().run(AccessLog(login, format="%(u)s"), environ())
    assert line(records[0]) == "ann"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param({"RAW_URI": "/a%2Fb?x=1"}, "GET /a%2Fb?x=1 HTTP/1.1", id="gunicorn's RAW_URI as sent"),
        pytest.param({"REQUEST_URI": "/a%2Fb?x=1"}, "GET /a%2Fb?x=1 HTTP/1.1", id="REQUEST_URI as sent"),
        pytest.param({"PATH_INFO": "/a b/caf\xc3\xa9", "QUERY_STRING": "q=1"},
                     "GET /a%20b/caf%C3%A9?q=1 HTTP/1.1", id="rebuilt: percent-encoded bytes"),
        pytest.param({"SCRIPT_NAME": "/app", "PATH_INFO": "/items"}, "GET /app/items HTTP/1.1",
                     id="script name"),
    ],
)  # fmt: skip
def test_request_line(records: list[logging.LogRecord], extra: dict[str, str], expected: str) -> None:
    Server().run(AccessLog(text_app(b"x"), format="%(r)s"), environ(**extra))
    assert line(records[0]) == expected


def test_request_line_is_captured_before_a_router_rewrites_the_environ(
    records: list[logging.LogRecord],
) -> None:
    def router(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = "/admin", "/users"
        environ["REQUEST_METHOD"] = "DELETE"  # a method-override layer
        return text_app(b"x")(environ, start_response)

    Server().run(AccessLog(router, format="%(r)s"), environ("/admin/users"))
    assert line(records[0]) == "GET /admin/users HTTP/1.1"


# --- when, and with what numbers -----------------------------------------------------------------------


def test_logged_once_after_close_not_before(records: list[logging.LogRecord]) -> None:
    result = AccessLog(generator_app(b"a", b"b"))(environ(), Server().start_response)
    assert list(result) == [b"a", b"b"]
    assert records == []  # exhausted, but the server has not closed it yet
    close_body(result)
    close_body(result)
    assert len(records) == 1


def test_duration_runs_from_the_call_to_close(clock: Clock, records: list[logging.LogRecord]) -> None:
    app = generator_app(b"a", b"b", b"c", clock=clock, step_us=1_000)
    result = AccessLog(app, format="%(D)s")(environ(), Server().start_response)
    assert list(result) == [b"a", b"b", b"c"]
    clock.advance(500)  # the server writes the last chunk, then closes
    close_body(result)
    assert line(records[0]) == "3500"


@pytest.mark.parametrize(
    ("app", "take", "expected"),
    [
        pytest.param(generator_app(b"abc", b"", b"de"), None, "200 5 -", id="generator, all"),
        pytest.param(generator_app(b"abc", b"de", b"f"), 2, "200 5 aborted", id="generator, client gone"),
        pytest.param(generator_app(b"abc"), 0, "200 0 aborted", id="generator, closed unread"),
        pytest.param(text_app(b"abc", b"de"), None, "200 5 -", id="list, all"),
        pytest.param(text_app(b"abc", b"de", b"f"), 1, "200 3 aborted", id="list, client gone"),
        pytest.param(text_app(), None, "200 0 -", id="empty list"),
        pytest.param(text_app(b"abc", status="304 Not Modified"), None, "304 3 -", id="status as sent"),
    ],
)
def test_status_bytes_and_aborted(
    records: list[logging.LogRecord], app: WSGIApplication, take: int | None, expected: str
) -> None:
    server = Server()
    server.run(AccessLog(app, format="%(s)s %(B)s %(aborted)s"), environ(), take=take)
    assert line(records[0]) == expected
    assert int(expected.split()[1]) == len(server.body)


def test_bytes_written_through_the_write_callable(records: list[logging.LogRecord]) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", TEXT)
        write(b"legacy ")
        write(b"")
        return [b"and body"]

    server = Server()
    server.run(AccessLog(app, format="%(B)s %(aborted)s"), environ())
    assert server.body == b"legacy and body"
    assert line(records[0]) == "15 -"


def test_error_page_status_from_catch_errors_is_logged(records: list[logging.LogRecord]) -> None:
    def failing(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return failing_body()

    server = Server()
    with capture_logs("wsgistack.errors"):
        server.run(AccessLog(CatchErrors(failing), format="%(s)s %(B)s %(aborted)s"), environ())
    assert server.status is not None
    assert server.status.startswith("500")
    assert line(records[0]) == f"500 {len(server.body)} -"


def test_exc_info_replacement_before_sending_is_the_logged_status(records: list[logging.LogRecord]) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        try:
            raise KeyError("missing")
        except KeyError:
            start_response("404 Not Found", TEXT, sys.exc_info())
        return [b"not here"]

    server = Server()
    server.run(AccessLog(app, format="%(s)s"), environ())
    assert server.status == "404 Not Found"
    assert line(records[0]) == "404"


def test_an_app_that_raises_at_call_is_logged_and_the_error_goes_on(records: list[logging.LogRecord]) -> None:
    error = RuntimeError("down")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise error

    with pytest.raises(RuntimeError) as raised:
        AccessLog(app, format="%(s)s %(B)s %(aborted)s")(environ(), Server().start_response)
    assert raised.value is error
    assert [line(record) for record in records] == ["500 0 aborted"]


def test_failure_mid_stream_keeps_the_status_that_went_out(records: list[logging.LogRecord]) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return body()

    def body() -> Iterator[bytes]:
        yield b"partial"
        raise OSError("disk")

    server = Server()
    server.run(AccessLog(app, format="%(s)s %(B)s %(aborted)s"), environ())
    assert isinstance(server.error, OSError)
    assert line(records[0]) == "200 7 aborted"


@pytest.mark.parametrize(("shape", "iteration"), CASES)
def test_log_agrees_with_the_server_for_every_contract_shape(
    records: list[logging.LogRecord], shape: str, iteration: str
) -> None:
    case = SHAPES[shape]
    probe = Probe()
    server = ContractServer()
    server.run(AccessLog(case.make(probe), format="json"), contract_environ(case.method), iteration, probe)
    assert len(records) == 1
    fields = json.loads(line(records[0]))
    failed = server.error is not None or (case.raises == "call")
    if failed and case.raises != "close" and not server.sent_when_failed:
        assert fields["status"] == 500  # what a server answers for an error before anything went out
    elif server.status is None:
        assert fields["status"] is None
    else:
        assert fields["status"] == int(server.status[:3])
    assert fields["bytes"] == len(b"".join(server.values)) + len(server.written)
    # Complete: the server asked for the value after the last one (a partial read of an empty body does).
    complete = case.raises in ("", "close") and (
        iteration == "full" or (iteration == "partial" and not server.values)
    )
    assert fields["aborted"] is not complete


# --- JSON ----------------------------------------------------------------------------------------------


def test_json_line_and_record_attributes(clock: Clock, records: list[logging.LogRecord]) -> None:
    env = environ(
        "/caf\xc3\xa9",
        query="q=1",
        HTTP_USER_AGENT="bot/1",
        HTTP_REFERER="",
        REMOTE_USER="ann",
        **{"wsgistack.request_id": "r-9"},
    )

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("201 Created", TEXT)
        clock.advance(1234)
        return [b"done"]

    Server().run(AccessLog(app, format="json"), env)
    record = records[0]
    fields = json.loads(line(record))
    iso = time.strftime("%Y-%m-%dT%H:%M:%S.250", time.localtime(START))
    offset = time.strftime("%z", time.localtime(START))
    assert fields == {
        "time": f"{iso}{offset[:3]}:{offset[3:]}",
        "remote_addr": "192.0.2.7",
        "user": "ann",
        "method": "GET",
        "path": "/café",
        "query": "q=1",
        "target": "/caf%C3%A9?q=1",
        "protocol": "HTTP/1.1",
        "status": 201,
        "bytes": 4,
        "duration_us": 1234,
        "referer": None,
        "user_agent": "bot/1",
        "request_id": "r-9",
        "aborted": False,
    }
    assert "\n" not in line(record)
    # Structured handlers find the same values on the record itself.
    assert {key: getattr(record, key) for key in fields} == fields


def test_json_fields_leave_a_record_factorys_attributes_alone(records: list[logging.LogRecord]) -> None:
    factory = logging.getLogRecordFactory()

    def with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = "from-factory"
        return record

    logging.setLogRecordFactory(with_request_id)
    try:
        Server().run(AccessLog(text_app(b"x"), format="json"), environ(**{"wsgistack.request_id": "r-1"}))
    finally:
        logging.setLogRecordFactory(factory)
    assert vars(records[0])["request_id"] == "from-factory"
    assert vars(records[0])["status"] == 200
    assert json.loads(line(records[0]))["request_id"] == "r-1"


def test_json_bytes_that_are_not_utf8_are_kept_one_character_per_byte(
    records: list[logging.LogRecord],
) -> None:
    Server().run(AccessLog(text_app(b"x"), format="json"), environ(HTTP_USER_AGENT="\xff\xfe"))
    assert json.loads(line(records[0]))["user_agent"] == "\xff\xfe"


# --- nothing can forge or split a line ----------------------------------------------------------------

COMBINED = re.compile(
    r'(?P<h>\S+) (?P<l>\S+) (?P<u>\S+) \[(?P<t>[^\]]+)\] "(?P<r>(?:[^"\\]|\\.)*)" (?P<s>\d{3}) (?P<b>\d+|-) '
    r'"(?P<f>(?:[^"\\]|\\.)*)" "(?P<a>(?:[^"\\]|\\.)*)"'
)
ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "v": "\v"}


def unescape(text: str) -> str:
    """Undo Apache's log escaping: \\" \\\\ \\n ... and \\xhh (one byte, here one latin-1 character)."""

    def replace(match: re.Match[str]) -> str:
        escaped = match.group(1)
        return chr(int(escaped[1:], 16)) if escaped.startswith("x") else ESCAPES[escaped]

    return re.sub(r"\\(x[0-9a-f]{2}|.)", replace, text)


# Header values arrive in the environ as latin-1 strings: any byte but the ones a server rejects.
latin1 = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=40)


@settings(max_examples=150, deadline=None)
@given(user_agent=latin1, referer=latin1, path=latin1, query=latin1, method=st.sampled_from(["GET", 'G"T\n']))
def test_clf_fields_cannot_split_or_forge_the_line(
    user_agent: str, referer: str, path: str, query: str, method: str
) -> None:
    with capture_logs("wsgistack.access", level=logging.INFO) as captured:
        env = environ(
            "/" + path, query=query, method=method, HTTP_USER_AGENT=user_agent, HTTP_REFERER=referer,
            REQUEST_URI=f"/{path}?{query}",
        )  # fmt: skip
        Server().run(AccessLog(text_app(b"x")), env)
    text = line(captured[0])
    assert text.isascii()
    assert text.isprintable()  # no CR, LF or other control character
    match = COMBINED.fullmatch(text)
    assert match is not None
    assert unescape(match["a"]) == (user_agent or "-")
    assert unescape(match["f"]) == (referer or "-")
    assert unescape(match["r"]) == f"{method} /{path}?{query} HTTP/1.1"


@settings(max_examples=150, deadline=None)
@given(value=st.text(max_size=40))
def test_json_line_is_one_valid_object_for_any_text(value: str) -> None:
    with capture_logs("wsgistack.access", level=logging.INFO) as captured:
        env = environ(
            HTTP_USER_AGENT=value, REMOTE_USER=value, QUERY_STRING=value, **{"wsgistack.request_id": value}
        )
        Server().run(AccessLog(text_app(b"x"), format="json"), env)
    text = line(captured[0])
    assert text.isascii()
    assert text.isprintable()
    fields = json.loads(text)
    expected = as_json_text(value)
    assert fields["request_id"] == fields["user"] == fields["user_agent"] == fields["query"] == expected


def as_json_text(value: str) -> str | None:
    """What the JSON line shows for an environ string: the UTF-8 text its bytes spell, if they do."""
    if not value:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


# The clock never moves, so sharing it between examples is sound; without it the two requests could
# fall on both sides of a second and log different times.
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(st.one_of(st.none(), latin1), min_size=4, max_size=4),
    name=st.sampled_from(["common", "combined"]),
    take=st.sampled_from([None, 0]),
)
def test_named_formats_match_their_format_strings(
    clock: Clock, values: list[str | None], name: str, take: int | None
) -> None:
    user, referer, agent, raw_uri = values
    env = environ(REMOTE_USER=user, HTTP_REFERER=referer, HTTP_USER_AGENT=agent, RAW_URI=raw_uri)
    with capture_logs("wsgistack.access", level=logging.INFO) as captured:
        for format in (name, access_log_module.FORMATS[name]):  # the named one has its own fast path
            Server().run(AccessLog(text_app(b"abc"), format=format), dict(env), take=take)
    named, spelled_out = (line(record) for record in captured)
    assert named == spelled_out


@pytest.mark.parametrize("format", ["combined", access_log_module.FORMATS["combined"]])
def test_a_non_string_cgi_value_is_written_as_text(
    clock: Clock, records: list[logging.LogRecord], format: str
) -> None:
    Server().run(AccessLog(text_app(b"x"), format=format), environ(REMOTE_USER=42, HTTP_USER_AGENT=b"a\nb"))
    assert line(records[0]).startswith(f"192.0.2.7 - 42 [{CLF_TIME}]")
    agent = str(b"a\nb").replace("\\", "\\\\")  # the text b'a\nb', its backslash escaped
    assert line(records[0]).endswith(f' "-" "{agent}"')


def test_escaping_examples(records: list[logging.LogRecord]) -> None:
    env = environ(HTTP_USER_AGENT='a"b\\c\r\nd\x00\x7f\xe9', REMOTE_USER="\u2028")
    Server().run(AccessLog(text_app(b"x"), format="%(a)s|%(u)s"), env)
    assert line(records[0]) == 'a\\"b\\\\c\\r\\nd\\x00\\x7f\\xe9|\\xe2\\x80\\xa8'


# --- configuration ------------------------------------------------------------------------------------


def test_passes_through_untouched_while_the_logger_is_disabled() -> None:
    body = [b"x"]

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return body

    logger = logging.getLogger("tests.access.quiet")
    logger.setLevel(logging.WARNING)
    try:
        assert AccessLog(app, logger=logger)(environ(), Server().start_response) is body
        assert AccessLog(app, logger=logger, level="WARNING")(environ(), Server().start_response) is not body
    finally:
        logger.setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    ("options", "path", "logged"),
    [
        pytest.param({"exclude_paths": ["/health"]}, "/health", False, id="prefix itself"),
        pytest.param({"exclude_paths": ["/health/"]}, "/health/live", False, id="below the prefix"),
        pytest.param({"exclude_paths": ["/health"]}, "/healthcare", True, id="whole segments only"),
        pytest.param({"exclude_paths": ["/static", "/health"]}, "/static/app.css", False, id="several"),
        pytest.param({"exclude_regex": r"\.(css|js)$"}, "/static/app.css", False, id="regex"),
        pytest.param({"exclude_regex": re.compile(r"^/ping$")}, "/ping", False, id="compiled regex"),
        pytest.param({"exclude_regex": r"^/ping$", "exclude_paths": ["/x"]}, "/items", True, id="neither"),
    ],
)
def test_excluded_paths(
    records: list[logging.LogRecord], options: dict[str, Any], path: str, logged: bool
) -> None:
    body = [b"ok"]

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", TEXT)
        return body

    result = AccessLog(app, **options)(environ(path), Server().start_response)
    getattr(result, "close", lambda: None)()
    assert len(records) == int(logged)
    assert (result is body) is not logged


@pytest.mark.parametrize(
    ("level", "expected"),
    [("WARNING", logging.WARNING), ("warning", logging.WARNING), (" error ", logging.ERROR), (25, 25),
     ("25", 25), (logging.DEBUG, logging.DEBUG)],
)  # fmt: skip
def test_level_by_name_or_number(level: int | str, expected: int) -> None:
    with capture_logs("wsgistack.access", level=logging.DEBUG) as captured:
        Server().run(AccessLog(text_app(b"x"), level=level), environ())
    assert captured[0].levelno == expected


def test_logger_by_name_or_object() -> None:
    with capture_logs("tests.access.named", level=logging.INFO) as captured:
        Server().run(AccessLog(text_app(b"x"), logger="tests.access.named"), environ())
        Server().run(AccessLog(text_app(b"x"), logger=logging.getLogger("tests.access.named")), environ())
    assert [record.name for record in captured] == ["tests.access.named"] * 2


def test_construction_adds_no_handler_and_leaves_propagation_alone() -> None:
    logger = logging.getLogger("wsgistack.access")
    before = (list(logger.handlers), logger.propagate, logger.level)
    AccessLog(text_app(b"x"))
    AccessLog(text_app(b"x"), format="json", level="DEBUG")
    assert (list(logger.handlers), logger.propagate, logger.level) == before


def test_console_option_adds_one_handler_however_often_it_is_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logger = logging.getLogger("tests.access.console")
    try:
        for _ in range(3):
            app = AccessLog(text_app(b"x"), logger=logger, console=True, format="%(s)s %(B)s")
        assert len(logger.handlers) == 1
        assert logger.propagate is False
        Server().run(app, environ())
        assert capsys.readouterr().err == "200 1\n"
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate, logger.level = True, logging.NOTSET


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param({"format": b"combined"}, TypeError, "format", id="format not a string"),
        pytest.param({"format": "%(nope)s"}, ValueError, "format: unknown atom %(nope)s", id="unknown atom"),
        pytest.param({"format": "%({Foo}x)s"}, ValueError, "{name}i", id="unknown braced atom"),
        pytest.param({"format": "%(s)d"}, ValueError, "must end in 's'", id="not an s conversion"),
        pytest.param({"format": "50% off"}, ValueError, "lone '%'", id="lone percent"),
        pytest.param({"format": ""}, ValueError, "format", id="empty"),
        pytest.param({"level": "LOUD"}, ValueError, "level: unknown logging level 'LOUD'", id="level name"),
        pytest.param({"level": True}, TypeError, "level", id="level bool"),
        pytest.param({"level": 0}, ValueError, "level", id="level NOTSET"),
        pytest.param({"logger": 7}, TypeError, "logger", id="logger type"),
        pytest.param({"logger": " "}, ValueError, "logger", id="logger empty"),
        pytest.param({"exclude_paths": "/health"}, TypeError, "exclude_paths", id="paths as a string"),
        pytest.param({"exclude_paths": ["health"]}, ValueError, "exclude_paths", id="path without slash"),
        pytest.param({"exclude_paths": [1]}, TypeError, "exclude_paths", id="path not a string"),
        pytest.param({"exclude_regex": "("}, ValueError, "exclude_regex", id="bad regex"),
        pytest.param({"exclude_regex": 1}, TypeError, "exclude_regex", id="regex type"),
        pytest.param({"time_format": 1}, TypeError, "time_format", id="time format type"),
        pytest.param({"console": "yes"}, TypeError, "console", id="console not a bool"),
    ],
)
def test_options_are_checked_when_built(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        AccessLog(text_app(b"x"), **options)


def test_layer_by_registry_name() -> None:
    app = Pipeline(Layer.named("access_log", format="common", level="WARNING")).wrap(text_app(b"x"))
    assert isinstance(app, AccessLog)
    assert app.format == "common"


# --- lazy rendering -------------------------------------------------------------------------------------


def test_nothing_is_rendered_for_a_handler_that_does_not_format(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> str:
        raise AssertionError("rendered although no handler formats the record")

    monkeypatch.setattr(access_log_module, "_render_text", refuse)
    logger = logging.getLogger("tests.access.null")
    logger.addHandler(logging.NullHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        Server().run(AccessLog(text_app(b"x"), logger=logger), environ())
    finally:
        logger.handlers.clear()
        logger.propagate, logger.level = True, logging.NOTSET


def test_the_line_is_rendered_once_for_several_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    render = access_log_module._render_text

    def counting(*args: Any) -> str:
        calls.append("render")
        return render(*args)

    monkeypatch.setattr(access_log_module, "_render_text", counting)
    streams = [io.StringIO(), io.StringIO()]
    logger = logging.getLogger("tests.access.two")
    for stream in streams:
        logger.addHandler(logging.StreamHandler(stream))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        Server().run(AccessLog(text_app(b"x"), logger=logger, format="%(s)s %(B)s"), environ())
    finally:
        logger.handlers.clear()
        logger.propagate, logger.level = True, logging.NOTSET
    assert [stream.getvalue() for stream in streams] == ["200 1\n", "200 1\n"]
    assert calls == ["render"]


# --- with RequestID ---------------------------------------------------------------------------------------


def test_request_id_atom_and_filter_on_the_access_record() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIDFilter())
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    logger = logging.getLogger("wsgistack.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        # RequestID outermost, as recommended: the id is still set when the access record is made.
        stack = Pipeline(Layer(RequestID), Layer(AccessLog, format="%(request_id)s %(s)s")).wrap(
            text_app(b"x")
        )
        Server().run(stack, environ(HTTP_X_REQUEST_ID="abc-123"))
        # The atom reads the environ, so it works in either order.
        inner = Pipeline(Layer(AccessLog, format="%(request_id)s %(s)s"), Layer(RequestID)).wrap(
            text_app(b"x")
        )
        Server().run(inner, environ(HTTP_X_REQUEST_ID="def-456"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert stream.getvalue().splitlines() == ["abc-123 abc-123 200", "- def-456 200"]


def test_record_message_repr_shows_the_line(records: list[logging.LogRecord]) -> None:
    Server().run(AccessLog(text_app(b"x"), format="%(s)s"), environ())
    assert repr(records[0].msg) == "<access log entry '200'>"
