"""``wsgistack compress DIR``: write the ``.br``, ``.zst`` and ``.gz`` siblings that StaticFiles serves.

Each compressible file gets one variant per coding, made with the best installed backend at its highest
level (offline, so time is cheap and every byte saved is saved on every request). The output is
deterministic, a variant is kept only if it saves at least ``--min-saving`` percent (5 by default), and it
carries the source's modification time, so StaticFiles (and nginx's ``gzip_static``) can tell a fresh
variant from a stale one. Already-compressed formats are skipped, files are spread over all cores, and
running the command again only redoes files that changed: it is idempotent.

A date is not proof: reproducible builds pin every file's modification time (``SOURCE_DATE_EPOCH``), so a
file can change and keep its date. A variant dated like its file, to within the microsecond that a copy of
the date through a float can lose (as StaticFiles judges it), and small enough to keep, is therefore
decoded, its output bounded by the file's size so that a bogus variant cannot exhaust memory, and left
alone only if it decodes to exactly the file's bytes; anything else is compressed again. Decoding costs a
fraction of compressing at the top level.

Hidden names (``.git``) and symbolic links are left alone: reading through a link could publish, next
to it, a compressed copy of a file from outside the directory.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import TextIO

from . import codecs
from .static import _variant_age

__all__ = ["SKIP_EXTENSIONS", "SUFFIXES", "Outcome", "compress_file", "find_files", "main"]

#: The file suffix for each coding; StaticFiles also reads ``.zstd``.
SUFFIXES = {"br": ".br", "zstd": ".zst", "gzip": ".gz"}
_VARIANT_SUFFIXES = (".br", ".zst", ".zstd", ".gz")

#: Formats that are compressed already: another pass costs CPU and saves nothing.
SKIP_EXTENSIONS = frozenset(
    {
        # images
        ".jpg", ".jpeg", ".jfif", ".png", ".apng", ".gif", ".webp", ".avif", ".heic", ".heif", ".jxl",
        # archives and packages
        ".zip", ".gz", ".tgz", ".bz2", ".tbz", ".xz", ".txz", ".zst", ".zstd", ".br", ".7z", ".rar", ".jar",
        ".war", ".ear", ".apk", ".whl", ".deb", ".rpm", ".dmg", ".svgz", ".epub",
        # office documents are zip files
        ".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".odg",
        # fonts
        ".woff", ".woff2",
        # audio and video
        ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".mp4", ".m4v", ".mov", ".webm", ".ogv",
        ".mkv", ".avi", ".wmv", ".flv", ".3gp", ".3gpp", ".mpg", ".mpeg", ".ts", ".swf",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: per coding ``"written"``, ``"fresh"`` (already up to date: dated like the
    file and decodes to its bytes), ``"not-smaller"`` (saved too little; a stale variant was removed) or an
    error message."""

    path: str
    size: int
    results: tuple[tuple[str, str, int], ...] = ()  # (coding, result, variant size)
    error: str | None = None


@dataclass
class _Totals:
    files: int = 0
    written: int = 0
    fresh: int = 0
    not_smaller: int = 0
    errors: list[str] = field(default_factory=list)
    source_bytes: int = 0
    saved: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        self.files += 1
        if outcome.error is not None:
            self.errors.append(f"{outcome.path}: {outcome.error}")
            return
        self.source_bytes += outcome.size
        for coding, result, size in outcome.results:
            if result == "written":
                self.written += 1
            elif result == "fresh":
                self.fresh += 1
            else:
                self.not_smaller += 1
            if result in ("written", "fresh"):
                self.saved[coding] = self.saved.get(coding, 0) + outcome.size - size


