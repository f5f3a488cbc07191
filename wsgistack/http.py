"""Pure HTTP decisions shared by the middlewares: content negotiation, and (below) ranges, conditionals,
dates and entity tags. No WSGI here: plain values in, plain values out, so each rule is table-tested.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType

__all__ = ["encoding_q", "negotiate_media_type", "parse_qlist", "preferred_encoding"]

#: Longer Accept/Accept-Encoding values are not parsed: real browsers send < 100 bytes, and a cap keeps
#: a hostile header from costing more than a bounded amount of work (the parse cache is bounded too).
MAX_HEADER_LENGTH = 1024
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
#: RFC 9110 §8.4.1.3: recipients should treat these legacy names as the registered codings.
_CODING_ALIASES = {"x-gzip": "gzip", "x-compress": "compress"}
_NO_PREFERENCES: Mapping[str, float] = MappingProxyType({})


def _qvalue(text: str) -> float | None:
    """RFC 9110 §12.4.2 ``qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )``; None if invalid."""
    whole, _, fraction = text.partition(".")
    if (
        whole not in ("0", "1")
        or len(fraction) > 3
        or not ((fraction.isascii() and fraction.isdigit()) or not fraction)
    ):
        return None
    if whole == "1" and fraction.strip("0"):
        return None
    return float(f"{whole}.{fraction or 0}")


def parse_qlist(value: str) -> list[tuple[str, dict[str, str], float]]:
    """Split a q-weighted list (Accept, Accept-Encoding) into ``(item, params, q)`` in header order.

    Items are lowercased; an element with an invalid q-value or an empty item is dropped rather than
    guessed at, so a malformed header never turns a refusal (``q=0``) into an acceptance.
    """
    parsed = []
    for element in value.split(","):
        item, *raw_params = element.split(";")
        item = item.strip(" \t").lower()
        if not item:
            continue
        params: dict[str, str] = {}
        q: float | None = 1.0
        for raw in raw_params:
            key, _, param_value = raw.partition("=")
            key, param_value = key.strip(" \t").lower(), param_value.strip(" \t").strip('"')
            if key == "q":
                q = _qvalue(param_value)
                break  # parameters after q are accept-ext, which no coding or type here uses
            params[key] = param_value
        if q is not None:
            parsed.append((item, params, q))
    return parsed


@lru_cache(maxsize=512)
def _codings(accept_encoding: str) -> Mapping[str, float]:
    # Callers check MAX_HEADER_LENGTH first, so an oversized header never becomes a cache key.
    codings: dict[str, float] = {}
    for item, _, q in parse_qlist(accept_encoding):
        if set(item) <= _TCHAR:  # a token only: "x-gzip-really" is not gzip, nor is "gzip/x"
            codings.setdefault(_CODING_ALIASES.get(item, item), q)  # the first mention wins
    return MappingProxyType(codings)


def encoding_q(accept_encoding: str | None, coding: str) -> float:
    """The q-value a request's Accept-Encoding gives ``coding`` (RFC 9110 §12.5.3).

    Absent or empty header: only ``identity`` is acceptable. The RFC allows any coding when the header
    is absent, but clients that omit it (scripts, health checks, old proxies) are exactly the ones
    that may not decode; webob reports an absent header as accepting gzip, and we deliberately do not.
    ``identity`` stays acceptable unless refused by ``identity;q=0`` or a ``*;q=0`` that does not name it.
    """
    coding = _CODING_ALIASES.get(coding.lower(), coding.lower())
    if accept_encoding and len(accept_encoding) <= MAX_HEADER_LENGTH:
        codings = _codings(accept_encoding)
    else:
        codings = _NO_PREFERENCES
    if coding in codings:
        return codings[coding]
    if "*" in codings:
        return codings["*"]
    return 1.0 if coding == "identity" else 0.0


def preferred_encoding(accept_encoding: str | None, offered: Sequence[str]) -> str | None:
    """The acceptable coding of ``offered`` with the highest q; ties go to the earlier one in ``offered``
    (the server's preference). None when the client accepts none of them. Include ``"identity"`` in
    ``offered`` to let an unencoded response win where the client ranks it higher.
    """
    if not accept_encoding or len(accept_encoding) > MAX_HEADER_LENGTH:
        return None if "identity" not in offered else "identity"
    return _preferred(accept_encoding, offered if isinstance(offered, tuple) else tuple(offered))


@lru_cache(maxsize=512)
def _preferred(accept_encoding: str, offered: tuple[str, ...]) -> str | None:
    best, best_q = None, 0.0
    for coding in offered:
        q = encoding_q(accept_encoding, coding)
        if q > best_q:
            best, best_q = coding, q
    return best


@lru_cache(maxsize=512)
def _media_ranges(accept: str) -> tuple[tuple[str, str, float], ...]:
    ranges = []
    for item, _, q in parse_qlist(accept):
        main, slash, sub = item.partition("/")
        if (
            slash
            and main
            and sub
            and set(main) <= _TCHAR
            and set(sub) <= _TCHAR
            and (main != "*" or sub == "*")
        ):
            ranges.append((main, sub, q))
    return tuple(ranges)


def negotiate_media_type(accept: str | None, offered: Sequence[str]) -> str:
    """The best of ``offered`` (media types such as ``"application/json"``) for an Accept header.

    Each offered type takes the q of the most specific matching range (``type/sub`` over ``type/*``
    over ``*/*``, RFC 9110 §12.5.1); the highest q > 0 wins, ties go to the earlier offered type. When
    the header is absent, unparseable or matches nothing, the first offered type is the answer: an error
    or limit response must always be deliverable, so this never answers 406.
    """
    if not offered:
        raise ValueError("negotiate_media_type() needs at least one offered type")
    ranges = _media_ranges(accept) if accept and len(accept) <= MAX_HEADER_LENGTH else ()
    best, best_q = offered[0], 0.0
    for media_type in offered:
        main, _, sub = media_type.lower().partition(";")[0].strip().partition("/")
        specificity, q = -1, 0.0
        for range_main, range_sub, range_q in ranges:
            if range_main == main and range_sub == sub:
                rank = 2
            elif range_main == main and range_sub == "*":
                rank = 1
            elif range_main == "*":
                rank = 0
            else:
                continue
            if rank > specificity:
                specificity, q = rank, range_q
        if q > best_q:
            best, best_q = media_type, q
    return best


# --- Dates, entity tags, conditional requests and ranges (RFC 9110 §5.6.7, §8.8.3, §13, §14) ---------

#: Longer If-Match / If-None-Match / If-Range / date values are not parsed (treated as malformed): a client
#: sends one entity-tag or a few, and the cap bounds the work a hostile header can cause.
MAX_VALIDATOR_LENGTH = 4096
#: Longer Range values are ignored (the whole representation is sent), as RFC 9110 §14.2 allows.
MAX_RANGE_LENGTH = 4096

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name: number for number, name in enumerate(_MONTHS, 1)}
_DAY_NAME = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH_NAME = f"({'|'.join(_MONTHS)})"
_TIME = "([0-9]{2}):([0-9]{2}):([0-9]{2})"
# HTTP-date is case-sensitive and has exactly these three shapes (RFC 9110 §5.6.7).
_IMF_FIXDATE = re.compile(rf"{_DAY_NAME}, ([0-9]{{2}}) {_MONTH_NAME} ([0-9]{{4}}) {_TIME} GMT")
_RFC850_DATE = re.compile(
    rf"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), ([0-9]{{2}})-{_MONTH_NAME}-([0-9]{{2}}) "
    rf"{_TIME} GMT"
)
_ASCTIME_DATE = re.compile(rf"{_DAY_NAME} {_MONTH_NAME} ([0-9 ][0-9]) {_TIME} ([0-9]{{4}})")
# opaque-tag = DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3)
_ENTITY_TAG = re.compile(r'(?:W/)?"[!#-~\x80-\xff]*"')
_ENTITY_TAG_ELEMENT = re.compile(r'[ \t]*((?:W/)?"[!#-~\x80-\xff]*")?[ \t]*(,|\Z)')


def format_http_date(timestamp: float) -> str:
    """``timestamp`` (seconds since the epoch) as an IMF-fixdate, the only form a sender may generate.

    Day and month names are fixed English (RFC 9110 §5.6.7), never the locale's, so no ``strftime``.
    """
    t = time.gmtime(timestamp // 1)
    return (
        f"{_WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _timestamp(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int | None:
    """``calendar.timegm`` of a checked proleptic-Gregorian date and time, or None if there is none.

    Computed here rather than with ``calendar``, whose import (with ``datetime`` and ``locale``) costs
    more start-up time than the rest of this module.
    """
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if year < 1 or not 1 <= day <= _MONTH_DAYS[month - 1] + (month == 2 and leap):
        return None
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second (RFC 9110 §5.6.7)
        return None
    # Days since 1970-01-01 in the calendar that starts the year on 1 March, so the leap day comes last.
    shifted = year - (month <= 2)
    era, year_of_era = divmod(shifted, 400)
    day_of_year = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146097 + day_of_era - 719468
    return ((days * 24 + hour) * 60 + minute) * 60 + second


@lru_cache(maxsize=256)
def _parse_fixed_date(value: str) -> int | None:
    match = _IMF_FIXDATE.fullmatch(value)
    if match is not None:
        day, month, year, hour, minute, second = match.groups()
    else:
        match = _ASCTIME_DATE.fullmatch(value)
        if match is None:
            return None
        month, day, hour, minute, second, year = match.groups()
    return _timestamp(int(year), _MONTH_NUMBERS[month], int(day), int(hour), int(minute), int(second))


def parse_http_date(value: str, *, now: float | None = None) -> int | None:
    """Seconds since the epoch for an HTTP-date in any of its three forms, or None if it is not one.

    Recipients must accept IMF-fixdate, the obsolete RFC 850 form and asctime (RFC 9110 §5.6.7). A
    two-digit RFC 850 year that would lie more than 50 years after ``now`` (default: the current time)
    is the most recent past year with those digits. A list of dates, another zone, or an impossible date
    (``31 Feb``) is not an HTTP-date, and callers must then ignore the header carrying it.
    """
    value = value.strip(" \t")
    if len(value) > 40:
        return None
    if "-" not in value:
        return _parse_fixed_date(value)
    match = _RFC850_DATE.fullmatch(value)
    if match is None:
        return None
    day, month, short_year, hour, minute, second = match.groups()
    this_year = time.gmtime(time.time() if now is None else now).tm_year
    year = this_year - this_year % 100 + int(short_year)
    if year > this_year + 50:
        year -= 100
    return _timestamp(year, _MONTH_NUMBERS[month], int(day), int(hour), int(minute), int(second))


def parse_entity_tags(value: str) -> tuple[str, ...] | None:
    """The entity-tags listed in an If-Match or If-None-Match value, as sent (``"x"`` or ``W/"x"``).

    ``("*",)`` for ``*``; None for a malformed, empty or over-long value. Empty list elements are
    skipped, as every list-based field allows (RFC 9110 §5.6.1.2).
    """
    value = value.strip(" \t")
    if value == "*":
        return ("*",)
    if len(value) > MAX_VALIDATOR_LENGTH:
        return None
    tags: list[str] = []
    position = 0
    while True:
        match = _ENTITY_TAG_ELEMENT.match(value, position)
        if match is None:
            return None
        if match[1] is not None:
            tags.append(match[1])
        if not match[2]:
            break
        position = match.end()
    return tuple(tags) or None


def weak_match(a: str, b: str) -> bool:
    """Weak comparison (RFC 9110 §8.8.3.2): the opaque tags are equal, whether or not either is weak."""
    return a.removeprefix("W/") == b.removeprefix("W/")


def strong_match(a: str, b: str) -> bool:
    """Strong comparison (RFC 9110 §8.8.3.2): both tags strong and identical."""
    return a == b and not a.startswith("W/")


def evaluate_preconditions(
    method: str,
    etag: str | None,
    last_modified: int | None,
    *,
    if_match: str | None = None,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
    if_unmodified_since: str | None = None,
) -> int:
    """The outcome of a request's preconditions for a representation that exists: 200, 304 or 412.

    Follows the evaluation order of RFC 9110 §13.2.2: If-Match (strong comparison; a malformed value
    fails), else If-Unmodified-Since; then If-None-Match (weak comparison; a match is 304 for GET and
    HEAD, 412 otherwise), else If-Modified-Since (GET and HEAD only). Invalid dates are ignored, and a
    present If-None-Match makes If-Modified-Since irrelevant even when the tags differ, so a stale date
    never turns a changed entity-tag into a 304. ``last_modified`` is in whole seconds.
    """
    if if_match is not None:
        tags = parse_entity_tags(if_match)
        if tags is None:
            return 412
        if tags != ("*",) and (etag is None or not any(strong_match(tag, etag) for tag in tags)):
            return 412
    elif if_unmodified_since is not None and last_modified is not None:
        date = parse_http_date(if_unmodified_since)
        if date is not None and last_modified > date:
            return 412
    if if_none_match is not None:
        tags = parse_entity_tags(if_none_match)
        if tags is not None and (
            tags == ("*",) or (etag is not None and any(weak_match(tag, etag) for tag in tags))
        ):
            return 304 if method in ("GET", "HEAD") else 412
    elif if_modified_since is not None and last_modified is not None and method in ("GET", "HEAD"):
        date = parse_http_date(if_modified_since)
        if date is not None and last_modified <= date:
            return 304
    return 200


def if_range_allows(value: str, etag: str | None, last_modified: int | None) -> bool:
    """Whether a Range may be honoured under this If-Range value (RFC 9110 §13.1.5).

    An entity-tag must match ``etag`` by strong comparison (a weak tag never does); a date must equal
    ``last_modified`` exactly. Pass ``last_modified`` only when it is a strong validator (§8.8.2.2),
    else None. Anything else, including a malformed value, means "send the whole representation".
    """
    value = value.strip(" \t")
    if len(value) > MAX_VALIDATOR_LENGTH:
        return False
    if value.startswith(('"', "W/")):
        return etag is not None and _ENTITY_TAG.fullmatch(value) is not None and strong_match(value, etag)
    date = parse_http_date(value)
    return date is not None and date == last_modified


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_range(value: str, size: int, *, max_ranges: int = 100) -> tuple[tuple[int, int], ...] | None:
    """The byte ranges a Range value selects from a representation of ``size`` bytes (RFC 9110 §14).

    Returns inclusive ``(first, last)`` pairs, clamped to the representation, sorted, with overlapping and
    adjacent ranges merged (§15.3.7.2 allows coalescing); ``()`` when no range is satisfiable (answer
    416); None when the header must or may be ignored and the whole representation sent with 200: a
    unit other than ``bytes``, a syntax error (``5-2``, ``1-2-3``, signs, non-ASCII digits), more than
    ``max_ranges`` ranges, an over-long value, or an empty representation (no byte range can describe it).
    A suffix ``-N`` is the last N bytes; ``-0`` and a first byte at or past the end are unsatisfiable.
    """
    if size <= 0 or len(value) > MAX_RANGE_LENGTH:
        return None
    unit, equals, range_set = value.partition("=")
    if not equals or unit.strip(" \t").lower() != "bytes":  # range units are case-insensitive (§14.1)
        return None
    ranges: list[tuple[int, int]] = []
    count = 0
    for element in range_set.split(","):
        spec = element.strip(" \t")
        if not spec:
            continue
        count += 1
        if count > max_ranges:
            return None
        first, dash, last = spec.partition("-")
        if not dash:
            return None
        if first:
            if not _is_digits(first) or (last and not _is_digits(last)):
                return None
            start = int(first)
            end = int(last) if last else size - 1
            if last and end < start:
                return None  # an invalid int-range makes the whole ranges-specifier invalid (§14.1.1)
            if start < size:
                ranges.append((start, min(end, size - 1)))
        else:
            if not _is_digits(last):
                return None
            suffix = int(last)
            if suffix > 0:
                ranges.append((max(size - suffix, 0), size - 1))
    if count == 0:
        return None
    ranges.sort()
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


__all__ += [
    "MAX_RANGE_LENGTH",
    "MAX_VALIDATOR_LENGTH",
    "evaluate_preconditions",
    "format_http_date",
    "if_range_allows",
    "parse_entity_tags",
    "parse_http_date",
    "parse_range",
    "strong_match",
    "weak_match",
]
