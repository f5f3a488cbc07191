"""The pytest plugin, exercised the way users meet it: in a separate pytest run (pytester)."""

from __future__ import annotations

import inspect
import re
import shutil
import textwrap

import pytest

from wsgistack.pytest_plugin import SWITCHES
from wsgistack.testing import client

from .test_docs import ROOT, blocks, page, table_after

APP = """
def app(environ, start_response):
    import logging
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("boom")
    if environ["PATH_INFO"] == "/noisy":
        environ["wsgi.errors"].write("careful\\n")
    logging.getLogger("wsgistack.access").info("served %s", environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"from ", environ["PATH_INFO"].encode()]
"""

USES_FIXTURES = """
def test_client(client):
    assert client.get("/here").text == "from /here"

def test_access_log(client, access_log):
    client.get("/logged")
    assert [r.getMessage() for r in access_log] == ["served /logged"]

def test_wsgi_errors(client, wsgi_errors):
    client.get("/noisy")
    assert wsgi_errors == ["careful\\n"]
"""

INI = """
[app:main]
use = call:appmodule:app_factory

[app:other]
use = call:appmodule:app_factory

[pipeline:broken]
pipeline = mutates main

[pipeline:guarded]
pipeline = errors main

[filter:mutates]
use = call:appmodule:mutates_headers_filter

[filter:errors]
use = egg:wsgistack#errors
"""

FACTORY = """
def app_factory(global_conf, **local):
    return app

def mutates_headers(app):
    def layer(environ, start_response):
        def start(status, headers, exc_info=None):
            headers.append(("X-Tag", "1"))  # the list the app gave it
            return start_response(status, headers)
        return app(environ, start)
    return layer

def mutates_headers_filter(global_conf):
    return mutates_headers
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(appmodule=APP + FACTORY)
    pytester.makefile(".ini", app=INI)
    pytester.syspathinsert()
    return pytester


#: Every run refuses unregistered markers and fails on an exception raised where nothing can catch it (a
#: finalizer's); hypothesis's plugin is not loaded (the runs do not use it, and importing it again in each
#: run would take most of its time).
RUN_OPTIONS = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:hypothesispytest",
    "--strict-markers",
    "-W",
    "error::pytest.PytestUnraisableExceptionWarning",
)


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest(*RUN_OPTIONS, *args)


def test_wsgi_app_fixture_overridden_in_conftest(project: pytest.Pytester) -> None:
    project.makeconftest(
        "from appmodule import app\nimport pytest\n\n@pytest.fixture\ndef wsgi_app():\n    return app\n"
    )
    project.makepyfile(test_app=USES_FIXTURES)
    run(project).assert_outcomes(passed=3)


@pytest.mark.parametrize("name", ["", "#other"])
def test_wsgi_config_option(project: pytest.Pytester, name: str) -> None:
    project.makepyfile(test_app=USES_FIXTURES)
    run(project, f"--wsgi-config=app.ini{name}").assert_outcomes(passed=3)


def test_wsgistack_config_ini_option(project: pytest.Pytester) -> None:
    project.mkdir("conf")
    (project.path / "conf" / "app.ini").write_text(INI)
    project.makeini("[pytest]\nwsgistack_config = conf/app.ini#main\n")
    project.makepyfile(test_app=USES_FIXTURES)
    run(project).assert_outcomes(passed=3)


def test_missing_app_is_a_clear_failure(project: pytest.Pytester) -> None:
    project.makepyfile(test_app="def test_it(client):\n    pass\n")
    result = run(project)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no WSGI app to test: override the wsgi_app fixture in conftest.py*"])


def test_failing_layer_lint_names_the_layer(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_lint=textwrap.dedent(
            """
            from appmodule import app
            from wsgistack import Layer, Pipeline
            from wsgistack.testing import client

            def shouts_text(app):
                def layer(environ, start_response):
                    body = app(environ, start_response)
                    class Text:
                        def __iter__(self):
                            return (chunk.decode().upper() for chunk in body)
                        def close(self):
                            body.close() if hasattr(body, "close") else None
                    return Text()
                return layer

            def test_lint():
                client(app, pipeline=Pipeline(Layer(shouts_text)), layer_lint=True).get("/")
            """
        )
    )
    # wsgiref.validate's wrapper around the body the failed request left unclosed complains when collected.
    result = run(project, "-W", "ignore::pytest.PytestUnraisableExceptionWarning")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*LayerViolation: layer 1 (shouts_text): Iterator yielded non-bytestring*"])


def test_plugin_imports_nothing_heavy_until_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_imports="import sys\n\ndef test_it():\n    assert 'webtest' not in sys.modules\n"
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


# --- the client fixture's switches: command-line option, ini setting, marker ------------------------------

MARKED = """
import pytest

