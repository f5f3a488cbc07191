"""Compress against paste.gzipper, Django's GZipMiddleware, flask-compress and the raw codec calls, on a
127 KB HTML page, per coding; the same on HTML pages of 2 KB and 16 KB (gzip against paste.gzipper,
Django, flask-compress and the raw call; br and zstd against flask-compress and the raw call), where the
cost around the codec weighs more; the cost Compress adds to a response it does not compress; and the
peak RSS growth while streaming a large generator response (1 GiB by default, in a subprocess; set
``BENCH_COMPRESS_STREAM_MIB`` to choose the size; 16 MiB in quick mode).

Output sizes are reported as notes: speed is only comparable at a similar ratio. (Here KB is 1024 bytes.)
"""

from __future__ import annotations

import functools
import os
import random
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks.harness import Comparison, Report, make_environ, measure, measure_interleaved, wsgi_request
from wsgistack import Compress, codecs
from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment

SUITE = "compress"
HTML_SIZE = 127 * 1024


_WORDS = (
    "the of and to in is for on with as by at from that this which be are was were it an or not have "
    "request response server client header body middleware compression stream chunk application "
    "configuration pipeline static file cache encoding content length status error python version "
    "release module function class method value option default return iterable close"
)
_HEAD = (
    '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Report</title>\n'
    '<link rel="stylesheet" href="/static/site.css"></head>\n<body>\n<nav class="top">\n'
)
_TABLE_HEAD = "<tr><th>Name</th><th>Count</th><th>Ratio</th><th>Date</th></tr>\n"


def html_page(size: int = HTML_SIZE, seed: int = 1) -> bytes:
    """A deterministic page of navigation, prose and tables, compressing about as well as real HTML."""
    rng = random.Random(seed)
    words = _WORDS.split()
    parts = [_HEAD]
    parts += [
        f'  <a class="nav-link" href="/section/{i}/">{rng.choice(words).title()} {i}</a>\n' for i in range(30)
    ]
    parts.append("</nav>\n<main>\n")
    total, n = sum(map(len, parts)), 0
    while total < size:
        n += 1
        if n % 3:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(20, 60)))
            part = f'<section id="s{n}">\n<h2 class="title">{text[:40].title()}</h2>\n'
            part += f'<p class="lead">{text}.</p>\n</section>\n'
        else:
            rows = "".join(
                f'<tr><td class="name">{rng.choice(words)}_{rng.randint(0, 999)}</td>'
                f'<td class="num">{rng.randint(0, 10**6)}</td><td class="num">{rng.random():.4f}</td>'
                f"<td>2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}</td></tr>\n"
                for _ in range(rng.randint(3, 8))
            )
            part = f'<table class="data">\n{_TABLE_HEAD}{rows}</table>\n'
        parts.append(part)
        total += len(part)
    return "".join(parts).encode()[:size]


HTML = html_page()
SIZES = (2 * 1024, 16 * 1024)  # besides HTML_SIZE, which keeps its cases and goals
_PAGES = {HTML_SIZE: HTML}


def _page(size: int) -> bytes:
    if size not in _PAGES:
        _PAGES[size] = html_page(size)
    return _PAGES[size]


_STDLIB_GZIP_LEVEL = codecs.Codecs(codecs.load_backend("zlib")).default_level("gzip")


def _page_app(body: bytes, content_type: str = "text/html; charset=utf-8") -> WSGIApplication:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", list(headers))
        return [body]

    return app


def _body_of(app: WSGIApplication, accept: str, path: str = "/") -> tuple[bytes, str | None]:
    environ = make_environ(path, headers={"Accept-Encoding": accept})
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Any:
        seen["headers"] = headers
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    coding = next((v for k, v in seen["headers"] if k.lower() == "content-encoding"), None)
    return body, coding


def _django_app(gzip: bool) -> WSGIApplication:
    import django  # type: ignore[import-untyped]
    from django.conf import settings  # type: ignore[import-untyped]

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=[],
            SECRET_KEY="benchmark",
            DEFAULT_CHARSET="utf-8",
        )
        django.setup()
    from django.core.handlers.wsgi import WSGIHandler  # type: ignore[import-untyped]

    handler = WSGIHandler()
    if gzip:
        settings.MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware"]
        handler = WSGIHandler()
        settings.MIDDLEWARE = []
    app: WSGIApplication = handler
    return app


