"""The README's example runs and prints what the README shows; its commands are the ones CI runs."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def block(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```", README, re.DOTALL)
    assert match, f"no block after <!-- {marker} --> in README.md"
    return match.group(1)


def test_example_runs_and_prints_the_documented_diagram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "static").mkdir()
    monkeypatch.chdir(tmp_path)
    source = block("example").replace(
        "from myproject.wsgi import application as app",
        "from wsgistack.demo import make_app\napp = make_app()",
    )
    output = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(output):
        exec(compile(source, "README.md", "exec"), namespace)
    assert output.getvalue() == block("example-output")
    assert callable(namespace["application"])


def test_layer_error_shown_in_the_readme_is_real() -> None:
    from wsgistack import Compress, Layer, LayerError

    with pytest.raises(LayerError, match=r"^layer compress: unknown option 'minimum_sise' \(did you mean"):
        Layer(Compress, minimum_sise=1)  # type: ignore[call-arg]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci
    assert block("test-command").count("\n") == 1
    assert "wsgistack serve recipes/demo.ini" in block("demo-command")
