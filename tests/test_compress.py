"""Compress: negotiation, eligibility, headers, streaming, lifecycle, errors, BREACH padding.

Every compressed body is decoded with an independent decoder and compared with what the app sent.
Requests go through ``wsgiref.validate`` on both sides of the middleware.
"""

from __future__ import annotations

import io
import logging
import os
import re
import secrets
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from wsgiref.util import FileWrapper
from wsgiref.validate import validator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_codecs import StreamDecoder, decode
from wsgistack import REGISTRY, Compress, Layer, LayerError, codecs
from wsgistack.compress import (
    DEFAULT_CONTENT_TYPES,
    OPTED_OUT,
    PADDING_HEADER,
    compressed_headers,
    media_type,
    skip_reason,
    transform_etag,
)
from wsgistack.core import Headers, OptExcInfo, StartResponse, WSGIApplication, WSGIEnvironment
from wsgistack.testing import contract_environ

HTML = b"".join(b"<tr><td>row %d</td><td>some text that repeats</td></tr>\n" % i for i in range(200))
TEXT_HTML = [("Content-Type", "text/html; charset=utf-8")]
ALL = "gzip, br, zstd"


# --- an in-process server that records everything -------------------------------------------------------


@dataclass
class Response:
    status: str = ""
    headers: Headers = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    written: bytes = b""
    calls: int = 0
    result: Iterable[bytes] | None = None

    def header(self, name: str) -> str | None:
        found = [value for key, value in self.headers if key.lower() == name.lower()]
        assert len(found) <= 1, f"{name} appears {len(found)} times in {self.headers}"
        return found[0] if found else None

    @property
    def raw(self) -> bytes:
        return self.written + b"".join(self.values)

    @property
    def body(self) -> bytes:
        """The body as a client decodes it."""
        coding = self.header("Content-Encoding")
        return decode(coding, self.raw) if coding else self.raw


def request(
    app: WSGIApplication,
    *,
    accept: str | None = ALL,
    method: str = "GET",
    path: str = "/page",
    headers: dict[str, str] | None = None,
    validate: bool = True,
    environ_out: list[WSGIEnvironment] | None = None,
) -> Response:
    environ = contract_environ(method)
    environ["PATH_INFO"] = path
    del environ["HTTP_ACCEPT_ENCODING"]
    if accept is not None:
        environ["HTTP_ACCEPT_ENCODING"] = accept
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    response = Response()

    def start_response(status: str, headers: Headers, exc_info: OptExcInfo = None) -> Callable[[bytes], None]:
        if exc_info is not None and exc_info[1] is not None and (any(response.values) or response.written):
            raise exc_info[1].with_traceback(exc_info[2])
        response.status, response.headers = status, headers
        response.calls += 1

        def write(data: bytes) -> None:
            response.written += data

        return write

    wrapped = validator(app) if validate else app
    result = wrapped(environ, start_response)
    response.result = result
    try:
        for chunk in result:
            response.values.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if environ_out is not None:
        environ_out.append(environ)
    return response


def app_for(
    body: Iterable[bytes] | bytes = HTML,
    headers: Headers | None = None,
    *,
    status: str = "200 OK",
    shape: str = "list",
    seen: list[WSGIEnvironment] | None = None,
) -> WSGIApplication:
    """An app answering ``body`` with ``headers``; ``shape`` is list, generator, lazy, write or tuple."""
    chunks = [body] if isinstance(body, bytes) else list(body)
    header_list = list(TEXT_HTML if headers is None else headers)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if seen is not None:
            seen.append(dict(environ))
        if shape == "lazy":

            def lazy() -> Iterator[bytes]:
                start_response(status, header_list)
                yield from chunks

            return lazy()
        write = start_response(status, header_list)
        if shape == "write":
            for chunk in chunks[:-1]:
                write(chunk)
            return chunks[-1:]
        if shape == "generator":
            return (chunk for chunk in chunks)
        if shape == "tuple":
            return tuple(chunks)
        return list(chunks)

    # wsgiref.validate would hide a list behind its own iterator: lists are what the one-shot path sees.
    return app if shape in ("list", "tuple") else validator(app)


def recorder(headers: list[Headers]) -> StartResponse:
    def start_response(
        status: str, response_headers: Headers, exc_info: OptExcInfo = None
    ) -> Callable[[bytes], None]:
        headers.append(response_headers)
        return lambda data: None

    return start_response


def compressor(**options: Any) -> Callable[[WSGIApplication], WSGIApplication]:
    return lambda app: Compress(app, **options)


# --- options ---------------------------------------------------------------------------------------------