def test_default(client):
    assert client.get("/here").text == "from /here"

@pytest.mark.wsgistack(layer_lint=True)
def test_on(client):
    assert client.get("/here").text == "from /here"

@pytest.mark.wsgistack(layer_lint=False)
def test_off(client):
    assert client.get("/here").text == "from /here"

@pytest.mark.wsgistack(layer_lint=True)
class TestMarkedClass:
    @pytest.mark.wsgistack(layer_lint=False)
    def test_closest_marker_wins(self, client):
        assert client.get("/here").text == "from /here"

    @pytest.mark.wsgistack(strict_errors=False)
    def test_markers_add_up(self, client):
        assert client.get("/here").text == "from /here"
"""
#: The tests of MARKED that lint the layers whatever the run says.
MARKED_ON = {"test_on", "TestMarkedClass::test_markers_add_up"}
LAYER_AT_FAULT = "LayerViolation: layer 1 ({}) mutated the header list the app gave it"


def setting(switch: str, value: str) -> str:
    """The ini line that sets ``switch`` to ``value``; none for no value."""
    return f"wsgistack_{switch} = {value}\n" if value else ""


def failures(project: pytest.Pytester, *args: str) -> dict[str, str]:
    """The tests of a run that failed or errored (by their name in the module), with their reports."""
    recorder = project.inline_run(*RUN_OPTIONS, *args)
    assert recorder.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    return {report.nodeid.partition("::")[2]: str(report.longrepr) for report in recorder.getfailures()}


@pytest.mark.parametrize(
    ("args", "ini", "linted"),
    [
        pytest.param((), "", MARKED_ON, id="off by default"),
        pytest.param((), "true", {"test_default", *MARKED_ON}, id="ini"),
        pytest.param(("--wsgi-layer-lint",), "", {"test_default", *MARKED_ON}, id="command line"),
        pytest.param(
            ("--wsgi-layer-lint",), "false", {"test_default", *MARKED_ON}, id="command line over ini"
        ),
        pytest.param(("-o", "wsgistack_layer_lint=false"), "true", MARKED_ON, id="ini overridden"),
    ],
)
def test_layer_lint_switch(
    project: pytest.Pytester, args: tuple[str, ...], ini: str, linted: set[str]
) -> None:
    project.makeini(f"[pytest]\nwsgistack_config = app.ini#broken\n{setting('layer_lint', ini)}")
    project.makepyfile(test_marked=MARKED)
    failed = failures(project, *args)
    assert sorted(failed) == sorted(linted)  # the others went through the broken layer as before
    for report in failed.values():
        assert LAYER_AT_FAULT.format("call:appmodule:mutates_headers_filter") in report


@pytest.mark.parametrize(
    ("value", "on"),
    [
        *((value, True) for value in ("true", "True", "yes", "on", "1")),
        *((v, False) for v in ("false", "no", "0")),
    ],
)
def test_ini_values(project: pytest.Pytester, value: str, on: bool) -> None:
    project.makeini(f"[pytest]\nwsgistack_config = app.ini#broken\n{setting('layer_lint', value)}")
    project.makepyfile(test_marked=MARKED)
    assert ("test_default" in failures(project)) is on


@pytest.mark.parametrize(
    "table",
    [
        "tool.pytest.ini_options",
        pytest.param(
            "tool.pytest",
            marks=pytest.mark.skipif(pytest.version_tuple < (9,), reason="[tool.pytest] needs pytest 9"),
        ),
    ],
)
def test_toml_boolean_in_pyproject(project: pytest.Pytester, table: str) -> None:
    project.makepyprojecttoml(
        f'[{table}]\nwsgistack_config = "app.ini#broken"\nwsgistack_layer_lint = true\n'
    )
    project.makepyfile(test_marked=MARKED)
    assert "test_default" in failures(project)


BOOLEANS = "expected true or false (in an INI file also yes/no, on/off, 1/0)"


@pytest.mark.parametrize("switch", ["layer_lint", "propagate_errors", "strict_errors"])
def test_bad_ini_value_is_a_usage_error(project: pytest.Pytester, switch: str) -> None:
    project.makeini(f"[pytest]\n{setting(switch, 'maybe')}")
    project.makepyfile(test_home="def test_home():\n    pass\n")
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: wsgistack_{switch}: *'maybe'*; {BOOLEANS}"])


@pytest.mark.skipif(pytest.version_tuple < (9,), reason="[tool.pytest] needs pytest 9")
def test_bad_toml_value_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyprojecttoml('[tool.pytest]\nwsgistack_layer_lint = "maybe"\n')
    project.makepyfile(test_home="def test_home():\n    pass\n")
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: wsgistack_layer_lint: *'maybe'*; {BOOLEANS}"])


ACCEPTED = "layer_lint, propagate_errors, strict_errors"


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        pytest.param(
            "wsgistack(layer_lnit=True)",
            "pytest.mark.wsgistack: unknown keyword 'layer_lnit' (did you mean 'layer_lint'?); "
            f"accepted: {ACCEPTED}",
            id="misspelt",
        ),
        pytest.param(
            "wsgistack(lint=False)",
            f"pytest.mark.wsgistack: unknown keyword 'lint'; accepted: {ACCEPTED}",
            id="unknown",
        ),
        pytest.param(
            "wsgistack(True)",
            f"pytest.mark.wsgistack takes keyword arguments only: {ACCEPTED}",
            id="positional",
        ),
        pytest.param(
            "wsgistack(strict_errors='yes')",
            "pytest.mark.wsgistack: strict_errors must be True or False, not 'yes'",
            id="not a bool",
        ),
    ],
)
def test_bad_marker_fails_the_test(project: pytest.Pytester, marker: str, message: str) -> None:
    project.makeini("[pytest]\nwsgistack_config = app.ini\n")
    project.makepyfile(
        test_marked=f"""
        import pytest

        @pytest.mark.{marker}
        def test_client(client):
            client.get("/")

        @pytest.mark.{marker}
        def test_no_fixture():
            pass
        """
    )
    assert failures(project) == {"test_client": message, "test_no_fixture": message}


def test_marker_is_registered(project: pytest.Pytester) -> None:
    result = run(project, "--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.wsgistack(layer_lint=False, propagate_errors=False, strict_errors=False): "
            "the client fixture's settings for this test, over the --wsgi-* options and the wsgistack_* ini "
            "settings"
        ]
    )


CONFTEST = """
import pytest
from appmodule import app, mutates_headers
from wsgistack import Layer, Pipeline

