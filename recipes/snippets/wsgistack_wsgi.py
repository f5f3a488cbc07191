"""wsgi.py with wsgistack: the same files, with the same headers, served by StaticFiles."""

from __future__ import annotations

from pathlib import Path

from recipes.snippets.echo import make_app
from wsgistack import StaticFiles

HERE = Path(__file__).resolve().parent

site = make_app({}, name="site")  # the application: Flask's app, Django's get_wsgi_application(), …


def add_headers(url: str, path: str) -> list[tuple[str, str]]:
    return [("X-Frame-Options", "DENY")] if path.endswith(".html") else []


application = StaticFiles(
    site,
    HERE / "bundle",
    prefix="/static/",
    max_age=3600,
    index_file=True,
    immutable=r"^/static/assets/",
    add_headers=add_headers,
    cors="*",  # WhiteNoise sends Access-Control-Allow-Origin: * unless allow_all_origins=False
)
application.add_files(HERE / "public", prefix="/")
