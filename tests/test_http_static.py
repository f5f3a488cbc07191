"""HTTP decisions behind static files: dates, entity tags, preconditions, If-Range and Range (RFC 9110)."""

from __future__ import annotations

import calendar
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgistack.http import (
    MAX_RANGE_LENGTH,
    evaluate_preconditions,
    format_http_date,
    if_range_allows,
    parse_entity_tags,
    parse_http_date,
    parse_range,
    strong_match,
    weak_match,
)

NOV_6_1994 = 784111777  # RFC 9110 §5.6.7's example, Sun, 06 Nov 1994 08:49:37 GMT
NOW_2026 = calendar.timegm((2026, 6, 1, 0, 0, 0))


# --- dates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT", NOV_6_1994, id="imf-fixdate"),
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", NOV_6_1994, id="rfc850"),
        pytest.param("Sun Nov  6 08:49:37 1994", NOV_6_1994, id="asctime"),
        pytest.param("Sun Nov 16 08:49:37 1994", NOV_6_1994 + 10 * 86400, id="asctime-two-digit-day"),
        pytest.param("  Sun, 06 Nov 1994 08:49:37 GMT\t", NOV_6_1994, id="surrounding-whitespace"),
        pytest.param("Thu, 01 Jan 1970 00:00:00 GMT", 0, id="epoch"),
        pytest.param(
            "Tue, 30 Jun 2015 23:59:60 GMT", calendar.timegm((2015, 7, 1, 0, 0, 0)), id="leap-second"
        ),
        pytest.param(
            "Thu, 29 Feb 2024 12:00:00 GMT", calendar.timegm((2024, 2, 29, 12, 0, 0)), id="leap-day"
        ),
        pytest.param("Sun, 06 Nov 1994 08:49:37 UTC", None, id="zone-not-gmt"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 +0000", None, id="numeric-zone"),
        pytest.param("sun, 06 nov 1994 08:49:37 gmt", None, id="case-sensitive"),
        pytest.param("Sun, 6 Nov 1994 08:49:37 GMT", None, id="one-digit-day"),
        pytest.param("Sun, 31 Feb 1994 08:49:37 GMT", None, id="impossible-day"),
        pytest.param("Sat, 29 Feb 2025 08:49:37 GMT", None, id="not-a-leap-year"),
        pytest.param("Sun, 06 Nov 1994 24:00:00 GMT", None, id="hour-24"),
        pytest.param("Sun, 06 Nov 1994 08:60:00 GMT", None, id="minute-60"),
        pytest.param("Sun, 06 Foo 1994 08:49:37 GMT", None, id="unknown-month"),
        pytest.param("Sun, 06 Nov 0000 08:49:37 GMT", None, id="year-zero"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", None, id="list"),
        pytest.param("Sun Nov 06 08:49:37 1994", NOV_6_1994, id="asctime-zero-padded-day"),
        pytest.param("Sun Nov  0 08:49:37 1994", None, id="asctime-day-zero"),
        pytest.param("Sun, \u0660\u0666 Nov 1994 08:49:37 GMT", None, id="arabic-indic-digits"),
        pytest.param("784111777", None, id="epoch-seconds"),
        pytest.param("", None, id="empty"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT" + " " * 50 + "x", None, id="over-long"),
    ],
)
def test_parse_http_date(value: str, expected: int | None) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    ("value", "year"),
    [
        pytest.param("Monday, 01-Jun-26 00:00:00 GMT", 2026, id="this-year"),
        pytest.param("Monday, 01-Jun-76 00:00:00 GMT", 2076, id="exactly-50-years-ahead"),
        pytest.param("Monday, 01-Jun-77 00:00:00 GMT", 1977, id="more-than-50-years-ahead-is-past"),
        pytest.param("Monday, 01-Jun-94 00:00:00 GMT", 1994, id="nineties"),
        pytest.param("Monday, 01-Jun-00 00:00:00 GMT", 2000, id="y2k"),
    ],
)
def test_rfc850_two_digit_years_follow_the_fifty_year_rule(value: str, year: int) -> None:
    assert parse_http_date(value, now=NOW_2026) == calendar.timegm((year, 6, 1, 0, 0, 0))


@given(st.integers(min_value=0, max_value=253402300799))
def test_format_then_parse_round_trips(timestamp: int) -> None:
    text = format_http_date(timestamp)
    assert len(text) == 29
    assert text.endswith(" GMT")
    assert parse_http_date(text) == timestamp


