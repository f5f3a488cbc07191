"""pytest plugin (entry point ``pytest11``): fixtures to test a WSGI app and its stack in-process.

Fixtures: ``wsgi_app`` (override it in ``conftest.py``, or load it from ``--wsgi-config PATH[#NAME]`` or
the ``wsgistack_config`` ini option), ``wsgi_pipeline`` (override it to return the
:class:`~wsgistack.pipeline.Pipeline` that ``client`` wraps ``wsgi_app`` in), ``client`` (a
:class:`wsgistack.testing.Client` for it), ``access_log`` (the records of ``wsgistack.access`` logged
during the test) and ``wsgi_errors`` (what the app wrote to ``wsgi.errors``, one string per request).

The switches of :func:`wsgistack.testing.client` in :data:`SWITCHES` are off unless turned on for the
run (``--wsgi-layer-lint``, or ``wsgistack_layer_lint = true`` in the pytest configuration) or for some
tests (``@pytest.mark.wsgistack(layer_lint=True)``). A marker wins over the command line, which wins
over the configuration file; markers add up, the one closest to the test winning for each keyword.

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
    from .pipeline import Pipeline
    from .testing import Client

NO_APP = (
    "no WSGI app to test: override the wsgi_app fixture in conftest.py, or pass --wsgi-config PATH[#NAME], "
    "or set wsgistack_config = PATH[#NAME] in the pytest configuration"
)
NO_LAYERS = (
    "layer_lint ({source}) needs the layers: override the wsgi_pipeline fixture to return the Pipeline "
    "and wsgi_app to return the bare app, or load the stack with --wsgi-config or wsgistack_config"
)

#: The :func:`wsgistack.testing.client` switches the ``client`` fixture takes from the command line
#: (``--wsgi-layer-lint``), the pytest configuration (``wsgistack_layer_lint``) and the marker.
SWITCHES = {
    "layer_lint": "a PEP 3333 validator between every two layers: a violation names the layer at fault",
    "propagate_errors": "CatchErrors re-raises instead of answering 500, so the app's traceback shows",
    "strict_errors": "fail a request whose app wrote to wsgi.errors, as plain WebTest does",
}
MARKER = "wsgistack"
ACCEPTED = ", ".join(SWITCHES)
BOOLEANS = "true or false (in an INI file also yes/no, on/off, 1/0)"

#: Each switch's value for the run and what set it (a command-line option or an ini setting).
_RUN_SWITCHES = pytest.StashKey[dict[str, tuple[bool, str]]]()
#: Set by the default ``wsgi_app`` when it loaded the stack with a validator between every two layers.
_LAYERS_LINTED = pytest.StashKey[bool]()


def _option(name: str) -> str:
    return "--wsgi-" + name.replace("_", "-")


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
    for name, meaning in SWITCHES.items():
        group.addoption(
            _option(name),
            action="store_true",
            help=f"client fixture: {meaning} (ini: wsgistack_{name}; marker: {MARKER}({name}=...))",
        )
        parser.addini(f"wsgistack_{name}", f"client fixture: {meaning}", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}({', '.join(f'{name}=False' for name in SWITCHES)}): the client fixture's settings for "
        f"this test, over the --wsgi-* options and the wsgistack_* ini settings",
    )
    switches = {}
    for name in SWITCHES:
        setting = f"wsgistack_{name}"
        try:
            from_ini = bool(config.getini(setting))
        except (ValueError, TypeError, pytest.UsageError) as error:
            raise pytest.UsageError(f"{setting}: {error}; expected {BOOLEANS}") from None
        on_command_line = bool(config.getoption(_option(name)))
        switches[name] = (True, _option(name)) if on_command_line else (from_ini, setting)
    config.stash[_RUN_SWITCHES] = switches


def _switches(node: pytest.Item) -> dict[str, tuple[bool, str]]:
    """Each switch's value for the test ``node``, and what set it; fails the test on a bad marker."""
    switches = node.config.stash[_RUN_SWITCHES].copy()
    for marker in reversed(list(node.iter_markers(MARKER))):  # the farthest first: the closest wins
        if marker.args:
            pytest.fail(f"pytest.mark.{MARKER} takes keyword arguments only: {ACCEPTED}", pytrace=False)
        for name, value in marker.kwargs.items():
            if name not in SWITCHES:
                import difflib

                hint = difflib.get_close_matches(name, SWITCHES, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                pytest.fail(
                    f"pytest.mark.{MARKER}: unknown keyword {name!r}{suggestion}; accepted: {ACCEPTED}",
                    pytrace=False,
                )
            if not isinstance(value, bool):
                pytest.fail(
                    f"pytest.mark.{MARKER}: {name} must be True or False, not {value!r}", pytrace=False
                )
            switches[name] = (value, f"pytest.mark.{MARKER}")
    return switches


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A misspelt marker fails its test, also one that uses none of the fixtures."""
    if item.get_closest_marker(MARKER) is not None:
        _switches(item)


@pytest.fixture
def wsgi_app(request: pytest.FixtureRequest) -> WSGIApplication:
    """The app under test; by default loaded from ``--wsgi-config`` or the ``wsgistack_config`` ini, with a
    validator between every two layers of its pipelines when ``layer_lint`` is on for the test."""
    from .testing import _load_stack

    config = request.config
    spec: str | None = config.getoption("--wsgi-config")
    base = Path.cwd()
    if not spec:
        spec = str(config.getini("wsgistack_config") or "")
        base = config.inipath.parent if config.inipath else config.rootpath
    if not spec:
        pytest.fail(NO_APP, pytrace=False)
    path, _, name = spec.partition("#")
    layer_lint = _switches(request.node)["layer_lint"][0]
    app = _load_stack(base / path, name or "main", layer_lint=layer_lint)
    request.node.stash[_LAYERS_LINTED] = layer_lint
    return app


@pytest.fixture
def wsgi_pipeline() -> Pipeline | None:
    """The :class:`~wsgistack.pipeline.Pipeline` that ``client`` wraps ``wsgi_app`` in: none (``wsgi_app``
    is the whole stack) unless overridden, ``wsgi_app`` then returning the bare app, so that layer lint
    can name the layer at fault."""
    return None


@pytest.fixture
def client(
    request: pytest.FixtureRequest, wsgi_app: WSGIApplication, wsgi_pipeline: Pipeline | None
) -> Client:
    """A WebTest client for ``wsgi_app`` (see :func:`wsgistack.testing.client`), in ``wsgi_pipeline`` if
    any, with the switches of the run and of the test's ``wsgistack`` marker."""
    from .testing import client as make_client

    switches = _switches(request.node)
    layer_lint, source = switches["layer_lint"]
    if wsgi_pipeline is None and request.node.stash.get(_LAYERS_LINTED, False):
        layer_lint = False  # wsgi_app came from a configuration file, linted layer by layer
    elif layer_lint and wsgi_pipeline is None:
        pytest.fail(NO_LAYERS.format(source=source), pytrace=False)
    return make_client(
        wsgi_app,
        pipeline=wsgi_pipeline,
        layer_lint=layer_lint,
        propagate_errors=switches["propagate_errors"][0],
        strict_errors=switches["strict_errors"][0],
    )


@pytest.fixture
def access_log() -> Iterator[list[logging.LogRecord]]:
    """Records logged to ``wsgistack.access`` during the test (the level is lowered while it runs)."""
    from .testing import capture_logs

    with capture_logs("wsgistack.access") as records:
        yield records


@pytest.fixture
def wsgi_errors(client: Client) -> list[str]:
    """What the app wrote to ``wsgi.errors`` through ``client``: recorded, not failed on (WebTest's
    default would fail the request; ``strict_errors``, from ``--wsgi-strict-errors``, the
    ``wsgistack_strict_errors`` ini setting or the ``wsgistack`` marker, does that)."""
    return client.wsgi_errors