@pytest.fixture
def wsgi_app():
    return app
"""
PIPELINE_FIXTURE = """
@pytest.fixture
def wsgi_pipeline():
    return Pipeline(Layer(mutates_headers))
"""


@pytest.mark.parametrize("args", [(), ("--wsgi-layer-lint",)])
def test_layer_lint_of_the_wsgi_pipeline_fixture(project: pytest.Pytester, args: tuple[str, ...]) -> None:
    project.makeconftest(CONFTEST + PIPELINE_FIXTURE)
    project.makepyfile(test_marked=MARKED)
    failed = failures(project, *args)
    assert sorted(failed) == sorted({"test_default", *MARKED_ON} if args else MARKED_ON)
    for report in failed.values():
        assert LAYER_AT_FAULT.format("mutates_headers") in report


NO_LAYERS = (
    "layer_lint ({}) needs the layers: override the wsgi_pipeline fixture to return the Pipeline and "
    "wsgi_app to return the bare app, or load the stack with --wsgi-config or wsgistack_config"
)


@pytest.mark.parametrize(
    ("args", "ini", "source"),
    [(("--wsgi-layer-lint",), "", "--wsgi-layer-lint"), ((), "true", "wsgistack_layer_lint"), ((), "", "")],
)
def test_layer_lint_without_the_layers_is_a_clear_failure(
    project: pytest.Pytester, args: tuple[str, ...], ini: str, source: str
) -> None:
    project.makeconftest(CONFTEST)
    project.makeini(f"[pytest]\n{setting('layer_lint', ini)}")
    project.makepyfile(test_marked=MARKED)
    expected = {name: NO_LAYERS.format("pytest.mark.wsgistack") for name in MARKED_ON}
    if source:
        expected["test_default"] = NO_LAYERS.format(source)
    assert failures(project, *args) == expected


ERRORS = """
import pytest
{marker}