@given(
    st.integers(min_value=1, max_value=9999),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=0, max_value=32),
    st.integers(min_value=0, max_value=24),
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=0, max_value=61),
)
def test_dates_of_every_year_match_the_calendar_module(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> None:
    # Covers years before 1970, which the round trip through time.gmtime cannot reach.
    month_name = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    text = f"Mon {month_name[month - 1]} {day:2d} {hour:02d}:{minute:02d}:{second:02d} {year:04d}"
    valid = 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60 and second <= 60
    expected = calendar.timegm((year, month, day, hour, minute, second)) if valid else None
    assert parse_http_date(text) == expected


def test_format_http_date_truncates_fractions_and_uses_english_names() -> None:
    assert format_http_date(NOV_6_1994 + 0.999) == "Sun, 06 Nov 1994 08:49:37 GMT"


# --- entity tags --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param('"abc"', ('"abc"',), id="one"),
        pytest.param('W/"abc"', ('W/"abc"',), id="weak"),
        pytest.param('"a", W/"b" ,"c"', ('"a"', 'W/"b"', '"c"'), id="list"),
        pytest.param('"a,b", "c"', ('"a,b"', '"c"'), id="comma-inside-tag"),
        pytest.param(', "a",, "b" ,', ('"a"', '"b"'), id="empty-elements"),
        pytest.param('""', ('""',), id="empty-tag"),
        pytest.param("*", ("*",), id="star"),
        pytest.param(" * ", ("*",), id="star-with-spaces"),
        pytest.param('"\xe9t\xe9"', ('"\xe9t\xe9"',), id="obs-text"),
        pytest.param("abc", None, id="unquoted"),
        pytest.param('"abc', None, id="unterminated"),
        pytest.param('"a b"', None, id="space-inside"),
        pytest.param('w/"abc"', None, id="lowercase-weak-prefix"),
        pytest.param('"a" "b"', None, id="missing-comma"),
        pytest.param('"a", *', None, id="star-in-list"),
        pytest.param("", None, id="empty"),
        pytest.param(",", None, id="only-commas"),
        pytest.param('"a",' * 2000, None, id="over-long"),
    ],
)
def test_parse_entity_tags(value: str, expected: tuple[str, ...] | None) -> None:
    assert parse_entity_tags(value) == expected


@pytest.mark.parametrize(
    ("a", "b", "weak", "strong"),
    [
        pytest.param('"1"', '"1"', True, True, id="same-strong"),
        pytest.param('W/"1"', '"1"', True, False, id="weak-and-strong"),
        pytest.param('W/"1"', 'W/"1"', True, False, id="both-weak"),
        pytest.param('"1"', '"2"', False, False, id="different"),
        pytest.param('W/"1"', 'W/"2"', False, False, id="different-weak"),
    ],
)  # the table of RFC 9110 §8.8.3.2
def test_entity_tag_comparison(a: str, b: str, weak: bool, strong: bool) -> None:
    assert weak_match(a, b) is weak
    assert weak_match(b, a) is weak
    assert strong_match(a, b) is strong
    assert strong_match(b, a) is strong


# --- preconditions (RFC 9110 §13.2.2) -----------------------------------------------------------------

