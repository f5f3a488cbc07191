"""The commands that the pages show run as shown and print what the pages say they print (blocks marked
``<!-- command: KEY -->`` and ``<!-- output: KEY -->`` on cli.md, and ``wsgistack compress`` on static.md).

Servers listen on a free port on 127.0.0.1 instead of the 8080 the pages use.
"""

from __future__ import annotations

import http.client
import os
import pty
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from .servers import free_port, last_output, run_command
from .test_docs import BIN, ROOT, marked, page, table_after


def fetch(url: str, path: str) -> tuple[int, dict[str, str]]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()


def commands(key: str) -> list[str]:
    """The command lines of a ``sh`` block (without comments), or the ``$`` lines of a transcript."""
    body = marked("cli", key).body
    if body.startswith("$ "):
        return [line[2:] for line in body.splitlines() if line.startswith("$ ")]
    return [line for line in body.splitlines() if line.strip() and not line.startswith("#")]


def program(words: list[str]) -> list[str]:
    """The installed command a documented one names (``wsgistack`` is ``.venv/bin/wsgistack``)."""
    path = BIN / words[0]
    assert path.is_file(), f"{words[0]} is not installed"
    return [str(path), *words[1:]]


# --- serve -----------------------------------------------------------------------------------------------


def test_install_and_serve() -> None:
    install, serve = commands("install-and-serve")
    extras = re.fullmatch(r'pip install -e "\.\[([\w,]+)\]"', install)
    assert extras, install
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras.group(1).split(",")) <= set(optional)
    assert serve == "wsgistack serve recipes/demo.ini"
    port = free_port()
    with run_command(program([*shlex.split(serve), "--port", str(port)]), port) as url:
        status, headers = fetch(url, "/")
        assert status == 200
        assert "x-request-id" in headers
    documented = marked("cli", "serve").body.replace("8080", str(port))
    assert last_output().splitlines()[0] == documented


@pytest.mark.parametrize("command", ["serve", "check"])
def test_usage(command: str) -> None:
    shown = subprocess.run(
        [str(BIN / "wsgistack"), command, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "80"},
    ).stdout
    usage = shown.split("\n\n", 1)[0]
    documented = marked("cli", f"{command}-usage").body
    assert documented.split() == usage.split()
    if command == "serve":  # the options table names every option of the usage line
        table = " ".join(row["Option"] for row in table_after(page("cli"), "## `wsgistack serve CONFIG`"))
        options = re.findall(r"\[(-[-\w]+(?: [A-Z]+)?)", usage)
        assert [option for option in options if option != "-h"] == [
            "-n NAME",
            "--host HOST",
            "--port PORT",
            "--server",
            "--threads THREADS",
            "--reload",
        ]
        for option in [*options[1:], "KEY=VALUE"]:
            assert f"`{option.split()[0]}" in table, option


