"""Layer and Pipeline: order, option binding at build time, describe(), the registry."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType

import pytest
from webtest import TestApp

import wsgistack.pipeline
from wsgistack import REGISTRY, Layer, LayerError, Pipeline, Registration
from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment, replace_header


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Trail", "app")])
    return [environ.get("trail", "").encode()]


class Mark:
    """Appends its name to the request trail on the way in and to X-Trail on the way out."""

    def __init__(self, app: WSGIApplication, name: str, *, suffix: str = "") -> None:
        self.app, self.name, self.suffix = app, name, suffix

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["trail"] = environ.get("trail", "") + self.name + self.suffix + ">"

        def start(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> object:
            trail = next(value for key, value in headers if key == "X-Trail")
            return start_response(status, replace_header(headers, "X-Trail", f"{trail}<{self.name}"))

        return self.app(environ, start)  # type: ignore[arg-type]


def only_app(app: WSGIApplication) -> WSGIApplication:
    return app


def test_first_layer_is_outermost() -> None:
    stack = Pipeline(Layer(Mark, "outer"), Layer(Mark, "middle", suffix="!"), Layer(Mark, "inner")).wrap(
        hello
    )
    response = TestApp(stack).get("/")
    assert response.text == "outer>middle!>inner>"
    assert response.headers["X-Trail"] == "app<inner<middle<outer"


def test_empty_pipeline_returns_the_app() -> None:
    assert Pipeline().wrap(hello) is hello


def test_wrap_builds_fresh_instances_each_time() -> None:
    pipeline = Pipeline(Layer(Mark, "a"))
    first, second = pipeline.wrap(hello), pipeline.wrap(hello)
    assert isinstance(first, Mark)
    assert isinstance(second, Mark)
    assert first is not second


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda: Layer(Mark, "x", sufix="!"),  # type: ignore[call-arg]
            "layer Mark: unknown option 'sufix' (did you mean 'suffix'?); accepted options: name, suffix",
            id="typo with suggestion",
        ),
        pytest.param(
            lambda: Layer(Mark, "x", colour="red"),  # type: ignore[call-arg]
            "layer Mark: unknown option 'colour'; accepted options: name, suffix",
            id="unknown option",
        ),
        pytest.param(
            lambda: Layer(Mark),  # type: ignore[call-arg]
            "layer Mark: missing a required argument: 'name'; expected Mark(name: str, *, suffix: str = '')",
            id="missing required",
        ),
        pytest.param(
            lambda: Layer(Mark, "x", "y"),  # type: ignore[call-arg]
            "layer Mark: too many positional arguments; expected Mark(name: str, *, suffix: str = '')",
            id="too many positionals",
        ),
        pytest.param(
            lambda: Layer(only_app, extra=1),  # type: ignore[call-arg]
            "layer only_app: unknown option 'extra'; accepted options: (none)",
            id="factory without options",
        ),
    ],
)
def test_bad_options_fail_when_the_layer_is_made(make: object, message: str) -> None:
    with pytest.raises(LayerError) as raised:
        make()  # type: ignore[operator]
    assert str(raised.value).replace('"', "'") == message


def test_factories_taking_any_keyword_are_trusted() -> None:
    def flexible(app: WSGIApplication, /, **options: object) -> WSGIApplication:
        return app

    assert Layer(flexible, anything=1).build(hello) is hello


def test_factory_without_a_signature_is_not_checked() -> None:
    layer: Layer[...] = Layer(dict)  # type: ignore[arg-type]
    assert layer.name == "dict"


def test_layer_error_is_a_type_error() -> None:
    assert issubclass(LayerError, TypeError)


def test_pipeline_items_must_be_layers() -> None:
    with pytest.raises(TypeError, match="Pipeline item 2 is <class"):
        Pipeline(Layer(Mark, "a"), Mark)  # type: ignore[arg-type]


def test_repr_and_describe() -> None:
    pipeline = Pipeline(Layer(Mark, "outer"), Layer(Mark, "inner", suffix="!"))
    assert repr(pipeline) == "Pipeline(Mark('outer'), Mark('inner', suffix='!'))"
    assert pipeline.describe("myproject.wsgi:application") == textwrap.dedent(
        """\
        Mark('outer')
        └── Mark('inner', suffix='!')
            └── myproject.wsgi:application"""
    )
    assert pipeline.describe(hello).endswith("└── tests.test_pipeline:hello")
    assert Pipeline().describe() == "app"
    assert Pipeline().describe(object()).startswith("<object object at")


def test_registry_is_read_only_and_consistent() -> None:
    for name, registration in REGISTRY.items():
        assert registration.name == name
        assert callable(registration.factory)
    with pytest.raises(TypeError):
        REGISTRY["new"] = Registration("new", only_app)  # type: ignore[index]


def test_named_layers_come_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = MappingProxyType({"mark": Registration("mark", Mark)})
    monkeypatch.setattr(wsgistack.pipeline, "REGISTRY", registry)
    layer = Layer.named("mark", "x", suffix="?")
    assert repr(layer) == "mark('x', suffix='?')"
    assert TestApp(Pipeline(layer).wrap(hello)).get("/").text == "x?>"
    with pytest.raises(LayerError, match=r"unknown layer 'nope'; registered layers: mark"):
        Layer.named("nope")
    with pytest.raises(LayerError, match=r"layer mark: unknown option 'sufix' \(did you mean 'suffix'\?\)"):
        Layer.named("mark", "x", sufix="?")


def test_unknown_name_with_an_empty_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wsgistack.pipeline, "REGISTRY", MappingProxyType({}))
    with pytest.raises(LayerError, match=r"registered layers: \(none\)"):
        Layer.named("static")


def test_mypy_catches_a_misspelt_option(tmp_path: Path) -> None:
    """The ParamSpec makes the type checker report the typo before anything runs."""
    from mypy import api

    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        textwrap.dedent(
            """\
            from wsgistack import Layer
            from tests.test_pipeline import Mark

            Layer(Mark, "ok", suffix="!")
            Layer(Mark, "typo", sufix="!")
            Layer(Mark, 42)
            """
        )
    )
    stdout, _, status = api.run(
        [str(snippet), "--strict", "--no-incremental", "--follow-imports=silent", "--cache-dir=/dev/null"]
    )
    assert status == 1
    assert 'snippet.py:5: error: Unexpected keyword argument "sufix" for "Layer"' in stdout
    assert 'snippet.py:6: error: Argument 2 to "Layer" has incompatible type "int"; expected "str"' in stdout
    assert "snippet.py:4" not in stdout


def test_registrations_resolve_lazily() -> None:
    registration = Registration("later", "tests.test_pipeline:Mark")
    assert repr(registration) == "Registration('later', 'tests.test_pipeline:Mark')"
    assert registration.factory is Mark
    assert Registration("now", Mark, handles_errors=True).target == "tests.test_pipeline:Mark"
    assert (
        repr(REGISTRY["errors"])
        == "Registration('errors', 'wsgistack.errors:CatchErrors', handles_errors=True)"
    )


def test_every_public_name_resolves() -> None:
    import wsgistack

    assert set(wsgistack.__all__) == {*wsgistack._EXPORTS, "__version__"}
    for name in wsgistack._EXPORTS:
        assert getattr(wsgistack, name) is not None
    assert set(wsgistack.__all__) <= set(dir(wsgistack))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        wsgistack.Nope  # noqa: B018


def test_import_is_lazy() -> None:
    """``import wsgistack`` loads no middleware: a process pays only for what it uses."""
    import subprocess
    import sys

    code = "import sys, wsgistack; print(sorted(m for m in sys.modules if m.startswith('wsgistack')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['wsgistack']"