def _django_view(request: Any, size: int = HTML_SIZE) -> Any:
    from django.http import HttpResponse  # type: ignore[import-untyped]

    return HttpResponse(_page(size), content_type="text/html; charset=utf-8")


def __getattr__(name: str) -> Any:  # Django's ROOT_URLCONF looks up ``urlpatterns`` here
    if name == "urlpatterns":
        from django.urls import path  # type: ignore[import-untyped]

        return [path("", _django_view), path("page/<int:size>", _django_view)]
    raise AttributeError(name)


def _paste_gzip() -> Callable[..., WSGIApplication]:
    from paste.gzipper import middleware

    factory: Callable[..., WSGIApplication] = middleware
    return factory


def _flask_app(algorithm: str) -> WSGIApplication:
    from flask import Flask
    from flask_compress import Compress as FlaskCompress

    flask_app = Flask(f"bench_{algorithm}")
    flask_app.config["COMPRESS_ALGORITHM"] = [algorithm]
    FlaskCompress(flask_app)

    @flask_app.route("/")
    def page() -> Any:
        return HTML, 200, {"Content-Type": "text/html; charset=utf-8"}

    @flask_app.route("/page/<int:size>")
    def sized_page(size: int) -> Any:
        return _page(size), 200, {"Content-Type": "text/html; charset=utf-8"}

    return flask_app.wsgi_app


def _time_case(report: Report, quick: bool, case: str, impls: dict[str, Callable[[], object]]) -> None:
    for impl, stats in measure_interleaved(impls, quick=quick).items():
        report.add(SUITE, case, impl, stats)


def _gzip_case(report: Report, quick: bool) -> None:
    from isal import isal_zlib

    page = _page_app(HTML)
    case = "127 KB HTML, gzip"
    apps: dict[str, WSGIApplication] = {
        "wsgistack": Compress(page, encodings=["gzip"]),
        # What a stdlib-only install runs by default: zlib at its default level.
        "wsgistack, stdlib zlib": Compress(page, encodings=["gzip"], gzip_level=_STDLIB_GZIP_LEVEL),
        "paste.gzipper (zlib 6)": _paste_gzip()(page, compress_level=6),
        "django GZipMiddleware": _django_app(gzip=True),
        "flask-compress": _flask_app("gzip"),
    }
    sizes: dict[str, int] = {}
    impls: dict[str, Callable[[], object]] = {}
    for impl, app in apps.items():
        body, coding = _body_of(app, "gzip")
        assert coding == "gzip", impl
        assert zlib.decompress(body, wbits=31) == HTML, impl
        sizes[impl] = len(body)
        impls[impl] = wsgi_request(app, make_environ(headers={"Accept-Encoding": "gzip"}))
    level, stdlib = codecs.default_level("gzip"), _STDLIB_GZIP_LEVEL
    fast_raw, stdlib_raw = f"raw isal_zlib.compress level {level}", f"raw zlib.compress level {stdlib}"
    impls[fast_raw] = lambda: isal_zlib.compress(HTML, level, wbits=31)
    impls[stdlib_raw] = lambda: zlib.compress(HTML, stdlib, wbits=31)
    impls["django, no compression"] = wsgi_request(_django_app(gzip=False), make_environ())
    _time_case(report, quick, case, impls)

    report.compare(SUITE, case, "wsgistack", "paste.gzipper (zlib 6)", goal=0.2,
                   label="wsgistack / paste.gzipper (fast extra; goal: 5x faster)")  # fmt: skip
    report.compare(SUITE, case, "wsgistack, stdlib zlib", "paste.gzipper (zlib 6)", goal=1.0,
                   label="wsgistack on stdlib zlib / paste.gzipper (goal: no slower)")  # fmt: skip
    report.compare(SUITE, case, "wsgistack", "django GZipMiddleware")
    report.compare(SUITE, case, "wsgistack", "flask-compress")
    report.compare(SUITE, case, "wsgistack", fast_raw)
    report.compare(SUITE, case, "wsgistack, stdlib zlib", stdlib_raw)
    size_ratio = sizes["wsgistack"] / sizes["paste.gzipper (zlib 6)"]
    report.comparisons.append(
        Comparison(SUITE, case, "output size: wsgistack / paste.gzipper (goal <= 1.05)", size_ratio, 1.05)
    )
    report.note(
        f"{case}: output bytes from {len(HTML)}: "
        + ", ".join(f"{impl} {size}" for impl, size in sizes.items())
        + f" (gzip default level {level} on {codecs.backend('gzip')})."
    )