def _noop(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    return []


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param(
            {"minimum_size": True}, TypeError, "minimum_size must be an int, not bool", id="size bool"
        ),
        pytest.param({"minimum_size": -1}, ValueError, "minimum_size must be >= 0", id="size negative"),
        pytest.param({"minimum_size": "500"}, TypeError, "minimum_size must be an int", id="size str"),
        pytest.param({"encodings": "gzip"}, TypeError, "encodings must be a sequence", id="encodings str"),
        pytest.param({"encodings": ["deflate"]}, ValueError, "unknown coding 'deflate'", id="deflate"),
        pytest.param({"encodings": ["gzip", "x-gzip"]}, ValueError, "'gzip' is listed twice", id="dup"),
        pytest.param({"encodings": [1]}, TypeError, "encodings entries must be str", id="encodings int"),
        pytest.param(
            {"gzip_level": 0}, ValueError, "gzip_level: gzip level must be between 1 and 9", id="gz0"
        ),
        pytest.param({"gzip_level": 10}, ValueError, "gzip_level", id="gzip 10"),
        pytest.param(
            {"gzip_level": True}, TypeError, "gzip_level must be an int or None, not bool", id="gz bool"
        ),
        pytest.param({"br_level": 12}, ValueError, "br_level: br level must be between 0 and 11", id="br 12"),
        pytest.param({"zstd_level": 0}, ValueError, "zstd_level", id="zstd 0"),
        pytest.param({"encodings": ["gzip"], "br_level": 99}, ValueError, "br_level", id="disabled checked"),
        pytest.param({"statuses": [206]}, ValueError, "206 responses are never compressed", id="206"),
        pytest.param({"statuses": [304]}, ValueError, "never compressed", id="304"),
        pytest.param({"statuses": [204]}, ValueError, "never compressed", id="204"),
        pytest.param({"statuses": [600]}, ValueError, "600 is not an HTTP status code", id="600"),
        pytest.param({"statuses": [True]}, TypeError, "statuses entries must be int", id="status bool"),
        pytest.param({"statuses": ["200"]}, TypeError, "statuses entries must be int", id="status str"),
        pytest.param({"statuses": 200}, TypeError, "statuses must be a collection", id="status int"),
        pytest.param(
            {"content_types": "text/html"}, TypeError, "content_types must be a collection", id="ct str"
        ),
        pytest.param(
            {"content_types": ["text"]}, ValueError, "content_types: 'text' is not a media type", id="ct"
        ),
        pytest.param({"exclude_content_types": ["a b/c"]}, ValueError, "exclude_content_types", id="deny"),
        pytest.param(
            {"exclude_paths": "("}, ValueError, "exclude_paths: invalid regular expression", id="re"
        ),
        pytest.param(
            {"exclude_paths": 3}, TypeError, "exclude_paths must be a regular expression", id="paths"
        ),
        pytest.param(
            {"opt_out_header": "No Compress"}, ValueError, "opt_out_header: .*not an HTTP token", id="sp"
        ),
        pytest.param({"opt_out_header": "X-A\r\nSet-Cookie"}, ValueError, "opt_out_header", id="injection"),
        pytest.param({"opt_out_header": "Connection"}, ValueError, "hop-by-hop", id="hop-by-hop"),
        *(
            pytest.param(
                {"opt_out_header": name},
                ValueError,
                f"opt_out_header: '{name}' is a header Compress",
                id=name,
            )
            for name in ("Cache-Control", "content-type", "Content-Length", "Vary", "ETag", "X-Padding")
        ),
        pytest.param(
            {"opt_out_header": 1}, TypeError, "opt_out_header must be a str or None", id="header int"
        ),
        pytest.param({"etag": "strong"}, ValueError, "etag must be 'weak' or 'suffix'", id="etag"),
        pytest.param({"flush": "yes"}, TypeError, "flush must be a bool", id="flush"),
        pytest.param({"breach_padding": -1}, ValueError, "breach_padding must be >= 0", id="padding"),
        pytest.param({"breach_padding": True}, TypeError, "breach_padding must be an int", id="padding bool"),
    ],
)
def test_options_are_validated_eagerly(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Compress(_noop, **options)


def test_app_must_be_callable() -> None:
    with pytest.raises(TypeError, match="app must be a WSGI application"):
        Compress("not an app")  # type: ignore[arg-type]


def test_defaults() -> None:
    layer = Compress(_noop)
    assert layer.encodings == ("zstd", "br", "gzip")
    assert layer.minimum_size == 500
    assert layer.statuses == frozenset({200})
    assert (layer.etag, layer.flush, layer.breach_padding, layer.opt_out_header) == (
        "weak",
        True,
        0,
        "X-No-Compress",
    )
    assert repr(layer).startswith("Compress(<function _noop")


def test_x_gzip_in_encodings_means_gzip() -> None:
    assert Compress(_noop, encodings=["X-GZIP", "br"]).encodings == ("gzip", "br")


def test_registered_for_pipelines_and_configuration() -> None:
    assert REGISTRY["compress"].factory is Compress
    layer = Layer.named("compress", minimum_size=0, encodings=["gzip"])
    assert isinstance(layer.build(_noop), Compress)
    with pytest.raises(LayerError, match="did you mean 'minimum_size'"):
        Layer.named("compress", minimum_sise=0)


# --- negotiation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "encodings", "expected"),
    [
        pytest.param(None, None, None, id="absent: identity only"),
        pytest.param("", None, None, id="empty"),
        pytest.param("gzip", None, "gzip", id="gzip"),
        pytest.param("GZip", None, "gzip", id="case-insensitive"),
        pytest.param("x-gzip", None, "gzip", id="x-gzip is gzip (RFC 9110 8.4.1.3)"),
        pytest.param("gzip;q=0", None, None, id="gzip;q=0 is a refusal"),
        pytest.param("gzip; q=0.000", None, None, id="q=0.000"),
        pytest.param("br;q=0, gzip", None, "gzip", id="br refused, gzip"),
        pytest.param("gzip, br", None, "br", id="tie: server preference"),
        pytest.param("gzip, br, zstd", None, "zstd", id="zstd preferred"),
        pytest.param("gzip;q=1, br;q=0.5", None, "gzip", id="client q wins over preference"),
        pytest.param("zstd;q=0.1, gzip;q=0.2", None, "gzip", id="higher q"),
        pytest.param("*", None, "zstd", id="star"),
        pytest.param("*;q=0", None, None, id="star refused"),
        pytest.param("*, zstd;q=0", None, "br", id="star but not zstd"),
        pytest.param("identity", None, None, id="identity"),
        pytest.param("gzipx, xgzip, gzip-x", None, None, id="tokens only, no substrings"),
        pytest.param("deflate", None, None, id="deflate is not offered"),
        pytest.param("gzip, br, zstd", ("gzip", "br"), "gzip", id="configured order"),
        pytest.param("zstd", ("gzip", "br"), None, id="disabled coding"),
        pytest.param("*", ("br", "gzip"), "br", id="star takes the first configured"),
        pytest.param("gzip, " + "a" * 2000, None, None, id="over-long header ignored"),
    ],
)
def test_negotiation(accept: str | None, encodings: tuple[str, ...] | None, expected: str | None) -> None:
    response = request(compressor(encodings=encodings)(app_for()), accept=accept)
    assert response.header("Content-Encoding") == expected
    assert response.header("Vary") == "Accept-Encoding"
    assert response.body == HTML


