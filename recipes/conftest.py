"""Fixtures for ``test_site.py``: the app under test, as ``flask_app/wsgi.py`` builds it and as
``production.ini`` describes it, so every test runs against both.

wsgistack's pytest plugin (installed with wsgistack) provides ``client``, ``access_log`` and
``wsgi_errors``; ``client`` sends its requests through whatever ``wsgi_app`` returns.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import wsgistack
from wsgistack.core import WSGIApplication

HERE = Path(__file__).resolve().parent


@pytest.fixture(params=["wsgi.py", "production.ini"])
def wsgi_app(request: pytest.FixtureRequest) -> WSGIApplication:
    if request.param == "wsgi.py":
        from recipes.flask_app.wsgi import application

        return application
    return wsgistack.load(HERE / "production.ini")
