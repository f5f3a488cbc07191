"""StaticFiles: HTTP behaviour table, options, representations, resources and start-up scan.

Every table runs in four modes: files held in memory, read from disk with and without the server's
``wsgi.file_wrapper``, and ``autorefresh`` (looked up per request). Requests go through
``wsgiref.validate`` so every response is also checked against PEP 3333.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper, setup_testing_defaults
from wsgiref.validate import validator

import brotli
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bodies import close_body
from wsgistack import Layer, Pipeline, StaticFiles
from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment, get_header
from wsgistack.static import HASHED_NAME

T0 = 1_700_000_000
LAST_MODIFIED = "Tue, 14 Nov 2023 22:13:20 GMT"
CSS = b"body { color: red }\n"
DATA = bytes(range(256)) * 4
JS = b"".join(b"console.log('wsgistack %d');\n" % (i % 7) for i in range(300))
JS_VARIANTS = {
    "gzip": (".gz", gzip.compress(JS, mtime=0)),
    "br": (".br", brotli.compress(JS)),
    "zstd": (".zst", zstandard.ZstdCompressor(level=19).compress(JS)),
}
HTML = b"<!doctype html><title>sub</title>\n"
TARBALL = gzip.compress(b"tar bytes", mtime=0)
APP_BODY = b"from the app\n"
CACHE_CONTROL = "public, max-age=60"
MODES = ("memory", "disk", "disk-wrapper", "autorefresh")


def etag(size: int, coding: str = "") -> str:
    return f'"{T0 * 10**9:x}-{size:x}{"-" + coding if coding else ""}"'


E_CSS, E_DATA, E_JS = etag(len(CSS)), etag(len(DATA)), etag(len(JS))
E_GZ, E_BR, E_ZSTD = (etag(len(JS_VARIANTS[c][1]), c) for c in ("gzip", "br", "zstd"))
SMALLEST = min(JS_VARIANTS, key=lambda coding: len(JS_VARIANTS[coding][1]))


def write(root: Path, name: str, data: bytes, mtime: int = T0) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))
    return path


def build_site(root: Path) -> Path:
    write(root, "app.css", CSS)
    write(root, "data.bin", DATA)
    write(root, "big.js", JS)
    for suffix, data in JS_VARIANTS.values():
        write(root, "big.js" + suffix, data)
    write(root, "archive.tar.gz", TARBALL)
    write(root, "README", b"no extension\n")
    write(root, "empty.txt", b"")
    write(root, "app.3f2a1b9c8d7e.js", b"hashed\n")
    write(root, "index-B0ykI2W9.css", b"hashed by vite\n")
    write(root, "sub/index.html", HTML)
    write(root, "sub/page.html", HTML)
    write(root, "caf\u00e9/men\u00fc.txt", b"unicode\n")
    write(root, "stale.css", CSS, mtime=T0 + 100)
    write(root, "stale.css.gz", gzip.compress(b"old", mtime=0))  # older than stale.css: ignored
    write(root, ".env", b"SECRET=1\n")
    write(root, ".git/config", b"[core]\n")
    return root


# --- a strict in-process client ---------------------------------------------------------------------


@dataclass
class Result:
    status: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def code(self) -> int:
        return int(self.status[:3])

    def header(self, name: str) -> str | None:
        return get_header(self.headers, name)

    def names(self) -> set[str]:
        return {name.lower() for name, _ in self.headers}


def environ_for(
    path: str, method: str = "GET", headers: dict[str, str] | None = None, query: str = ""
) -> WSGIEnvironment:
    environ: WSGIEnvironment = {}
    setup_testing_defaults(environ)
    environ.update({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query})
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def call(
    app: WSGIApplication,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    query: str = "",
    file_wrapper: bool = False,
) -> Result:
    """One exchange through ``wsgiref.validate``: the body is read in full and closed."""
    environ = environ_for(path, method, headers, query)
    if file_wrapper:
        environ["wsgi.file_wrapper"] = FileWrapper
    seen: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.append((status, list(response_headers)))
        return lambda data: None

    body = validator(app)(environ, start_response)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    status, response_headers = seen[-1]
    return Result(status, response_headers, data)


@dataclass
class Inner:
    """The wrapped app: answers 404 with a marker body and counts its calls."""

    calls: list[str] = field(default_factory=list)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.calls.append(environ["PATH_INFO"])
        start_response(
            "404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(APP_BODY)))]
        )
        return [APP_BODY]


@dataclass
class Site:
    root: Path
    mode: str
    inner: Inner = field(default_factory=Inner)

    def app(self, **options: Any) -> StaticFiles:
        if self.mode in ("disk", "disk-wrapper"):
            options.setdefault("cache_max_file_size", 0)
        if self.mode == "autorefresh":
            options.setdefault("autorefresh", True)
        return StaticFiles(self.inner, self.root, **options)

    def get(self, app: WSGIApplication, path: str, **kwargs: Any) -> Result:
        return call(app, path, file_wrapper=self.mode == "disk-wrapper", **kwargs)


@pytest.fixture(params=MODES)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Site:
    return Site(build_site(tmp_path / "public"), request.param)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


# --- the HTTP table ---------------------------------------------------------------------------------

ABSENT = None
CSS_200 = {"Content-Type": "text/css; charset=utf-8", "Content-Length": "20", "ETag": E_CSS,
           "Last-Modified": LAST_MODIFIED, "Cache-Control": CACHE_CONTROL, "Accept-Ranges": "bytes",
           "X-Content-Type-Options": "nosniff", "Vary": ABSENT, "Content-Encoding": ABSENT,
           "Content-Range": ABSENT, "Access-Control-Allow-Origin": ABSENT}  # fmt: skip
NOT_MODIFIED = {"ETag": E_CSS, "Last-Modified": LAST_MODIFIED, "Cache-Control": CACHE_CONTROL,
                "Content-Type": ABSENT, "Content-Length": ABSENT, "Accept-Ranges": ABSENT}  # fmt: skip
AT = LAST_MODIFIED
BEFORE = "Tue, 14 Nov 2023 22:13:19 GMT"
AFTER = "Tue, 14 Nov 2023 22:13:21 GMT"
RFC850 = "Tuesday, 14-Nov-23 22:13:20 GMT"
CSS_URL, BIN_URL, JS_URL = "/static/app.css", "/static/data.bin", "/static/big.js"

HTTP_CASES = [
    # plain GET / HEAD / methods
    pytest.param(CSS_URL, "GET", {}, 200, CSS_200, CSS, id="get"),
    pytest.param(CSS_URL, "HEAD", {}, 200, CSS_200, b"", id="head-same-headers-no-body"),
    pytest.param(CSS_URL, "POST", {}, 405, {"Allow": "GET, HEAD"}, None, id="post-405-with-allow"),
    pytest.param(CSS_URL, "PUT", {}, 405, {"Allow": "GET, HEAD"}, None, id="put-405"),
    pytest.param(CSS_URL, "DELETE", {}, 405, {"Allow": "GET, HEAD"}, None, id="delete-405"),
    pytest.param(CSS_URL, "OPTIONS", {}, 405, {"Allow": "GET, HEAD"}, None, id="options-405"),
    pytest.param(CSS_URL, "GET", {"Cookie": "a=1", "Accept": "*/*"}, 200, CSS_200, CSS, id="extra-headers"),
    pytest.param("/static/nothing.css", "GET", {}, 404, {}, APP_BODY, id="miss-goes-to-app"),
    pytest.param("/other/app.css", "GET", {}, 404, {}, APP_BODY, id="outside-prefix-goes-to-app"),
    # If-None-Match (weak comparison, lists, *) and its precedence over If-Modified-Since
    pytest.param(CSS_URL, "GET", {"If-None-Match": E_CSS}, 304, NOT_MODIFIED, b"", id="inm-exact"),
    pytest.param(CSS_URL, "HEAD", {"If-None-Match": E_CSS}, 304, NOT_MODIFIED, b"", id="inm-head"),
    pytest.param(CSS_URL, "GET", {"If-None-Match": "W/" + E_CSS}, 304, NOT_MODIFIED, b"", id="inm-weak"),
    pytest.param(CSS_URL, "GET", {"If-None-Match": f'"x", {E_CSS}'}, 304, NOT_MODIFIED, b"", id="inm-list"),
    pytest.param(CSS_URL, "GET", {"If-None-Match": "*"}, 304, NOT_MODIFIED, b"", id="inm-star"),
    pytest.param(CSS_URL, "GET", {"If-None-Match": '"old"'}, 200, CSS_200, CSS, id="inm-stale"),
    pytest.param(CSS_URL, "GET", {"If-None-Match": '"old"', "If-Modified-Since": AFTER}, 200, CSS_200, CSS,
                 id="inm-takes-precedence-over-ims"),
    pytest.param(CSS_URL, "GET", {"If-None-Match": "no quotes"}, 200, CSS_200, CSS, id="inm-malformed"),
    # If-Modified-Since
    pytest.param(CSS_URL, "GET", {"If-Modified-Since": AT}, 304, NOT_MODIFIED, b"", id="ims-equal"),
    pytest.param(CSS_URL, "GET", {"If-Modified-Since": AFTER}, 304, NOT_MODIFIED, b"", id="ims-later"),
    pytest.param(CSS_URL, "GET", {"If-Modified-Since": BEFORE}, 200, CSS_200, CSS, id="ims-earlier"),
    pytest.param(CSS_URL, "GET", {"If-Modified-Since": RFC850}, 304, NOT_MODIFIED, b"", id="ims-rfc850"),
    pytest.param(CSS_URL, "GET", {"If-Modified-Since": "last week"}, 200, CSS_200, CSS, id="ims-invalid"),
    # If-Match / If-Unmodified-Since -> 412
    pytest.param(CSS_URL, "GET", {"If-Match": E_CSS}, 200, CSS_200, CSS, id="if-match"),
    pytest.param(CSS_URL, "GET", {"If-Match": "*"}, 200, CSS_200, CSS, id="if-match-star"),
    pytest.param(CSS_URL, "GET", {"If-Match": '"x"'}, 412, {"ETag": ABSENT}, b"", id="if-match-fails"),
    pytest.param(CSS_URL, "GET", {"If-Match": "W/" + E_CSS}, 412, {}, b"", id="if-match-strong-only"),
    pytest.param(CSS_URL, "GET", {"If-Match": '"x"', "If-None-Match": E_CSS}, 412, {}, b"",
                 id="if-match-evaluated-before-inm"),
    pytest.param(CSS_URL, "GET", {"If-Unmodified-Since": AT}, 200, CSS_200, CSS, id="ius-equal"),
    pytest.param(CSS_URL, "GET", {"If-Unmodified-Since": BEFORE}, 412, {}, b"", id="ius-earlier"),
    pytest.param(CSS_URL, "GET", {"If-Unmodified-Since": "soon"}, 200, CSS_200, CSS, id="ius-invalid"),
    # Range
    pytest.param(BIN_URL, "GET", {"Range": "bytes=0-0"}, 206,
                 {"Content-Range": "bytes 0-0/1024", "Content-Length": "1", "ETag": E_DATA,
                  "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}, DATA[:1],
                 id="range-first-byte"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=-1"}, 206,
                 {"Content-Range": "bytes 1023-1023/1024", "Content-Length": "1"}, DATA[-1:],
                 id="range-last-byte"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=5-5"}, 206,
                 {"Content-Range": "bytes 5-5/1024"}, DATA[5:6], id="range-one-byte"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=1000-"}, 206,
                 {"Content-Range": "bytes 1000-1023/1024", "Content-Length": "24"}, DATA[1000:],
                 id="range-open"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=-10"}, 206,
                 {"Content-Range": "bytes 1014-1023/1024"}, DATA[-10:], id="range-suffix"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=100-99999"}, 206,
                 {"Content-Range": "bytes 100-1023/1024"}, DATA[100:], id="range-end-clamped"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=0-9,5-19"}, 206,
                 {"Content-Range": "bytes 0-19/1024"}, DATA[:20], id="range-overlap-merged-to-one-part"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=1024-"}, 416,
                 {"Content-Range": "bytes */1024", "ETag": E_DATA, "Last-Modified": LAST_MODIFIED,
                  "Cache-Control": ABSENT}, b"", id="range-unsatisfiable"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=-0"}, 416, {"Content-Range": "bytes */1024"}, b"",
                 id="range-empty-suffix"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=5-2"}, 200, {"Content-Range": ABSENT}, DATA,
                 id="range-malformed-ignored"),
    pytest.param(BIN_URL, "GET", {"Range": "pages=1-2"}, 200, {}, DATA, id="range-other-unit-ignored"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 404, 4))},
                 200, {}, DATA, id="range-too-many-ignored"),
    pytest.param(BIN_URL, "HEAD", {"Range": "bytes=0-0"}, 200, {"Content-Length": "1024"}, b"",
                 id="range-ignored-for-head"),
    pytest.param("/static/empty.txt", "GET", {"Range": "bytes=0-0"}, 200, {"Content-Length": "0"}, b"",
                 id="range-on-empty-file-ignored"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=0-0", "If-None-Match": E_DATA}, 304, {}, b"",
                 id="conditional-before-range"),
    # If-Range
    pytest.param(BIN_URL, "GET", {"Range": "bytes=0-1", "If-Range": E_DATA}, 206, {}, DATA[:2],
                 id="if-range-etag"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=0-1", "If-Range": '"old"'}, 200, {}, DATA,
                 id="if-range-stale-etag"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=0-1", "If-Range": "W/" + E_DATA}, 200, {}, DATA,
                 id="if-range-weak-etag"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=0-1", "If-Range": AT}, 206, {}, DATA[:2],
                 id="if-range-date"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=0-1", "If-Range": AFTER}, 200, {}, DATA,
                 id="if-range-other-date"),
    pytest.param(BIN_URL, "GET", {"Range": "bytes=0-1", "If-Range": "x"}, 200, {}, DATA,
                 id="if-range-garbage"),
    # precompressed variants
    pytest.param(JS_URL, "GET", {}, 200,
                 {"Content-Encoding": ABSENT, "Vary": "Accept-Encoding", "ETag": E_JS}, JS,
                 id="variants-no-accept-encoding-means-identity"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "gzip"}, 200,
                 {"Content-Encoding": "gzip", "Vary": "Accept-Encoding", "ETag": E_GZ,
                  "Content-Length": str(len(JS_VARIANTS["gzip"][1])),
                  "Content-Type": "text/javascript; charset=utf-8"}, JS_VARIANTS["gzip"][1],
                 id="variant-gzip"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "br"}, 200,
                 {"Content-Encoding": "br", "ETag": E_BR}, JS_VARIANTS["br"][1], id="variant-br"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "zstd"}, 200,
                 {"Content-Encoding": "zstd", "ETag": E_ZSTD}, JS_VARIANTS["zstd"][1], id="variant-zstd"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "gzip, deflate, br, zstd"}, 200,
                 {"Content-Encoding": SMALLEST}, JS_VARIANTS[SMALLEST][1], id="variant-smallest-of-equal-q"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "br;q=0.5, gzip"}, 200,
                 {"Content-Encoding": "gzip"}, JS_VARIANTS["gzip"][1], id="variant-highest-q-wins"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "gzip;q=0"}, 200,
                 {"Content-Encoding": ABSENT, "Vary": "Accept-Encoding"}, JS, id="variant-q0-refuses"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "br;q=0, gzip"}, 200,
                 {"Content-Encoding": "gzip"}, JS_VARIANTS["gzip"][1], id="variant-br-refused"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "x-gzip"}, 200,
                 {"Content-Encoding": "gzip"}, JS_VARIANTS["gzip"][1], id="variant-x-gzip-alias"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "x-gzip-really, gzipper"}, 200,
                 {"Content-Encoding": ABSENT}, JS, id="variant-token-match-only"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "GZIP"}, 200,
                 {"Content-Encoding": "gzip"}, JS_VARIANTS["gzip"][1], id="variant-case-insensitive"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "*"}, 200,
                 {"Content-Encoding": SMALLEST}, JS_VARIANTS[SMALLEST][1], id="variant-star"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "*;q=0, identity"}, 200,
                 {"Content-Encoding": ABSENT}, JS, id="variant-star-refused"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "identity;q=0"}, 200,
                 {"Content-Encoding": ABSENT}, JS, id="variant-nothing-acceptable-sends-identity"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "gzip, " + "x" * 2000}, 200,
                 {"Content-Encoding": ABSENT}, JS, id="variant-over-long-header-ignored"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "gzip", "If-None-Match": E_GZ}, 304,
                 {"ETag": E_GZ, "Vary": "Accept-Encoding", "Content-Encoding": ABSENT}, b"",
                 id="variant-304-own-etag"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "gzip", "If-None-Match": E_JS}, 200,
                 {"Content-Encoding": "gzip"}, JS_VARIANTS["gzip"][1],
                 id="variant-identity-etag-does-not-match"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "gzip", "Range": "bytes=0-9"}, 206,
                 {"Content-Encoding": "gzip", "ETag": E_GZ, "Vary": "Accept-Encoding",
                  "Content-Range": f"bytes 0-9/{len(JS_VARIANTS['gzip'][1])}"}, JS_VARIANTS["gzip"][1][:10],
                 id="variant-range-of-the-selected-representation"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "gzip", "Range": "bytes=0-1,5-6"}, 200,
                 {"Content-Encoding": "gzip"}, JS_VARIANTS["gzip"][1], id="variant-multirange-sends-whole"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "gzip", "Range": "bytes=99999-"}, 416,
                 {"Vary": "Accept-Encoding", "ETag": E_GZ}, b"", id="variant-416-keeps-vary"),
    pytest.param(JS_URL, "GET", {"Accept-Encoding": "gzip", "If-Match": '"x"'}, 412,
                 {"Vary": "Accept-Encoding"}, b"", id="variant-412-keeps-vary"),
    pytest.param(JS_URL, "GET", {"Range": "bytes=0-1,5-6", "If-None-Match": E_JS}, 304,
                 {"Vary": "Accept-Encoding"}, b"", id="variant-304-identity"),
    pytest.param("/static/big.js.gz", "GET", {}, 404, {}, APP_BODY, id="variant-not-served-under-own-url"),
    pytest.param("/static/big.js.br", "GET", {"Accept-Encoding": "br"}, 404, {}, APP_BODY,
                 id="variant-br-hidden"),
    pytest.param("/static/stale.css", "GET", {"Accept-Encoding": "gzip"}, 200,
                 {"Content-Encoding": ABSENT, "Vary": ABSENT}, CSS, id="variant-older-than-file-ignored"),
    # media types, caching, names
    pytest.param("/static/archive.tar.gz", "GET", {"Accept-Encoding": "gzip"}, 200,
                 {"Content-Type": "application/gzip", "Content-Encoding": ABSENT}, TARBALL,
                 id="tar-gz-is-a-type-not-an-encoding"),
    pytest.param("/static/README", "GET", {}, 200, {"Content-Type": "application/octet-stream"}, None,
                 id="no-extension-is-octet-stream"),
    pytest.param("/static/empty.txt", "GET", {}, 200,
                 {"Content-Length": "0", "Content-Type": "text/plain; charset=utf-8"}, b"", id="empty-file"),
    pytest.param("/static/app.3f2a1b9c8d7e.js", "GET", {}, 200,
                 {"Cache-Control": "public, max-age=31536000, immutable"}, b"hashed\n",
                 id="hashed-name-immutable"),
    pytest.param("/static/index-B0ykI2W9.css", "GET", {}, 200,
                 {"Cache-Control": "public, max-age=31536000, immutable"}, None, id="vite-hash-immutable"),
    pytest.param("/static/caf\u00c3\u00a9/men\u00c3\u00bc.txt", "GET", {}, 200, {}, b"unicode\n",
                 id="utf-8-names-as-pep-3333-latin-1"),
    pytest.param("/static/caf\u00e9/men\u00fc.txt", "GET", {}, 404, {}, APP_BODY, id="not-utf-8-bytes-miss"),
    pytest.param("/static/.env", "GET", {}, 404, {}, APP_BODY, id="dotfile-refused"),
    pytest.param("/static/.git/config", "GET", {}, 404, {}, APP_BODY, id="dot-directory-refused"),
    pytest.param("/static/sub", "GET", {}, 404, {}, APP_BODY, id="directory-without-index-option"),
    pytest.param("/static/sub/", "GET", {}, 404, {}, APP_BODY, id="directory-slash-without-index-option"),
    pytest.param("/static/sub/index.html", "GET", {}, 200, {}, HTML, id="index-is-a-file-without-option"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "method", "headers", "status", "expected", "body"), HTTP_CASES)
def test_http(
    site: Site,
    path: str,
    method: str,
    headers: dict[str, str],
    status: int,
    expected: dict[str, str | None],
    body: bytes | None,
) -> None:
    result = site.get(site.app(), path, method=method, headers=headers)
    assert result.code == status, result
    for name, value in expected.items():
        assert result.header(name) == value, (name, result.headers)
    if body is not None:
        assert result.body == body
    if status not in (304, 404):
        assert result.header("Content-Length") == str(len(result.body)) or method == "HEAD"
    assert (site.inner.calls == [path]) is (status == 404)


def test_304_drops_representation_metadata(site: Site) -> None:
    result = site.get(site.app(cors="*"), "/static/app.css", headers={"If-None-Match": E_CSS})
    assert result.code == 304
    assert result.names() == {"etag", "last-modified", "cache-control", "access-control-allow-origin"}


def _parts(result: Result) -> list[tuple[dict[str, str], bytes]]:
    content_type = result.header("Content-Type") or ""
    match = re.fullmatch(r"multipart/byteranges; boundary=([0-9a-f]{32})", content_type)
    assert match is not None, content_type
    delimiter = b"--" + match[1].encode()
    assert result.body.startswith(delimiter + b"\r\n")
    assert result.body.endswith(b"\r\n" + delimiter + b"--\r\n")
    parts = []
    for raw in result.body[len(delimiter) + 2 : -len(delimiter) - 6].split(b"\r\n" + delimiter + b"\r\n"):
        head, _, data = raw.partition(b"\r\n\r\n")
        fields = dict(line.decode().split(": ", 1) for line in head.split(b"\r\n"))
        parts.append((fields, data))
    return parts


def test_multipart_byteranges(site: Site) -> None:
    result = site.get(site.app(), "/static/data.bin", headers={"Range": "bytes=-4, 10-19, 0-1, 15-29"})
    assert result.code == 206
    assert result.header("Content-Length") == str(len(result.body))
    assert result.header("Content-Range") is None
    assert result.header("ETag") == E_DATA
    assert _parts(result) == [
        ({"Content-Type": "application/octet-stream", "Content-Range": "bytes 0-1/1024"}, DATA[0:2]),
        ({"Content-Type": "application/octet-stream", "Content-Range": "bytes 10-29/1024"}, DATA[10:30]),
        ({"Content-Type": "application/octet-stream", "Content-Range": "bytes 1020-1023/1024"}, DATA[1020:]),
    ]


def test_multipart_boundary_is_fresh_per_response(site: Site) -> None:
    app = site.app()
    first, second = (site.get(app, "/static/data.bin", headers={"Range": "bytes=0-0,5-5"}) for _ in range(2))
    assert first.header("Content-Type") != second.header("Content-Type")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_satisfiable_range_returns_exactly_those_bytes(site: Site, data: st.DataObject) -> None:
    size = len(DATA)
    first = data.draw(st.integers(0, size - 1))
    form = data.draw(st.sampled_from(["closed", "open", "suffix"]))
    if form == "closed":
        last = data.draw(st.integers(first, size + 100))
        value, expected = f"bytes={first}-{last}", DATA[first : last + 1]
    elif form == "open":
        value, expected = f"bytes={first}-", DATA[first:]
    else:
        count = data.draw(st.integers(1, size + 100))
        value, expected = f"bytes=-{count}", DATA[-count:]
    result = site.get(_cached_app(site), "/static/data.bin", headers={"Range": value})
    assert result.code == 206
    assert result.body == expected
    start = size - len(expected)
    if form != "suffix":
        start = first
    assert result.header("Content-Range") == f"bytes {start}-{start + len(expected) - 1}/{size}"


_apps: dict[tuple[Path, str], StaticFiles] = {}


def _cached_app(site: Site) -> StaticFiles:
    key = (site.root, site.mode)
    if key not in _apps:
        _apps.clear()
        _apps[key] = site.app()
    return _apps[key]


# --- options ----------------------------------------------------------------------------------------


def test_cors(site: Site) -> None:
    app = site.app(cors="*")
    for headers, status in [
        ({}, 200),
        ({"If-None-Match": E_DATA}, 304),
        ({"Range": "bytes=0-0"}, 206),
        ({"Range": "bytes=0-0,9-9"}, 206),
        ({"Range": "bytes=5000-"}, 416),
        ({"If-Match": '"x"'}, 412),
    ]:
        result = site.get(app, "/static/data.bin", headers=headers)
        assert result.code == status
        assert result.header("Access-Control-Allow-Origin") == "*", status


def test_cors_is_off_by_default(site: Site) -> None:
    assert site.get(site.app(), "/static/app.css").header("Access-Control-Allow-Origin") is None


@pytest.mark.parametrize(
    ("options", "path", "expected"),
    [
        pytest.param({"max_age": 3600}, "/static/app.css", "public, max-age=3600", id="max-age"),
        pytest.param({"max_age": 0}, "/static/app.css", "public, max-age=0", id="max-age-zero"),
        pytest.param({"max_age": None}, "/static/app.css", None, id="no-cache-control"),
        pytest.param(
            {"max_age": None},
            "/static/app.3f2a1b9c8d7e.js",
            "public, max-age=31536000, immutable",
            id="immutable-without-max-age",
        ),
        pytest.param({"immutable": None}, "/static/app.3f2a1b9c8d7e.js", CACHE_CONTROL, id="immutable-off"),
        pytest.param(
            {"immutable": r"\.css$"},
            "/static/app.css",
            "public, max-age=31536000, immutable",
            id="immutable-regex-string",
        ),
        pytest.param(
            {"immutable": re.compile("data")},
            "/static/data.bin",
            "public, max-age=31536000, immutable",
            id="immutable-compiled",
        ),
        pytest.param(
            {"immutable": lambda url: url.endswith(".bin")},
            "/static/data.bin",
            "public, max-age=31536000, immutable",
            id="immutable-callable",
        ),
        pytest.param(
            {"immutable": lambda url: False},
            "/static/app.3f2a1b9c8d7e.js",
            CACHE_CONTROL,
            id="immutable-callable-false",
        ),
    ],
)
def test_cache_control(site: Site, options: dict[str, Any], path: str, expected: str | None) -> None:
    assert site.get(site.app(**options), path).header("Cache-Control") == expected


@pytest.mark.parametrize(
    ("name", "hashed"),
    [
        pytest.param("app.3f2a1b9c8d7e.js", True, id="django-manifest"),
        pytest.param("main.3f2a1b9c.js", True, id="webpack-8-hex"),
        pytest.param("main.3f2a1b9c.chunk.js", True, id="webpack-chunk"),
        pytest.param("app.3f2a1b9c8d7e.js.map", True, id="source-map"),
        pytest.param("index-B0ykI2W9.js", True, id="vite"),
        pytest.param("chunk-JHGT2C3X.js", True, id="esbuild"),
        pytest.param("app.js", False, id="plain"),
        pytest.param("jquery-3.6.0.min.js", False, id="version"),
        pytest.param("logo-20240101.png", False, id="date"),
        pytest.param("bootstrap-datepicker.js", False, id="word"),
        pytest.param("MaterialIcons-Regular.woff2", False, id="font-style"),
        pytest.param("favicon-32x32.png", False, id="icon-size"),
        pytest.param("app.deadbeef.js", False, id="hex-letters-only"),
        pytest.param("build.12345678.js", False, id="digits-only"),
    ],
)
def test_hashed_name_detection(name: str, hashed: bool) -> None:
    assert (HASHED_NAME.search("/static/" + name) is not None) is hashed


@pytest.mark.parametrize(
    ("options", "path", "content_type"),
    [
        pytest.param({}, "/static/app.css", "text/css; charset=utf-8", id="charset-default"),
        pytest.param({"charset": None}, "/static/app.css", "text/css", id="charset-off"),
        pytest.param(
            {"charset": "iso-8859-1"}, "/static/app.css", "text/css; charset=iso-8859-1", id="charset"
        ),
        pytest.param(
            {"media_types": {".bin": "application/x-thing"}},
            "/static/data.bin",
            "application/x-thing",
            id="extra-type",
        ),
        pytest.param(
            {"media_types": {"README": "text/plain"}},
            "/static/README",
            "text/plain; charset=utf-8",
            id="whole-name-type",
        ),
        pytest.param(
            {"media_types": {".CSS": "text/x-style"}},
            "/static/app.css",
            "text/x-style; charset=utf-8",
            id="override-is-case-insensitive",
        ),
    ],
)
def test_media_type_options(site: Site, options: dict[str, Any], path: str, content_type: str) -> None:
    assert site.get(site.app(**options), path).header("Content-Type") == content_type


def test_nosniff_can_be_turned_off(site: Site) -> None:
    assert site.get(site.app(nosniff=False), "/static/app.css").header("X-Content-Type-Options") is None


def test_add_headers_hook(site: Site) -> None:
    seen: list[tuple[str, str]] = []

    def hook(url: str, path: str) -> list[tuple[str, str]]:
        seen.append((url, path))
        return [
            ("Content-Security-Policy", "default-src 'none'"),
            ("Cache-Control", "no-cache"),
            ("Vary", "Origin"),
            ("Link", "</a>; rel=preload"),
            ("Link", "</b>; rel=preload"),
        ]

    app = site.app(add_headers=hook)
    result = site.get(app, "/static/big.js")
    assert result.header("Content-Security-Policy") == "default-src 'none'"
    assert result.header("Cache-Control") == "no-cache"
    assert result.header("Vary") == "Accept-Encoding, Origin"
    assert [value for name, value in result.headers if name == "Link"] == [
        "</a>; rel=preload",
        "</b>; rel=preload",
    ]
    assert ("/static/big.js", str((site.root / "big.js").resolve())) in seen
    not_modified = site.get(app, "/static/big.js", headers={"If-None-Match": E_JS})
    assert not_modified.header("Cache-Control") == "no-cache"
    assert not_modified.header("Vary") == "Accept-Encoding, Origin"


def test_add_headers_may_set_the_content_type(site: Site) -> None:
    app = site.app(add_headers=lambda url, path: [("Content-Type", "text/plain; charset=utf-8")])
    assert site.get(app, "/static/data.bin").header("Content-Type") == "text/plain; charset=utf-8"
    ranged = site.get(app, "/static/data.bin", headers={"Range": "bytes=0-0"})
    assert ranged.header("Content-Type") == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("headers", "error", "match"),
    [
        pytest.param([("ETag", '"x"')], ValueError, "ETag", id="etag-reserved"),
        pytest.param([("Content-Length", "1")], ValueError, "Content-Length", id="length-reserved"),
        pytest.param([("Content-Encoding", "gzip")], ValueError, "Content-Encoding", id="encoding-reserved"),
        pytest.param([("Connection", "close")], ValueError, "hop-by-hop", id="hop-by-hop"),
        pytest.param([("X-Bad", "a\r\nb")], ValueError, "control character", id="injection"),
        pytest.param([("X-Bad", 1)], TypeError, "add_headers", id="not-a-str"),
    ],
)
def test_add_headers_rejects(
    tmp_path: Path, headers: list[tuple[str, Any]], error: type[Exception], match: str
) -> None:
    build_site(tmp_path)
    with pytest.raises(error, match=match):
        StaticFiles(Inner(), tmp_path, add_headers=lambda url, path: headers)


def test_other_methods_pass_to_the_app(site: Site) -> None:
    result = site.get(site.app(other_methods="pass"), "/static/app.css", method="POST")
    assert result.code == 404
    assert result.body == APP_BODY
    assert site.inner.calls == ["/static/app.css"]


def test_max_ranges_zero_turns_ranges_off(site: Site) -> None:
    result = site.get(site.app(max_ranges=0), "/static/data.bin", headers={"Range": "bytes=0-0"})
    assert result.code == 200
    assert result.body == DATA
    assert result.header("Accept-Ranges") == "none"


def test_max_ranges_caps_multipart(site: Site) -> None:
    app = site.app(max_ranges=2)
    assert site.get(app, "/static/data.bin", headers={"Range": "bytes=0-0,5-5"}).code == 206
    assert site.get(app, "/static/data.bin", headers={"Range": "bytes=0-0,5-5,9-9"}).code == 200


def test_precompressed_off_serves_variants_as_files(site: Site) -> None:
    app = site.app(precompressed=False)
    result = site.get(app, "/static/big.js", headers={"Accept-Encoding": "gzip"})
    assert result.header("Content-Encoding") is None
    assert result.header("Vary") is None
    variant = site.get(app, "/static/big.js.gz")
    assert variant.header("Content-Type") == "application/gzip"
    assert variant.header("Content-Encoding") is None


def test_allow_dotfiles(site: Site) -> None:
    app = site.app(allow_dotfiles=True)
    assert site.get(app, "/static/.env").body == b"SECRET=1\n"
    assert site.get(app, "/static/.git/config").body == b"[core]\n"


def test_prefix_root_and_custom(site: Site) -> None:
    assert site.get(site.app(prefix="/"), "/app.css").body == CSS
    assert site.get(site.app(prefix="/assets"), "/assets/app.css").body == CSS
    assert site.get(site.app(prefix="/a/b/"), "/a/b/sub/page.html").body == HTML


def test_app_none_answers_404(site: Site) -> None:
    app = StaticFiles(None, site.root, autorefresh=site.mode == "autorefresh")
    assert site.get(app, "/static/app.css").body == CSS
    missing = site.get(app, "/static/missing.css")
    assert missing.code == 404
    assert missing.header("Content-Type") == "text/plain; charset=utf-8"


def test_add_files_later_root_wins(site: Site, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write(other, "app.css", b"other\n")
    write(other, "only-here.txt", b"here\n")
    app = site.app()
    app.add_files(other, prefix="/static/")
    assert site.get(app, "/static/app.css").body == b"other\n"
    assert site.get(app, "/static/only-here.txt").body == b"here\n"
    assert site.get(app, "/static/data.bin").body == DATA


def test_add_files_on_an_empty_instance(tmp_path: Path) -> None:
    build_site(tmp_path)
    app = StaticFiles(Inner(), None)
    assert call(app, "/static/app.css").code == 404
    app.add_files(tmp_path, prefix="/media/")
    assert call(app, "/media/app.css").body == CSS


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        pytest.param({"prefix": "static/"}, ValueError, "prefix", id="prefix-relative"),
        pytest.param({"prefix": "/a//b/"}, ValueError, "prefix", id="prefix-double-slash"),
        pytest.param({"prefix": "/a/../b/"}, ValueError, "prefix", id="prefix-dot-dot"),
        pytest.param({"prefix": "/a\nb/"}, ValueError, "prefix", id="prefix-control"),
        pytest.param({"prefix": 1}, TypeError, "prefix", id="prefix-type"),
        pytest.param({"max_age": -1}, ValueError, "max_age", id="max-age-negative"),
        pytest.param({"max_age": "60"}, TypeError, "max_age", id="max-age-type"),
        pytest.param({"max_age": True}, TypeError, "max_age", id="max-age-bool"),
        pytest.param({"immutable": "("}, ValueError, "immutable", id="immutable-bad-regex"),
        pytest.param({"immutable": 3}, TypeError, "immutable", id="immutable-type"),
        pytest.param({"index_file": "a/index.html"}, ValueError, "index_file", id="index-file-path"),
        pytest.param({"index_file": ".."}, ValueError, "index_file", id="index-file-dot-dot"),
        pytest.param({"index_file": 1}, ValueError, "index_file", id="index-file-type"),
        pytest.param({"autorefresh": "yes"}, TypeError, "autorefresh", id="autorefresh-type"),
        pytest.param({"follow_symlinks": 1}, TypeError, "follow_symlinks", id="follow-symlinks-type"),
        pytest.param({"allow_dotfiles": None}, TypeError, "allow_dotfiles", id="allow-dotfiles-type"),
        pytest.param({"precompressed": "no"}, TypeError, "precompressed", id="precompressed-type"),
        pytest.param({"nosniff": 0}, TypeError, "nosniff", id="nosniff-type"),
        pytest.param({"cors": ""}, ValueError, "cors", id="cors-empty"),
        pytest.param({"cors": "*\r\nSet-Cookie: a=b"}, ValueError, "control character", id="cors-injection"),
        pytest.param({"charset": "utf 8"}, ValueError, "charset", id="charset-space"),
        pytest.param({"media_types": {".x": "nonsense"}}, ValueError, "media_types", id="media-type-value"),
        pytest.param({"media_types": {"a/b": "text/plain"}}, ValueError, "media_types", id="media-type-key"),
        pytest.param(
            {"media_types": [(".x", "text/plain")]}, TypeError, "media_types", id="media-types-type"
        ),
        pytest.param({"add_headers": "X-A: b"}, TypeError, "add_headers", id="add-headers-type"),
        pytest.param({"other_methods": "allow"}, ValueError, "other_methods", id="other-methods"),
        pytest.param({"max_ranges": -1}, ValueError, "max_ranges", id="max-ranges-negative"),
        pytest.param({"cache_max_file_size": 1.5}, TypeError, "cache_max_file_size", id="cache-file-type"),
        pytest.param({"cache_max_bytes": -5}, ValueError, "cache_max_bytes", id="cache-bytes-negative"),
    ],
)
def test_options_are_validated_eagerly(
    tmp_path: Path, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        StaticFiles(Inner(), tmp_path, **options)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        pytest.param(("missing",), ValueError, "is not a directory", id="missing-directory"),
        pytest.param(("file",), ValueError, "is not a directory", id="file-as-directory"),
        pytest.param((3,), TypeError, "directory", id="directory-type"),
        pytest.param(("",), ValueError, "directory", id="directory-empty"),
    ],
)
def test_directory_is_validated(tmp_path: Path, args: tuple[Any], error: type[Exception], match: str) -> None:
    (tmp_path / "file").write_text("x")
    directory = args[0] if not isinstance(args[0], str) or not args[0] else tmp_path / args[0]
    with pytest.raises(error, match=match):
        StaticFiles(Inner(), directory)


def test_app_must_be_callable(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="app"):
        StaticFiles("app", tmp_path)  # type: ignore[arg-type]


# --- index files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "status", "location", "body"),
    [
        pytest.param("/static/sub/", "", 200, None, HTML, id="directory-serves-index"),
        pytest.param("/static/sub", "", 302, "sub/", b"", id="directory-redirects-to-slash"),
        pytest.param("/static/sub", "a=1&b=%20", 302, "sub/?a=1&b=%20", b"", id="redirect-keeps-query"),
        pytest.param(
            "/static/sub", "q=\u00e9<x>", 302, "sub/?q=%E9%3Cx%3E", b"", id="redirect-encodes-query"
        ),
        pytest.param("/static/sub/index.html", "", 302, "./", b"", id="index-name-redirects-to-directory"),
        pytest.param("/static/sub/index.html", "v=2", 302, "./?v=2", b"", id="index-redirect-keeps-query"),
        pytest.param("/static/sub/page.html", "", 200, None, HTML, id="other-files-unaffected"),
        pytest.param("/static/", "", 404, None, APP_BODY, id="directory-without-index-file"),
        pytest.param("/static/caf\u00c3\u00a9", "", 404, None, APP_BODY, id="no-index-no-redirect"),
    ],
)
def test_index_file(
    site: Site, path: str, query: str, status: int, location: str | None, body: bytes
) -> None:
    result = site.get(site.app(index_file=True), path, query=query)
    assert (result.code, result.header("Location"), result.body) == (status, location, body)
    if status == 302:
        assert result.header("Cache-Control") == CACHE_CONTROL


def test_index_redirects_for_the_root_and_other_methods(site: Site) -> None:
    write(site.root, "index.html", HTML)
    app = site.app(index_file="index.html")
    assert site.get(app, "/static/").body == HTML
    assert site.get(app, "/static").header("Location") == "static/"
    assert site.get(app, "/static/sub", method="HEAD").code == 302
    assert site.get(app, "/static/sub", method="POST").code == 405


def test_index_redirect_quotes_the_name(site: Site) -> None:
    write(site.root, "a b/index.html", HTML)
    result = site.get(site.app(index_file=True), "/static/a b")
    assert result.header("Location") == "a%20b/"


# --- representations, memory, resources -------------------------------------------------------------


def test_miss_returns_the_apps_iterable_untouched(site: Site) -> None:
    body = [b"mine"]

    def inner(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    app = StaticFiles(inner, site.root, autorefresh=site.mode == "autorefresh")
    assert app(environ_for("/static/missing.css"), lambda *a: lambda data: None) is body
    assert app(environ_for("/elsewhere"), lambda *a: lambda data: None) is body


def test_headers_are_a_fresh_list_each_time(site: Site) -> None:
    app = site.app()
    lists: list[list[tuple[str, str]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        headers.append(("X-Server", "mutated"))  # servers may mutate the list they are given
        lists.append(headers)
        return lambda data: None

    for _ in range(2):
        for headers in ({}, {"If-None-Match": E_CSS}):
            body = app(environ_for("/static/app.css", headers=headers), start_response)
            close = getattr(body, "close", None)
            if close is not None:
                close()
    assert all(lst.count(("X-Server", "mutated")) == 1 for lst in lists)
    assert len({id(lst) for lst in lists}) == 4


def test_small_files_are_served_from_memory(tmp_path: Path) -> None:
    build_site(tmp_path)
    app = StaticFiles(Inner(), tmp_path)
    (tmp_path / "app.css").unlink()  # memory needs no file at all
    assert call(app, "/static/app.css").body == CSS


@pytest.mark.parametrize(
    ("options", "kept"),
    [
        pytest.param({"cache_max_file_size": 0}, set(), id="off"),
        pytest.param({"cache_max_file_size": 100}, {"app.css", "empty.txt"}, id="per-file-limit"),
        pytest.param({"cache_max_bytes": 20}, {"app.css", "empty.txt"}, id="total-limit"),
        pytest.param({"cache_max_bytes": 0}, set(), id="total-zero"),
    ],
)
def test_memory_limits(tmp_path: Path, options: dict[str, Any], kept: set[str]) -> None:
    root = tmp_path / "public"
    write(root, "app.css", CSS)
    write(root, "data.bin", DATA)
    write(root, "empty.txt", b"")
    app = StaticFiles(Inner(), root, **options)
    for name in ("app.css", "data.bin", "empty.txt"):
        (root / name).unlink()
    served = {
        name for name in ("app.css", "data.bin", "empty.txt") if call(app, f"/static/{name}").code == 200
    }
    assert served == kept


def test_file_wrapper_is_used_for_whole_files(tmp_path: Path) -> None:
    build_site(tmp_path)
    app = StaticFiles(Inner(), tmp_path, cache_max_file_size=0)

    class Wrapper(FileWrapper):
        pass

    environ = environ_for("/static/data.bin")
    environ["wsgi.file_wrapper"] = Wrapper
    body = app(environ, lambda *a: lambda data: None)
    try:
        assert isinstance(body, Wrapper)
        assert b"".join(body) == DATA
    finally:
        close_body(body)


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        pytest.param("GET", {}, id="200"),
        pytest.param("GET", {"Range": "bytes=0-9"}, id="206"),
        pytest.param("GET", {"Range": "bytes=0-9,20-29"}, id="206-multipart"),
        pytest.param("GET", {"If-None-Match": E_DATA}, id="304"),
        pytest.param("GET", {"Range": "bytes=9999-"}, id="416"),
        pytest.param("GET", {"If-Match": '"x"'}, id="412"),
        pytest.param("HEAD", {}, id="head"),
        pytest.param("POST", {}, id="405"),
    ],
)
@pytest.mark.parametrize("iteration", ["full", "one-chunk", "none"])
@pytest.mark.parametrize("wrapper", [False, True], ids=["no-wrapper", "wrapper"])
def test_files_are_closed_on_every_path(
    tmp_path: Path, method: str, headers: dict[str, str], iteration: str, wrapper: bool
) -> None:
    build_site(tmp_path)
    app = StaticFiles(Inner(), tmp_path, cache_max_file_size=0)
    before = open_descriptors()
    environ = environ_for("/static/data.bin", method, headers)
    if wrapper:
        environ["wsgi.file_wrapper"] = FileWrapper
    body = validator(app)(environ, lambda *a: lambda data: None)
    if iteration == "full":
        b"".join(body)
    elif iteration == "one-chunk":
        next(iter(body), None)
    close_body(body)
    assert open_descriptors() == before


def test_head_and_conditionals_never_open_the_file(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    app = site.app()
    real_open = os.open
    opened: list[str] = []

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    for method, headers in [
        ("HEAD", {}),
        ("HEAD", {"Range": "bytes=0-1"}),
        ("GET", {"If-None-Match": E_DATA}),
        ("GET", {"Range": "bytes=5000-"}),
        ("GET", {"If-Unmodified-Since": BEFORE}),
    ]:
        site.get(app, "/static/data.bin", method=method, headers=headers)
    monkeypatch.undo()
    assert not [path for path in opened if path.endswith("data.bin")]


def test_exception_in_start_response_closes_the_file(tmp_path: Path) -> None:
    build_site(tmp_path)
    app = StaticFiles(Inner(), tmp_path, cache_max_file_size=0)
    before = open_descriptors()

    def failing(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        raise RuntimeError("client went away")

    for headers in ({}, {"Range": "bytes=0-1"}):
        with pytest.raises(RuntimeError, match="client went away"):
            app(environ_for("/static/data.bin", headers=headers), failing)
    assert open_descriptors() == before


def test_a_file_that_shrinks_while_streaming_aborts_the_response(tmp_path: Path) -> None:
    build_site(tmp_path)
    app = StaticFiles(Inner(), tmp_path, cache_max_file_size=0)
    body = app(environ_for("/static/data.bin", headers={"Range": "bytes=0-999"}), lambda *a: lambda d: None)
    try:
        (tmp_path / "data.bin").write_bytes(b"short")  # same inode, truncated after the check
        with pytest.raises(OSError, match="before its announced length"):
            b"".join(body)
    finally:
        close_body(body)


def test_changed_file_is_looked_up_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    build_site(tmp_path)
    app = StaticFiles(Inner(), tmp_path, cache_max_file_size=0)
    write(tmp_path, "data.bin", b"new content", mtime=T0 + 5)
    with caplog.at_level(logging.WARNING, logger="wsgistack.static"):
        result = call(app, "/static/data.bin")
    assert result.body == b"new content"
    assert result.header("Content-Length") == "11"
    assert result.header("ETag") == etag(11).replace(f"{T0 * 10**9:x}", f"{(T0 + 5) * 10**9:x}")
    assert "changed since it was indexed" in caplog.text
    (tmp_path / "data.bin").unlink()
    assert call(app, "/static/data.bin").body == APP_BODY


def test_autorefresh_sees_new_and_removed_files(tmp_path: Path) -> None:
    build_site(tmp_path)
    app = StaticFiles(Inner(), tmp_path, autorefresh=True)
    write(tmp_path, "new.css", b"new\n")
    assert call(app, "/static/new.css").body == b"new\n"
    (tmp_path / "app.css").unlink()
    assert call(app, "/static/app.css").body == APP_BODY


def test_table_mode_does_not_see_new_files(tmp_path: Path) -> None:
    build_site(tmp_path)
    app = StaticFiles(Inner(), tmp_path)
    write(tmp_path, "new.css", b"new\n")
    assert call(app, "/static/new.css").body == APP_BODY


def test_epoch_mtime_sends_no_last_modified(site: Site) -> None:
    write(site.root, "epoch.css", CSS, mtime=0)
    app = site.app()
    result = site.get(app, "/static/epoch.css")
    assert result.header("Last-Modified") is None
    assert result.header("ETag") is not None
    assert site.get(app, "/static/epoch.css", headers={"If-Modified-Since": AFTER}).code == 200


def test_recent_modification_date_is_not_strong_for_if_range(site: Site) -> None:
    path = write(site.root, "fresh.bin", DATA)
    soon = time.time() + 3600  # not yet a second old when indexed: the date could hide another change
    os.utime(path, (soon, soon))
    app = site.app()
    date = site.get(app, "/static/fresh.bin").header("Last-Modified")
    assert date is not None
    assert site.get(app, "/static/fresh.bin", headers={"Range": "bytes=0-0", "If-Range": date}).code == 200


def test_zstd_suffix_spelled_out_is_found(tmp_path: Path) -> None:
    write(tmp_path, "a.js", JS)
    write(tmp_path, "a.js.zstd", JS_VARIANTS["zstd"][1])
    app = StaticFiles(Inner(), tmp_path)
    result = call(app, "/static/a.js", headers={"Accept-Encoding": "zstd"})
    assert result.header("Content-Encoding") == "zstd"
    assert result.body == JS_VARIANTS["zstd"][1]
    assert call(app, "/static/a.js.zstd").body == APP_BODY


def test_scan_survives_broken_links_and_loops(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "public"
    write(root, "ok.css", CSS)
    (root / "broken").symlink_to(root / "missing")
    (root / "self").symlink_to(root / "self")
    (root / "ancestor").symlink_to(root)
    (root / "a").mkdir()
    (root / "a" / "to-b").symlink_to(root / "b")
    (root / "b").mkdir()
    (root / "b" / "to-a").symlink_to(root / "a")
    with caplog.at_level(logging.DEBUG, logger="wsgistack.static"):
        app = StaticFiles(Inner(), root, follow_symlinks=True)
    assert call(app, "/static/ok.css").body == CSS
    assert call(app, "/static/broken").code == 404
    assert call(app, "/static/ancestor/ok.css").code == 404  # a directory loop is not entered
    assert "directory loop" in caplog.text
    assert "broken" in caplog.text


def test_import_and_construction_have_no_global_side_effects(tmp_path: Path) -> None:
    build_site(tmp_path)
    script = f"""
