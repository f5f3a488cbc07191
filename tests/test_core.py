"""The protocol core: every branch of wsgistack/core.py, table-driven where the rule is a table."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from wsgistack.core import (
    ClosingIterable,
    ExcInfo,
    Headers,
    OptExcInfo,
    ResponseStart,
    check_header,
    get_header,
    merge_header,
    parse_content_length,
    plain_response,
    remove_headers,
    replace_header,
    run_all,
)


class Server:
    """Records start_response calls and written data."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Headers, bool]] = []
        self.written: list[bytes] = []

    def __call__(
        self, status: str, headers: Headers, exc_info: OptExcInfo = None
    ) -> Callable[[bytes], object]:
        self.calls.append((status, headers, exc_info is not None))
        return self.written.append


def failing_exc_info(message: str = "boom") -> ExcInfo:
    try:
        raise ValueError(message)
    except ValueError:
        return cast(ExcInfo, sys.exc_info())


# --- run_all ------------------------------------------------------------------------------------------


def test_run_all_runs_every_callback_and_raises_the_first_error() -> None:
    calls: list[str] = []

    def fail(name: str) -> Callable[[], None]:
        def callback() -> None:
            calls.append(name)
            raise RuntimeError(name)

        return callback

    with pytest.raises(RuntimeError, match="first"):
        run_all([fail("first"), lambda: calls.append("ok"), fail("second")])
    assert calls == ["first", "ok", "second"]


def test_run_all_without_errors() -> None:
    calls: list[int] = []
    run_all([lambda: calls.append(1), lambda: calls.append(2)])
    assert calls == [1, 2]


# --- ClosingIterable ----------------------------------------------------------------------------------


class Body:
    def __init__(self, chunks: list[bytes], fail: bool = False) -> None:
        self.chunks, self.fail, self.closes = chunks, fail, 0

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closes += 1
        if self.fail:
            raise OSError("close failed")


def test_closing_iterable_without_hooks_iterates_the_apps_own_iterator() -> None:
    body = Body([b"a", b"b"])
    wrapped = ClosingIterable(body)
    assert type(iter(wrapped)) is type(iter(body.chunks))
    assert list(wrapped) == [b"a", b"b"]


def test_close_without_iteration_still_closes_the_app_iterable() -> None:
    # A generator wrapper would skip its finally here: the reason ClosingIterable is a class.
    body = Body([b"a"])
    ClosingIterable(body).close()
    assert body.closes == 1


def test_close_is_idempotent_and_runs_callbacks_in_order() -> None:
    order: list[str] = []
    body = Body([b"a"])
    wrapped = ClosingIterable(body, on_close=[lambda: order.append("one"), lambda: order.append("two")])
    wrapped.close()
    wrapped.close()
    assert body.closes == 1
    assert order == ["one", "two"]


def test_callbacks_run_when_the_app_close_raises() -> None:
    ran: list[bool] = []
    body = Body([b"a"], fail=True)
    with pytest.raises(OSError, match="close failed"):
        ClosingIterable(body, on_close=[lambda: ran.append(True)]).close()
    assert ran == [True]


def test_iterable_without_close_and_no_callbacks() -> None:
    wrapped = ClosingIterable([b"a"])
    wrapped.close()
    assert list(wrapped) == [b"a"]


def test_iterable_without_close_runs_every_callback_even_if_one_raises() -> None:
    ran: list[str] = []

    def fail() -> None:
        ran.append("fail")
        raise OSError("callback failed")

    with pytest.raises(OSError, match="callback failed"):
        ClosingIterable([b"a"], on_close=[fail, lambda: ran.append("after")]).close()
    assert ran == ["fail", "after"]


def test_iterable_without_close_runs_callbacks() -> None:
    ran: list[bool] = []
    ClosingIterable([b"a"], on_close=[lambda: ran.append(True)]).close()
    assert ran == [True]


@pytest.mark.parametrize(
    ("chunks", "trailer", "expected"),
    [
        pytest.param([b"a", b"", b"b"], None, [b"A", b"", b"B"], id="empty values kept: block boundaries"),
        pytest.param([b"a"], b"!", [b"A", b"!"], id="trailer appended"),
        pytest.param([b"a"], b"", [b"A"], id="empty trailer not yielded"),
        pytest.param([], b"!", [b"!"], id="trailer on empty body"),
    ],
)
def test_map_and_trailer(chunks: list[bytes], trailer: bytes | None, expected: list[bytes]) -> None:
    wrapped = ClosingIterable(
        chunks, map_chunk=bytes.upper, trailer=None if trailer is None else lambda: trailer
    )
    assert list(wrapped) == expected