def _gzip_levels(report: Report, quick: bool) -> None:
    """Every installed gzip encoder at every level against paste.gzipper: the trade-off behind the default.

    Raw calls, no middleware: what each level could give Compress at best. A note, not a comparison.
    """
    paste = report.median(SUITE, "127 KB HTML, gzip", "paste.gzipper (zlib 6)")
    paste_size = len(_body_of(_paste_gzip()(_page_app(HTML), compress_level=6), "gzip")[0])
    parts = []
    for name in ("isal", "zlib-ng", "zlib"):
        try:
            backend = codecs.load_backend(name)
        except ImportError:
            continue
        for level in backend.levels:
            size = len(backend.compress(HTML, level, b""))
            stats = measure(functools.partial(backend.compress, HTML, level, b""), quick=quick, repeat=11)
            parts.append(
                f"{name} {level}: {paste / stats.median:.1f}x as fast, {size / paste_size:.2f}x the size"
            )
    report.note(
        "127 KB HTML, gzip, every installed encoder and level against paste.gzipper (zlib 6), speed and "
        "output size: " + "; ".join(parts) + "."
    )


def _br_zstd_cases(report: Report, quick: bool) -> None:
    import brotli
    from backports import zstd as backports_zstd

    page = _page_app(HTML)
    raw_calls: dict[str, tuple[str, Callable[[], object]]] = {
        "br": ("raw brotli.compress quality 4", lambda: brotli.compress(HTML, quality=4)),
        "zstd": ("raw backports.zstd.compress level 3", lambda: backports_zstd.compress(HTML, level=3)),
    }
    for coding, (raw_name, raw_call) in raw_calls.items():
        case = f"127 KB HTML, {coding}"
        sizes = {}
        impls: dict[str, Callable[[], object]] = {}
        for impl, app in (
            ("wsgistack", Compress(page, encodings=[coding])),
            ("flask-compress", _flask_app(coding)),
        ):
            body, got = _body_of(app, coding)
            assert got == coding, impl
            sizes[impl] = len(body)
            impls[impl] = wsgi_request(app, make_environ(headers={"Accept-Encoding": coding}))
        impls[raw_name] = raw_call
        _time_case(report, quick, case, impls)
        report.compare(
            SUITE, case, "wsgistack", raw_name, goal=1.1, label=f"wsgistack / {raw_name} (goal <= 1.1)"
        )
        report.compare(SUITE, case, "wsgistack", "flask-compress")
        report.note(f"{case}: output bytes " + ", ".join(f"{k} {v}" for k, v in sizes.items()) + ".")


def _size_label(size: int) -> str:
    return f"{size // 1024} KB HTML"