import logging, mimetypes, sys
import wsgistack
from wsgistack import StaticFiles
StaticFiles(None, {str(tmp_path)!r}, autorefresh=False)
assert not mimetypes.inited, "mimetypes initialised"
assert "webob" not in sys.modules, "webob imported"
assert logging.getLogger("wsgistack.static").handlers == []
assert logging.getLogger().handlers == []
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.stdout == "ok\n", done.stderr


def test_pipeline_and_registry(tmp_path: Path) -> None:
    build_site(tmp_path)
    app = Pipeline(Layer.named("static", tmp_path, prefix="/s/")).wrap(Inner())
    assert call(app, "/s/app.css").body == CSS
    assert isinstance(Layer(StaticFiles, tmp_path).build(Inner()), StaticFiles)


def test_repr(tmp_path: Path) -> None:
    build_site(tmp_path)
    assert repr(StaticFiles(Inner(), tmp_path, prefix="/s/")).startswith(
        f"<StaticFiles /s/ -> {tmp_path.resolve()}"
    )


def test_block_boundaries_for_large_files(tmp_path: Path) -> None:
    big = os.urandom(300 * 1024)
    write(tmp_path, "big.bin", big)
    app = StaticFiles(Inner(), tmp_path)
    body = app(environ_for("/static/big.bin"), lambda *a: lambda data: None)
    try:
        chunks = list(body)
    finally:
        close_body(body)
    assert b"".join(chunks) == big
    assert max(map(len, chunks)) <= 64 * 1024