# --- eligibility (pure) --------------------------------------------------------------------------------


def _allowed(value: str) -> bool:
    return media_type(value) in ("text/html", "application/json")


@pytest.mark.parametrize(
    ("status", "headers", "reason"),
    [
        pytest.param("200 OK", [("Content-Type", "text/html")], None, id="eligible"),
        pytest.param("200 OK", [("content-type", "Text/HTML; charset=utf-8")], None, id="case and params"),
        pytest.param("404 Not Found", [("Content-Type", "text/html")], "status", id="404 by default"),
        pytest.param("206 Partial Content", [("Content-Type", "text/html")], "status", id="206"),
        pytest.param("304 Not Modified", [], "status", id="304"),
        pytest.param("204 No Content", [("Content-Type", "text/html")], "status", id="204"),
        pytest.param("OK", [("Content-Type", "text/html")], "malformed status", id="malformed status"),
        pytest.param("200 OK", [], "no content type", id="no content type"),
        pytest.param("200 OK", [("Content-Type", "image/png")], "content type", id="png"),
        pytest.param(
            "200 OK",
            [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
            "already encoded",
            id="already encoded",
        ),
        pytest.param(
            "200 OK",
            [("Content-Type", "text/html"), ("Content-Encoding", "identity")],
            None,
            id="identity is no coding",
        ),
        pytest.param(
            "200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "")], None, id="empty coding"
        ),
        pytest.param(
            "200 OK",
            [("Content-Type", "text/html"), ("Content-Range", "bytes 0-1/2")],
            "content-range",
            id="content-range on a 200",
        ),
        pytest.param(
            "200 OK",
            [("Content-Type", "text/html"), ("Cache-Control", "public, No-Transform")],
            "no-transform",
            id="no-transform",
        ),
        pytest.param(
            "200 OK",
            [("Content-Type", "text/html"), ("Cache-Control", "no-transformer")],
            None,
            id="no-transform is a token",
        ),
        pytest.param(
            "200 OK", [("Content-Type", "text/html"), ("x-no-compress", "1")], OPTED_OUT, id="opt-out"
        ),
    ],
)
def test_skip_reason(status: str, headers: Headers, reason: str | None) -> None:
    assert (
        skip_reason(
            status, headers, statuses={200}, content_type_allowed=_allowed, opt_out_header="x-no-compress"
        )
        == reason
    )
    # A layer remembers statuses, header names and content types: the answer stays the same when it has
    # seen the response before, and after it has seen the same names in another case.
    layer = Compress(_noop, statuses=[200], content_types=["text/*"], opt_out_header="X-No-Compress")
    mixed = [(name.upper(), value) for name, value in headers]
    for _ in range(2):
        assert layer.skip_reason(status, headers) == reason
        assert layer.skip_reason(status, mixed) == reason


@pytest.mark.parametrize(
    ("content_type", "allowed"),
    [
        pytest.param("text/html; charset=utf-8", True, id="html"),
        pytest.param("text/css", True, id="css"),
        pytest.param("text/event-stream", True, id="sse, flushed"),
        pytest.param("application/json", True, id="json"),
        pytest.param("application/problem+json", True, id="+json"),
        pytest.param("application/vnd.api+json", True, id="vendor +json"),
        pytest.param("application/javascript", True, id="js"),
        pytest.param("application/rss+xml", True, id="+xml"),
        pytest.param("image/svg+xml", True, id="svg"),
        pytest.param("application/wasm", True, id="wasm"),
        pytest.param("font/ttf", True, id="ttf"),
        pytest.param("APPLICATION/JSON", True, id="case"),
        pytest.param("image/png", False, id="png"),
        pytest.param("image/jpeg", False, id="jpeg"),
        pytest.param("font/woff2", False, id="woff2 is compressed already"),
        pytest.param("application/zip", False, id="zip"),
        pytest.param("application/octet-stream", False, id="octet-stream"),
        pytest.param("application/pdf", False, id="pdf"),
        pytest.param("video/mp4", False, id="video"),
        pytest.param("", False, id="empty"),
        pytest.param("text", False, id="no subtype"),
    ],
)
def test_default_content_types(content_type: str, allowed: bool) -> None:
    assert Compress(_noop).content_type_allowed(content_type) is allowed


def test_event_stream_is_excluded_without_flush() -> None:
    assert not Compress(_noop, flush=False).content_type_allowed("text/event-stream")
    assert Compress(_noop, flush=False, exclude_content_types=()).content_type_allowed("text/event-stream")


def test_content_type_lists_are_configurable() -> None:
    layer = Compress(
        _noop, content_types=["application/x-custom", "text/*"], exclude_content_types=["text/csv"]
    )
    assert layer.content_type_allowed("application/x-custom")
    assert layer.content_type_allowed("text/plain")
    assert not layer.content_type_allowed("text/csv; header=present")
    assert not layer.content_type_allowed("application/json")
    assert not Compress(_noop, content_types=()).content_type_allowed("text/html")
    assert "text/*" in DEFAULT_CONTENT_TYPES


@pytest.mark.parametrize(
    ("etag", "coding", "mode", "expected"),
    [
        pytest.param('"abc"', "gzip", "weak", 'W/"abc"', id="strong weakened"),
        pytest.param('W/"abc"', "gzip", "weak", 'W/"abc"', id="weak kept"),
        pytest.param(' "abc" ', "br", "weak", 'W/"abc"', id="whitespace"),
        pytest.param('"abc"', "gzip", "suffix", '"abc-gzip"', id="suffix"),
        pytest.param('W/"abc"', "zstd", "suffix", 'W/"abc-zstd"', id="weak suffix"),
        pytest.param('""', "br", "suffix", '"-br"', id="empty tag"),
        pytest.param("abc", "gzip", "weak", None, id="not an entity tag: dropped"),
        pytest.param('W/"abc', "gzip", "weak", None, id="unterminated"),
        pytest.param('"', "gzip", "weak", None, id="lone quote"),
    ],
)
def test_transform_etag(etag: str, coding: str, mode: str, expected: str | None) -> None:
    assert transform_etag(etag, coding, mode) == expected


@pytest.mark.parametrize(
    ("headers", "length", "expected"),
    [
        pytest.param(
            [("Content-Type", "text/html"), ("Content-Length", "9000"), ("ETag", '"v1"')],
            120,
            [
                ("Content-Type", "text/html"),
                ("ETag", 'W/"v1"'),
                ("Content-Encoding", "gzip"),
                ("Content-Length", "120"),
                ("Vary", "Accept-Encoding"),
            ],
            id="buffered",
        ),
        pytest.param(
            [
                ("Content-Type", "text/html"),
                ("Content-Length", "9000"),
                ("Accept-Ranges", "bytes"),
                ("Content-MD5", "x"),
                ("X-No-Compress", ""),
            ],
            None,
            [("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")],
            id="streamed: identity-only headers dropped",
        ),
        pytest.param(
            [("Vary", "Cookie"), ("Content-Type", "text/html"), ("vary", "accept-encoding")],
            None,
            [
                ("Vary", "Cookie, accept-encoding"),
                ("Content-Type", "text/html"),
                ("Content-Encoding", "gzip"),
            ],
            id="vary merged without duplicates",
        ),
        pytest.param(
            [("Vary", "*"), ("Content-Encoding", "identity"), ("Content-Type", "text/html")],
            None,
            [("Vary", "*"), ("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
            id="vary star, identity coding replaced",
        ),
    ],
)
def test_compressed_headers(headers: Headers, length: int | None, expected: Headers) -> None:
    before = list(headers)
    assert (
        compressed_headers(headers, "gzip", length=length, etag_mode="weak", opt_out_header="x-no-compress")
        == expected
    )
    assert headers == before


# --- round trips through the middleware ----------------------------------------------------------------

SHAPES = ["list", "tuple", "generator", "lazy", "write"]


@pytest.mark.parametrize("coding", codecs.available())
@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_and_coding_decodes_to_the_body(shape: str, coding: str) -> None:
    chunks = [HTML[:3000], HTML[3000:3001], b"", HTML[3001:]]
    response = request(Compress(app_for(chunks, shape=shape)), accept=coding)
    assert response.header("Content-Encoding") == coding
    assert response.header("Vary") == "Accept-Encoding"
    assert response.body == HTML
    if shape in ("list", "tuple"):
        assert response.header("Content-Length") == str(len(response.raw))  # one shot, exact
        assert len(response.values) == 1
    else:
        assert response.header("Content-Length") is None
        assert len(response.values) >= len(chunks) - (shape == "write") * 3


def test_streamed_values_decode_as_they_arrive() -> None:
    events = [b"data: %d\n\n" % i * 60 for i in range(5)]
    response = request(Compress(app_for(events, [("Content-Type", "text/event-stream")], shape="generator")))
    assert response.header("Content-Encoding") == "zstd"
    decoder = StreamDecoder("zstd")
    for value, event in zip(response.values, events, strict=False):
        assert decoder.feed(value) == event  # each event is readable on arrival (server-sent events)
    assert len(response.values) == len(events) + 1  # plus the end of the frame
    assert decoder.feed(response.values[-1]) == b""
    assert decoder.finished


def test_one_value_out_per_value_in_without_pulling_ahead() -> None:
    pulled: list[int] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for index in range(4):
            pulled.append(index)
            yield HTML

    body = Compress(app)(contract_environ(), lambda s, h, e=None: lambda d: None)
    seen = []
    for value in body:
        seen.append(len(pulled))
        assert value  # flushed: never held back
    assert seen == [1, 2, 3, 4, 4]  # the last value is the end of the stream, after the app finished


def test_without_flush_values_are_held_but_still_one_per_app_value() -> None:
    chunks = [HTML[:1000], HTML[1000:2000], HTML[2000:3000], HTML[3000:]]
    response = request(Compress(app_for(chunks, shape="generator"), flush=False), accept="gzip")
    assert response.values[0]  # the first value is flushed, so the headers go out at once
    assert response.values[1:4] == [b"", b"", b""]  # held by the compressor: empty values (PEP 3333)
    assert response.body == HTML


def test_first_value_decides_an_unknown_length() -> None:
    small_first = request(Compress(app_for([b"x" * 499, HTML], shape="generator")))
    assert small_first.header("Content-Encoding") is None
    assert small_first.header("Vary") == "Accept-Encoding"
    assert small_first.raw == b"x" * 499 + HTML
    big_first = request(Compress(app_for([b"x" * 500, b"y"], shape="generator")))
    assert big_first.header("Content-Encoding") == "zstd"
    assert big_first.body == b"x" * 500 + b"y"


def test_declared_length_decides_before_the_first_value() -> None:
    headers = [*TEXT_HTML, ("Content-Length", str(len(HTML) + 1))]
    response = request(Compress(app_for([b"<", HTML], headers, shape="generator")), validate=False)
    assert response.header("Content-Encoding") == "zstd"
    assert response.header("Content-Length") is None
    assert response.body == b"<" + HTML


@pytest.mark.parametrize(
    ("body", "headers", "minimum_size", "compressed"),
    [
        pytest.param([b"a" * 499], TEXT_HTML, 500, False, id="list below minimum"),
        pytest.param([b"a" * 250, b"a" * 250], TEXT_HTML, 500, True, id="list total at minimum"),
        pytest.param([b"a" * 600], [*TEXT_HTML, ("Content-Length", "600")], 700, False, id="length below"),
        pytest.param([], TEXT_HTML, 0, False, id="empty list never"),
        pytest.param([b""], [*TEXT_HTML, ("Content-Length", "0")], 0, False, id="length 0 never"),
        pytest.param([b"a" * 20], TEXT_HTML, 0, True, id="minimum 0"),
        pytest.param([b"abc"], TEXT_HTML, 0, False, id="kept only if smaller"),
        pytest.param([os.urandom(4000)], TEXT_HTML, 0, False, id="incompressible kept identity"),
    ],
)
def test_minimum_size_and_smaller_only(
    body: list[bytes], headers: Headers, minimum_size: int, compressed: bool
) -> None:
    response = request(Compress(app_for(body, headers), minimum_size=minimum_size))
    assert (response.header("Content-Encoding") is not None) is compressed
    assert response.header("Vary") == "Accept-Encoding"
    assert response.body == b"".join(body)
    if not compressed:
        assert response.raw == b"".join(body)
        assert response.header("Content-Length") == get(headers, "Content-Length")


def get(headers: Headers, name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name.lower()), None)


@pytest.mark.parametrize(
    ("status", "headers", "options"),
    [
        pytest.param("404 Not Found", TEXT_HTML, {}, id="404 by default"),
        pytest.param(
            "206 Partial Content",
            [*TEXT_HTML, ("Content-Range", f"bytes 0-{len(HTML) - 1}/99999")],
            {},
            id="206",
        ),
        pytest.param("200 OK", [*TEXT_HTML, ("Content-Range", "bytes 0-9/10")], {}, id="content-range"),
        pytest.param("200 OK", [*TEXT_HTML, ("Content-Encoding", "br")], {}, id="already encoded"),
        pytest.param(
            "200 OK", [*TEXT_HTML, ("Cache-Control", "max-age=60, no-transform")], {}, id="no-transform"
        ),
        pytest.param("200 OK", [("Content-Type", "image/png")], {}, id="png"),
        pytest.param("200 OK", [], {}, id="no content type"),
        pytest.param("200 OK", TEXT_HTML, {"encodings": ()}, id="every coding disabled"),
    ],
)
def test_ineligible_responses_are_untouched(status: str, headers: Headers, options: dict[str, Any]) -> None:
    body = [HTML]
    response = request(Compress(app_for(body, headers, status=status), **options), validate=bool(headers))
    assert response.status == status
    assert response.raw == HTML
    assert response.headers == headers  # no Vary either: the representation never varies


def test_not_involved_returns_the_apps_iterable_itself() -> None:
    body = [HTML]
    wrapper: list[Iterable[bytes]] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "image/png")])
        return body

    def file_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "font/woff2")])
        wrapper.append(FileWrapper(io.BytesIO(HTML)))
        return wrapper[0]

    environ = contract_environ()
    assert Compress(app)(environ, lambda s, h, e=None: lambda d: None) is body
    result = Compress(file_app)(environ, lambda s, h, e=None: lambda d: None)
    assert result is wrapper[0]  # wsgi.file_wrapper keeps its identity, so sendfile still works
    cast(Any, wrapper[0]).close()


