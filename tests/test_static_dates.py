"""StaticFiles: which precompressed variants are current, by their modification time and their file's.

A variant older than its file is stale, except by the fraction of a microsecond that a date copied
through float seconds loses, as WhiteNoise's compressor copies it: such a variant is dated like its file.
"""

from __future__ import annotations

import logging
import math
import os
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.test_static import JS, JS_VARIANTS, T0, Inner, call, write
from wsgistack import StaticFiles
from wsgistack.static import _variant_age

NS = 10**9
GZ = JS_VARIANTS["gzip"][1]
YEAR_2242_NS = 2**33 * NS  # from here on a float date is coarser than 1 µs
YEAR_9999_NS = 253_402_300_799 * NS  # 9999-12-31 23:59:59 UTC
OPTIONS = [pytest.param({}, id="start-up-table"), pytest.param({"autorefresh": True}, id="autorefresh")]


def stamp(path: Path, mtime_ns: int) -> Path:
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def copy_date_through_floats(source: Path, target: Path) -> None:
    """Give ``target`` the date of ``source`` as WhiteNoise's compressor does (``Compressor.write_data``)."""
    info = os.stat(source)
    os.utime(target, (info.st_atime, info.st_mtime))


def float_copy(mtime_ns: int) -> int:
    """The date ``copy_date_through_floats`` gives, computed as CPython does it: ``st_mtime`` is
    ``sec + nsec * 1e-9`` and ``os.utime`` splits a float with ``modf`` and floors the nanoseconds."""
    seconds, nanoseconds = divmod(mtime_ns, NS)
    fraction, whole = math.modf(seconds + nanoseconds * 1e-9)
    return int(whole) * NS + math.floor(fraction * 1e9)


def sampled_dates(count: int, seed: int) -> list[int]:
    """Dates with nanoseconds, from 2001 to 2106 (where a float date's resolution goes from 119 to 477 ns)."""
    rng = random.Random(seed)
    return [rng.randrange(1_000_000_000 * NS, 2**32 * NS) for _ in range(count)]


def served_codings(app: StaticFiles, names: list[str], coding: str) -> set[str | None]:
    return {
        call(app, f"/static/{name}", headers={"Accept-Encoding": coding}).header("Content-Encoding")
        for name in names
    }


def whitenoise_tree(root: Path, count: int) -> list[str]:
    """``count`` files with sampled dates under ``root``, compressed by WhiteNoise's own compressor; their
    names, checked to include files whose variants came out older."""
    from whitenoise.compress import Compressor  # type: ignore[import-untyped]

    compressor = Compressor(quiet=True)
    names = []
    for index, date in enumerate(sampled_dates(count, seed=4)):
        source = stamp(write(root, f"{index}.js", JS + b"// %d\n" % index), date)
        assert sorted(compressor.compress(str(source))) == [f"{source}.br", f"{source}.gz"]
        names.append(source.name)
    assert any((root / f"{name}.gz").stat().st_mtime_ns < (root / name).stat().st_mtime_ns for name in names)
    return names


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize(
    "offset_ns",
    [
        pytest.param(0, id="same-date"),
        pytest.param(-1, id="1ns-older"),
        pytest.param(-239, id="239ns-older"),
        pytest.param(-1000, id="1us-older"),
        pytest.param(1000, id="1us-newer"),
        pytest.param(3600 * NS, id="an-hour-newer"),
    ],
)
def test_a_variant_at_most_a_microsecond_older_than_its_file_is_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, options: dict[str, Any], offset_ns: int
) -> None:
    write(tmp_path, "a.js", JS)
    stamp(write(tmp_path, "a.js.gz", GZ), T0 * NS + offset_ns)
    with caplog.at_level(logging.WARNING, logger="wsgistack.static"):
        app = StaticFiles(Inner(), tmp_path, **options)
        result = call(app, "/static/a.js", headers={"Accept-Encoding": "gzip"})
    assert (result.header("Content-Encoding"), result.header("Vary")) == ("gzip", "Accept-Encoding")
    assert result.body == GZ
    assert caplog.records == []


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize(
    "offset_ns",
    [
        pytest.param(-1001, id="1001ns-older"),
        pytest.param(-NS // 2, id="older-within-the-same-second"),
        pytest.param(-100 * NS, id="100s-older"),
    ],
)
def test_a_variant_older_than_that_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, options: dict[str, Any], offset_ns: int
) -> None:
    source = write(tmp_path, "a.js", JS)
    variant = stamp(write(tmp_path, "a.js.gz", GZ), T0 * NS + offset_ns)
    with caplog.at_level(logging.WARNING, logger="wsgistack.static"):
        app = StaticFiles(Inner(), tmp_path, **options)
        result = call(app, "/static/a.js", headers={"Accept-Encoding": "gzip"})
    assert (result.header("Content-Encoding"), result.header("Vary")) == (None, None)
    assert result.body == JS
    assert [record.getMessage() for record in caplog.records] == [
        f"ignoring {os.path.realpath(variant)} (gzip): older than {os.path.realpath(source)}, "
        "so it may hold old content"
    ]


def test_variants_whose_dates_were_copied_through_floats_are_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """WhiteNoise's copy of each date, ``os.utime`` with float seconds, on real files and many dates."""
    names, older = [], 0
    for index, date in enumerate(sampled_dates(400, seed=3)):
        source = stamp(write(tmp_path, f"{index}.js", JS), date)
        assert source.stat().st_mtime_ns == date
        variant = write(tmp_path, f"{index}.js.gz", GZ)
        copy_date_through_floats(source, variant)
        assert variant.stat().st_mtime_ns == float_copy(date)  # what the property tests below compute
        older += variant.stat().st_mtime_ns < date
        names.append(source.name)
    assert older > 100  # about half of the copies lose time
    with caplog.at_level(logging.WARNING, logger="wsgistack.static"):
        app = StaticFiles(Inner(), tmp_path)
    assert served_codings(app, names, "gzip") == {"gzip"}
    assert caplog.records == []


def test_a_directory_compressed_by_whitenoise_is_served_with_its_variants(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    compressed = whitenoise_tree(tmp_path, 60)
    with caplog.at_level(logging.WARNING, logger="wsgistack.static"):
        app = StaticFiles(Inner(), tmp_path)
    for coding in ("br", "gzip"):
        assert served_codings(app, compressed, coding) == {coding}
    assert caplog.records == []


@given(st.integers(min_value=0, max_value=YEAR_9999_NS))
@example(1_700_000_000_000_000_596)  # 120 ns older: the most from 2004 to 2038
@example(253_402_300_798_000_015_258)  # 15.3 µs older: the most from 6325 to 9999
def test_a_date_copied_through_floats_is_the_same_date_until_the_year_9999(mtime_ns: int) -> None:
    assert _variant_age(float_copy(mtime_ns), mtime_ns) == "same"


@given(st.integers(min_value=0, max_value=YEAR_2242_NS - NS))
def test_until_2242_the_slack_is_one_microsecond_either_way(mtime_ns: int) -> None:
    assert _variant_age(mtime_ns - 1000, mtime_ns) == _variant_age(mtime_ns + 1000, mtime_ns) == "same"
    assert _variant_age(mtime_ns - 1001, mtime_ns) == "older"
    assert _variant_age(mtime_ns + 1001, mtime_ns) == "newer"


@given(st.integers(min_value=0, max_value=YEAR_9999_NS))
def test_the_slack_stays_below_31_microseconds(mtime_ns: int) -> None:
    """A float's resolution of the date, 30.5 µs at most until 9999: far less than any edit takes."""
    assert _variant_age(mtime_ns - 31_000, mtime_ns) == "older"