def test_a_body_the_server_never_closes_warns_and_releases_the_file(tmp_path: Path) -> None:
    build_site(tmp_path)
    app = StaticFiles(Inner(), tmp_path, cache_max_file_size=0)
    before = open_descriptors()
    body = app(environ_for("/static/data.bin"), lambda *a: lambda data: None)
    assert open_descriptors() == before + 1
    with pytest.warns(ResourceWarning, match="unclosed file descriptor"):
        del body  # the last reference: CPython finalises it here
    assert open_descriptors() == before


def test_close_is_idempotent(tmp_path: Path) -> None:
    build_site(tmp_path)
    app = StaticFiles(Inner(), tmp_path, cache_max_file_size=0)
    before = open_descriptors()
    body = app(environ_for("/static/data.bin", headers={"Range": "bytes=0-1"}), lambda *a: lambda data: None)
    close_body(body)
    close_body(body)
    assert open_descriptors() == before


def test_well_known_through_its_own_prefix(tmp_path: Path) -> None:
    write(tmp_path, "site/app.css", CSS)
    write(tmp_path, "well-known/security.txt", b"Contact: mailto:security@example.org\n")
    app = StaticFiles(Inner(), tmp_path / "site")
    app.add_files(tmp_path / "well-known", prefix="/.well-known/")
    result = call(app, "/.well-known/security.txt")
    assert result.body == b"Contact: mailto:security@example.org\n"
    assert result.header("Content-Type") == "text/plain; charset=utf-8"
    assert call(app, "/static/app.css").body == CSS