def test_no_acceptable_coding_returns_the_body_itself_with_vary() -> None:
    body = [HTML]
    sent: list[Headers] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", list(TEXT_HTML))
        return body

    environ = contract_environ()
    environ["HTTP_ACCEPT_ENCODING"] = "identity"
    assert Compress(app)(environ, recorder(sent)) is body
    assert sent == [[*TEXT_HTML, ("Vary", "Accept-Encoding")]]


def test_statuses_are_configurable() -> None:
    response = request(Compress(app_for(status="404 Not Found"), statuses=[200, 404, 410]))
    assert response.header("Content-Encoding") == "zstd"
    assert response.body == HTML


@pytest.mark.parametrize(
    "exclude",
    [
        pytest.param(r"^/downloads/", id="regex"),
        pytest.param(re.compile(r"\.csv$"), id="compiled"),
        pytest.param(lambda path: path.startswith("/downloads"), id="callable"),
    ],
)
def test_excluded_paths_are_passed_through(exclude: Any) -> None:
    layer = Compress(app_for(), exclude_paths=exclude)
    skipped = request(layer, path="/downloads/report.csv")
    assert skipped.raw == HTML
    assert skipped.headers == TEXT_HTML
    assert request(layer, path="/page").header("Content-Encoding") == "zstd"


