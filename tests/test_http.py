"""Content negotiation in wsgistack.http: Accept-Encoding q-values, coding choice, Accept media types."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgistack import http
from wsgistack.http import (
    MAX_HEADER_LENGTH,
    encoding_q,
    negotiate_media_type,
    parse_qlist,
    preferred_encoding,
)


@pytest.mark.parametrize(
    ("header", "coding", "q"),
    [
        pytest.param(None, "gzip", 0.0, id="absent: no coding (unlike webob)"),
        pytest.param(None, "identity", 1.0, id="absent: identity"),
        pytest.param("", "gzip", 0.0, id="empty: identity only (RFC 9110 12.5.3)"),
        pytest.param("gzip", "gzip", 1.0, id="listed"),
        pytest.param("GZIP", "gzip", 1.0, id="case-insensitive"),
        pytest.param("gzip", "GZip", 1.0, id="asked in another case"),
        pytest.param("gzip;q=0", "gzip", 0.0, id="q=0 refuses"),
        pytest.param("gzip;q=0.000", "gzip", 0.0, id="q=0.000 refuses"),
        pytest.param("gzip; q=0.5", "gzip", 0.5, id="q with space"),
        pytest.param("gzip ;Q=0.25", "gzip", 0.25, id="upper-case Q"),
        pytest.param("gzip;q=1.0", "gzip", 1.0, id="q=1.0"),
        pytest.param("gzip;q=1.5", "gzip", 0.0, id="q above 1: element dropped"),
        pytest.param("gzip;q=0.1234", "gzip", 0.0, id="four decimals: dropped"),
        pytest.param("gzip;q=abc", "gzip", 0.0, id="q not a number: dropped"),
        pytest.param("gzip;q=-1", "gzip", 0.0, id="negative q: dropped"),
        pytest.param("gzip;q=0,gzip", "gzip", 0.0, id="first mention wins"),
        pytest.param("x-gzip", "gzip", 1.0, id="x-gzip is gzip (RFC 9110 8.4.1.3)"),
        pytest.param("gzip", "x-gzip", 1.0, id="asked as x-gzip"),
        pytest.param("x-gzip-really", "gzip", 0.0, id="token match only"),
        pytest.param("gzip/x", "gzip", 0.0, id="not a token"),
        pytest.param("deflate, gzip", "br", 0.0, id="unlisted coding"),
        pytest.param("*", "zstd", 1.0, id="star"),
        pytest.param("*;q=0.3, br", "zstd", 0.3, id="star q"),
        pytest.param("*;q=0.3, br", "br", 1.0, id="specific beats star"),
        pytest.param("*;q=0", "identity", 0.0, id="star q=0 refuses identity"),
        pytest.param("*;q=0, identity", "identity", 1.0, id="identity named beats star"),
        pytest.param("identity;q=0", "identity", 0.0, id="identity refused"),
        pytest.param("br", "identity", 1.0, id="identity acceptable unless refused"),
        pytest.param("gzip;foo=bar;q=0.5", "gzip", 0.5, id="other parameters ignored"),
        pytest.param(",, ,gzip,", "gzip", 1.0, id="empty elements"),
        pytest.param("gzip, " * 300, "gzip", 0.0, id="over the length cap: not parsed"),
    ],
)
def test_encoding_q(header: str | None, coding: str, q: float) -> None:
    assert encoding_q(header, coding) == q


@pytest.mark.parametrize(
    ("header", "offered", "expected"),
    [
        pytest.param("gzip, br, zstd", ("zstd", "br", "gzip"), "zstd", id="server preference on ties"),
        pytest.param("gzip, br, zstd", ("gzip", "br"), "gzip", id="order of offered"),
        pytest.param("br;q=0.8, gzip;q=0.9", ("br", "gzip"), "gzip", id="higher q wins"),
        pytest.param("gzip;q=0", ("gzip",), None, id="refused"),
        pytest.param(None, ("gzip",), None, id="absent header"),
        pytest.param(None, ("gzip", "identity"), "identity", id="absent header, identity offered"),
        pytest.param("gzip;q=0.5", ("gzip", "identity"), "identity", id="identity outranks when offered"),
        pytest.param("*", ("br", "gzip"), "br", id="star"),
        pytest.param("x-gzip", ["gzip"], "gzip", id="list of offered"),
        pytest.param("gzip, " * 300, ("gzip", "identity"), "identity", id="oversized header"),
    ],
)
def test_preferred_encoding(header: str | None, offered: Sequence[str], expected: str | None) -> None:
    assert preferred_encoding(header, offered) == expected


OFFERED = ("application/problem+json", "text/html", "text/plain")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(None, "application/problem+json", id="absent: first offered"),
        pytest.param("", "application/problem+json", id="empty"),
        pytest.param("text/html,application/xhtml+xml,*/*;q=0.8", "text/html", id="browser"),
        pytest.param("application/problem+json", "application/problem+json", id="exact"),
        pytest.param("text/plain", "text/plain", id="plain"),
        pytest.param("text/*", "text/html", id="type wildcard, ties to the earlier offered"),
        pytest.param("text/*;q=0.5, text/plain", "text/plain", id="specific beats wildcard"),
        pytest.param("text/plain;q=0, text/*", "text/html", id="q=0 refuses one"),
        pytest.param("image/png", "application/problem+json", id="nothing matches: first offered, never 406"),
        pytest.param("*/*;q=0", "application/problem+json", id="everything refused: still deliverable"),
        pytest.param("*/html", "application/problem+json", id="invalid range ignored"),
        pytest.param("text/html;level=1;q=0.9, text/plain;q=0.8", "text/html", id="parameters"),
        pytest.param("TEXT/PLAIN", "text/plain", id="case-insensitive"),
        pytest.param("text/plain, " * 200, "application/problem+json", id="over the length cap"),
    ],
)
def test_negotiate_media_type(accept: str | None, expected: str) -> None:
    assert negotiate_media_type(accept, OFFERED) == expected


def test_negotiate_media_type_needs_an_offer() -> None:
    with pytest.raises(ValueError, match="at least one offered type"):
        negotiate_media_type("text/html", ())


def test_parse_qlist() -> None:
    assert parse_qlist('text/html;level="1";q=0.5, x;q=2, , */*') == [
        ("text/html", {"level": "1"}, 0.5),
        ("*/*", {}, 1.0),
    ]


def test_oversized_headers_never_become_cache_keys() -> None:
    big = "gzip;q=0.5, " * 200
    assert len(big) > MAX_HEADER_LENGTH
    before = (http._codings.cache_info().currsize, http._media_ranges.cache_info().currsize)
    encoding_q(big, "gzip")
    negotiate_media_type(big, OFFERED)
    preferred_encoding(big, ("gzip",))
    assert (http._codings.cache_info().currsize, http._media_ranges.cache_info().currsize) == before


@given(st.text(max_size=200), st.sampled_from(["gzip", "br", "zstd", "identity", "x-gzip"]))
def test_encoding_q_is_total_and_bounded(header: str, coding: str) -> None:
    q = encoding_q(header, coding)
    assert 0.0 <= q <= 1.0


@given(st.text(max_size=200))
def test_negotiation_always_answers_an_offered_type(accept: str) -> None:
    assert negotiate_media_type(accept, OFFERED) in OFFERED
    assert preferred_encoding(accept, ("zstd", "br", "gzip")) in (None, "zstd", "br", "gzip")
