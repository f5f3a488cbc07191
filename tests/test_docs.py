"""The documentation agrees with the code: options tables, internal links, included files, doctests, and
the commands and output that the pages show.

Every code block on the pages listed in ``CHECKED_PAGES`` is included from a tested file (a recipe, a
snippet under recipes/snippets/ or the README), is a doctest run here, or is marked
``<!-- output: KEY -->`` / ``<!-- command: KEY -->`` and checked by a test. The snippets are tested in
test_docs_snippets.py, the marked blocks here, in test_docs_output.py and in test_docs_cli.py.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import wsgistack
from wsgistack import REGISTRY, LimitedStream

from .servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RECIPES = ROOT / "recipes"
SNIPPETS = RECIPES / "snippets"
BIN = Path(sys.executable).parent
PAGES = sorted(DOCS.glob("*.md"))
#: Pages whose every code block is included from a tested file, doctested, or checked by a test: every
#: page but the changelog, which includes CHANGELOG.md.
CHECKED_PAGES = [
    "access_log",
    "api",
    "body_limit",
    "cli",
    "compress",
    "concepts",
    "configuration",
    "core",
    "deployment",
    "errors",
    "index",
    "migrating",
    "performance",
    "pipeline",
    "quickstart",
    "recipes",
    "request_id",
    "security",
    "static",
    "testing",
]


def page(name: str) -> str:
    return (DOCS / f"{name}.md").read_text()


# --- fenced blocks --------------------------------------------------------------------------------------


@dataclass
class Block:
    info: str  # what follows the opening fence: a language, or a {directive} and its argument
    body: str
    line: int  # of the opening fence, 1-based
    marker: str | None  # KEY of an <!-- output: KEY --> or <!-- command: KEY --> line just before it


FENCE = re.compile(r"^( *)(`{3,}|~{3,})(.*)$")
MARKER = re.compile(r"^<!-- (?:output|command): ([\w-]+) -->$")


def blocks(text: str) -> Iterator[Block]:
    """The fenced blocks of a MyST page, also those indented in a list item (a directive's body is one
    block: blocks nested in it are part of its body)."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence, info = opening.groups()
        marker = MARKER.match(lines[index - 1].strip()) if index else None
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        body = "\n".join(line.removeprefix(indent) for line in lines[index + 1 : end])
        yield Block(info.strip(), body, index + 1, marker and marker.group(1))
        index = end + 1


def marked(name: str, key: str) -> Block:
    found = [block for block in blocks(page(name)) if block.marker == key]
    assert len(found) == 1, f"{name}.md: one block marked {key!r} expected, found {len(found)}"
    return found[0]


def directive(block: Block) -> tuple[str, str, dict[str, str]]:
    """(name, argument, options) of a ``{name} argument`` block."""
    name, _, argument = block.info.partition("}")
    options = dict(re.findall(r"^:([\w-]+):\s*(.*)$", block.body, re.MULTILINE))
    return name.lstrip("{"), argument.strip(), {k: v.strip().strip('"') for k, v in options.items()}


#: Blocks checked by a test, by page: here, in test_docs_output.py and in test_docs_cli.py.
MARKED = {
    "access_log": {"json-line"},
    "body_limit": {"limited-stream-signature"},
    "cli": {
        "install-and-serve",
        "serve-usage",
        "serve",
        "check-usage",
        "check",
        "check-error",
        "other-servers",
        "pserve",
        "waitress-serve",
    },
    "configuration": {"load-signature"},
    "errors": {"phases"},
    "migrating": {"paste-missing"},
    "performance": {"benchmarks"},
    "quickstart": {"serve", "curl-info", "curl-boom", "serve-log"},
    "static": {"compress"},
    "testing": {"layer-violations"},
}
#: Directives that hold prose or a table of contents, not code (as long as no code block is nested in them).
PROSE_DIRECTIVES = {"note", "tip", "important", "warning", "caution", "seealso", "toctree"}


def test_every_page_but_the_changelog_is_checked() -> None:
    assert sorted(CHECKED_PAGES) == sorted(path.stem for path in PAGES if path.stem != "changelog")
    assert [block.info for block in blocks(page("changelog"))] == ["{include} ../CHANGELOG.md"]


