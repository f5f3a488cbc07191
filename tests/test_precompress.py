"""``wsgistack compress DIR``: which files get variants, their bytes and metadata, idempotence, the CLI."""

from __future__ import annotations

import functools
import gzip
import os
import random
import shutil
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import brotli
import pytest
import zstandard

from tests.test_static import Inner, call
from tests.test_static_dates import NS, copy_date_through_floats, sampled_dates, stamp, whitenoise_tree
from wsgistack import StaticFiles, cli, codecs, precompress
from wsgistack.precompress import compress_file, find_files, main

T0 = 1_600_000_000
TEXT = b"".join(
    b".rule-%d { color: #%06x; margin: %dpx }\n" % (i, i * 4099 % 0xFFFFFF, i % 17) for i in range(400)
)
DECODE = {".gz": gzip.decompress, ".br": brotli.decompress, ".zst": zstandard.ZstdDecompressor().decompress}
CODING = {".gz": "gzip", ".br": "br", ".zst": "zstd"}


def write(root: Path, name: str, data: bytes, mode: int = 0o644) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, ns=(T0 * 10**9, T0 * 10**9))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    write(root, "app.css", TEXT)
    write(root, "js/app.js", TEXT.replace(b"color", b"background"), mode=0o640)
    write(root, "photo.jpg", TEXT)  # compressible bytes, but the type is skipped
    write(root, "fonts/a.woff2", TEXT)
    write(root, "tiny.txt", b"ab")  # nothing to gain
    write(root, "empty.txt", b"")
    write(root, "random.bin", os.urandom(4096))  # incompressible
    write(root, ".hidden.css", TEXT)
    write(root, ".git/config.txt", TEXT)
    write(root, "archive.tar.gz", gzip.compress(TEXT, mtime=0))
    write(tmp_path, "outside.css", TEXT)
    (root / "link.css").symlink_to(tmp_path / "outside.css")
    return root


def variants(root: Path) -> set[str]:
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.suffix in DECODE and path.name != "archive.tar.gz"
    }


def test_variants_for_compressible_files_only(tree: Path) -> None:
    assert main([str(tree), "--jobs", "1", "--quiet"]) == 0
    assert variants(tree) == {
        "app.css.br", "app.css.zst", "app.css.gz", "js/app.js.br", "js/app.js.zst", "js/app.js.gz",
    }  # fmt: skip


@pytest.mark.parametrize("suffix", [".br", ".zst", ".gz"])
def test_variant_bytes_and_metadata(tree: Path, suffix: str) -> None:
    main([str(tree), "-j", "1", "-q"])
    for name, mode in (("app.css", 0o644), ("js/app.js", 0o640)):
        source, variant = tree / name, tree / (name + suffix)
        assert DECODE[suffix](variant.read_bytes()) == source.read_bytes()
        assert variant.stat().st_mtime_ns == source.stat().st_mtime_ns
        assert variant.stat().st_mode & 0o777 == mode
        assert variant.stat().st_size <= source.stat().st_size * 0.95


def test_output_is_deterministic(tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy, symlinks=True)
    main([str(tree), "-j", "1", "-q"])
    main([str(copy), "-j", "1", "-q"])
    for name in variants(tree):
        assert (tree / name).read_bytes() == (copy / name).read_bytes(), name