def find_files(directory: str, skip: frozenset[str] = SKIP_EXTENSIONS) -> Iterator[str]:
    """The files under ``directory`` worth compressing, in a stable order.

    Hidden names, symbolic links, empty files, skipped extensions and existing variants (``x.css.gz``
    next to ``x.css``) are left out.
    """
    for current, directories, files in os.walk(directory):
        directories[:] = sorted(name for name in directories if not name.startswith("."))
        names = set(files)
        for name in sorted(files):
            if name.startswith("."):
                continue
            lowered = name.lower()
            if lowered.endswith(_VARIANT_SUFFIXES) and name.rpartition(".")[0] in names:
                continue
            if os.path.splitext(lowered)[1] in skip:
                continue
            path = os.path.join(current, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_size > 0:
                yield path


def compress_file(path: str, codings: Sequence[str], min_saving: float) -> Outcome:
    """Write (or refresh, or remove) the variants of one file; never raises for a file's own trouble."""
    try:
        with open(path, "rb") as source:
            info = os.fstat(source.fileno())
            data = source.read()
    except OSError as exc:
        return Outcome(path, 0, error=str(exc))
    results = []
    largest = len(data) * (1 - min_saving)  # the largest variant worth keeping
    try:
        for coding in codings:
            target = path + SUFFIXES[coding]
            existing = _regular(target)
            current = None  # the variant's bytes, when it is dated like the file and small enough
            # Only a variant dated like the file is checked: a newer one is compressed again and given the
            # file's date too, since with its own date it could hide the file's next edit from StaticFiles.
            if (
                existing is not None
                and _variant_age(existing.st_mtime_ns, info.st_mtime_ns) == "same"
                and existing.st_size <= largest
            ):
                # The same date does not mean the same content (builds that pin dates): decode to be sure.
                current = _read_variant(target, len(data))
                if current is not None and _DECODES_TO[coding](current, data):
                    results.append((coding, "fresh", existing.st_size))
                    continue
            compressed = codecs.compress(coding, data, codecs.max_level(coding))
            if len(compressed) <= largest:
                if compressed == current:  # could not be decoded here with bounded output, but up to date
                    results.append((coding, "fresh", len(compressed)))
                    continue
                _write_like(target, compressed, info)
                results.append((coding, "written", len(compressed)))
            else:
                if existing is not None:
                    os.unlink(target)  # stale: it no longer matches the file and would be served
                results.append((coding, "not-smaller", len(compressed)))
    except OSError as exc:
        return Outcome(path, len(data), tuple(results), error=str(exc))
    return Outcome(path, len(data), tuple(results))


def _read_variant(target: str, size: int) -> bytes | None:
    """The bytes of the variant ``target`` of a ``size``-byte file; None if it is larger than the file (a
    variant that is kept never is) or cannot be read."""
    try:
        with open(target, "rb") as file:
            variant = file.read(size + 1)
    except OSError:
        return None
    return variant if len(variant) <= size else None


# Each checker answers whether ``variant`` is one complete stream that decodes to exactly ``data``, never
# producing much more than ``len(data) + 1`` bytes of output; None when no installed library can decode
# with a bound (the variant is then compressed again and compared byte for byte).


def _gzip_decodes_to(variant: bytes, data: bytes) -> bool | None:
    decoder = zlib.decompressobj(wbits=31)  # one gzip member, as every gzip backend writes it
    try:
        decoded = decoder.decompress(variant, len(data) + 1)
    except zlib.error:  # not gzip, or a wrong CRC-32 or length in the trailer
        return False
    return decoder.eof and not decoder.unused_data and decoded == data


def _brotli_decodes_to(variant: bytes, data: bytes) -> bool | None:
    try:
        import brotli
    except ImportError:  # brotlicffi has no output limit
        return None
    decoder = brotli.Decompressor()
    try:
        decoded = decoder.process(variant, output_buffer_limit=len(data) + 1)
    except TypeError:  # brotli < 1.2 has no output limit
        return None
    except brotli.error:
        return False
    return bool(decoder.is_finished()) and decoded == data


# RFC 9659 §3: a zstd response needs at most an 8 MiB window, and codecs caps what it writes there; a
# variant needing more is not one to serve, and the bound keeps the decoder's memory small.
_ZSTD_WINDOW_LOG_MAX = 23


def _zstd_decodes_to(variant: bytes, data: bytes) -> bool | None:
    library = codecs.zstd_library()  # the library the variants are compressed with
    if library is None:
        return None
    name, module = library
    if name == "zstandard":
        return _zstandard_decodes_to(variant, data)
    decoder = module.ZstdDecompressor(  # compression.zstd or backports.zstd
        options={module.DecompressionParameter.window_log_max: _ZSTD_WINDOW_LOG_MAX}
    )
    try:
        decoded = decoder.decompress(variant, len(data) + 1)
    except module.ZstdError:
        return False
    return bool(decoder.eof) and not decoder.unused_data and decoded == data


def _zstandard_decodes_to(variant: bytes, data: bytes) -> bool | None:
    try:
        import zstandard
    except ImportError:
        return None
    try:
        # decompress() sizes its output by the frame's declared content size, or by max_output_size
        # when there is none: a declared size other than the file's is stale before any decoding.
        if zstandard.frame_content_size(variant) not in (-1, len(data)):
            return False
        decoder = zstandard.ZstdDecompressor(max_window_size=1 << _ZSTD_WINDOW_LOG_MAX)
        decoded = decoder.decompress(variant, max_output_size=len(data) + 1, allow_extra_data=False)
    except zstandard.ZstdError:
        return False
    return decoded == data


_DECODES_TO: dict[str, Callable[[bytes, bytes], bool | None]] = {
    "gzip": _gzip_decodes_to,
    "br": _brotli_decodes_to,
    "zstd": _zstd_decodes_to,
}


def _regular(path: str) -> os.stat_result | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def _write_like(target: str, data: bytes, source: os.stat_result) -> None:
    """Write ``target`` atomically with the source's permissions and modification time.

    A reader (the server scanning the directory) sees the old variant or the new one, never half a
    file; the temporary name is hidden so a scan that catches it does not serve it.
    """
    directory, name = os.path.split(target)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        # mkstemp creates 0600: the server's user must be able to read the variant as it reads the file
        os.chmod(temporary, stat.S_IMODE(source.st_mode))
        os.utime(temporary, ns=(source.st_atime_ns, source.st_mtime_ns))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _compress_task(task: tuple[str, tuple[str, ...], float]) -> Outcome:
    return compress_file(*task)


def _outcomes(
    paths: Sequence[str], codings: tuple[str, ...], min_saving: float, jobs: int
) -> Iterable[Outcome]:
    tasks = [(path, codings, min_saving) for path in paths]
    if jobs <= 1 or len(tasks) <= 1:
        return map(_compress_task, tasks)
    # Processes, not threads: brotli and zlib at their top levels hold the GIL for most of the work.
    # "spawn" starts clean interpreters, safe whatever threads the caller runs.
    executor = ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=get_context("spawn"))
    return _drain(executor, tasks)