@pytest.mark.parametrize("name", CHECKED_PAGES)
def test_every_code_block_is_included_doctested_or_checked(name: str) -> None:
    for block in blocks(page(name)):
        kind = directive(block)[0] if block.info.startswith("{") else block.info
        if block.marker is not None:
            assert block.marker in MARKED.get(name, set()), f"{name}.md:{block.line}: unknown {block.marker}"
        elif kind in PROSE_DIRECTIVES:
            assert not re.search(r"^ *(`{3,}|~{3,})", block.body, re.MULTILINE), (
                f"{name}.md:{block.line}: a code block nested in {{{kind}}}"
            )
        else:
            assert kind in ("literalinclude", "include", "eval-rst", "pycon"), (
                f"{name}.md:{block.line}: a {kind or 'plain'} block that is neither included nor tested"
            )
        if kind in ("literalinclude", "include"):
            included = (DOCS / directive(block)[1]).resolve()
            assert included == ROOT / "README.md" or RECIPES in included.parents, (
                f"{name}.md:{block.line}: {included} is not a tested file (a recipe or the README)"
            )
        if kind == "pycon":
            assert block.body.startswith(">>> "), f"{name}.md:{block.line}: a pycon block is a doctest"
        if kind == "eval-rst":
            assert re.fullmatch(r"(\.\. auto\w+:: [\w.]+\n(   :[\w-]+:.*\n)*\n?)+", block.body + "\n"), (
                f"{name}.md:{block.line}: eval-rst blocks hold autodoc directives only"
            )
    found = {block.marker for block in blocks(page(name)) if block.marker}
    assert found == MARKED.get(name, set())


# --- doctests ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CHECKED_PAGES)
def test_doctests(name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)  # examples name files as seen from the repository root
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs: dict[str, Any] = {}  # shared by the page's examples, in order, as a reader would run them
    for block in blocks(page(name)):
        if block.info == "pycon":
            test = parser.get_doctest(block.body, globs, f"{name}.md", str(DOCS / f"{name}.md"), block.line)
            runner.run(test, out=sys.stdout.write, clear_globs=False)
            globs = test.globs  # DocTest copies the dict it is given
    report = capsys.readouterr().out
    assert runner.failures == 0, report
    assert runner.tries >= page(name).count("\n>>> ") + page(name).count("\n  >>> ")  # none skipped


# --- options tables ----------------------------------------------------------------------------------


REQUIRED = object()


def table_after(text: str, heading: str) -> list[dict[str, str]]:
    """The rows of the first Markdown table after ``heading``, as dicts by column name."""
    lines = text.splitlines()
    assert heading in lines, f"no {heading!r} heading"
    rows: list[list[str]] = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif rows:
            break
    assert len(rows) > 2, f"no table after {heading!r}"
    header, _, *body = rows
    return [dict(zip(header, row, strict=True)) for row in body]


def documented_default(cell: str, namespace: dict[str, Any]) -> object:
    """The value a default cell names: the first code span (``"utf-8"``, ``None``, ``logging.INFO``)."""
    match = re.match(r"`([^`]*)`", cell)
    code = match.group(1) if match else cell
    if code.strip("()").lower() == "required":
        return REQUIRED
    try:
        return ast.literal_eval(code)
    except ValueError:
        return eval(code, namespace)  # a name such as HASHED_NAME or logging.INFO


def check_table(rows: list[dict[str, str]], factory: Any, skip: tuple[str, ...] = ("app",)) -> None:
    signature = inspect.signature(factory)
    module = importlib.import_module(factory.__module__)
    documented = [row["name" if "name" in row else "argument"].strip("`") for row in rows]
    expected = [name for name in signature.parameters if name not in skip]
    assert sorted(set(documented) - set(skip)) == sorted(expected), "table rows != constructor parameters"
    for row, name in zip(rows, documented, strict=True):
        parameter = signature.parameters[name]
        default = documented_default(row["default"], {**vars(module), "logging": logging})
        wanted = REQUIRED if parameter.default is inspect.Parameter.empty else parameter.default
        assert default == wanted, f"{name}: the table says {row['default']}, the code has {wanted!r}"
        annotation = str(parameter.annotation)
        allows_none = "None" in annotation.split(" | ")
        assert allows_none == ("None" in row["type"]), f"{name}: type {row['type']} vs {annotation}"
        if annotation in ("bool", "int", "str"):
            assert row["type"].startswith(f"`{annotation}`"), f"{name}: type {row['type']} vs {annotation}"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_options_table_matches_the_constructor(name: str) -> None:
    check_table(table_after(page(name), "## Options"), REGISTRY[name].factory)