# --- ResponseStart ------------------------------------------------------------------------------------


def test_immediate_forwarding_records_a_copy() -> None:
    server = Server()
    response = ResponseStart(server)
    headers = [("Content-Type", "text/plain")]
    write = response("200 OK", headers)
    headers.append(("X-Later", "1"))
    assert server.calls == [("200 OK", [("Content-Type", "text/plain")], False)]
    assert response.status == "200 OK"
    assert response.headers == [("Content-Type", "text/plain")]
    assert response.forwarded
    assert not response.sent
    write(b"data")
    assert server.written == [b"data"]
    assert response.sent


def test_rewrite_is_applied_and_recorded() -> None:
    server = Server()

    def rewrite(status: str, headers: Headers) -> tuple[str, Headers]:
        return "201 Created", [*headers, ("X-Rewritten", "yes")]

    response = ResponseStart(server, rewrite=rewrite)
    response("200 OK", [])
    assert server.calls == [("201 Created", [("X-Rewritten", "yes")], False)]
    assert response.status == "201 Created"


def test_headers_that_are_not_a_list_of_pairs_leave_nothing_recorded() -> None:
    response = ResponseStart(Server(), defer=True)
    with pytest.raises(TypeError):
        response("200 OK", None)  # type: ignore[arg-type]
    assert response.status is None
    response("200 OK", [("Content-Type", "text/plain")])  # not a second call: the first failed
    assert response.headers == [("Content-Type", "text/plain")]


def test_deferred_rewrite_is_applied_when_the_first_value_goes_out() -> None:
    server = Server()

    def rewrite(status: str, headers: Headers) -> tuple[str, Headers]:
        return status, [*headers, ("X-Seen", "first chunk")]

    response = ResponseStart(server, rewrite=rewrite, defer=True)
    response("200 OK", [("Content-Type", "text/plain")])
    assert server.calls == []
    response.handing_out(b"x")
    assert server.calls == [("200 OK", [("Content-Type", "text/plain"), ("X-Seen", "first chunk")], False)]
    assert response.headers == server.calls[0][1]
    assert response.sent


@pytest.mark.parametrize(
    "exc_info", [pytest.param(None, id="no exc_info"), pytest.param((None, None, None), id="empty exc_info")]
)
def test_second_call_without_exc_info_is_an_error(exc_info: OptExcInfo) -> None:
    response = ResponseStart(Server())
    response("200 OK", [])
    with pytest.raises(RuntimeError, match="second time"):
        response("500 Internal Server Error", [], exc_info)


def test_exc_info_before_sent_replaces_and_is_forwarded() -> None:
    server = Server()
    response = ResponseStart(server)
    response("200 OK", [("Content-Type", "text/plain")])
    response("500 Internal Server Error", [], failing_exc_info())
    assert [(status, given) for status, _, given in server.calls] == [
        ("200 OK", False),
        ("500 Internal Server Error", True),
    ]
    assert response.status == "500 Internal Server Error"


def test_exc_info_after_sent_is_reraised_not_forwarded() -> None:
    server = Server()
    response = ResponseStart(server, map_chunk=bytes.upper)
    body = response.body([b"sent"])
    response("200 OK", [])
    assert list(body) == [b"SENT"]
    exc_info = failing_exc_info("late")
    with pytest.raises(ValueError, match="late") as raised:
        response("500 Internal Server Error", [], exc_info)
    assert raised.value is exc_info[1]
    assert len(server.calls) == 1


def test_without_hooks_the_body_is_the_apps_own_iterable() -> None:
    body = Body([b"a"])
    response = ResponseStart(Server())
    assert response.body(body) is body  # no per-chunk cost; a file_wrapper keeps its identity
    closed: list[bool] = []
    wrapped = response.body(body, on_close=[lambda: closed.append(True)])
    assert isinstance(wrapped, ClosingIterable)
    wrapped.close()
    assert (body.closes, closed) == (1, [True])


def test_tracked_body_without_hooks() -> None:
    response = ResponseStart(Server())
    body = response.body([b"", b"x"], track=True)
    response("200 OK", [])
    chunks = iter(body)
    assert next(chunks) == b""
    assert not response.sent
    assert next(chunks) == b"x"
    assert response.sent


