"""wsgi.py with WhiteNoise: the bundler's output at /static/, a few files at the site's root."""

from __future__ import annotations

from pathlib import Path
from wsgiref.headers import Headers

from whitenoise import WhiteNoise  # type: ignore[import-untyped]

from recipes.snippets.echo import make_app

HERE = Path(__file__).resolve().parent

site = make_app({}, name="site")  # the application: Flask's app, Django's get_wsgi_application(), …


def add_headers(headers: Headers, path: str, url: str) -> None:
    if path.endswith(".html"):
        headers["X-Frame-Options"] = "DENY"


application = WhiteNoise(
    site,
    root=HERE / "bundle",
    prefix="/static/",
    max_age=3600,
    index_file=True,
    immutable_file_test=r"^/static/assets/",
    add_headers_function=add_headers,
)
application.add_files(HERE / "public", prefix="/")