def test_script_name_is_part_of_the_excluded_path() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", list(TEXT_HTML))
        return [HTML]

    environ = contract_environ()
    environ["SCRIPT_NAME"], environ["PATH_INFO"] = "/mounted", "/x"
    seen: list[Headers] = []
    Compress(app, exclude_paths="^/mounted/")(environ, recorder(seen))
    assert seen == [TEXT_HTML]


def test_opt_out_header_is_removed_and_honoured() -> None:
    response = request(Compress(app_for(headers=[*TEXT_HTML, ("X-No-Compress", "1")])))
    assert response.headers == TEXT_HTML
    assert response.raw == HTML
    custom = request(Compress(app_for(headers=[*TEXT_HTML, ("x-raw", "")]), opt_out_header="X-Raw"))
    assert custom.headers == TEXT_HTML
    kept = request(Compress(app_for(headers=[*TEXT_HTML, ("X-No-Compress", "1")]), opt_out_header=None))
    assert kept.header("Content-Encoding") == "zstd"
    assert kept.header("X-No-Compress") == "1"


def test_opt_out_header_is_removed_from_ineligible_responses_too() -> None:
    response = request(Compress(app_for(headers=[("Content-Type", "image/png"), ("X-No-Compress", "1")])))
    assert response.headers == [("Content-Type", "image/png")]


