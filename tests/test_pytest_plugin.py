"""The pytest plugin, exercised the way users meet it: in a separate pytest run (pytester)."""

from __future__ import annotations

import textwrap

import pytest

APP = """
def app(environ, start_response):
    import logging
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
"""

FACTORY = "\ndef app_factory(global_conf, **local):\n    return app\n"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(appmodule=APP + FACTORY)
    pytester.syspathinsert()
    return pytester


def test_wsgi_app_fixture_overridden_in_conftest(project: pytest.Pytester) -> None:
    project.makeconftest(
        "from appmodule import app\nimport pytest\n\n@pytest.fixture\ndef wsgi_app():\n    return app\n"
    )
    project.makepyfile(test_app=USES_FIXTURES)
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


@pytest.mark.parametrize("name", ["", "#other"])
def test_wsgi_config_option(project: pytest.Pytester, name: str) -> None:
    project.makefile(".ini", app=INI)
    project.makepyfile(test_app=USES_FIXTURES)
    project.runpytest("-p", "no:cacheprovider", f"--wsgi-config=app.ini{name}").assert_outcomes(passed=3)


def test_wsgistack_config_ini_option(project: pytest.Pytester) -> None:
    project.mkdir("conf")
    (project.path / "conf" / "app.ini").write_text(INI)
    project.makeini("[pytest]\nwsgistack_config = conf/app.ini#main\n")
    project.makepyfile(test_app=USES_FIXTURES)
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_missing_app_is_a_clear_failure(project: pytest.Pytester) -> None:
    project.makepyfile(test_app="def test_it(client):\n    pass\n")
    result = project.runpytest("-p", "no:cacheprovider")
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
    result = project.runpytest(
        "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnraisableExceptionWarning"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*LayerViolation: layer 1 (shouts_text): Iterator yielded non-bytestring*"])


def test_plugin_imports_nothing_heavy_until_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_imports="import sys\n\ndef test_it():\n    assert 'webtest' not in sys.modules\n"
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