def test_untracked_body_leaves_late_exc_info_to_the_server() -> None:
    """Without hooks ``sent`` is not tracked; the server, which knows what it sent, re-raises."""
    sent = [False]

    def server(status: str, headers: Headers, exc_info: OptExcInfo = None) -> Callable[[bytes], object]:
        if exc_info is not None and exc_info[1] is not None and sent[0]:
            raise exc_info[1].with_traceback(exc_info[2])
        return lambda data: None

    response = ResponseStart(server)
    response("200 OK", [])
    assert list(response.body([b"x"])) == [b"x"]
    sent[0] = True
    with pytest.raises(ValueError, match="late"):
        response("500 Internal Server Error", [], failing_exc_info("late"))


def test_deferred_headers_go_out_with_the_first_value_after_map() -> None:
    server = Server()
    seen: list[int] = []

    def map_chunk(chunk: bytes) -> bytes:
        seen.append(len(server.calls))  # the server has not been called when map_chunk sees the value
        return chunk.upper()

    response = ResponseStart(server, map_chunk=map_chunk, defer=True)
    body = response.body([b"a", b"b"])
    response("200 OK", [])
    assert server.calls == []
    chunks = iter(body)
    assert next(chunks) == b"A"
    assert seen == [0]
    assert len(server.calls) == 1
    assert list(chunks) == [b"B"]


def test_deferred_empty_body_forwards_headers_at_the_end() -> None:
    server = Server()
    response = ResponseStart(server, defer=True)
    body = response.body([])
    response("204 No Content", [])
    assert list(body) == []
    assert server.calls == [("204 No Content", [], False)]
    assert not response.sent


def test_deferred_replacement_before_forwarding_is_just_recorded() -> None:
    server = Server()
    response = ResponseStart(server, defer=True)
    response("200 OK", [])
    response("500 Internal Server Error", [], failing_exc_info())
    assert server.calls == []
    assert list(response.body([b"x"])) == [b"x"]
    assert server.calls == [("500 Internal Server Error", [], False)]


def test_deferred_replacement_after_forwarding_carries_exc_info() -> None:
    server = Server()
    response = ResponseStart(server, defer=True)
    body = iter(response.body([b"", b"x"]))
    response("200 OK", [])
    assert next(body) == b""  # headers forwarded, nothing sent yet
    response("500 Internal Server Error", [], failing_exc_info())
    assert [given for _, _, given in server.calls] == [False, True]


def test_values_before_start_response_are_passed_on_for_the_server_to_reject() -> None:
    server = Server()
    response = ResponseStart(server, defer=True)
    assert list(response.body([b"early"])) == [b"early"]
    assert server.calls == []


def test_write_before_start_response_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="before start_response"):
        ResponseStart(Server()).write(b"x")


def test_write_maps_data_and_forwards_deferred_headers() -> None:
    server = Server()
    response = ResponseStart(server, map_chunk=bytes.upper, defer=True)
    write = response("200 OK", [])
    write(b"")
    assert len(server.calls) == 1
    assert server.written == []
    assert not response.sent
    write(b"abc")
    assert server.written == [b"ABC"]
    assert response.sent


def test_body_passes_on_close_callbacks_and_trailer() -> None:
    closed: list[bool] = []
    response = ResponseStart(Server(), trailer=lambda: b"end")
    body = response.body([b"x"], on_close=[lambda: closed.append(True)])
    response("200 OK", [])
    assert isinstance(body, ClosingIterable)
    assert list(body) == [b"x", b"end"]
    body.close()
    assert closed == [True]


# --- header helpers -----------------------------------------------------------------------------------

