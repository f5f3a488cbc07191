"""Static files: :class:`StaticFiles` serves directory trees under URL prefixes; the rest goes to the app.

The directories are scanned once at start-up into an immutable table from URL to file, with every header
list, entity-tag and 304 response prebuilt per representation (the file and its precompressed ``.br``,
``.zst`` and ``.gz`` siblings); small files are held in memory. A request is then one dict lookup: a miss
returns the app's own iterable untouched, a hit answers from prebuilt values. ``autorefresh`` looks every
request up on disk instead, with the same path-safety rules, for development.

HTTP decisions (conditionals, ranges, content negotiation, dates) are the pure functions of
:mod:`wsgistack.http`; options are documented in ``docs/static.md``.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import stat
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Literal, NamedTuple, TypeAlias
from urllib.parse import quote, quote_from_bytes, unquote

from .core import (
    Headers,
    StartResponse,
    WSGIApplication,
    WSGIEnvironment,
    check_header,
    merge_header,
    plain_response,
)
from .http import (
    MAX_HEADER_LENGTH,
    evaluate_preconditions,
    format_http_date,
    if_range_allows,
    parse_range,
    preferred_encoding,
)
from .media_types import MediaTypes, needs_charset

__all__ = ["HASHED_NAME", "StaticFiles"]

log = logging.getLogger("wsgistack.static")

#: The default ``immutable`` test: a content hash in the file name, as written by Django's
#: ManifestStaticFilesStorage (``app.3f2a1b9c8d7e.js``), webpack and Parcel (hex digests) or Vite, Rollup
#: and esbuild (``index-B0ykI2W9.js``) when their 8 characters hold a digit and a capital: about three in
#: four of those (the rest look like words, and get ``max_age``). Such a URL names one content forever,
#: so it may be cached for a year. Plain words and dates (``logo-20240101.png``) are not hashes: a false
#: positive would pin a changing file in caches.
HASHED_NAME: re.Pattern[str] = re.compile(
    r"""[.-](?:
        (?=[0-9a-f]{0,63}[0-9])(?=[0-9a-f]{0,63}[a-f])[0-9a-f]{8,64}
        | (?=[\w-]{0,7}[0-9])(?=[\w-]{0,7}[A-Z])[\w-]{8}
    )(?:\.[A-Za-z0-9]+){1,3}$""",
    re.VERBOSE | re.ASCII,
)

ONE_YEAR = 31536000
BLOCK_SIZE = 64 * 1024
#: Precompressed siblings, in the order tried: coding (as in Accept-Encoding) and file suffix.
#: ``.zstd`` is what ServeStatic writes; ``.zst`` wins when both exist.
VARIANTS = (("br", ".br"), ("zstd", ".zst"), ("zstd", ".zstd"), ("gzip", ".gz"))
_VARIANT_SUFFIXES = tuple(suffix for _, suffix in VARIANTS)
# A date copied through float seconds is not exact: WhiteNoise's compressor stamps each variant with
# os.utime(variant, (st.st_atime, st.st_mtime)), which rounds the file's date to the nearest float, then
# floors it to the nanosecond. The copy lands up to half the float's resolution away, either way (120 ns
# for dates from 2004 to 2038, 239 ns until 2106, 15.3 µs in the year 9999), so about half of such variants
# are older than their file. Dates this close count as the same: within 1 µs, or within the resolution of
# the date as a float where that is more (after 2242; 30.5 µs in 9999). That is about twice the error,
# with room for the 100 ns tick that NTFS and SMB truncate dates to, and far less than an edit can hide in:
# no file is read, compressed and written, or even written twice, within a microsecond, and dates after 2242
# are set by tools, not by edits. Filesystems that keep whole seconds (ext3, HFS+, FAT) need no more, since
# a whole second is an exact float; a slack of a second would let pass a variant made within the second
# before an edit.
_MTIME_SLACK_NS = 1000

_TEXT = "text/plain; charset=utf-8"
_NOT_ALLOWED_BODY = b"Method Not Allowed\n"
_NOT_FOUND_BODY = b"Not Found\n"
# Characters no URL segment may hold: controls (C0, DEL, C1), the Windows separators and drive colon
# (also NTFS streams, ``file::$DATA``), and the rest of Windows' reserved set, so a tree serves the
# same URLs on every OS.
_UNSAFE_CHARACTER = re.compile(r'[\x00-\x1f\x7f-\x9f\\/:*?"<>|]')
# Windows opens these devices whatever the extension or directory (``a/NUL.txt``); superscript
# digits count too.
_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"}
)
_MAX_SEGMENT = 255
_MAX_PATH = 4096
# A FIFO or device swapped in for a file must not block the worker in open() (O_NONBLOCK), and
# descriptors must not leak into child processes (O_CLOEXEC).
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)
# RFC 9110 §15.4.5: a 304 carries the validators and caching fields, not representation metadata.
_KEEP_ON_304 = frozenset({"content-location"})
_DROP_ON_304 = frozenset({"accept-ranges", "x-content-type-options"})
# Headers the add_headers hook may not set: they describe the bytes and validators we send, so a
# hook's value would contradict the body or another representation.
_RESERVED = frozenset(
    {"content-length", "content-encoding", "content-range", "etag", "last-modified", "accept-ranges",
     "transfer-encoding"}
)  # fmt: skip
_REPLACEABLE = frozenset(
    {"content-type", "cache-control", "access-control-allow-origin", "x-content-type-options"}
)
# Characters a query string keeps when copied into a Location header; others are percent-encoded.
_QUERY_SAFE = "!$&'()*+,-./:;=?@_~%[]"

AddHeaders: TypeAlias = Callable[[str, str], Iterable[tuple[str, str]]]


class _Representation:
    """One stored form of a file (identity or a precompressed sibling) with its prebuilt responses."""

    __slots__ = ("coding", "content_type", "data", "etag", "headers", "last_modified", "mtime_ns",
                 "not_modified", "partial_headers", "path", "precondition_failed", "size", "strong_date",
                 "unsatisfiable")  # fmt: skip

    coding: str
    content_type: str
    data: bytes | None
    etag: str
    headers: tuple[tuple[str, str], ...]
    last_modified: int | None
    mtime_ns: int
    not_modified: tuple[tuple[str, str], ...]
    partial_headers: tuple[tuple[str, str], ...]
    path: str
    precondition_failed: tuple[tuple[str, str], ...]
    size: int
    strong_date: int | None
    unsatisfiable: tuple[tuple[str, str], ...]


class _File:
    """A served URL: its representations, and the codings to negotiate (smallest first), if any."""

    __slots__ = ("identity", "offered", "representations")

    def __init__(self, representations: dict[str, _Representation]) -> None:
        self.representations = representations
        self.identity = representations["identity"]
        by_size = sorted(representations.values(), key=lambda rep: (rep.size, rep.coding != "identity"))
        # preferred_encoding breaks q ties by order, so the smallest acceptable representation wins
        self.offered = tuple(rep.coding for rep in by_size) if len(representations) > 1 else ()


class _Redirect:
    """A directory URL without its slash, or an index file's own URL: a relative 302 to the directory."""

    __slots__ = ("headers", "location")

    def __init__(self, location: str, cache_control: str | None) -> None:
        self.location = location
        headers = [("Content-Type", _TEXT), ("Content-Length", "0")]
        if cache_control is not None:
            headers.append(("Cache-Control", cache_control))
        self.headers = tuple(headers)

    def respond(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        location = self.location
        query = environ.get("QUERY_STRING")
        if query:
            # The query goes back verbatim, but a header value must not carry what the server let through.
            location = f"{location}?{quote_from_bytes(query.encode('latin-1', 'replace'), safe=_QUERY_SAFE)}"
        start_response("302 Found", [*self.headers, ("Location", location)])
        return []


_Entry: TypeAlias = "_File | _Redirect"


class _Root(NamedTuple):
    directory: str  # real path
    prefix: str  # as configured, decoded ("/static/")
    wsgi_prefix: str  # as it appears in PATH_INFO (UTF-8 bytes read as latin-1, PEP 3333)


class _FileBody:
    """Body read from an open file descriptor: byte ranges and literal parts (multipart boundaries).

    A class with ``close()`` rather than a generator, so the file is closed even when the server
    closes the body before reading it (PEP 3333; a generator's ``finally`` would not run). It reads the
    descriptor directly: no file object to build per request, one ``read`` per block.
    """

    __slots__ = ("_descriptor", "_next", "_pieces", "_position", "_remaining")

    def __init__(self, descriptor: int, pieces: tuple[bytes | tuple[int, int], ...]) -> None:
        self._descriptor = descriptor
        self._pieces = pieces
        self._next = 0
        self._position = 0
        self._remaining = 0

    def __iter__(self) -> _FileBody:
        return self

    def __next__(self) -> bytes:
        while not self._remaining:
            if self._next == len(self._pieces):
                raise StopIteration
            piece = self._pieces[self._next]
            self._next += 1
            if isinstance(piece, bytes):
                return piece
            if piece[0] != self._position:
                self._position = os.lseek(self._descriptor, piece[0], os.SEEK_SET)
            self._remaining = piece[1]
        data = os.read(self._descriptor, min(self._remaining, BLOCK_SIZE))
        if not data:
            # Content-Length is promised; raising makes the server drop the connection instead of
            # leaving the client waiting for bytes that will never come.
            raise OSError(f"file ended {self._remaining} bytes before its announced length")
        self._remaining -= len(data)
        self._position += len(data)
        return data

    def close(self) -> None:
        descriptor, self._descriptor = self._descriptor, -1
        if descriptor >= 0:
            os.close(descriptor)

    def __del__(self) -> None:
        if self._descriptor >= 0:  # a server that never called close(): say so, as file objects do
            warnings.warn(
                f"unclosed file descriptor {self._descriptor}", ResourceWarning, stacklevel=1, source=self
            )
            self.close()


def _segment_is_safe(segment: str, allow_dotfiles: bool, depth: int = 0) -> bool:
    """Whether one URL path segment may name a file: see the security notes in ``docs/static.md``."""
    if not segment or len(segment) > _MAX_SEGMENT or segment in (".", ".."):
        return False
    if segment[0] == "." and not allow_dotfiles:
        return False
    # Windows drops trailing dots and spaces, so "app.py." would be another name for "app.py".
    if segment[-1] in ". " or _UNSAFE_CHARACTER.search(segment) is not None:
        return False
    if segment.partition(".")[0].rstrip(" ").upper() in _DEVICE_NAMES:
        return False
    try:
        segment.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a file name that is not UTF-8 has no canonical URL
        return False
    # A name that decodes (once more, or twice) to something unsafe is refused, so a server or proxy
    # that percent-decodes again (pywb#931) cannot turn it into a traversal; so is one that decodes to
    # invalid UTF-8 (overlong "%c0%ae"), which lenient decoders read as a dot or a slash.
    if "%" in segment and depth < 3:
        try:
            decoded = unquote(segment, errors="strict")
        except UnicodeDecodeError:
            return False
        if decoded != segment and not _segment_is_safe(decoded, allow_dotfiles, depth + 1):
            return False
    # Compatibility forms (fullwidth full stop U+FF0E, fullwidth solidus U+FF0F) become dots and
    # separators under NFKC, which Windows' "best fit" applies when a wide name is narrowed.
    folded = unicodedata.normalize("NFKC", segment)
    return folded == segment or depth >= 3 or _segment_is_safe(folded, allow_dotfiles, depth + 1)


def _safe_segments(path: str, allow_dotfiles: bool) -> tuple[str, ...] | None:
    """The segments of a canonical relative URL path (``a/b.css``), or None when it is not one.

    A trailing slash gives a last segment ``""`` (a directory); ``""`` itself is the root directory.
    Empty segments (``a//b``), dot segments, and every unsafe segment make the whole path refused.
    """
    if len(path) > _MAX_PATH:
        return None
    segments = tuple(path.split("/"))
    for segment in segments[:-1]:
        if not _segment_is_safe(segment, allow_dotfiles):
            return None
    last = segments[-1]
    if last and not _segment_is_safe(last, allow_dotfiles):
        return None
    return segments


def _inside(path: str, directory: str) -> bool:
    # commonpath, not startswith/commonprefix: "/srv/static1" is not inside "/srv/static" (CVE-2023-29159).
    try:
        return os.path.commonpath((path, directory)) == directory
    except ValueError:  # different drives on Windows
        return False


def _as_wsgi(text: str) -> str:
    """A URL path as PATH_INFO carries it: its UTF-8 bytes as latin-1 characters (PEP 3333)."""
    return text.encode("utf-8").decode("latin-1")


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def _check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {prefix!r}")
    if not prefix.startswith("/"):
        raise ValueError(f"prefix must start with '/', got {prefix!r}")
    if not prefix.endswith("/"):
        prefix += "/"
    if prefix != "/" and _safe_segments(prefix[1:-1], allow_dotfiles=True) is None:
        raise ValueError(f"prefix {prefix!r} is not a canonical URL path (no '//', '.', '..', or controls)")
    return prefix


def _immutable_test(value: object) -> Callable[[str], bool] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = re.compile(value)
        except re.error as exc:
            raise ValueError(f"immutable is not a valid regular expression: {exc}") from None
    if isinstance(value, re.Pattern):
        search = value.search
        return lambda url: search(url) is not None
    if callable(value):
        test: Callable[[str], bool] = value
        return test
    raise TypeError(f"immutable must be a regex, a pattern string, a callable or None, got {value!r}")


@lru_cache(maxsize=512)
def _negotiate(accept_encoding: str, offered: tuple[str, ...]) -> str:
    # Nothing acceptable (even identity refused): send identity anyway, as RFC 9110 §12.1 allows a
    # server to disregard the preference; a 406 for a stylesheet helps nobody.
    return preferred_encoding(accept_encoding, offered) or "identity"


def _variant_age(variant_mtime_ns: int, mtime_ns: int) -> Literal["older", "same", "newer"]:
    """How a precompressed variant's modification time compares with its file's, dates within
    ``_MTIME_SLACK_NS`` (or a float's resolution of the date) counting as the same.

    An ``"older"`` variant is stale, made before the file last changed: StaticFiles does not serve it.
    ``wsgistack compress`` trusts only ``"same"``, after decoding the variant, and rewrites the others.
    """
    slack = max(_MTIME_SLACK_NS, int(math.ulp(mtime_ns / 1e9) * 1e9))
    if variant_mtime_ns < mtime_ns - slack:
        return "older"
    return "newer" if variant_mtime_ns > mtime_ns + slack else "same"


def _scan(
    root: str, follow_symlinks: bool, allow_dotfiles: bool
) -> dict[tuple[str, ...], tuple[str, os.stat_result]]:
    """Every regular file under ``root`` (a real path) by URL segments: its real path and stat.

    Symlinks resolve to real paths, so nothing is opened through a link later. A broken link, a link
    loop, an unreadable directory or a link out of the root (unless ``follow_symlinks``) is logged and
    skipped; a directory that is its own ancestor is not entered twice.
    """
    found: dict[tuple[str, ...], tuple[str, os.stat_result]] = {}
    root_stat = os.stat(root)
    pending: list[tuple[str, tuple[str, ...], frozenset[tuple[int, int]]]] = [
        (root, (), frozenset({(root_stat.st_dev, root_stat.st_ino)}))
    ]
    while pending:
        directory, segments, ancestors = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            log.warning("skipping directory %s: %s", directory, exc)
            continue
        for entry in entries:
            if not _segment_is_safe(entry.name, allow_dotfiles):
                log.debug("skipping %s: its name is not a safe URL segment", entry.path)
                continue
            path = entry.path
            try:
                if entry.is_symlink():
                    path = os.path.realpath(path, strict=True)
                    if not follow_symlinks and not _inside(path, root):
                        log.info("skipping %s: it links out of %s (follow_symlinks is off)", entry.path, root)
                        continue
                info = os.stat(path)
            except OSError as exc:  # broken link, link loop (ELOOP), permissions
                log.warning("skipping %s: %s", entry.path, exc)
                continue
            if stat.S_ISDIR(info.st_mode):
                identity = (info.st_dev, info.st_ino)
                if identity in ancestors:
                    log.warning("skipping %s: a directory loop", entry.path)
                    continue
                pending.append((path, (*segments, entry.name), ancestors | {identity}))
            elif stat.S_ISREG(info.st_mode):
                found[(*segments, entry.name)] = (path, info)
    return found


class StaticFiles:
    """Serve the files under ``directory`` at ``prefix``; pass every other request to ``app`` untouched.

    GET and HEAD with conditional requests, byte ranges (single and multipart), precompressed variants
    chosen by Accept-Encoding, caching headers, index files and strict path safety. With ``app=None``
    a miss is answered 404 (a standalone file server). Options: ``docs/static.md``.
    """

    def __init__(
        self,
        app: WSGIApplication | None,
        directory: str | os.PathLike[str] | None,
        *,
        prefix: str = "/static/",
        max_age: int | None = 60,
        immutable: re.Pattern[str] | str | Callable[[str], bool] | None = HASHED_NAME,
        index_file: str | bool | None = None,
        autorefresh: bool = False,
        follow_symlinks: bool = False,
        allow_dotfiles: bool = False,
        cors: str | None = None,
        charset: str | None = "utf-8",
        media_types: Mapping[str, str] | None = None,
        add_headers: AddHeaders | None = None,
        other_methods: Literal["reject", "pass"] = "reject",
        precompressed: bool = True,
        max_ranges: int = 100,
        cache_max_file_size: int = 64 * 1024,
        cache_max_bytes: int = 32 * 1024 * 1024,
        nosniff: bool = True,
    ) -> None:
        if app is not None and not callable(app):
            raise TypeError(f"app must be a WSGI callable or None, got {app!r}")
        self.app: WSGIApplication = app if app is not None else _not_found
        if max_age is not None:
            _check_size("max_age", max_age)
        self._max_age = max_age
        self._immutable = _immutable_test(immutable)
        if index_file is True:
            index_file = "index.html"
        elif index_file is False:
            index_file = None
        if index_file is not None and (
            not isinstance(index_file, str) or not _segment_is_safe(index_file, allow_dotfiles=True)
        ):
            raise ValueError(f"index_file must be a plain file name such as 'index.html', got {index_file!r}")
        self._index_file: str | None = index_file
        self._autorefresh = _check_bool("autorefresh", autorefresh)
        self._follow_symlinks = _check_bool("follow_symlinks", follow_symlinks)
        self._allow_dotfiles = _check_bool("allow_dotfiles", allow_dotfiles)
        self._precompressed = _check_bool("precompressed", precompressed)
        self._nosniff = _check_bool("nosniff", nosniff)
        if cors is not None:
            if not isinstance(cors, str) or not cors:
                raise ValueError(f"cors must be a non-empty origin such as '*', got {cors!r}")
            check_header("Access-Control-Allow-Origin", cors)
        self._cors = cors
        if charset is not None and (
            not isinstance(charset, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", charset)
        ):
            raise ValueError(f"charset must be a charset name such as 'utf-8' or None, got {charset!r}")
        self._charset = charset
        self._media_types = MediaTypes(media_types)
        if add_headers is not None and not callable(add_headers):
            raise TypeError(f"add_headers must be a callable (url, path) -> headers, got {add_headers!r}")
        self._add_headers = add_headers
        if other_methods not in ("reject", "pass"):
            raise ValueError(f"other_methods must be 'reject' or 'pass', got {other_methods!r}")
        self._pass_other_methods = other_methods == "pass"
        self._max_ranges = _check_size("max_ranges", max_ranges)
        self._cache_max_file_size = _check_size("cache_max_file_size", cache_max_file_size)
        self._cache_max_bytes = _check_size("cache_max_bytes", cache_max_bytes)
        self._cache_left = self._cache_max_bytes
        self._roots: tuple[_Root, ...] = ()  # latest first: later add_files() calls take precedence
        self._files: Mapping[str, _Entry] = {}
        self._lookup: Callable[[str], _Entry | None] = self._files.get
        if directory is not None:
            self.add_files(directory, prefix=prefix)
        else:
            _check_prefix(prefix)

    def add_files(self, directory: str | os.PathLike[str], *, prefix: str = "/static/") -> None:
        """Serve ``directory`` at ``prefix`` too; where URLs overlap, the later call wins.

        Call it while setting up, before serving: the table is rebuilt and swapped in whole.
        """
        prefix = _check_prefix(prefix)
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"directory must be a path, got {directory!r}")
        path = os.fspath(directory)
        if not isinstance(path, str) or not path:
            raise ValueError(f"directory must be a non-empty text path, got {directory!r}")
        real = os.path.realpath(path)
        if not os.path.isdir(real):
            raise ValueError(f"directory {path!r} is not a directory")
        root = _Root(real, prefix, _as_wsgi(prefix))
        self._roots = (root, *self._roots)
        if not self._autorefresh:
            files = dict(self._files)
            files.update(self._table(root))
            self._files = files
            self._lookup = files.get
            log.debug("serving %d URLs from %s at %s", len(files), real, prefix)

    # --- the request path ------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        entry = self._lookup(environ.get("PATH_INFO", ""))
        if entry is None:
            if not self._autorefresh:
                return self.app(environ, start_response)
            entry = self._find(environ.get("PATH_INFO", ""))
            if entry is None:
                return self.app(environ, start_response)
        method = environ["REQUEST_METHOD"]
        if method != "GET" and method != "HEAD":
            if self._pass_other_methods:
                return self.app(environ, start_response)
            start_response(
                "405 Method Not Allowed",
                [
                    ("Allow", "GET, HEAD"),
                    ("Content-Type", _TEXT),
                    ("Content-Length", str(len(_NOT_ALLOWED_BODY))),
                ],
            )
            return [_NOT_ALLOWED_BODY]
        if isinstance(entry, _Redirect):
            return entry.respond(environ, start_response)
        return self._serve(entry, method, environ, start_response, True)

    def _serve(
        self,
        file: _File,
        method: str,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        may_refresh: bool,
    ) -> Iterable[bytes]:
        if file.offered:
            accept_encoding = environ.get("HTTP_ACCEPT_ENCODING")
            # Past the parser's length cap no coding is acceptable anyway; checking first also keeps
            # hostile values out of the negotiation cache.
            if accept_encoding and len(accept_encoding) <= MAX_HEADER_LENGTH:
                rep = file.representations[_negotiate(accept_encoding, file.offered)]
            else:
                rep = file.identity
        else:
            rep = file.identity
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if (
            if_none_match == rep.etag
            and "HTTP_IF_MATCH" not in environ
            and "HTTP_IF_UNMODIFIED_SINCE" not in environ
        ):
            start_response("304 Not Modified", list(rep.not_modified))
            return []
        if (
            if_none_match is not None
            or "HTTP_IF_MODIFIED_SINCE" in environ
            or "HTTP_IF_MATCH" in environ
            or "HTTP_IF_UNMODIFIED_SINCE" in environ
        ):
            outcome = evaluate_preconditions(
                method,
                rep.etag,
                rep.last_modified,
                if_match=environ.get("HTTP_IF_MATCH"),
                if_none_match=if_none_match,
                if_modified_since=environ.get("HTTP_IF_MODIFIED_SINCE"),
                if_unmodified_since=environ.get("HTTP_IF_UNMODIFIED_SINCE"),
            )
            if outcome == 304:
                start_response("304 Not Modified", list(rep.not_modified))
                return []
            if outcome == 412:
                start_response("412 Precondition Failed", list(rep.precondition_failed))
                return []
        range_value = environ.get("HTTP_RANGE")
        # Range is defined for GET only (RFC 9110 §14.2); HEAD gets the 200 headers.
        if range_value is not None and method == "GET":
            if_range = environ.get("HTTP_IF_RANGE")
            if if_range is None or if_range_allows(if_range, rep.etag, rep.strong_date):
                ranges = parse_range(range_value, rep.size, max_ranges=self._max_ranges)
                # A multipart body would sit under the representation's Content-Encoding and read as one
                # encoded stream, so an encoded representation only takes a single range.
                if ranges is not None and (len(ranges) <= 1 or rep.coding == "identity"):
                    return self._partial(rep, ranges, environ, start_response, may_refresh)
        if method == "HEAD":
            start_response("200 OK", list(rep.headers))
            return []
        data = rep.data
        if data is not None:
            start_response("200 OK", list(rep.headers))
            return [data]
        descriptor = self._open(rep)
        if descriptor is None:
            return self._refresh(environ, start_response, may_refresh)
        try:
            start_response("200 OK", list(rep.headers))
            wrapper = environ.get("wsgi.file_wrapper")
            if wrapper is None:
                return _FileBody(descriptor, ((0, rep.size),) if rep.size else ())
            opened = io.FileIO(descriptor, "rb", closefd=True)
        except BaseException:
            os.close(descriptor)
            raise
        try:
            # The server's wrapper gets a real file: it may sendfile() from it (PEP 3333 "Optional
            # Platform-Specific File Handling"), and closing the wrapper closes the file.
            body: Iterable[bytes] = wrapper(opened, BLOCK_SIZE)
            return body
        except BaseException:
            opened.close()
            raise

    def _partial(
        self,
        rep: _Representation,
        ranges: tuple[tuple[int, int], ...],
        environ: WSGIEnvironment,
        start_response: StartResponse,
        may_refresh: bool,
    ) -> Iterable[bytes]:
        if not ranges:
            start_response("416 Range Not Satisfiable", list(rep.unsatisfiable))
            return []
        size = rep.size
        if len(ranges) == 1:
            first, last = ranges[0]
            headers = [
                ("Content-Type", rep.content_type),
                ("Content-Range", f"bytes {first}-{last}/{size}"),
                ("Content-Length", str(last - first + 1)),
                *rep.partial_headers,
            ]
            pieces: tuple[bytes | tuple[int, int], ...] = ((first, last - first + 1),)
        else:
            # A fresh random boundary per response: a file cannot be crafted to contain it (RFC 2046 §5.1.1).
            boundary = os.urandom(16).hex()
            parts: list[bytes | tuple[int, int]] = []
            length = 0
            separator = ""  # the first boundary needs no CRLF before it (no preamble)
            for first, last in ranges:
                head = (
                    f"{separator}--{boundary}\r\nContent-Type: {rep.content_type}\r\n"
                    f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
                ).encode("latin-1")
                separator = "\r\n"
                parts += (head, (first, last - first + 1))
                length += len(head) + last - first + 1
            tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
            parts.append(tail)
            length += len(tail)
            headers = [
                ("Content-Type", f"multipart/byteranges; boundary={boundary}"),
                ("Content-Length", str(length)),
                *rep.partial_headers,
            ]
            pieces = tuple(parts)
        data = rep.data
        if data is not None:
            start_response("206 Partial Content", headers)
            return [
                piece if isinstance(piece, bytes) else data[piece[0] : piece[0] + piece[1]]
                for piece in pieces
            ]
        descriptor = self._open(rep)
        if descriptor is None:
            return self._refresh(environ, start_response, may_refresh)
        try:
            start_response("206 Partial Content", headers)
        except BaseException:
            os.close(descriptor)
            raise
        # Not through wsgi.file_wrapper: servers send a wrapped file from its position to its end,
        # whatever Content-Length says (whitenoise#301), so the slice is read here, block by block.
        return _FileBody(descriptor, pieces)

    def _open(self, rep: _Representation) -> int | None:
        """A descriptor open on the file, or None when it is gone or no longer what the table describes."""
        try:
            descriptor = os.open(rep.path, _OPEN_FLAGS)
        except OSError as exc:
            log.warning("cannot open %s (%s); looking it up again", rep.path, exc.strerror)
            return None
        try:
            info = os.fstat(descriptor)
        except BaseException:
            os.close(descriptor)
            raise
        if info.st_size == rep.size and info.st_mtime_ns == rep.mtime_ns and stat.S_ISREG(info.st_mode):
            return descriptor
        os.close(descriptor)
        log.warning("%s changed since it was indexed; looking it up again (restart to re-index)", rep.path)
        return None

    def _refresh(
        self, environ: WSGIEnvironment, start_response: StartResponse, may_refresh: bool
    ) -> Iterable[bytes]:
        # The file changed or vanished after the table was built: its prebuilt length and validators are
        # wrong, so answer from a fresh lookup (once), or let the app answer.
        if may_refresh:
            entry = self._find(environ.get("PATH_INFO", ""))
            if isinstance(entry, _File):
                return self._serve(entry, environ["REQUEST_METHOD"], environ, start_response, False)
            if isinstance(entry, _Redirect):
                return entry.respond(environ, start_response)
        return self.app(environ, start_response)

    # --- lookups on disk (start-up table, autorefresh, changed files) ----------------------------

    def _find(self, path_info: str) -> _Entry | None:
        """The entry for a PATH_INFO, looked up on disk with the same rules as the start-up scan."""
        for root in self._roots:
            if not path_info.startswith(root.wsgi_prefix):
                if self._index_file and path_info and path_info == root.wsgi_prefix[:-1]:
                    entry = self._find_in(root, ("",))
                    if entry is not None:
                        return _Redirect(
                            quote(root.prefix.rstrip("/").rpartition("/")[2]) + "/", self._cache_control("")
                        )
                continue
            try:
                relative = path_info[len(root.wsgi_prefix) :].encode("latin-1").decode("utf-8")
            except UnicodeError:  # not UTF-8 (overlong forms included): no file has that name
                return None
            segments = _safe_segments(relative, self._allow_dotfiles)
            if segments is None:
                return None
            entry = self._find_in(root, segments)
            if entry is not None:
                return entry
        return None

    def _find_in(self, root: _Root, segments: tuple[str, ...]) -> _Entry | None:
        index_file = self._index_file
        if segments[-1] == "":
            if index_file is None:
                return None
            segments = (*segments[:-1], index_file)
        elif segments[-1] == index_file:
            found = self._real_file(root, segments)
            return _Redirect("./", self._cache_control(root.prefix)) if found is not None else None
        url = root.prefix + "/".join(segments)
        found = self._real_file(root, segments)
        if found is None:
            if index_file is not None and self._real_file(root, (*segments, index_file)) is not None:
                return _Redirect(quote(segments[-1]) + "/", self._cache_control(url))
            return None
        name = segments[-1]
        if self._precompressed and name.endswith(_VARIANT_SUFFIXES):
            original = name.rpartition(".")[0]
            if original and self._real_file(root, (*segments[:-1], original)) is not None:
                return None  # a variant is not served under its own URL as if it were the original
        path, info = found
        variants: list[tuple[str, str, os.stat_result]] = []
        if self._precompressed:
            for coding, suffix in VARIANTS:
                if all(coding != seen for seen, _, _ in variants):
                    variant = self._real_file(root, (*segments[:-1], name + suffix))
                    if variant is not None:
                        variants.append((coding, *variant))
        return self._build(url, path, info, variants, cache=False)

    def _real_file(self, root: _Root, segments: tuple[str, ...]) -> tuple[str, os.stat_result] | None:
        """Real path and stat of the regular file at ``segments`` under ``root``, if it may be served."""
        if not _segment_is_safe(segments[-1], self._allow_dotfiles):
            return None
        try:
            # Segments are already checked, so the joined path cannot climb out lexically; realpath
            # (strict: a loop or a missing file raises) then catches links leaving the root.
            path = os.path.realpath(os.path.join(root.directory, *segments), strict=True)
            if not self._follow_symlinks and not _inside(path, root.directory):
                return None
            info = os.stat(path)
        except (OSError, ValueError):
            return None
        return (path, info) if stat.S_ISREG(info.st_mode) else None

    def _table(self, root: _Root) -> dict[str, _Entry]:
        files = _scan(root.directory, self._follow_symlinks, self._allow_dotfiles)
        table: dict[str, _Entry] = {}
        index_file = self._index_file
        for segments, (path, info) in files.items():
            name = segments[-1]
            if self._precompressed and name.endswith(_VARIANT_SUFFIXES):
                original = (*segments[:-1], name.rpartition(".")[0])
                if original[-1] and original in files:
                    continue
            variants: list[tuple[str, str, os.stat_result]] = []
            if self._precompressed:
                for coding, suffix in VARIANTS:
                    found = files.get((*segments[:-1], name + suffix))
                    if found is not None and all(coding != seen for seen, _, _ in variants):
                        variants.append((coding, *found))
            url = root.prefix + "/".join(segments)
            entry = self._build(url, path, info, variants, cache=True)
            table[_as_wsgi(url)] = entry
            if name == index_file:
                directory_url = url[: -len(name)]
                table[_as_wsgi(url)] = _Redirect("./", self._cache_control(directory_url))
                table[_as_wsgi(directory_url)] = entry
                bare = directory_url.rstrip("/")
                if bare:
                    location = quote(bare.rpartition("/")[2]) + "/"
                    table.setdefault(_as_wsgi(bare), _Redirect(location, self._cache_control(directory_url)))
        return table

    # --- building representations ----------------------------------------------------------------

    def _cache_control(self, url: str) -> str | None:
        if self._immutable is not None and url and self._immutable(url):
            return f"public, max-age={ONE_YEAR}, immutable"
        if self._max_age is not None:
            return f"public, max-age={self._max_age}"
        return None

    def _build(
        self,
        url: str,
        path: str,
        info: os.stat_result,
        variants: list[tuple[str, str, os.stat_result]],
        cache: bool,
    ) -> _File:
        media_type = self._media_types.get(url)
        content_type = media_type
        if self._charset is not None and needs_charset(media_type):
            content_type = f"{media_type}; charset={self._charset}"
        shared: Headers = []
        cache_control = self._cache_control(url)
        if cache_control is not None:
            shared.append(("Cache-Control", cache_control))
        fresh = [
            (coding, vpath, vinfo)
            for coding, vpath, vinfo in variants
            if _variant_age(vinfo.st_mtime_ns, info.st_mtime_ns) != "older"
        ]
        for coding, vpath, _ in variants:
            if all(vpath != kept for _, kept, _ in fresh):
                log.warning(
                    "ignoring %s (%s): older than %s, so it may hold old content", vpath, coding, path
                )
        if fresh:
            shared.append(("Vary", "Accept-Encoding"))
        shared.append(("Accept-Ranges", "bytes" if self._max_ranges else "none"))
        if self._cors is not None:
            shared.append(("Access-Control-Allow-Origin", self._cors))
        if self._nosniff:
            shared.append(("X-Content-Type-Options", "nosniff"))
        if self._add_headers is not None:
            content_type, shared = self._apply_hook(url, path, content_type, shared)
        now = time.time()
        representations = {
            coding: self._representation(coding, rep_path, rep_info, content_type, shared, now, cache)
            for coding, rep_path, rep_info in [("identity", path, info), *fresh]
        }
        return _File(representations)

    def _apply_hook(self, url: str, path: str, content_type: str, shared: Headers) -> tuple[str, Headers]:
        assert self._add_headers is not None
        for item in self._add_headers(url, path):
            name, value = item
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(f"add_headers({url!r}) returned {item!r}, not a (str, str) header")
            check_header(name, value)
            lowered = name.lower()
            if lowered in _RESERVED:
                raise ValueError(
                    f"add_headers may not set {name!r}: StaticFiles computes it per representation"
                )
            if lowered == "content-type":
                content_type = value
            elif lowered == "vary":
                shared = merge_header(shared, "Vary", *(token.strip() for token in value.split(",")))
            elif lowered in _REPLACEABLE:
                shared = [(key, old) for key, old in shared if key.lower() != lowered]
                shared.append((name, value))
            else:
                shared.append((name, value))
        return content_type, shared

    def _representation(
        self,
        coding: str,
        path: str,
        info: os.stat_result,
        content_type: str,
        shared: Headers,
        now: float,
        cache: bool,
    ) -> _Representation:
        rep = _Representation()
        rep.coding, rep.path, rep.size, rep.mtime_ns = coding, path, info.st_size, info.st_mtime_ns
        rep.content_type = content_type
        # One strong entity-tag per representation (RFC 9110 §8.8.3): the gzip bytes are not the identity
        # bytes, so they must not share a validator that ranges and If-Match rely on.
        suffix = "" if coding == "identity" else f"-{coding}"
        rep.etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}{suffix}"'
        mtime = info.st_mtime
        # Some build tools stamp every file with the epoch; such a date says nothing, so none is sent.
        rep.last_modified = int(mtime) if mtime >= 1 else None
        # A modification time is a strong validator only once its second is over (RFC 9110 §8.8.2.2).
        rep.strong_date = rep.last_modified if rep.last_modified is not None and now - mtime >= 1 else None
        validators = [("ETag", rep.etag)]
        if rep.last_modified is not None:
            validators.append(("Last-Modified", format_http_date(rep.last_modified)))
        encoding = [] if coding == "identity" else [("Content-Encoding", coding)]
        rep.headers = (
            ("Content-Type", content_type),
            ("Content-Length", str(rep.size)),
            *encoding,
            *validators,
            *shared,
        )
        rep.partial_headers = (*encoding, *validators, *shared)
        rep.not_modified = tuple(
            (name, value)
            for name, value in rep.headers
            if name.lower() in _KEEP_ON_304
            or not (name.lower().startswith("content-") or name.lower() in _DROP_ON_304)
        )
        # 412 and 416 are not cacheable answers for the file, so they carry no Cache-Control; they keep
        # Vary and CORS so a cross-origin media request can read them (whitenoise#711).
        kept = [
            (name, value)
            for name, value in shared
            if name.lower() == "vary" or name.lower().startswith("access-control-")
        ]
        empty = [("Content-Type", _TEXT), ("Content-Length", "0")]
        rep.precondition_failed = (*empty, *kept)
        rep.unsatisfiable = (*empty, ("Content-Range", f"bytes */{rep.size}"), *validators, *kept)
        rep.data = self._read_small(path, rep.size) if cache else None
        return rep

    def _read_small(self, path: str, size: int) -> bytes | None:
        if not (self._cache_max_file_size and self._cache_max_bytes):
            return None  # caching is off (empty files included: no special cases to document)
        if size > self._cache_max_file_size or size > self._cache_left:
            return None
        try:
            with open(path, "rb") as file:
                data = file.read(size + 1)
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc)
            return None
        if len(data) != size:
            return None  # changing while we read it: serve it from disk, where changes are detected
        self._cache_left -= size
        return data

    def __repr__(self) -> str:
        roots = ", ".join(f"{root.prefix} -> {root.directory}" for root in reversed(self._roots))
        mode = "autorefresh" if self._autorefresh else f"{len(self._files)} URLs"
        return f"<StaticFiles {roots} ({mode})>"


def _not_found(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    return plain_response(environ, start_response, "404 Not Found", _NOT_FOUND_BODY)