def test_vary_is_merged_on_uncompressed_eligible_responses() -> None:
    headers = [*TEXT_HTML, ("Vary", "Cookie, accept-encoding")]
    for accept in (None, "gzip"):
        response = request(Compress(app_for(headers=headers), minimum_size=10**6), accept=accept)
        assert response.header("Vary") == "Cookie, accept-encoding"
        assert response.header("Content-Encoding") is None


# --- HEAD ----------------------------------------------------------------------------------------------


def test_head_gets_the_headers_get_would_get() -> None:
    headers = [*TEXT_HTML, ("Content-Length", str(len(HTML))), ("ETag", '"v1"')]
    get_response = request(Compress(app_for([HTML], headers, shape="generator")), validate=False)
    head_response = request(Compress(app_for([], headers, shape="generator")), method="HEAD", validate=False)
    assert head_response.headers == get_response.headers
    assert head_response.header("Content-Encoding") == "zstd"
    assert head_response.values == []


def test_head_body_from_a_careless_app_is_never_sent() -> None:
    headers = [*TEXT_HTML, ("Content-Length", str(len(HTML)))]
    response = request(Compress(app_for([HTML], headers, shape="generator")), method="HEAD", validate=False)
    assert response.header("Content-Encoding") == "zstd"
    assert response.values == [b""]  # identity bytes under Content-Encoding would be corrupt


def test_head_without_length_stays_identity() -> None:
    response = request(Compress(app_for([], TEXT_HTML)), method="HEAD")
    assert response.headers == [*TEXT_HTML, ("Vary", "Accept-Encoding")]


# --- ETags and conditional requests -----------------------------------------------------------------


def test_strong_etag_is_weakened() -> None:
    response = request(Compress(app_for(headers=[*TEXT_HTML, ("ETag", '"v1"')])))
    assert response.header("ETag") == 'W/"v1"'
    identity = request(Compress(app_for(headers=[*TEXT_HTML, ("ETag", '"v1"')])), accept=None)
    assert identity.header("ETag") == '"v1"'  # the identity representation keeps the app's tag


def test_suffix_mode_and_conditional_requests() -> None:
    seen: list[WSGIEnvironment] = []
    layer = Compress(app_for(headers=[*TEXT_HTML, ("ETag", '"v1"')], seen=seen), etag="suffix")
    assert request(layer, accept="br").header("ETag") == '"v1-br"'
    request(layer, headers={"If-None-Match": '"v1-br", W/"v0-gzip", "other"', "If-Match": '"v1-zstd"'})
    assert seen[-1]["HTTP_IF_NONE_MATCH"] == '"v1", W/"v0", "other"'  # the app sees its own tags
    assert seen[-1]["HTTP_IF_MATCH"] == '"v1"'


@pytest.mark.parametrize(
    ("etag_mode", "sent_tag", "app_tag", "expected"),
    [
        pytest.param("weak", 'W/"v1"', '"v1"', 'W/"v1"', id="weak: the client has the compressed body"),
        pytest.param("weak", '"v1"', '"v1"', '"v1"', id="weak: the client has the identity body"),
        pytest.param("suffix", '"v1-gzip"', '"v1"', '"v1-gzip"', id="suffix restored"),
        pytest.param("suffix", '"v1"', '"v1"', '"v1"', id="suffix: identity"),
    ],
)
def test_not_modified_carries_the_tag_of_the_cached_representation(
    etag_mode: str, sent_tag: str, app_tag: str, expected: str
) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("304 Not Modified", [("ETag", app_tag)])
        return []

    response = request(Compress(app, etag=etag_mode), accept="gzip", headers={"If-None-Match": sent_tag})  # type: ignore[arg-type]
    assert response.status == "304 Not Modified"
    assert response.header("ETag") == expected
    assert response.header("Vary") == "Accept-Encoding"  # RFC 9110 15.4.5: as the 200 would have
    assert response.raw == b""