HEADERS: Headers = [("Content-Type", "text/html"), ("Vary", "Cookie"), ("X-A", "1"), ("x-a", "2")]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("content-type", "text/html", id="case-insensitive"),
        pytest.param("X-A", "1", id="first of several"),
        pytest.param("Missing", None, id="absent"),
    ],
)
def test_get_header(name: str, expected: str | None) -> None:
    assert get_header(HEADERS, name) == expected


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(
            lambda h: remove_headers(h, "x-a", "VARY"), [("Content-Type", "text/html")], id="remove several"
        ),
        pytest.param(
            lambda h: replace_header(h, "X-A", "3"),
            [("Content-Type", "text/html"), ("Vary", "Cookie"), ("X-A", "3")],
            id="replace keeps the first position",
        ),
        pytest.param(lambda h: replace_header(h, "New", "v"), [*HEADERS, ("New", "v")], id="replace appends"),
        pytest.param(
            lambda h: merge_header(h, "Vary", "Accept-Encoding", "cookie"),
            [("Content-Type", "text/html"), ("Vary", "Cookie, Accept-Encoding"), ("X-A", "1"), ("x-a", "2")],
            id="merge without duplicates",
        ),
        pytest.param(
            lambda h: merge_header([("Vary", "*")], "Vary", "Accept-Encoding"),
            [("Vary", "*")],
            id="star absorbs",
        ),
        pytest.param(
            lambda h: merge_header([("vary", "a,, b"), ("Vary", "B, c")], "Vary", "d"),
            [("vary", "a, b, c, d")],
            id="folds fields and empty items",
        ),
        pytest.param(
            lambda h: merge_header([], "Vary", "Origin"), [("Vary", "Origin")], id="merge into none"
        ),
    ],
)
def test_header_helpers_return_new_lists(call: Callable[[Headers], Headers], expected: Headers) -> None:
    original = list(HEADERS)
    assert call(HEADERS) == expected
    assert original == HEADERS


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        pytest.param("X-Frame-Options", "DENY", None, id="valid"),
        pytest.param("X-Note", "a\tb", None, id="tab allowed"),
        pytest.param("", "x", "not an HTTP token", id="empty name"),
        pytest.param("Bad Name", "x", "not an HTTP token", id="space in name"),
        pytest.param("X:Y", "x", "not an HTTP token", id="colon in name"),
        pytest.param("Connection", "close", "hop-by-hop", id="hop-by-hop"),
        pytest.param("Transfer-Encoding", "chunked", "hop-by-hop", id="transfer-encoding"),
        pytest.param("X-Inject", "a\r\nSet-Cookie: x=1", "control character", id="CRLF injection"),
        pytest.param("X-Inject", "a\x00", "control character", id="NUL"),
        pytest.param("X-Inject", "a\x7f", "control character", id="DEL"),
    ],
)
def test_check_header(name: str, value: str, error: str | None) -> None:
    if error is None:
        check_header(name, value)
    else:
        with pytest.raises(ValueError, match=error):
            check_header(name, value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("", None, id="empty"),
        pytest.param("  ", None, id="blank"),
        pytest.param("0", 0, id="zero"),
        pytest.param("1024", 1024, id="number"),
        pytest.param(" 12 ", 12, id="surrounding whitespace"),
        pytest.param("007", 7, id="leading zeros"),
        pytest.param("9" * 18, 10**18 - 1, id="18 digits"),
        pytest.param("1" + "0" * 18, sys.maxsize, id="19 digits: larger than any limit"),
        pytest.param("0" * 30 + "5", 5, id="many leading zeros"),
        pytest.param("9" * 5000, sys.maxsize, id="beyond int()'s digit limit"),
        pytest.param("-1", ValueError, id="negative"),
        pytest.param("+1", ValueError, id="plus sign"),
        pytest.param("1,1", ValueError, id="several values"),
        pytest.param("1 2", ValueError, id="inner space"),
        pytest.param("0x10", ValueError, id="hex"),
        pytest.param("١٢", ValueError, id="non-ASCII digits"),
        pytest.param("1e3", ValueError, id="exponent"),
    ],
)
def test_parse_content_length(value: str | None, expected: Any) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError, match="invalid Content-Length"):
            parse_content_length(value)
    else:
        assert parse_content_length(value) == expected


@pytest.mark.parametrize(
    ("method", "body", "expected"),
    [
        pytest.param("GET", "too large\n", [b"too large\n"], id="GET"),
        pytest.param("HEAD", "too large\n", [], id="HEAD has no body"),
        pytest.param("GET", "é".encode(), ["é".encode()], id="bytes body"),
    ],
)
def test_plain_response(method: str, body: str | bytes, expected: list[bytes]) -> None:
    server = Server()
    result = plain_response(
        {"REQUEST_METHOD": method}, server, "413 Content Too Large", body, headers=[("X-A", "b")]
    )
    assert result == expected
    length = str(len(body.encode() if isinstance(body, str) else body))
    assert server.calls == [
        (
            "413 Content Too Large",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", length), ("X-A", "b")],
            False,
        )
    ]


def test_plain_response_forwards_exc_info() -> None:
    server = Server()
    plain_response(
        {}, server, "500 Internal Server Error", "x", content_type="text/html", exc_info=failing_exc_info()
    )
    assert server.calls[0][2] is True
    assert server.calls[0][1][0] == ("Content-Type", "text/html")
