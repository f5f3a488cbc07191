"""HTTP content codings (gzip, br, zstd) on the fastest backend installed, behind one small API.

Backends are chosen when this module is imported, by trying imports in order:

========  ==========================================================  ==================
coding    backends, most preferred first                              levels
========  ==========================================================  ==================
``gzip``  ``isal`` (levels 1-3), ``zlib-ng``, stdlib ``zlib``          1-9
``br``    ``brotli``, ``brotlicffi``                                  0-11
``zstd``  ``compression.zstd`` (3.14+), ``backports.zstd``,           1-22
          ``zstandard``
========  ==========================================================  ==================

Levels use each coding's usual scale (gzip's is zlib's). ISA-L only has levels up to 3, so gzip levels
1-3 run on ``isal`` when it is installed and higher levels on ``zlib-ng`` or ``zlib``: asking for level 9
means asking for the better ratio, which ISA-L cannot give.

Stable API (the module-level functions use the selection made at import)::

    available() -> tuple[str, ...]            # codings usable here, in server preference order
    compress(coding, data, level=None, *, padding=b"") -> bytes      # one shot, deterministic
    compressor(coding, level=None, *, padding=b"") -> Compressor     # streaming
    max_level(coding) / min_level(coding) / default_level(coding) -> int
    backend(coding, level=None) -> str        # the backend that would run, e.g. "isal"
    codec(coding, level=None) -> Codec        # validated once: .compress(data), .compressor(), .level

A :class:`Compressor` has ``compress(chunk) -> bytes``, ``flush() -> bytes`` (a sync flush: every byte
given so far can be decoded by the client, so server-sent events keep flowing) and ``finish() -> bytes``
(ends the stream; the object is not used afterwards). ``level=None`` means :func:`default_level`, a
level suited to compressing dynamic responses on the fly; offline callers pass :func:`max_level`.

Output is deterministic: gzip members carry mtime 0 and no file name, so equal input gives equal bytes
on the same backend. ``padding`` (gzip only) is carried in the gzip header's FNAME field, which decoders
ignore: it changes the length of the compressed response without changing the decoded body (a BREACH
mitigation). zstd windows are capped at 8 MiB, the most a client must support (RFC 9659 §3).

:class:`Codecs` is the selection itself; ``Codecs.detect()`` repeats the import-time choice and
``Codecs(load_backend("zlib"), ...)`` builds an explicit one (to pin the stdlib, or to test it).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

__all__ = [
    "CANDIDATES",
    "CODINGS",
    "Backend",
    "Codec",
    "Codecs",
    "Compressor",
    "available",
    "backend",
    "codec",
    "compress",
    "compressor",
    "default_level",
    "load_backend",
    "max_level",
    "min_level",
    "selected",
]

#: Every coding this module knows, in server preference order (best ratio per CPU second first).
CODINGS = ("zstd", "br", "gzip")

#: Backend names per coding, most preferred first.
CANDIDATES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "zstd": ("compression.zstd", "backports.zstd", "zstandard"),
        "br": ("brotli", "brotlicffi"),
        "gzip": ("isal", "zlib-ng", "zlib"),
    }
)

_LEVELS: Mapping[str, range] = MappingProxyType({"gzip": range(1, 10), "br": range(12), "zstd": range(1, 23)})
# zlib's level 5 costs about a quarter less CPU than its default 6, for output < 2% larger on HTML.
_DEFAULT_LEVEL: Mapping[str, int] = MappingProxyType({"gzip": 5, "br": 4, "zstd": 3})
# ISA-L's best level still runs several times faster than zlib's level 1, at a ratio close to zlib's 3.
_FAST_GZIP_DEFAULT = 3
# RFC 9659 §3: a zstd-encoded response must not need a window larger than 8 MiB to decode.
_ZSTD_MAX_WINDOW_LOG = 23
# Levels 20-22 ("ultra") would pick windows of 32-128 MiB; every lower level stays within 8 MiB.
_ZSTD_LAST_SMALL_WINDOW_LEVEL = 19


class Compressor(Protocol):
    """A streaming compressor for one response body."""

    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...
    def finish(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Backend:
    """One library implementing one coding: ``compress(data, level, padding)`` and ``compressor(...)``."""

    coding: str
    name: str
    levels: range
    compress: Callable[[bytes, int, bytes], bytes]
    compressor: Callable[[int, bytes], Compressor]


@dataclass(frozen=True, slots=True)
class Codec:
    """A coding at a level on a backend: what :meth:`Codecs.codec` resolves once and reuses."""

    coding: str
    level: int
    backend: Backend

    def compress(self, data: bytes, *, padding: bytes = b"") -> bytes:
        return self.backend.compress(data, self.level, padding)

    def compressor(self, *, padding: bytes = b"") -> Compressor:
        return self.backend.compressor(self.level, padding)


# -- gzip ---------------------------------------------------------------------------------------------

_Z_SYNC_FLUSH = zlib.Z_SYNC_FLUSH
_Z_FINISH = zlib.Z_FINISH
_GZIP_TRAILER = struct.Struct("<II")


class _DeflateObject(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self, mode: int = ..., /) -> bytes: ...


class _ZlibStream:
    """A gzip stream framed by the library itself (``wbits=31``)."""

    __slots__ = ("_obj",)

    def __init__(self, obj: _DeflateObject) -> None:
        self._obj = obj

    def compress(self, data: bytes, /) -> bytes:
        return self._obj.compress(data)

    def flush(self) -> bytes:
        return self._obj.flush(_Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._obj.flush(_Z_FINISH)


def _gzip_header(padding: bytes) -> bytes:
    # RFC 1952 §2.3: ID1 ID2 CM=deflate FLG MTIME=0 XFL=0 OS=255 (unknown), then FNAME if FLG.FNAME.
    if not padding:
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    if b"\x00" in padding:
        raise ValueError("gzip padding must not contain NUL bytes (it is a zero-terminated field)")
    return b"\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\xff" + padding + b"\x00"


class _GzipFramed:
    """A gzip member framed here around raw deflate, so that the header can carry padding."""

    __slots__ = ("_crc", "_crc32", "_head", "_obj", "_size")

    def __init__(self, obj: _DeflateObject, crc32: Callable[[bytes, int], int], padding: bytes) -> None:
        self._obj = obj
        self._crc32 = crc32
        self._head = _gzip_header(padding)
        self._crc = 0
        self._size = 0

    def _take_head(self, out: bytes) -> bytes:
        head, self._head = self._head, b""
        return head + out

    def compress(self, data: bytes, /) -> bytes:
        self._crc = self._crc32(data, self._crc)
        self._size += len(data)
        out = self._obj.compress(data)
        return self._take_head(out) if self._head else out

    def flush(self) -> bytes:
        out = self._obj.flush(_Z_SYNC_FLUSH)
        return self._take_head(out) if self._head else out

    def finish(self) -> bytes:
        out = self._obj.flush(_Z_FINISH) + _GZIP_TRAILER.pack(self._crc, self._size & 0xFFFFFFFF)
        return self._take_head(out) if self._head else out


def _gzip_backend(name: str, module: Any, levels: range) -> Backend:
    deflated, compressobj, crc32, one_shot = (
        module.DEFLATED,
        module.compressobj,
        module.crc32,
        module.compress,
    )

    def compress(data: bytes, level: int, padding: bytes) -> bytes:
        if not padding:
            return bytes(one_shot(data, level, wbits=31))
        stream = _GzipFramed(compressobj(level, deflated, -15), crc32, padding)
        return stream.compress(data) + stream.finish()

    def compressor(level: int, padding: bytes) -> Compressor:
        if not padding:
            return _ZlibStream(compressobj(level, deflated, 31))
        return _GzipFramed(compressobj(level, deflated, -15), crc32, padding)

    return Backend("gzip", name, levels, compress, compressor)


# -- br -----------------------------------------------------------------------------------------------


class _BrotliStream:
    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def compress(self, data: bytes, /) -> bytes:
        return bytes(self._obj.process(data))

    def flush(self) -> bytes:
        return bytes(self._obj.flush())

    def finish(self) -> bytes:
        return bytes(self._obj.finish())


def _brotli_backend(name: str, module: Any) -> Backend:
    def compress(data: bytes, level: int, padding: bytes) -> bytes:
        _no_padding("br", padding)
        return bytes(module.compress(data, quality=level))

    def compressor(level: int, padding: bytes) -> Compressor:
        _no_padding("br", padding)
        return _BrotliStream(module.Compressor(quality=level))

    return Backend("br", name, _LEVELS["br"], compress, compressor)


# -- zstd ---------------------------------------------------------------------------------------------


class _StdlibZstdStream:
    """``compression.zstd`` / ``backports.zstd``: FLUSH_BLOCK makes everything so far decodable."""

    __slots__ = ("_block", "_frame", "_obj")

    def __init__(self, obj: Any) -> None:
        self._obj = obj
        self._block = obj.FLUSH_BLOCK
        self._frame = obj.FLUSH_FRAME

    def compress(self, data: bytes, /) -> bytes:
        return bytes(self._obj.compress(data))

    def flush(self) -> bytes:
        return bytes(self._obj.flush(self._block))

    def finish(self) -> bytes:
        return bytes(self._obj.flush(self._frame))


def _stdlib_zstd_backend(name: str, module: Any) -> Backend:
    level_key, window_key = (
        module.CompressionParameter.compression_level,
        module.CompressionParameter.window_log,
    )

    def compress(data: bytes, level: int, padding: bytes) -> bytes:
        _no_padding("zstd", padding)
        if level > _ZSTD_LAST_SMALL_WINDOW_LEVEL:
            return bytes(module.compress(data, options={level_key: level, window_key: _ZSTD_MAX_WINDOW_LOG}))
        return bytes(module.compress(data, level=level))  # the plain level is the faster path

    def compressor(level: int, padding: bytes) -> Compressor:
        _no_padding("zstd", padding)
        if level > _ZSTD_LAST_SMALL_WINDOW_LEVEL:
            return _StdlibZstdStream(
                module.ZstdCompressor(options={level_key: level, window_key: _ZSTD_MAX_WINDOW_LOG})
            )
        return _StdlibZstdStream(module.ZstdCompressor(level=level))

    return Backend("zstd", name, _LEVELS["zstd"], compress, compressor)


class _ZstandardStream:
    __slots__ = ("_block", "_obj")

    def __init__(self, obj: Any, block: int) -> None:
        self._obj = obj
        self._block = block

    def compress(self, data: bytes, /) -> bytes:
        return bytes(self._obj.compress(data))

    def flush(self) -> bytes:
        return bytes(self._obj.flush(self._block))

    def finish(self) -> bytes:
        return bytes(self._obj.flush())


def _zstandard_backend(module: Any) -> Backend:
    def make(level: int) -> Any:
        if level > _ZSTD_LAST_SMALL_WINDOW_LEVEL:
            params = module.ZstdCompressionParameters.from_level(level, window_log=_ZSTD_MAX_WINDOW_LOG)
            return module.ZstdCompressor(compression_params=params)
        return module.ZstdCompressor(level=level)

    def compress(data: bytes, level: int, padding: bytes) -> bytes:
        _no_padding("zstd", padding)
        return bytes(make(level).compress(data))

    def compressor(level: int, padding: bytes) -> Compressor:
        _no_padding("zstd", padding)
        return _ZstandardStream(make(level).compressobj(), module.COMPRESSOBJ_FLUSH_BLOCK)

    return Backend("zstd", "zstandard", _LEVELS["zstd"], compress, compressor)


def _no_padding(coding: str, padding: bytes) -> None:
    if padding:
        raise ValueError(f"{coding} has no header field to carry padding; only gzip does")


def _zstd_module(name: str) -> Any:
    """The module of the zstd backend called ``name``; ImportError when it is not installed."""
    if name == "compression.zstd":
        from compression import zstd  # type: ignore[import-not-found, unused-ignore]  # Python 3.14+

        return zstd
    if name == "backports.zstd":
        from backports import zstd as backports_zstd

        return backports_zstd
    import zstandard

    return zstandard


# -- selection ----------------------------------------------------------------------------------------


def load_backend(name: str) -> Backend:
    """The backend called ``name`` (see the table above); ImportError when its library is missing."""
    if name == "zlib":
        return _gzip_backend("zlib", zlib, _LEVELS["gzip"])
    if name == "isal":
        from isal import isal_zlib

        return _gzip_backend("isal", isal_zlib, range(1, isal_zlib.ISAL_BEST_COMPRESSION + 1))
    if name == "zlib-ng":
        from zlib_ng import zlib_ng

        return _gzip_backend("zlib-ng", zlib_ng, _LEVELS["gzip"])
    if name == "brotli":
        import brotli

        return _brotli_backend("brotli", brotli)
    if name == "brotlicffi":
        import brotlicffi

        return _brotli_backend("brotlicffi", brotlicffi)
    if name in ("compression.zstd", "backports.zstd"):
        return _stdlib_zstd_backend(name, _zstd_module(name))
    if name == "zstandard":
        return _zstandard_backend(_zstd_module(name))
    known = ", ".join(name for names in CANDIDATES.values() for name in names)
    raise ValueError(f"unknown codec backend {name!r}; known backends: {known}")


class Codecs:
    """A selection of backends: for each coding, the backends to use, most preferred first.

    A level runs on the first backend of its coding whose own levels include it; the coding's scale is
    the union of them (gzip: 1-9 even with ISA-L, whose levels stop at 3).
    """

    __slots__ = ("_backends",)

    def __init__(self, *backends: Backend) -> None:
        grouped: dict[str, list[Backend]] = {}
        for item in backends:
            if item.coding not in _LEVELS:
                raise ValueError(f"backend {item.name!r} implements unknown coding {item.coding!r}")
            grouped.setdefault(item.coding, []).append(item)
        self._backends: Mapping[str, tuple[Backend, ...]] = MappingProxyType(
            {coding: tuple(grouped[coding]) for coding in CODINGS if coding in grouped}
        )

    @classmethod
    def detect(cls, candidates: Mapping[str, Iterable[str]] = CANDIDATES) -> Codecs:
        """The backends whose libraries import, in the order of ``candidates``.

        A coding's candidates are tried until the ones found cover all its levels: a later candidate
        would never run, so its library is not imported (``zstandard`` costs a few milliseconds of
        start-up, and imports ``platform``, when ``backports.zstd`` is there).
        """
        found = []
        for coding, names in candidates.items():
            wanted = set(_LEVELS.get(coding, ()))
            for name in names:
                try:
                    item = load_backend(name)
                except ImportError:
                    continue
                found.append(item)
                wanted.difference_update(item.levels)
                if not wanted:
                    break
        return cls(*found)

    def available(self) -> tuple[str, ...]:
        return tuple(self._backends)

    def _chain(self, coding: str) -> tuple[Backend, ...]:
        try:
            return self._backends[coding]
        except KeyError:
            if coding in _LEVELS:
                needs = " or ".join(CANDIDATES[coding])
                raise ValueError(
                    f"content coding {coding!r} needs one of: {needs} (none is installed)"
                ) from None
            raise ValueError(
                f"unknown content coding {coding!r}; known codings: {', '.join(CODINGS)}"
            ) from None

    def min_level(self, coding: str) -> int:
        return min(item.levels.start for item in self._chain(coding))

    def max_level(self, coding: str) -> int:
        return max(item.levels.stop for item in self._chain(coding)) - 1

    def default_level(self, coding: str) -> int:
        """A level suited to compressing dynamic responses while they are sent."""
        if coding == "gzip" and self._chain(coding)[0].name == "isal":
            return _FAST_GZIP_DEFAULT
        self._chain(coding)
        return _DEFAULT_LEVEL[coding]

    def check_level(self, coding: str, level: int | None) -> int:
        """``level`` (or the default), or a ValueError/TypeError saying which levels exist."""
        if level is None:
            return self.default_level(coding)
        if isinstance(level, bool) or not isinstance(level, int):
            raise TypeError(f"{coding} level must be an int, not {type(level).__name__}")
        low, high = self.min_level(coding), self.max_level(coding)
        if not low <= level <= high:
            raise ValueError(f"{coding} level must be between {low} and {high}, not {level}")
        return level

    def _pick(self, coding: str, level: int | None) -> tuple[Backend, int]:
        level = self.check_level(coding, level)
        for item in self._chain(coding):
            if level in item.levels:
                return item, level
        raise ValueError(f"no installed {coding} backend offers level {level}")  # a gap between backends

    def codec(self, coding: str, level: int | None = None) -> Codec:
        """``coding`` at ``level`` bound to the backend that runs it, validated once for many uses."""
        item, level = self._pick(coding, level)
        return Codec(coding, level, item)

    def backend(self, coding: str, level: int | None = None) -> str:
        """Name of the backend that runs ``coding`` at ``level``."""
        return self._pick(coding, level)[0].name

    def compress(self, coding: str, data: bytes, level: int | None = None, *, padding: bytes = b"") -> bytes:
        """``data`` compressed as one complete ``coding`` stream."""
        item, level = self._pick(coding, level)
        return item.compress(data, level, padding)

    def compressor(self, coding: str, level: int | None = None, *, padding: bytes = b"") -> Compressor:
        """A new streaming compressor producing one ``coding`` stream (one gzip member, one zstd frame)."""
        item, level = self._pick(coding, level)
        return item.compressor(level, padding)

    def __repr__(self) -> str:
        parts = (
            f"{coding}: {', '.join(item.name for item in chain)}" for coding, chain in self._backends.items()
        )
        return f"<Codecs {'; '.join(parts)}>"


_SELECTED = Codecs.detect()


def available() -> tuple[str, ...]:
    """The codings usable here, in server preference order (zstd, br, gzip); gzip is always there."""
    return _SELECTED.available()


def compress(coding: str, data: bytes, level: int | None = None, *, padding: bytes = b"") -> bytes:
    """``data`` compressed in one shot; deterministic. ``level=None`` is :func:`default_level`."""
    return _SELECTED.compress(coding, data, level, padding=padding)


def compressor(coding: str, level: int | None = None, *, padding: bytes = b"") -> Compressor:
    """A streaming :class:`Compressor` for one response body."""
    return _SELECTED.compressor(coding, level, padding=padding)


def min_level(coding: str) -> int:
    return _SELECTED.min_level(coding)


def max_level(coding: str) -> int:
    """The best-ratio level of ``coding`` (what offline pre-compression should use)."""
    return _SELECTED.max_level(coding)


def default_level(coding: str) -> int:
    """The level used when none is given: fast enough to compress responses on the fly."""
    return _SELECTED.default_level(coding)


def codec(coding: str, level: int | None = None) -> Codec:
    """``coding`` at ``level`` (validated) on the backend that runs it; raises ValueError/TypeError."""
    return _SELECTED.codec(coding, level)


def backend(coding: str, level: int | None = None) -> str:
    """Name of the installed library that compresses ``coding`` at ``level``."""
    return _SELECTED.backend(coding, level)


def selected() -> Codecs:
    """The selection made at import."""
    return _SELECTED


def zstd_library() -> tuple[str, Any] | None:
    """The selected zstd backend's name and the module it runs on, for code in this package that decodes
    zstd itself (with bounds of its own); None when no zstd backend is installed."""
    if "zstd" not in _SELECTED.available():
        return None
    name = _SELECTED.backend("zstd")
    return name, _zstd_module(name)
