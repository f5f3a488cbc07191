"""pytest plugin (entry point ``pytest11``): fixtures to test a WSGI app and its stack in-process.

Fixtures: ``wsgi_app`` (override it in ``conftest.py``, or load it from ``--wsgi-config PATH[#NAME]`` or
the ``wsgistack_config`` ini option), ``client`` (a :class:`wsgistack.testing.Client` for it),
``access_log`` (the records of ``wsgistack.access`` logged during the test) and ``wsgi_errors``
(what the app wrote to ``wsgi.errors``, one string per request).

Nothing but pytest is imported until a fixture is used, so the plugin costs nothing in test runs
that do not use it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .core import WSGIApplication
    from .testing import Client

NO_APP = (
    "no WSGI app to test: override the wsgi_app fixture in conftest.py, or pass --wsgi-config PATH[#NAME], "
    "or set wsgistack_config = PATH[#NAME] in the pytest configuration"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsgistack", "wsgistack in-process testing")
    group.addoption(
        "--wsgi-config",
        metavar="PATH[#NAME]",
        help="INI or TOML file (and app section) that the wsgi_app fixture loads",
    )
    parser.addini(
        "wsgistack_config", "INI or TOML file PATH[#NAME] that the wsgi_app fixture loads", default=""
    )


@pytest.fixture
def wsgi_app(request: pytest.FixtureRequest) -> WSGIApplication:
    """The app under test; by default loaded from ``--wsgi-config`` or the ``wsgistack_config`` ini."""
    from .config import load

    config = request.config
    spec: str | None = config.getoption("--wsgi-config")
    base = Path.cwd()
    if not spec:
        spec = str(config.getini("wsgistack_config") or "")
        base = config.inipath.parent if config.inipath else config.rootpath
    if not spec:
        pytest.fail(NO_APP, pytrace=False)
    path, _, name = spec.partition("#")
    return load(str(base / path), name=name or "main")


@pytest.fixture
def client(wsgi_app: WSGIApplication) -> Client:
    """A WebTest client for ``wsgi_app`` (see :func:`wsgistack.testing.client`)."""
    from .testing import client as make_client

    return make_client(wsgi_app)


@pytest.fixture
def access_log() -> Iterator[list[logging.LogRecord]]:
    """Records logged to ``wsgistack.access`` during the test (the level is lowered while it runs)."""
    from .testing import capture_logs

    with capture_logs("wsgistack.access") as records:
        yield records


@pytest.fixture
def wsgi_errors(client: Client) -> list[str]:
    """What the app wrote to ``wsgi.errors`` through ``client``: recorded, not failed on (WebTest's
    default would fail the request; use ``wsgistack.testing.client(..., strict_errors=True)`` for that)."""
    return client.wsgi_errors