def test_limited_stream_table_matches_its_constructor() -> None:
    check_table(table_after(page("body_limit"), "## LimitedStream"), LimitedStream, skip=())


def test_every_middleware_has_a_page() -> None:
    assert {f"{name}.md" for name in REGISTRY} <= {path.name for path in PAGES}


# --- links and included files ---------------------------------------------------------------------------


def slug(heading: str) -> str:
    """MyST's heading anchor (GitHub's rule): lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1$", "", path.read_text(), flags=re.MULTILINE | re.DOTALL)
    return {slug(re.sub(r"[`*]", "", title)) for title in re.findall(r"^#{1,3} (.+)$", text, re.MULTILINE)}


def link_targets(text: str) -> Iterator[str]:
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1$", "", text, flags=re.MULTILINE | re.DOTALL)  # code blocks
    text = re.sub(r"(?<!})`[^`\n]+`", "", text)  # code spans, but not the target of a {role}`...`
    yield from re.findall(r"\]\(([^)\s]+)\)", text)  # [text](target) and [](target)
    for role_target in re.findall(r"\{doc\}`([^`]+)`", text):
        yield role_target.rsplit("<", 1)[-1].rstrip(">").strip() + ".md"


@pytest.mark.parametrize("path", PAGES, ids=[path.name for path in PAGES])
def test_internal_links_resolve(path: Path) -> None:
    for target in link_targets(path.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        assert resolved.is_file(), f"{path.name}: link to {target}: no such file"
        if anchor:
            assert anchor in anchors(resolved), f"{path.name}: link to {target}: no such heading"


@pytest.mark.parametrize("path", PAGES, ids=[path.name for path in PAGES])
def test_included_files_and_toctree_entries_exist(path: Path) -> None:
    for block in blocks(path.read_text()):
        if not block.info.startswith("{"):
            continue
        name, argument, options = directive(block)
        if name in ("include", "literalinclude"):
            included = (path.parent / argument).resolve()
            assert included.is_file(), f"{path.name}:{block.line}: {argument} does not exist"
            text = included.read_text()
            for option in ("start-after", "start-at", "end-before", "end-at"):
                if option in options:
                    assert options[option] in text, f"{path.name}:{block.line}: {options[option]!r} not in it"
        elif name == "toctree":
            for entry in block.body.splitlines():
                if entry.strip() and not entry.startswith(":"):
                    assert (path.parent / f"{entry.strip()}.md").is_file(), f"toctree entry {entry}"


def recipe_files(
    directory: Path = RECIPES, patterns: tuple[str, ...] = ("*.py", "*.ini", "*.toml", "*.html")
) -> list[str]:
    return sorted(
        str(path.relative_to(ROOT))
        for pattern in patterns
        for path in directory.rglob(pattern)
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    )


def included_files() -> set[str]:
    """Every file a page includes, relative to the repository root."""
    return {
        str((DOCS / directive(block)[1]).resolve().relative_to(ROOT))
        for path in PAGES
        for block in blocks(path.read_text())
        if block.info.startswith(("{literalinclude}", "{include}"))
    }


#: Modules that snippets use without being shown themselves: an app for the configuration examples.
SNIPPET_HELPERS = {"recipes/snippets/echo.py"}


def test_every_snippet_is_shown_on_a_page() -> None:
    """The files under recipes/snippets/ are the code blocks of the pages (the recipes are in recipes.md)."""
    snippets = set(recipe_files(SNIPPETS, ("*.py", "*.ini", "*.toml", "*.diff"))) - SNIPPET_HELPERS
    assert snippets <= included_files(), sorted(snippets - included_files())
    assert set(recipe_files(SNIPPETS)) >= SNIPPET_HELPERS


def test_every_recipe_is_included_verbatim_in_recipes_md() -> None:
    included = [
        str((DOCS / directive(block)[1]).resolve().relative_to(ROOT))
        for block in blocks(page("recipes"))
        if block.info.startswith("{literalinclude}")
    ]
    assert sorted(included) == [name for name in recipe_files() if not name.startswith("recipes/snippets/")]


def test_api_reference_lists_every_public_name() -> None:
    text = page("api")
    rows = table_after(text, "## The `wsgistack` package")
    documented = {}
    for row in rows:
        defined_in = re.fullmatch(r"\{mod\}`([\w.]+)`", row["Defined in"])
        assert defined_in, row
        for name in re.findall(r"`(\w+)`", row["Name"]):
            documented[name] = defined_in.group(1)
    assert sorted(documented) == sorted(name for name in wsgistack.__all__ if name != "__version__")
    for name, module in documented.items():
        assert getattr(importlib.import_module(module), name) is getattr(wsgistack, name)
        assert f".. automodule:: {module}\n   :members:\n" in text, module


# --- quickstart ------------------------------------------------------------------------------------------


def readme_block(marker: str) -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```", readme, re.DOTALL)
    assert match, marker
    return match.group(1)


def test_quickstart_includes_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    includes = [
        directive(block) for block in blocks(page("quickstart")) if block.info.startswith("{include}")
    ]
    assert [(name, argument) for name, argument, _ in includes] == [("include", "../README.md")] * 2
    for (_, _, options), marker in zip(includes, ("demo-command", "test-command"), strict=True):
        assert options["start-after"] == f"<!-- {marker} -->"
        section = readme.split(options["start-after"], 1)[1].split(options["end-before"], 1)[0]
        assert section.strip() == f"```sh\n{readme_block(marker)}```"


def pattern(documented: str) -> re.Pattern[str]:
    """A documented output line as a pattern. Request ids, times, durations and sizes stand for any such
    value; a three-digit number standing alone (a status code) must be exactly as shown."""
    parts = re.split(r"([0-9a-f]{24}|\d+)", documented)
    regex = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            regex.append(re.escape(part))
        elif len(part) == 24 and not part.isdigit():
            regex.append("[0-9a-f]{24}")
        elif len(part) == 3 and parts[index - 1][-1:] in ("", " ") and parts[index + 1][:1] in ("", " "):
            regex.append(part)
        else:
            regex.append(r"\d+")
    return re.compile("".join(regex))


def assert_shows(documented: str, actual: str) -> None:
    """Every documented line matches a line of ``actual``, in order; ``…`` stands for lines left out."""
    remaining = actual.splitlines()
    for line in documented.splitlines():
        if line == "…":
            continue
        regex = pattern(line)
        while remaining and not regex.fullmatch(remaining[0]):
            remaining.pop(0)
        assert remaining, f"not shown in this order:\n{line}\n--- actual output:\n{actual}"
        remaining.pop(0)


def test_quickstart_transcript() -> None:
    command = readme_block("demo-command").strip().rsplit(" && ", 1)[1]
    program, *arguments = shlex.split(command)
    assert program == ".venv/bin/wsgistack"
    port = free_port()
    serve = [str(BIN / "wsgistack"), *arguments, "--port", str(port)]
    with (
        open(os.devnull, "wb") as devnull,
        subprocess.Popen(
            serve, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=devnull
        ) as process,
    ):
        try:
            wait_for_port(port, process)
            for key in ("curl-info", "curl-boom"):
                block = marked("quickstart", key)
                prompt, *expected = block.body.splitlines()
                assert prompt.startswith("$ curl ")
                shown = subprocess.run(
                    prompt[2:].replace("8080", str(port)),
                    shell=True,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                assert_shows("\n".join(expected), shown)
                assert len(shown.splitlines()) == len(expected)
        finally:
            process.send_signal(signal.SIGINT)  # Ctrl+C
            output = process.communicate(timeout=15)[0].decode()
    assert process.returncode == 0
    documented = marked("quickstart", "serve").body.replace("8080", str(port))
    assert output.splitlines()[0] == documented
    assert_shows(marked("quickstart", "serve-log").body, output)


# --- performance -----------------------------------------------------------------------------------------


def test_performance_commands_are_valid() -> None:
    from benchmarks.harness import suites

    helps: dict[str, str] = {}
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for line in marked("performance", "benchmarks").body.splitlines():
        if not line.startswith("$ "):
            continue
        words = shlex.split(line[2:])
        if words[:2] == ["pip", "install"]:
            extra = re.fullmatch(r"-e \.\[(\w+)\]", " ".join(words[2:]))
            assert extra, line
            assert extra.group(1) in extras, line
            continue
        assert words[:2] == ["python", "-m"], line
        module = words[2]
        assert module in ("benchmarks.run", "benchmarks.chart"), line
        if module not in helps:
            helps[module] = subprocess.run(
                [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout
        for option in (word for word in words[3:] if word.startswith("--")):
            assert option in helps[module], f"{line}: {option} unknown"
        if "--only" in words:
            suites(words[words.index("--only") + 1].split(","))  # SystemExit for an unknown suite