def _drain(
    executor: ProcessPoolExecutor, tasks: list[tuple[str, tuple[str, ...], float]]
) -> Iterator[Outcome]:
    with executor:
        yield from executor.map(_compress_task, tasks, chunksize=max(1, len(tasks) // 64))


class _Progress:
    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled, self.done = total, stream, enabled and total > 0, 0
        self._last = 0.0

    def step(self, path: str) -> None:
        self.done += 1
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and self.done < self.total):
            return
        self._last = now
        filled = 30 * self.done // self.total
        name = os.path.basename(path)[:40]
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {name:<40}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsgistack compress",
        description="Write precompressed .br, .zst and .gz files next to the static files under DIR.",
    )
    parser.add_argument("directory", metavar="DIR", help="the directory StaticFiles serves")
    parser.add_argument(
        "--codings",
        default=",".join(c for c in ("br", "zstd", "gzip") if c in codecs.available()),
        help="comma-separated codings to write (default: every one installed: %(default)s)",
    )
    parser.add_argument(
        "--min-saving",
        type=float,
        default=5.0,
        metavar="PERCENT",
        help="keep a variant only if it is at least this much smaller (default: 5)",
    )
    parser.add_argument(
        "--skip",
        default="",
        metavar="EXTS",
        help="more extensions to leave alone, comma-separated (.jpg, .woff2, ... are always skipped)",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=os.cpu_count() or 1, help="processes to use (default: all cores)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``wsgistack compress``; returns 0, or 1 when some file could not be compressed."""
    parser = _parser()
    args = parser.parse_args(argv)
    codings = tuple(dict.fromkeys(part.strip().lower() for part in args.codings.split(",") if part.strip()))
    unknown = [coding for coding in codings if coding not in SUFFIXES or coding not in codecs.available()]
    if not codings or unknown:
        parser.error(
            f"--codings: {', '.join(unknown) or 'none given'}; installed: {', '.join(codecs.available())}"
        )
    if not 0 <= args.min_saving < 100:
        parser.error("--min-saving must be a percentage from 0 to below 100")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if not os.path.isdir(args.directory):
        parser.error(f"{args.directory!r} is not a directory")
    skip = SKIP_EXTENSIONS | {
        ext if ext.startswith(".") else f".{ext}"
        for ext in (e.strip().lower() for e in args.skip.split(","))
        if ext
    }
    paths = list(find_files(args.directory, skip))
    progress = _Progress(
        len(paths),
        sys.stderr,
        not args.quiet and (sys.stderr.isatty() if args.progress is None else args.progress),
    )
    totals = _Totals()
    for outcome in _outcomes(paths, codings, args.min_saving / 100, args.jobs):
        totals.add(outcome)
        progress.step(outcome.path)
    for error in totals.errors:
        print(f"wsgistack compress: error: {error}", file=sys.stderr)
    if not args.quiet:
        saved = ", ".join(f"{coding} {totals.saved.get(coding, 0):,}" for coding in codings)
        print(
            f"{totals.files} files ({totals.source_bytes:,} bytes): {totals.written} variants written, "
            f"{totals.fresh} already up to date, {totals.not_smaller} not worth keeping; "
            f"bytes saved per request by coding: {saved}"
        )
    return 1 if totals.errors else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