def test_second_run_is_idempotent(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main([str(tree), "-j", "1"])
    first = {name: ((tree / name).read_bytes(), (tree / name).stat().st_ino) for name in variants(tree)}
    capsys.readouterr()
    assert main([str(tree), "-j", "1"]) == 0
    assert {
        name: ((tree / name).read_bytes(), (tree / name).stat().st_ino) for name in variants(tree)
    } == first
    assert "0 variants written, 6 already up to date" in capsys.readouterr().out


def test_changed_source_refreshes_and_incompressible_source_removes_stale_variants(tree: Path) -> None:
    main([str(tree), "-j", "1", "-q"])
    write(tree, "app.css", TEXT + b"/* more */\n")
    os.utime(tree / "app.css", ns=((T0 + 10) * 10**9, (T0 + 10) * 10**9))
    write(tree, "js/app.js", os.urandom(8192))
    os.utime(tree / "js/app.js", ns=((T0 + 10) * 10**9, (T0 + 10) * 10**9))
    main([str(tree), "-j", "1", "-q"])
    assert gzip.decompress((tree / "app.css.gz").read_bytes()) == TEXT + b"/* more */\n"
    assert (tree / "app.css.gz").stat().st_mtime_ns == (T0 + 10) * 10**9
    assert not any((tree / f"js/app.js{suffix}").exists() for suffix in DECODE)


def test_processes_give_the_same_result(tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy, symlinks=True)
    assert main([str(tree), "-j", "1", "-q"]) == 0
    assert main([str(copy), "-j", "2", "-q"]) == 0
    assert variants(tree) == variants(copy)
    for name in variants(tree):
        assert (tree / name).read_bytes() == (copy / name).read_bytes()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(["--codings", "gzip"], {"app.css.gz"}, id="gzip-only"),
        pytest.param(["--codings", "br, zstd"], {"app.css.br", "app.css.zst"}, id="two-codings"),
        pytest.param(["--skip", "css,.js"], set(), id="skip-more-extensions"),
        pytest.param(["--min-saving", "99"], set(), id="min-saving"),
    ],
)
def test_options(tree: Path, options: list[str], expected: set[str]) -> None:
    (tree / "js/app.js").unlink()
    assert main([str(tree), "-j", "1", "-q", *options]) == 0
    assert variants(tree) == expected


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param(["--codings", "deflate"], id="unknown-coding"),
        pytest.param(["--codings", ","], id="no-coding"),
        pytest.param(["--min-saving", "100"], id="min-saving-100"),
        pytest.param(["--min-saving", "-1"], id="min-saving-negative"),
        pytest.param(["--jobs", "0"], id="jobs-zero"),
    ],
)
def test_usage_errors(tree: Path, arguments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(tree), *arguments])
    assert exit_info.value.code == 2
    assert "wsgistack compress" in capsys.readouterr().err


def test_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing")])
    assert "is not a directory" in capsys.readouterr().err


def test_progress_bar_and_summary(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tree), "-j", "1", "--progress"]) == 0
    captured = capsys.readouterr()
    assert "[##############################] 4/4" in captured.err  # app.css, app.js, tiny.txt, random.bin
    assert captured.out.startswith("4 files (")
    assert "6 variants written, 0 already up to date, 6 not worth keeping" in captured.out