ETAG = '"5f-10"'
MODIFIED = NOV_6_1994
AT = "Sun, 06 Nov 1994 08:49:37 GMT"
BEFORE = "Sun, 06 Nov 1994 08:49:36 GMT"
AFTER = "Sun, 06 Nov 1994 08:49:38 GMT"


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        pytest.param("GET", {}, 200, id="no-conditions"),
        pytest.param("GET", {"if_none_match": ETAG}, 304, id="inm-match"),
        pytest.param("HEAD", {"if_none_match": ETAG}, 304, id="inm-match-head"),
        pytest.param("GET", {"if_none_match": f"W/{ETAG}"}, 304, id="inm-weak-compares-weakly"),
        pytest.param("GET", {"if_none_match": f'"x", {ETAG}'}, 304, id="inm-list"),
        pytest.param("GET", {"if_none_match": "*"}, 304, id="inm-star"),
        pytest.param("GET", {"if_none_match": '"x"'}, 200, id="inm-no-match"),
        pytest.param("GET", {"if_none_match": "garbage"}, 200, id="inm-malformed-is-no-match"),
        pytest.param("POST", {"if_none_match": ETAG}, 412, id="inm-match-unsafe-method"),
        pytest.param("GET", {"if_none_match": '"x"', "if_modified_since": AFTER}, 200, id="inm-beats-ims"),
        pytest.param(
            "GET", {"if_none_match": "garbage", "if_modified_since": AT}, 200, id="malformed-inm-beats-ims"
        ),
        pytest.param("GET", {"if_modified_since": AT}, 304, id="ims-equal"),
        pytest.param("GET", {"if_modified_since": AFTER}, 304, id="ims-later"),
        pytest.param("GET", {"if_modified_since": BEFORE}, 200, id="ims-earlier"),
        pytest.param("GET", {"if_modified_since": "yesterday"}, 200, id="ims-invalid-ignored"),
        pytest.param("GET", {"if_modified_since": "Sunday, 06-Nov-94 08:49:37 GMT"}, 304, id="ims-rfc850"),
        pytest.param("POST", {"if_modified_since": AT}, 200, id="ims-only-for-get-and-head"),
        pytest.param("GET", {"if_match": ETAG}, 200, id="if-match"),
        pytest.param("GET", {"if_match": f'"x", {ETAG}'}, 200, id="if-match-list"),
        pytest.param("GET", {"if_match": "*"}, 200, id="if-match-star"),
        pytest.param("GET", {"if_match": '"x"'}, 412, id="if-match-fails"),
        pytest.param("GET", {"if_match": f"W/{ETAG}"}, 412, id="if-match-compares-strongly"),
        pytest.param("GET", {"if_match": "garbage"}, 412, id="if-match-malformed-fails"),
        pytest.param("GET", {"if_unmodified_since": AT}, 200, id="ius-equal"),
        pytest.param("GET", {"if_unmodified_since": BEFORE}, 412, id="ius-earlier"),
        pytest.param("GET", {"if_unmodified_since": "yesterday"}, 200, id="ius-invalid-ignored"),
        pytest.param("GET", {"if_match": ETAG, "if_unmodified_since": BEFORE}, 200, id="if-match-beats-ius"),
        pytest.param("GET", {"if_match": '"x"', "if_none_match": ETAG}, 412, id="if-match-before-inm"),
        pytest.param("GET", {"if_unmodified_since": BEFORE, "if_none_match": ETAG}, 412, id="ius-before-inm"),
        pytest.param("GET", {"if_match": ETAG, "if_none_match": ETAG}, 304, id="if-match-then-inm"),
    ],
)
def test_evaluate_preconditions(method: str, headers: dict[str, str], expected: int) -> None:
    assert evaluate_preconditions(method, ETAG, MODIFIED, **headers) == expected


def test_dates_are_ignored_without_a_modification_date() -> None:
    assert evaluate_preconditions("GET", ETAG, None, if_modified_since=AFTER) == 200
    assert evaluate_preconditions("GET", ETAG, None, if_unmodified_since=BEFORE) == 200


@pytest.mark.parametrize(
    ("value", "etag", "modified", "expected"),
    [
        pytest.param(ETAG, ETAG, MODIFIED, True, id="etag-match"),
        pytest.param('"x"', ETAG, MODIFIED, False, id="etag-differs"),
        pytest.param(f"W/{ETAG}", ETAG, MODIFIED, False, id="weak-etag-never-matches"),
        pytest.param(f"{ETAG}, {ETAG}", ETAG, MODIFIED, False, id="list-is-not-an-if-range"),
        pytest.param(AT, ETAG, MODIFIED, True, id="date-exact"),
        pytest.param(AFTER, ETAG, MODIFIED, False, id="date-later-is-not-exact"),
        pytest.param(AT, ETAG, None, False, id="date-without-strong-modification-date"),
        pytest.param("garbage", ETAG, MODIFIED, False, id="malformed"),
        pytest.param(ETAG, None, MODIFIED, False, id="no-etag"),
    ],
)
def test_if_range_allows(value: str, etag: str | None, modified: int | None, expected: bool) -> None:
    assert if_range_allows(value, etag, modified) is expected