def _sized_cases(report: Report, quick: bool, size: int) -> None:
    """One page size, every coding: the middleware against its peers and the raw codec call."""
    import brotli
    from backports import zstd as backports_zstd
    from isal import isal_zlib

    html, path = _page(size), f"/page/{size}"
    page = _page_app(html)
    level = codecs.default_level("gzip")
    peers: dict[str, dict[str, WSGIApplication]] = {
        "gzip": {
            "wsgistack": Compress(page, encodings=["gzip"]),
            "wsgistack, stdlib zlib": Compress(page, encodings=["gzip"], gzip_level=_STDLIB_GZIP_LEVEL),
            "paste.gzipper (zlib 6)": _paste_gzip()(page, compress_level=6),
            "django GZipMiddleware": _django_app(gzip=True),
            "flask-compress": _flask_app("gzip"),
        },
        "br": {"wsgistack": Compress(page, encodings=["br"]), "flask-compress": _flask_app("br")},
        "zstd": {"wsgistack": Compress(page, encodings=["zstd"]), "flask-compress": _flask_app("zstd")},
    }
    raw_calls: dict[str, tuple[str, Callable[[], object]]] = {
        "gzip": (f"raw isal_zlib.compress level {level}", lambda: isal_zlib.compress(html, level, wbits=31)),
        "br": ("raw brotli.compress quality 4", lambda: brotli.compress(html, quality=4)),
        "zstd": ("raw backports.zstd.compress level 3", lambda: backports_zstd.compress(html, level=3)),
    }
    decoders: dict[str, Callable[[bytes], bytes]] = {
        "gzip": lambda body: zlib.decompress(body, wbits=31),
        "br": brotli.decompress,
        "zstd": backports_zstd.decompress,
    }
    for coding, apps in peers.items():
        case = f"{_size_label(size)}, {coding}"
        sizes: dict[str, int] = {}
        impls: dict[str, Callable[[], object]] = {}
        for impl, app in apps.items():
            body, got = _body_of(app, coding, path)
            assert got == coding, (case, impl)
            assert decoders[coding](body) == html, (case, impl)
            sizes[impl] = len(body)
            impls[impl] = wsgi_request(app, make_environ(path, headers={"Accept-Encoding": coding}))
        raw_name, raw_call = raw_calls[coding]
        impls[raw_name] = raw_call
        _time_case(report, quick, case, impls)
        if coding == "gzip":
            report.compare(SUITE, case, "wsgistack", "paste.gzipper (zlib 6)")
            report.compare(SUITE, case, "wsgistack, stdlib zlib", "paste.gzipper (zlib 6)")
            report.compare(SUITE, case, "wsgistack", "django GZipMiddleware")
        report.compare(SUITE, case, "wsgistack", "flask-compress")
        report.compare(SUITE, case, "wsgistack", raw_name)
        report.note(
            f"{case}: output bytes from {len(html)}: "
            + ", ".join(f"{impl} {length}" for impl, length in sizes.items())
            + "."
        )


def _not_eligible(report: Report, quick: bool) -> None:
    case = "response not compressed (image/png, 5 bytes)"
    image = _page_app(b"\x89PNG\r", "image/png")
    environ = make_environ(headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    apps: dict[str, WSGIApplication] = {
        "bare app": image,
        "wsgistack": Compress(image),
        "paste.gzipper": _paste_gzip()(image),
    }
    _time_case(report, quick, case, {impl: wsgi_request(app, environ) for impl, app in apps.items()})
    report.compare(SUITE, case, "wsgistack", "paste.gzipper", base="bare app")
    overhead = report.median(SUITE, case, "wsgistack") - report.median(SUITE, case, "bare app")
    report.comparisons.append(
        Comparison(SUITE, case, "wsgistack overhead in us (goal <= 1)", overhead * 1e6, 1.0)
    )


_RSS_SCRIPT = """
import sys
from wsgistack import Compress
size = int(sys.argv[1]) << 20
chunk = bytes(range(256)) * 64 + b"<p>compressible text</p>" * 2000
count = size // len(chunk)
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html")])
    for _ in range(count):
        yield chunk
def status_kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))
environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_ACCEPT_ENCODING": sys.argv[2]}
layer = Compress(app)
with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")  # Linux: the peak (VmHWM) restarts from the current resident size
before = status_kib("VmRSS")  # the compressor's own state counts as growth
result = layer(environ, lambda status, headers, exc_info=None: None)
sent = 0
for value in result:
    sent += len(value)
result.close()
print((status_kib("VmHWM") - before) / 1024, count * len(chunk) / (1 << 20), sent)
"""


def _stream_rss(report: Report, quick: bool) -> None:
    mib = 16 if quick else int(os.environ.get("BENCH_COMPRESS_STREAM_MIB", "1024"))
    for coding in codecs.available():
        out = subprocess.run(
            [sys.executable, "-c", _RSS_SCRIPT, str(mib), coding], check=True, capture_output=True, text=True
        ).stdout.split()
        growth, streamed, sent = float(out[0]), float(out[1]), int(out[2])
        case = f"streamed {streamed:.0f} MiB generator response"
        report.comparisons.append(
            Comparison(SUITE, case, f"{coding}: peak RSS growth in MiB (goal < 16)", growth, 16.0)
        )
        report.note(f"{case}, {coding}: {sent} bytes sent, peak RSS grew by {growth:.1f} MiB.")


def run(report: Report, quick: bool) -> None:
    _gzip_case(report, quick)
    _gzip_levels(report, quick)
    _br_zstd_cases(report, quick)
    for size in SIZES:
        _sized_cases(report, quick, size)
    _not_eligible(report, quick)
    _stream_rss(report, quick)