# --- check -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "status"), [("check", 0), ("check-error", 1)])
def test_check(key: str, status: int) -> None:
    [command] = commands(key)
    result = subprocess.run(
        program(shlex.split(command)), cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == status
    shown = (result.stdout + result.stderr).replace(str(ROOT), "…")  # stdout first: the diagram, then "ok"
    assert shown.splitlines() == marked("cli", key).body.splitlines()[1:]


# --- other servers ---------------------------------------------------------------------------------------


SERVER_COMMANDS = [command for key in ("other-servers", "waitress-serve") for command in commands(key)]


@pytest.mark.parametrize("command", SERVER_COMMANDS, ids=[command.split()[0] for command in SERVER_COMMANDS])
def test_other_servers(command: str) -> None:
    assert "127.0.0.1:8080" in command
    port = free_port()
    words = shlex.split(command.replace("8080", str(port)))
    with run_command(program(words), port) as url:
        status, headers = fetch(url, "/")
    assert status == 200
    assert re.fullmatch(r"[0-9a-f]{24}", headers["x-request-id"])  # through the configured stack


def test_pserve(tmp_path: Path) -> None:
    """pserve starts the server demo.ini's [server:main] uses, with the stack and the logging sections."""
    [command] = commands("pserve")
    words = shlex.split(command)
    assert words == ["pserve", "recipes/demo.ini"]
    port = free_port()
    demo = tmp_path / "demo.ini"  # the page's file, listening on a free port
    text = (ROOT / words[1]).read_text()
    assert "\nuse = egg:waitress#main\nhost = 127.0.0.1\nport = 8080\n" in text
    demo.write_text(text.replace("port = 8080", f"port = {port}"))
    (tmp_path / "demo_static").symlink_to(ROOT / "recipes" / "demo_static")
    with run_command(program(["pserve", str(demo)]), port) as url:
        status, headers = fetch(url, "/static/demo.css")
    assert status == 200
    assert headers["cache-control"] == "public, max-age=3600"  # demo.ini's [filter:static]
    assert re.fullmatch(r"[0-9a-f]{24}", headers["x-request-id"])
    # waitress (from `use`) answered, and the access log line went through demo.ini's [loggers].
    assert headers["server"] == "waitress"
    assert re.search(
        r'INFO  \[wsgistack\.access\] 127\.0\.0\.1 "GET /static/demo\.css HTTP/1\.1" 200 \d+ \d+us id=',
        last_output(),
    )


# --- static.md: wsgistack compress -----------------------------------------------------------------------


def in_terminal(command: list[str], cwd: Path) -> str:
    """What ``command`` shows in a terminal: its output through a pseudo-terminal, each line as it stands
    after carriage returns redrew it."""
    controller, terminal = pty.openpty()
    try:
        with subprocess.Popen(command, cwd=cwd, stdin=terminal, stdout=terminal, stderr=terminal) as process:
            os.close(terminal)
            terminal = -1
            output = b""
            while True:
                try:
                    data = os.read(controller, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                output += data
            assert process.wait(timeout=60) == 0
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)
    lines = output.decode().replace("\r\n", "\n").split("\n")
    return "\n".join(line.rsplit("\r", 1)[-1].rstrip() for line in lines).strip("\n")


def output_pattern(documented: str) -> re.Pattern[str]:
    """Numbers stand for any number written the same way (with or without thousands separators); the name
    after the progress count for any file name."""
    regex = re.escape(documented).replace(r"\ main\.3f2a1b9c\.js", r"\ FILE")
    regex = re.sub(r"\d{1,3}(?:,\d{3})+", r"\\d{1,3}(?:,\\d{3})+", regex)
    regex = re.sub(r"(?<![\\{\d,])\d+(?![\d,}])", r"\\d+", regex)
    return re.compile(regex.replace("FILE", r"\S+"))


def test_compress_command(tmp_path: Path) -> None:
    prompt, *documented = marked("static", "compress").body.splitlines()
    assert prompt == "$ wsgistack compress static/"
    static = tmp_path / "static"
    shutil.copytree(ROOT / "recipes" / "flask_app" / "static", static)
    for number in range(6):  # large enough for thousands separators
        lines = (f"function handler{number}_{line}() {{ return {line * number}; }}" for line in range(600))
        (static / f"chunk{number}.3f2a1b9c.js").write_text("\n".join(lines))
    (static / "logo.png").write_bytes(os.urandom(256))  # already compressed: skipped
    shown = in_terminal(program(shlex.split(prompt[2:])), tmp_path)
    assert len(shown.splitlines()) == len(documented), shown
    for line, expected in zip(shown.splitlines(), documented, strict=True):
        assert output_pattern(expected).fullmatch(line), f"{line!r} does not look like {expected!r}"
    assert shown.splitlines()[-1].startswith("8 files (")
    assert sorted(path.name for path in static.glob("chunk0.*")) == [
        "chunk0.3f2a1b9c.js",
        "chunk0.3f2a1b9c.js.br",
        "chunk0.3f2a1b9c.js.gz",
        "chunk0.3f2a1b9c.js.zst",
    ]
    assert not list(static.glob("logo.png.*"))