# --- ranges (RFC 9110 §14) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        pytest.param("bytes=0-0", 100, ((0, 0),), id="first-byte"),
        pytest.param("bytes=-1", 100, ((99, 99),), id="last-byte"),
        pytest.param("bytes=5-5", 100, ((5, 5),), id="one-byte"),
        pytest.param("bytes=10-", 100, ((10, 99),), id="open-ended"),
        pytest.param("bytes=-10", 100, ((90, 99),), id="suffix"),
        pytest.param("bytes=-1000", 100, ((0, 99),), id="suffix-longer-than-file"),
        pytest.param("bytes=0-1000", 100, ((0, 99),), id="end-clamped"),
        pytest.param("bytes=99-99", 100, ((99, 99),), id="last-byte-by-position"),
        pytest.param("BYTES=0-1", 100, ((0, 1),), id="unit-case-insensitive"),
        pytest.param("bytes= 0-1 , 5-6 ", 100, ((0, 1), (5, 6)), id="whitespace-in-list"),
        pytest.param("bytes=0-1,,5-6,", 100, ((0, 1), (5, 6)), id="empty-list-elements"),
        pytest.param("bytes=5-6,0-1", 100, ((0, 1), (5, 6)), id="sorted"),
        pytest.param("bytes=0-10,5-20", 100, ((0, 20),), id="overlap-merged"),
        pytest.param("bytes=0-4,5-9", 100, ((0, 9),), id="adjacent-merged"),
        pytest.param("bytes=0-50,10-20", 100, ((0, 50),), id="contained-merged"),
        pytest.param("bytes=0-0,-1", 1, ((0, 0),), id="same-byte-twice"),
        pytest.param("bytes=200-300,0-1", 100, ((0, 1),), id="unsatisfiable-dropped"),
        pytest.param("bytes=100-", 100, (), id="start-at-end"),
        pytest.param("bytes=100-200", 100, (), id="start-past-end"),
        pytest.param("bytes=-0", 100, (), id="empty-suffix"),
        pytest.param("bytes=-0,100-", 100, (), id="nothing-satisfiable"),
        pytest.param("bytes=5-2", 100, None, id="last-before-first"),
        pytest.param("bytes=0-1,5-2", 100, None, id="one-invalid-spoils-all"),
        pytest.param("bytes=1-2-3", 100, None, id="two-dashes"),
        pytest.param("bytes=+1-2", 100, None, id="sign"),
        pytest.param("bytes=1 -2", 100, None, id="inner-space"),
        pytest.param("bytes=0x10-", 100, None, id="hex"),
        pytest.param("bytes=\u0661-\u0662", 100, None, id="non-ascii-digits"),
        pytest.param("bytes=", 100, None, id="no-ranges"),
        pytest.param("bytes=,", 100, None, id="only-commas"),
        pytest.param("bytes=-", 100, None, id="bare-dash"),
        pytest.param("bytes=5", 100, None, id="no-dash"),
        pytest.param("bytes 0-1", 100, None, id="no-equals"),
        pytest.param("items=0-1", 100, None, id="other-unit"),
        pytest.param("0-1", 100, None, id="no-unit"),
        pytest.param("bytes=0-1", 0, None, id="empty-representation"),
        pytest.param("bytes=-5", 0, None, id="suffix-of-empty-representation"),
        pytest.param("bytes=" + ",".join(f"{i}-{i}" for i in range(0, 202, 2)), 1000, None, id="too-many"),
        pytest.param("bytes=" + "0" * MAX_RANGE_LENGTH + "-", 100, None, id="over-long"),
        pytest.param("bytes=99999999999999999999999-", 100, (), id="huge-start"),
        pytest.param("bytes=0-99999999999999999999999", 100, ((0, 99),), id="huge-end"),
    ],
)
def test_parse_range(value: str, size: int, expected: tuple[tuple[int, int], ...] | None) -> None:
    assert parse_range(value, size) == expected


def test_parse_range_cap_is_configurable() -> None:
    assert parse_range("bytes=0-0,2-2", 10, max_ranges=2) == ((0, 0), (2, 2))
    assert parse_range("bytes=0-0,2-2,4-4", 10, max_ranges=2) is None
    assert parse_range("bytes=0-0", 10, max_ranges=0) is None


_range_spec = st.one_of(
    st.tuples(st.integers(0, 300), st.none() | st.integers(0, 300)).filter(
        lambda t: t[1] is None or t[1] >= t[0]
    ),
    st.tuples(st.none(), st.integers(0, 300)),
)


@given(size=st.integers(1, 256), specs=st.lists(_range_spec, min_size=1, max_size=8))
def test_parsed_ranges_select_exactly_the_requested_bytes(
    size: int, specs: list[tuple[int | None, int | None]]
) -> None:
    text = ",".join(f"{'' if a is None else a}-{'' if b is None else b}" for a, b in specs)
    ranges = parse_range(f"bytes={text}", size)
    assert ranges is not None
    wanted: set[int] = set()
    for first, last in specs:
        if first is None:
            assert last is not None
            wanted.update(range(max(size - last, 0), size))
        else:
            wanted.update(range(first, min(size - 1 if last is None else last, size - 1) + 1))
    selected = [position for first, last in ranges for position in range(first, last + 1)]
    assert selected == sorted(wanted)  # every requested byte once, in order, nothing else
    assert all(0 <= first <= last < size for first, last in ranges)
    assert all(later[0] > earlier[1] + 1 for earlier, later in itertools.pairwise(ranges))