def test_quiet_prints_nothing(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main([str(tree), "-j", "1", "-q", "--progress"])
    assert capsys.readouterr() == ("", "")


def test_a_file_that_cannot_be_read_is_reported(tmp_path: Path) -> None:
    outcome = compress_file(str(tmp_path / "gone.css"), ("gzip",), 0.05)
    assert outcome.error is not None
    assert "No such file" in outcome.error


def test_find_files_skips_existing_variants_but_not_lone_gz_names(tree: Path) -> None:
    write(tree, "data.json", TEXT)
    write(tree, "data.json.gz", gzip.compress(TEXT, mtime=0))
    write(tree, "notes.br", TEXT)  # no "notes" next to it: a file of its own (but .br is skipped)
    found = {os.path.relpath(path, tree) for path in find_files(str(tree))}
    assert found == {"app.css", os.path.join("js", "app.js"), "tiny.txt", "random.bin", "data.json"}


def test_static_files_serve_what_compress_wrote(tree: Path) -> None:
    main([str(tree), "-j", "1", "-q"])
    app = StaticFiles(Inner(), tree)
    for coding, suffix in (("br", ".br"), ("zstd", ".zst"), ("gzip", ".gz")):
        result = call(app, "/static/app.css", headers={"Accept-Encoding": coding})
        assert result.header("Content-Encoding") == coding
        assert result.body == (tree / ("app.css" + suffix)).read_bytes()
    assert call(app, "/static/app.css", headers={"Accept-Encoding": "br, zstd, gzip"}).header(
        "Content-Encoding"
    ) in ("br", "zstd")


def test_cli_entry_point(tree: Path) -> None:
    assert cli.main(["compress", str(tree), "-j", "1", "-q", "--codings", "gzip"]) == 0
    assert variants(tree) == {"app.css.gz", "js/app.js.gz"}


# --- freshness: a date is not proof ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(TEXT.replace(b"color", b"colour"), id="longer"),
        pytest.param(TEXT.replace(b"margin", b"border"), id="same-size"),
        pytest.param(TEXT[: len(TEXT) // 2], id="shorter"),
    ],
)
def test_content_changed_with_the_date_pinned_is_compressed_again(
    tree: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reproducible builds pin dates (SOURCE_DATE_EPOCH): the file changes, its date does not."""
    main([str(tree), "-j", "1"])
    capsys.readouterr()
    write(tree, "app.css", content)  # dated T0 again, like its variants
    assert main([str(tree), "-j", "1"]) == 0
    assert "3 variants written, 3 already up to date," in capsys.readouterr().out
    for suffix, decode in DECODE.items():
        variant = tree / ("app.css" + suffix)
        assert decode(variant.read_bytes()) == content
        assert variant.stat().st_mtime_ns == T0 * 10**9
    assert main([str(tree), "-j", "1"]) == 0  # and the refreshed variants are up to date
    assert "0 variants written, 6 already up to date," in capsys.readouterr().out


def encoded(suffix: str, data: bytes, level: int | None = None) -> bytes:
    coding = CODING[suffix]
    return codecs.compress(coding, data, codecs.min_level(coding) if level is None else level)


@functools.cache
def bomb(suffix: str) -> bytes:
    """Decodes to far more than TEXT (8 MiB for gzip, whose ratio is at most about 1000:1; 64 MiB for
    the others), yet is no larger than TEXT."""
    size, level = {".gz": (8 * 2**20, 9), ".br": (64 * 2**20, 5), ".zst": (64 * 2**20, 3)}[suffix]
    variant = encoded(suffix, bytes(size), level)
    assert len(variant) <= len(TEXT)
    return variant


CORRUPTIONS = [
    pytest.param(lambda suffix: b"not compressed at all", id="garbage"),
    pytest.param(lambda suffix: b"", id="empty"),
    pytest.param(lambda suffix: encoded(suffix, TEXT)[:-5], id="truncated"),
    pytest.param(lambda suffix: encoded(suffix, TEXT) + b"junk", id="trailing-junk"),
    pytest.param(lambda suffix: encoded(suffix, TEXT) * 2, id="twice"),
    pytest.param(lambda suffix: encoded(suffix, TEXT[:-1]), id="one-byte-short"),
    pytest.param(lambda suffix: encoded(suffix, TEXT + b"\n"), id="one-byte-long"),
    pytest.param(lambda suffix: TEXT + b"!", id="larger-than-the-file"),
    pytest.param(bomb, id="bomb"),  # the check stops decoding at the file's size plus one byte
]


@pytest.mark.parametrize("suffix", [".br", ".zst", ".gz"])
@pytest.mark.parametrize("corrupt", CORRUPTIONS)
def test_a_variant_dated_like_its_file_that_does_not_decode_to_it_is_rewritten(
    tree: Path, suffix: str, corrupt: Callable[[str], bytes]
) -> None:
    main([str(tree), "-j", "1", "-q"])
    variant = tree / ("app.css" + suffix)
    write(tree, variant.name, corrupt(suffix))  # dated T0, like app.css
    tracemalloc.start()
    try:
        outcome = compress_file(str(tree / "app.css"), ("br", "zstd", "gzip"), 0.05)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # the bomb was not decoded whole
    assert outcome.results == tuple(
        (coding, "written" if coding == CODING[suffix] else "fresh", size)
        for coding, _, size in outcome.results
    )
    assert DECODE[suffix](variant.read_bytes()) == TEXT
    assert variant.stat().st_mtime_ns == T0 * 10**9


def test_a_variant_from_another_backend_or_level_is_fresh(tree: Path) -> None:
    """Fresh means "decodes to the file", not "the bytes this run would write"."""
    for suffix in DECODE:
        write(tree, "app.css" + suffix, encoded(suffix, TEXT))  # the fastest level, dated like the file
    before = {suffix: (tree / ("app.css" + suffix)).read_bytes() for suffix in DECODE}
    outcome = compress_file(str(tree / "app.css"), ("br", "zstd", "gzip"), 0.05)
    assert [result for _, result, _ in outcome.results] == ["fresh"] * 3
    assert {suffix: (tree / ("app.css" + suffix)).read_bytes() for suffix in DECODE} == before


@pytest.mark.parametrize("changed", [pytest.param(False, id="unchanged"), pytest.param(True, id="changed")])
def test_without_a_bounded_decoder_the_variant_is_compared_with_a_new_compression(
    tree: Path, monkeypatch: pytest.MonkeyPatch, changed: bool
) -> None:
    """brotlicffi and brotli < 1.2 cannot bound their output: the file is compressed again, and the
    variant kept only if it has exactly those bytes (the output is deterministic)."""
    main([str(tree), "-j", "1", "-q", "--codings", "br"])
    monkeypatch.setitem(precompress._DECODES_TO, "br", lambda variant, data: None)
    variant = tree / "app.css.br"
    inode = variant.stat().st_ino
    if changed:
        write(tree, "app.css", TEXT.replace(b"margin", b"border"))
    outcome = compress_file(str(tree / "app.css"), ("br",), 0.05)
    assert outcome.results[0][1] == ("written" if changed else "fresh")
    assert (variant.stat().st_ino != inode) is changed
    assert brotli.decompress(variant.read_bytes()) == (tree / "app.css").read_bytes()


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def test_a_file_that_saves_less_than_the_minimum_gets_no_variant(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = random_bytes(20_000) + bytes(600)  # every coding saves about 3 %
    write(tree, "low.txt", data)
    write(tree, "low.txt.gz", gzip.compress(data, mtime=0))  # dated like the file: removed all the same
    assert main([str(tree), "-j", "1", "-q"]) == 0
    assert not any((tree / f"low.txt{suffix}").exists() for suffix in DECODE)
    outcome = compress_file(str(tree / "low.txt"), ("br", "zstd", "gzip"), 0.05)
    assert [result for _, result, _ in outcome.results] == ["not-smaller"] * 3
    assert all(0.01 * len(data) < len(data) - size < 0.05 * len(data) for _, _, size in outcome.results)
    assert main([str(tree), "-j", "1", "-q", "--min-saving", "1"]) == 0
    assert all(DECODE[suffix]((tree / f"low.txt{suffix}").read_bytes()) == data for suffix in DECODE)


CHECKERS = [
    pytest.param(precompress._gzip_decodes_to, ".gz", id="gzip-zlib"),
    pytest.param(precompress._brotli_decodes_to, ".br", id="br-brotli"),
    pytest.param(precompress._zstd_decodes_to, ".zst", id="zstd-stdlib"),
    pytest.param(precompress._zstandard_decodes_to, ".zst", id="zstd-zstandard"),
]


@pytest.mark.parametrize(("checker", "suffix"), CHECKERS)
@pytest.mark.parametrize("corrupt", CORRUPTIONS)
def test_checkers_refuse_what_does_not_decode_to_the_file(
    checker: Callable[[bytes, bytes], bool | None], suffix: str, corrupt: Callable[[str], bytes]
) -> None:
    assert checker(encoded(suffix, TEXT), TEXT) is True
    assert checker(encoded(suffix, TEXT, codecs.max_level(CODING[suffix])), TEXT) is True
    assert checker(corrupt(suffix), TEXT) is False


def test_zstandard_checker_without_a_declared_size() -> None:
    stream = zstandard.ZstdCompressor(write_content_size=False).compress(TEXT)
    assert zstandard.frame_content_size(stream) == -1
    assert precompress._zstandard_decodes_to(stream, TEXT) is True
    assert precompress._zstandard_decodes_to(stream, TEXT[:-1]) is False
    bomb = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(64 * 2**20))
    assert precompress._zstandard_decodes_to(bomb, TEXT) is False


def zstd_window(window_log: int) -> bytes:
    """TEXT as a zstd frame that declares no size and asks for a ``2**window_log``-byte window."""
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log)
    stream = zstandard.ZstdCompressor(compression_params=params).compressobj()
    frame = stream.compress(TEXT) + stream.flush()
    assert zstandard.get_frame_parameters(frame).window_size == 1 << window_log
    return frame


@pytest.mark.parametrize(
    "checker", [pytest.param(precompress._zstd_decodes_to, id="stdlib"), precompress._zstandard_decodes_to]
)
def test_zstd_checkers_refuse_a_window_above_8_mib(checker: Callable[[bytes, bytes], bool | None]) -> None:
    """RFC 9659 §3: a client need not decode a window above 8 MiB, nor does the check allocate one."""
    assert checker(zstd_window(23), TEXT) is True
    assert checker(zstd_window(24), TEXT) is False  # it decodes to TEXT all the same


def test_zstd_variants_are_decoded_with_the_library_codecs_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    fits, too_wide, too_large = zstd_window(23), zstd_window(24), bomb(".zst")
    calls: list[bytes] = []
    zstandard_check = precompress._zstandard_decodes_to

    def recording(variant: bytes, data: bytes) -> bool | None:
        calls.append(variant)
        return zstandard_check(variant, data)

    monkeypatch.setattr(precompress, "_zstandard_decodes_to", recording)
    assert precompress._zstd_decodes_to(fits, TEXT) is True
    assert calls == []  # the selection's first zstd backend has the standard library's API
    monkeypatch.setattr(codecs, "_SELECTED", codecs.Codecs(codecs.load_backend("zstandard")))
    checks = [precompress._zstd_decodes_to(variant, TEXT) for variant in (fits, too_wide, too_large, TEXT)]
    assert checks == [True, False, False, False]
    assert calls == [fits, too_wide, too_large, TEXT]
    monkeypatch.setattr(codecs, "_SELECTED", codecs.Codecs(codecs.load_backend("zlib")))
    assert precompress._zstd_decodes_to(fits, TEXT) is None  # nothing installed decodes zstd


# --- dates a microsecond apart: what StaticFiles serves is what compress checks by decoding ----------


@pytest.mark.parametrize("offset_ns", [-1000, -1, 1, 1000])
@pytest.mark.parametrize("changed", [pytest.param(False, id="unchanged"), pytest.param(True, id="changed")])
def test_a_variant_dated_within_a_microsecond_of_its_file_is_checked_by_decoding(
    tree: Path, offset_ns: int, changed: bool
) -> None:
    main([str(tree), "-j", "1", "-q", "--codings", "gzip"])
    variant = stamp(tree / "app.css.gz", T0 * NS + offset_ns)
    inode = variant.stat().st_ino
    content = TEXT.replace(b"margin", b"border") if changed else TEXT
    write(tree, "app.css", content)  # dated T0
    outcome = compress_file(str(tree / "app.css"), ("gzip",), 0.05)
    assert outcome.results[0][1] == ("written" if changed else "fresh")
    assert gzip.decompress(variant.read_bytes()) == content
    assert (variant.stat().st_ino != inode) is changed
    assert variant.stat().st_mtime_ns == T0 * NS + (0 if changed else offset_ns)


@pytest.mark.parametrize("offset_ns", [-1001, 1001, -NS, NS])
def test_a_variant_dated_further_from_its_file_is_written_again_with_its_date(
    tree: Path, offset_ns: int
) -> None:
    main([str(tree), "-j", "1", "-q", "--codings", "gzip"])
    variant = stamp(tree / "app.css.gz", T0 * NS + offset_ns)
    inode = variant.stat().st_ino
    outcome = compress_file(str(tree / "app.css"), ("gzip",), 0.05)
    assert outcome.results[0][1] == "written"
    assert variant.stat().st_ino != inode
    assert variant.stat().st_mtime_ns == T0 * NS


def test_variants_whose_dates_were_copied_through_floats_are_up_to_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """WhiteNoise's copy of each date, ``os.utime`` with float seconds, on real files and many dates."""
    dates, older = {}, 0
    for index, date in enumerate(sampled_dates(100, seed=5)):
        source = stamp(write(tmp_path, f"{index}.css", TEXT), date)
        variant = write(tmp_path, f"{index}.css.gz", encoded(".gz", TEXT))
        copy_date_through_floats(source, variant)
        dates[variant] = variant.stat().st_mtime_ns
        older += dates[variant] < date
    assert older > 20  # about half of the copies lose time
    assert main([str(tmp_path), "-j", "1", "--codings", "gzip"]) == 0
    assert "0 variants written, 100 already up to date," in capsys.readouterr().out
    assert {variant: variant.stat().st_mtime_ns for variant in dates} == dates


def test_a_directory_compressed_by_whitenoise_gets_only_its_zstd_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = whitenoise_tree(tmp_path, 30)
    before = {path: path.read_bytes() for path in tmp_path.iterdir() if path.suffix in (".br", ".gz")}
    assert main([str(tmp_path), "-j", "1", "--codings", "br,zstd,gzip"]) == 0
    assert "30 variants written, 60 already up to date," in capsys.readouterr().out
    assert {path: path.read_bytes() for path in before} == before
    assert all(
        DECODE[".zst"]((tmp_path / f"{name}.zst").read_bytes()) == (tmp_path / name).read_bytes()
        for name in names
    )