def test_noisy(client):
    assert client.get("/noisy").text == "from /noisy"

def test_boom(client):
    assert client.get("/boom", status=500).status_int == 500
"""


@pytest.mark.parametrize(
    ("switch", "failing", "error"),
    [
        ("strict_errors", "test_noisy", "AppError: Application had errors logged:"),
        ("propagate_errors", "test_boom", "RuntimeError: boom"),
    ],
)
@pytest.mark.parametrize("way", ["command line", "ini", "marker"])
def test_error_switches(project: pytest.Pytester, switch: str, failing: str, error: str, way: str) -> None:
    ini = setting(switch, "true" if way == "ini" else "")
    project.makeini(f"[pytest]\nwsgistack_config = app.ini#guarded\n{ini}")
    marker = f"pytestmark = pytest.mark.wsgistack({switch}=True)" if way == "marker" else ""
    project.makepyfile(test_errors=ERRORS.format(marker=marker))
    option = f"--wsgi-{switch.replace('_', '-')}"
    failed = failures(project, *([option] if way == "command line" else []))
    assert list(failed) == [failing]
    assert error in failed[failing]


def test_error_switches_off_by_default(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nwsgistack_config = app.ini#guarded\n")
    project.makepyfile(test_errors=ERRORS.format(marker=""))
    run(project).assert_outcomes(passed=2)


# --- testing.md: the switches table and the example ------------------------------------------------------


def test_switches_table_matches_the_plugin(project: pytest.Pytester) -> None:
    rows = table_after(page("testing"), "### Switches for the client")
    assert [row["Option"] for row in rows] == [f"`{name}`" for name in SWITCHES]
    shown = run(project, "--help").stdout.str()
    for row, name in zip(rows, SWITCHES, strict=True):
        assert name in inspect.signature(client).parameters
        option = f"--wsgi-{name.replace('_', '-')}"
        assert row["Command line"] == f"`{option}`"
        assert row["pytest configuration"] == f"`wsgistack_{name} = true`"
        assert row["Marker"] == f"`@pytest.mark.wsgistack({name}=True)`"
        assert re.search(rf"^  {option}\b", shown, re.MULTILINE), option
        assert re.search(rf"^  wsgistack_{name} \(bool\):", shown, re.MULTILINE), name


def test_switches_example_runs_against_the_production_stack(project: pytest.Pytester) -> None:
    [example] = [block.body for block in blocks(page("testing")) if block.info == "pycon"]
    module = "\n".join(line[4:] for line in example.splitlines())  # the prompts: ">>> " and "... "
    project.makepyfile(test_example=module)
    project.makeini("[pytest]\nwsgistack_config = production.ini#main\n")
    shutil.copy(ROOT / "recipes" / "production.ini", project.path)
    (project.path / "flask_app").symlink_to(ROOT / "recipes" / "flask_app")  # production.ini's static files
    run(project).assert_outcomes(passed=2)
