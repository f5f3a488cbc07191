"""wsgistack.codecs: every installed backend, the stdlib fallback, levels, padding, determinism."""

from __future__ import annotations

import gzip
import struct
import zlib
from typing import Any

import brotli
import pytest
import zstandard
from backports import zstd as backports_zstd
from hypothesis import given, settings
from hypothesis import strategies as st

from wsgistack import codecs
from wsgistack.codecs import Codecs, load_backend

TEXT = b"".join(b"<li class='item'>entry %d: the quick brown fox</li>\n" % i for i in range(400))

# The backends installed in the test environment (the `fast` extra plus the `test` extra).
INSTALLED = ["isal", "zlib", "brotli", "backports.zstd", "zstandard"]
MISSING = ["zlib-ng", "brotlicffi", "compression.zstd"]


def decode(coding: str, data: bytes) -> bytes:
    """Decode a complete body with an independent, reference decoder."""
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "br":
        return bytes(brotli.decompress(data))
    if coding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    raise AssertionError(f"no decoder for {coding!r}")


class StreamDecoder:
    """Decode a body piece by piece, as a browser does: what arrived so far, decoded so far."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._obj: Any
        if coding == "gzip":
            self._obj = zlib.decompressobj(wbits=31)
        elif coding == "br":
            self._obj = brotli.Decompressor()
        elif coding == "zstd":
            self._obj = zstandard.ZstdDecompressor().decompressobj()
        else:
            raise AssertionError(f"no decoder for {coding!r}")

    def feed(self, data: bytes) -> bytes:
        if self.coding == "br":
            return bytes(self._obj.process(data))
        return bytes(self._obj.decompress(data))

    @property
    def finished(self) -> bool:
        if self.coding == "gzip":
            return bool(self._obj.eof)
        if self.coding == "br":
            return bool(self._obj.is_finished())
        return bool(self._obj.eof) if hasattr(self._obj, "eof") else True


def backends() -> list[Any]:
    return [pytest.param(load_backend(name), id=name) for name in INSTALLED]


# --- selection -----------------------------------------------------------------------------------------


def test_available_lists_installed_codings_in_server_preference_order() -> None:
    assert codecs.available() == ("zstd", "br", "gzip")
    assert codecs.CODINGS == ("zstd", "br", "gzip")


@pytest.mark.parametrize(
    ("coding", "level", "backend"),
    [
        pytest.param("gzip", None, "isal", id="gzip default runs on isal"),
        pytest.param("gzip", 1, "isal", id="gzip 1 on isal"),
        pytest.param("gzip", 3, "isal", id="gzip 3 on isal"),
        pytest.param("gzip", 4, "zlib", id="gzip 4 beyond isal: zlib"),
        pytest.param("gzip", 9, "zlib", id="gzip 9 on zlib"),
        pytest.param("br", None, "brotli", id="br"),
        pytest.param("zstd", None, "backports.zstd", id="zstd prefers backports.zstd over zstandard"),
    ],
)
def test_backend_choice(coding: str, level: int | None, backend: str) -> None:
    assert codecs.backend(coding, level) == backend


@pytest.mark.parametrize(
    ("coding", "low", "high", "default"),
    [
        pytest.param("gzip", 1, 9, 3, id="gzip"),
        pytest.param("br", 0, 11, 4, id="br"),
        pytest.param("zstd", 1, 22, 3, id="zstd"),
    ],
)
def test_levels(coding: str, low: int, high: int, default: int) -> None:
    assert (codecs.min_level(coding), codecs.max_level(coding), codecs.default_level(coding)) == (
        low,
        high,
        default,
    )


def test_stdlib_default_gzip_level_is_5() -> None:
    assert Codecs(load_backend("zlib")).default_level("gzip") == 5


@pytest.mark.parametrize("name", MISSING)
def test_missing_backend_raises_import_error(name: str) -> None:
    with pytest.raises(ImportError):
        load_backend(name)


def test_detect_skips_missing_backends() -> None:
    selection = Codecs.detect({"gzip": ["zlib-ng", "zlib"], "br": ["brotlicffi"]})
    assert selection.available() == ("gzip",)
    assert selection.backend("gzip") == "zlib"
    assert repr(selection) == "<Codecs gzip: zlib>"


def test_detect_stops_once_a_codings_levels_are_covered(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []

    def recording(name: str) -> codecs.Backend:
        loaded.append(name)
        return load_backend(name)

    monkeypatch.setattr(codecs, "load_backend", recording)
    selection = Codecs.detect({"zstd": ["backports.zstd", "zstandard"], "gzip": ["isal", "zlib"]})
    # backports.zstd has every zstd level, so zstandard is never imported; ISA-L stops at level 3, so the
    # stdlib is still needed for gzip 4-9.
    assert loaded == ["backports.zstd", "isal", "zlib"]
    assert repr(selection) == "<Codecs zstd: backports.zstd; gzip: isal, zlib>"
    assert selection.backend("gzip", 9) == "zlib"


def test_unknown_backend_name() -> None:
    with pytest.raises(ValueError, match=r"unknown codec backend 'lzma'.*known backends: .*isal"):
        load_backend("lzma")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        pytest.param(
            lambda: codecs.compress("deflate", b"x"),
            ValueError,
            "unknown content coding 'deflate'",
            id="coding",
        ),
        pytest.param(
            lambda: codecs.compress("gzip", b"x", 0), ValueError, "between 1 and 9, not 0", id="gzip 0"
        ),
        pytest.param(lambda: codecs.compress("gzip", b"x", 10), ValueError, "between 1 and 9", id="gzip 10"),
        pytest.param(lambda: codecs.compress("br", b"x", 12), ValueError, "between 0 and 11", id="br 12"),
        pytest.param(lambda: codecs.compress("zstd", b"x", 23), ValueError, "between 1 and 22", id="zstd 23"),
        pytest.param(
            lambda: codecs.compress("zstd", b"x", True), TypeError, "must be an int, not bool", id="bool"
        ),
        pytest.param(lambda: codecs.compressor("gzip", "6"), TypeError, "must be an int, not str", id="str"),  # type: ignore[arg-type]
        pytest.param(
            lambda: codecs.compress("br", b"x", padding=b"pad"), ValueError, "only gzip", id="br padding"
        ),
        pytest.param(
            lambda: codecs.compressor("zstd", padding=b"pad"), ValueError, "only gzip", id="zstd pad"
        ),
        pytest.param(lambda: codecs.compress("gzip", b"x", padding=b"a\0b"), ValueError, "NUL", id="NUL"),
    ],
)
def test_invalid_arguments(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_stdlib_only_selection_names_what_to_install() -> None:
    stdlib = Codecs(load_backend("zlib"))
    assert stdlib.available() == ("gzip",)
    with pytest.raises(ValueError, match="'br' needs one of: brotli or brotlicffi"):
        stdlib.compressor("br")
    with pytest.raises(ValueError, match="'zstd' needs one of"):
        stdlib.max_level("zstd")


def test_isal_alone_serves_only_its_levels() -> None:
    fast = Codecs(load_backend("isal"))
    assert (fast.min_level("gzip"), fast.max_level("gzip")) == (1, 3)
    with pytest.raises(ValueError, match="between 1 and 3"):
        fast.compress("gzip", TEXT, 6)


def test_codec_is_validated_once() -> None:
    codec = codecs.codec("gzip", 9)
    assert (codec.coding, codec.level, codec.backend.name) == ("gzip", 9, "zlib")
    assert gzip.decompress(codec.compress(TEXT)) == TEXT
    stream = codec.compressor()
    assert gzip.decompress(stream.compress(TEXT) + stream.finish()) == TEXT


# --- every installed backend ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", backends())
def test_one_shot_round_trip_at_every_level(backend: codecs.Backend) -> None:
    for level in backend.levels:
        if backend.coding == "zstd" and level > 19:
            continue  # the "ultra" levels are slow; covered by the window test below
        out = backend.compress(TEXT, level, b"")
        assert decode(backend.coding, out) == TEXT
        assert len(out) < len(TEXT) / 3


@pytest.mark.parametrize("backend", backends())
def test_one_shot_is_deterministic(backend: codecs.Backend) -> None:
    level = backend.levels[len(backend.levels) // 2]
    assert backend.compress(TEXT, level, b"") == backend.compress(TEXT, level, b"")


@pytest.mark.parametrize("backend", backends())
def test_sync_flush_makes_everything_so_far_decodable(backend: codecs.Backend) -> None:
    stream = backend.compressor(backend.levels[0], b"")
    decoder = StreamDecoder(backend.coding)
    for part in (b"data: first event\n\n", b"data: second event\n\n", TEXT):
        got = decoder.feed(stream.compress(part) + stream.flush())
        assert got == part  # nothing held back: a server-sent event arrives whole
    assert decoder.feed(stream.finish()) == b""
    assert decoder.finished


@pytest.mark.parametrize("backend", backends())
def test_empty_stream_is_a_valid_empty_body(backend: codecs.Backend) -> None:
    stream = backend.compressor(backend.levels[0], b"")
    assert decode(backend.coding, stream.compress(b"") + stream.finish()) == b""


@pytest.mark.parametrize("backend", [b for b in backends() if b.values[0].coding == "gzip"])
def test_gzip_header_is_deterministic(backend: codecs.Backend) -> None:
    for out in (backend.compress(TEXT, 1, b""), _stream(backend.compressor(1, b""), TEXT)):
        assert out[:2] == b"\x1f\x8b"
        flags, mtime = out[3], struct.unpack("<I", out[4:8])[0]
        assert (flags & 0x08, mtime) == (0, 0)  # no file name, no time stamp (RFC 1952 §2.3.1)


@pytest.mark.parametrize("backend", [b for b in backends() if b.values[0].coding == "gzip"])
def test_gzip_padding_rides_in_the_file_name(backend: codecs.Backend) -> None:
    for out in (backend.compress(TEXT, 2, b"x" * 37), _stream(backend.compressor(2, b"x" * 37), TEXT)):
        assert out[3] & 0x08  # FLG.FNAME
        assert out[10 : 10 + 38] == b"x" * 37 + b"\0"
        assert gzip.decompress(out) == TEXT
    plain, padded = backend.compress(TEXT, 2, b""), backend.compress(TEXT, 2, b"abc")
    assert len(padded) - len(plain) == 4


@pytest.mark.parametrize(
    "backend", [pytest.param(load_backend(n), id=n) for n in ("backports.zstd", "zstandard")]
)
def test_zstd_window_never_exceeds_8_mib(backend: codecs.Backend) -> None:
    # RFC 9659 §3: decoders need not support windows above 8 MiB; levels 20-22 would ask for more.
    stream = backend.compressor(22, b"")
    frame = stream.compress(b"x" * 100) + stream.finish()
    assert zstandard.get_frame_parameters(frame).window_size <= 8 << 20
    unbounded = zstandard.ZstdCompressor(level=22).compressobj()
    raw = unbounded.compress(b"x" * 100) + unbounded.flush()
    assert zstandard.get_frame_parameters(raw).window_size > 8 << 20  # the cap is what keeps it small
    assert decode("zstd", frame) == b"x" * 100


def test_zstd_backends_interoperate() -> None:
    out = load_backend("zstandard").compress(TEXT, 3, b"")
    assert backports_zstd.decompress(out) == TEXT
    assert decode("zstd", load_backend("backports.zstd").compress(TEXT, 3, b"")) == TEXT


def _stream(stream: codecs.Compressor, data: bytes) -> bytes:
    return stream.compress(data) + stream.finish()


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=300) | st.sampled_from([b"", TEXT[:2000]]), max_size=8),
    coding=st.sampled_from(codecs.available()),
    padding=st.booleans(),
)
def test_any_chunking_decodes_to_the_input(chunks: list[bytes], coding: str, padding: bool) -> None:
    stream = codecs.compressor(coding, padding=b"pad" if padding and coding == "gzip" else b"")
    decoder = StreamDecoder(coding)
    decoded = b""
    for index, chunk in enumerate(chunks, 1):
        out = stream.compress(chunk)
        if chunk:
            out += stream.flush()
        decoded += decoder.feed(out)
        assert decoded == b"".join(chunks[:index])  # each flushed prefix decodes on arrival
    decoded += decoder.feed(stream.finish())
    assert decoded == b"".join(chunks)
    assert decoder.finished


def test_zstd_library_is_the_selected_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    library = codecs.zstd_library()
    assert library is not None
    name, module = library
    assert name == codecs.backend("zstd") == codecs.backend("zstd", 22)
    assert module.__name__ == name
    monkeypatch.setattr(codecs, "_SELECTED", Codecs(load_backend("zstandard"), load_backend("zlib")))
    assert codecs.zstd_library() == ("zstandard", zstandard)
    monkeypatch.setattr(codecs, "_SELECTED", Codecs(load_backend("zlib")))
    assert codecs.zstd_library() is None