def test_not_modified_for_an_ineligible_type_is_left_alone() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("304 Not Modified", [("ETag", '"v1"'), ("Content-Type", "image/png")])
        return []

    response = request(Compress(app), headers={"If-None-Match": 'W/"v1"'}, validate=False)
    assert response.headers == [("ETag", '"v1"'), ("Content-Type", "image/png")]


# --- lifecycle and errors ------------------------------------------------------------------------------


class Body:
    """An app iterable counting close() calls."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed += 1


class ListBody(list[bytes]):
    closed = 0

    def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize("accept", [ALL, None])
@pytest.mark.parametrize("kind", ["list", "iterable", "image"])
@pytest.mark.parametrize("consume", ["all", "one", "none"])
def test_close_is_called_exactly_once(kind: str, consume: str, accept: str | None) -> None:
    body: ListBody | Body = ListBody([HTML, HTML]) if kind == "list" else Body([HTML, HTML])
    content_type = "image/png" if kind == "image" else "text/html"

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", content_type)])
        return body

    environ = contract_environ()
    if accept is None:
        del environ["HTTP_ACCEPT_ENCODING"]
    result = Compress(app)(environ, lambda s, h, e=None: lambda d: None)
    iterator = iter(result)
    if consume == "all":
        list(iterator)
    elif consume == "one":
        next(iterator)
    cast(Any, result).close()
    cast(Any, result).close()
    assert body.closed == (2 if result is body else 1)  # closed by us once, or it is the app's own object


def test_compression_failure_before_sending_falls_back_to_identity(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def compress(self, data: bytes, *, padding: bytes = b"") -> bytes:
            raise MemoryError("no memory for a compressor")

        def compressor(self, *, padding: bytes = b"") -> codecs.Compressor:
            raise MemoryError("no memory for a compressor")

    for shape in ("list", "generator"):
        layer = Compress(app_for([HTML, HTML], headers=[*TEXT_HTML, ("ETag", '"v1"')], shape=shape))
        monkeypatch.setitem(layer._codecs, "zstd", Broken())
        with caplog.at_level(logging.WARNING, logger="wsgistack.compress"):
            response = request(layer)
        assert response.status == "200 OK"
        assert response.header("Content-Encoding") is None
        assert response.header("ETag") == '"v1"'
        assert response.raw == HTML + HTML
        assert "zstd compression failed; sending the response unencoded" in caplog.text


def test_compression_failure_after_sending_aborts_instead_of_corrupting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class FailsLater:
        def __init__(self) -> None:
            self.inner = codecs.compressor("gzip")
            self.calls = 0

        def compress(self, data: bytes, /) -> bytes:
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("codec failure")
            return self.inner.compress(data)

        def flush(self) -> bytes:
            return self.inner.flush()

        def finish(self) -> bytes:
            return self.inner.finish()

    class Codec:
        def compressor(self, *, padding: bytes = b"") -> FailsLater:
            return FailsLater()

    layer = Compress(app_for([HTML, HTML], shape="generator"))
    monkeypatch.setitem(layer._codecs, "gzip", Codec())
    with pytest.raises(RuntimeError, match="codec failure"):
        request(layer, accept="gzip")  # the server aborts the connection: no bytes are made up


def test_exc_info_before_anything_was_sent_replaces_the_response() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", list(TEXT_HTML))
        yield b""
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        yield b"error page " * 100

    response = request(Compress(app, minimum_size=0))
    assert response.status == "500 Internal Server Error"
    assert response.header("Content-Encoding") is None
    assert response.raw == b"error page " * 100


def test_exc_info_while_the_compressor_holds_output_abandons_it() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", list(TEXT_HTML))
        yield HTML
        yield HTML  # held: flush is off after the first value
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        yield b"late error"

    with pytest.raises(ValueError, match="boom"):
        request(Compress(app, flush=False), accept="gzip")  # the first value went out: re-raised


def test_exc_info_after_sending_is_reraised() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", list(TEXT_HTML))
        yield HTML
        try:
            raise KeyError("late")
        except KeyError:
            import sys

            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        yield b"never"

    with pytest.raises(KeyError, match="late"):
        request(Compress(app))


# --- BREACH padding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["list", "generator"])
def test_breach_padding_in_the_gzip_file_name(shape: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lengths = iter([0, 7, 31])
    monkeypatch.setattr(secrets, "randbelow", lambda n: next(lengths))
    layer = Compress(app_for([HTML], shape=shape), breach_padding=31)
    sizes = []
    for _ in range(3):
        response = request(layer, accept="gzip")
        assert response.body == HTML
        assert response.header(PADDING_HEADER) is None
        sizes.append(len(response.raw))
    assert [size - sizes[0] for size in sizes] == [0, 8, 32]  # FNAME bytes and its NUL terminator


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_breach_padding_header_for_br_and_zstd(coding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "randbelow", lambda n: n - 1)
    response = request(Compress(app_for(), breach_padding=64), accept=coding)
    value = response.header(PADDING_HEADER)
    assert value is not None
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert response.body == HTML


def test_breach_padding_lengths_vary() -> None:
    layer = Compress(app_for(), breach_padding=100)
    lengths = {len(request(layer, accept="br").header(PADDING_HEADER) or "") for _ in range(40)}
    assert len(lengths) > 1


# --- resources -----------------------------------------------------------------------------------------


def test_a_large_stream_is_never_buffered() -> None:
    chunk = HTML[:8192] * 8  # 64 KiB
    count = 512  # 32 MiB

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for _ in range(count):
            yield chunk

    environ = contract_environ()
    environ["HTTP_ACCEPT_ENCODING"] = "gzip"
    tracemalloc.start()
    try:
        result = Compress(app)(environ, lambda s, h, e=None: lambda d: None)
        decoder = StreamDecoder("gzip")
        total = 0
        for value in result:
            total += len(decoder.feed(value))
        cast(Any, result).close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == len(chunk) * count
    assert peak < 4 * len(chunk) + (1 << 20)  # a few chunks at most, never the 32 MiB body


# --- invariants ----------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chunks=st.lists(st.binary(max_size=700) | st.sampled_from([b"", HTML[:2000], b"a" * 900]), max_size=6),
    shape=st.sampled_from(SHAPES),
    accept=st.sampled_from([ALL, "gzip", "br", "zstd;q=0.5, gzip;q=0.4", "identity", "gzip;q=0"]),
    minimum_size=st.sampled_from([0, 1, 500, 10**6]),
    flush=st.booleans(),
    declare_length=st.booleans(),
)
def test_any_body_any_chunking(
    chunks: list[bytes], shape: str, accept: str, minimum_size: int, flush: bool, declare_length: bool
) -> None:
    if shape == "write" and not chunks:
        chunks = [b""]
    body = b"".join(chunks)
    headers = [*TEXT_HTML, ("Content-Length", str(len(body)))] if declare_length else list(TEXT_HTML)
    response = request(
        Compress(app_for(chunks, headers, shape=shape), minimum_size=minimum_size, flush=flush),
        accept=accept,
    )
    assert response.body == body
    coding = response.header("Content-Encoding")
    assert response.header("Vary") == "Accept-Encoding"
    if coding is None:
        assert response.raw == body
        assert response.header("Content-Length") == (str(len(body)) if declare_length else None)
    else:
        assert coding in accept
        if declare_length or shape in ("list", "tuple"):
            assert len(body) >= max(minimum_size, 1)
        else:  # judged by the first value
            assert len(chunks[0]) >= minimum_size
        length = response.header("Content-Length")
        assert length is None or length == str(len(response.raw))
    if shape not in ("list", "tuple", "write"):
        assert len(response.values) >= len(chunks)


def test_lazy_start_response_and_head() -> None:
    headers = [*TEXT_HTML, ("Content-Length", str(len(HTML)))]
    head = request(Compress(app_for([], headers, shape="lazy")), method="HEAD", validate=False)
    get = request(Compress(app_for([HTML], headers, shape="lazy")))
    assert head.headers == get.headers
    assert head.header("Content-Encoding") == "zstd"
    assert get.body == HTML


def test_a_subclass_deciding_content_types_is_asked_every_time() -> None:
    class NoSvg(Compress):
        def content_type_allowed(self, content_type: str) -> bool:
            return super().content_type_allowed(content_type) and "svg" not in content_type

    layer = NoSvg(_noop, content_types=["image/*", "text/*"])
    svg, text = [("Content-Type", "image/svg+xml")], [("Content-Type", "text/html")]
    assert [layer.skip_reason("200 OK", svg) for _ in range(3)] == ["content type"] * 3
    assert [layer.skip_reason("200 OK", text) for _ in range(3)] == [None] * 3


def test_client_controlled_memos_are_bounded() -> None:
    layer = Compress(app_for([HTML], [("Content-Type", "text/html")]))
    for index in range(2000):
        request(layer, accept=f"gzip;q=0.{index % 999 + 1:03d}, br;q=0.{index % 7}")
    assert len(layer._coding_memo) <= 512
    for index in range(2000):
        layer.content_type_allowed(f"text/x-kind-{index}")
    assert len(layer._type_memo) <= 512
    # What the app sends is remembered too, within bounds, and still judged once the memo is full.
    for index in range(2000):
        assert layer.skip_reason(f"{200 + index % 300} Status {index}", [("X-Header-" + str(index), "1")])
    assert len(layer._policy._statuses) <= 512
    assert len(layer._policy._fields) <= 512
    assert layer.skip_reason("200 Fine", [("X-New-Name", "1"), ("CONTENT-TYPE", "text/html")]) is None
    assert layer.skip_reason("203 Never Seen", [("Content-Type", "text/html")]) == "status"
    assert request(layer, accept="gzip").body == HTML


def test_secrets_is_imported_only_once_a_layer_pads() -> None:
    """secrets brings hmac and OpenSSL's hashlib: importing Compress and serving without padding does not."""
    import subprocess
    import sys

    code = """
import sys
from wsgiref.util import setup_testing_defaults
from wsgistack.compress import Compress

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<p>hello</p>" * 200]

def loaded():
    return sorted(name for name in ("secrets", "hmac", "_hashlib") if name in sys.modules)

environ = {"HTTP_ACCEPT_ENCODING": "gzip"}
setup_testing_defaults(environ)
for padding in (0, 8):
    body = b"".join(Compress(app, breach_padding=padding)(environ, lambda s, h, e=None: None))
    print(len(body) > 0, loaded())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["True []", "True ['_hashlib', 'hmac', 'secrets']"]
