"""The ``wsgistack`` command: check, serve (waitress, gunicorn, wsgiref; signals; reload), compress."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import free_port, request, wait_for_port
from wsgistack.cli import _server_section, _ServerSection, main
from wsgistack.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "recipes" / "demo.ini"
BOUND = 15.0


def test_check_prints_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(DEMO)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].endswith("[filter:request_id]")
    assert "max_bytes=1048576" in out
    assert "[app:demo]" in out.splitlines()[-1]
    assert f"ok: {DEMO} [main] loads" in err


def test_check_reports_the_error_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.ini"
    path.write_text(
        "[filter-app:main]\nuse = egg:wsgistack#compress\nminimum_size = huge\nnext = x\n"
        "[app:x]\nuse = egg:wsgistack#demo\n"
    )
    assert main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"wsgistack check: error: {path}:3 [filter-app:main] minimum_size: ")


def test_check_prints_warnings_and_takes_global_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "w.ini"
    path.write_text("[app:main]\nuse = egg:wsgistack#demo\ntitle = %(site)s\n")
    assert main(["check", str(path), "site=Mine", "title=x"]) == 0
    _out, err = capsys.readouterr()
    assert "warning: " in err
    assert "title is ignored because the global configuration" in err
    assert main(["check", str(path), "notkeyvalue"]) == 1
    assert "'notkeyvalue' is not KEY=VALUE" in capsys.readouterr().err


def test_check_named_section_and_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wsgistack.toml"
    path.write_text('app = "tests.test_config:toml_app"\n[[layer]]\nuse = "errors"\ndebug = true\n')
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "└── tests.test_config:toml_app"
    assert main(["check", str(DEMO), "-n", "demo"]) == 0
    assert capsys.readouterr().out.startswith("egg:wsgistack#demo(")


def test_compress_delegates_to_precompress(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    fake = types.ModuleType("wsgistack.precompress")

    def fake_main(argv: list[str]) -> int:
        calls.append(argv)
        return 0

    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wsgistack.precompress", fake)
    assert main(["compress", "static", "--level", "9"]) == 0
    assert calls == [["static", "--level", "9"]]


def test_compress_runs_precompress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "site.css").write_text("body { color: red }\n" * 200)
    assert main(["compress", str(tmp_path)]) == 0
    assert (tmp_path / "site.css.gz").is_file()
    assert "1 files" in capsys.readouterr().out


def test_compress_help_is_precompress_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["compress", "--help"])
    assert caught.value.code == 0
    assert "DIR" in capsys.readouterr().out.upper()


def test_compress_without_precompress(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "wsgistack.precompress", None)  # as if the module did not exist
    assert main(["compress", "static"]) == 2
    assert "has no wsgistack.precompress module" in capsys.readouterr().err


@contextmanager
def serving(
    *args: str, port: int, env: dict[str, str] | None = None, port_flag: bool = True
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``python -m wsgistack serve …`` in a subprocess; yields the process, its URL and its output file.

    Still running at the end, it gets SIGTERM (which a ``--reload`` parent passes on to its child), then
    SIGKILL after a bound longer than the parent's own."""
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "output.txt"
        with output.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wsgistack",
                    "serve",
                    *args,
                    *(["--port", str(port)] if port_flag else []),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
            try:
                wait_for_port(port, process, timeout=BOUND)
                yield process, f"http://127.0.0.1:{port}", output
            finally:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(BOUND + 10)
                    except subprocess.TimeoutExpired:
                        process.kill()
                process.wait()


def serve_failing(path: Path) -> subprocess.CompletedProcess[str]:
    """``wsgistack serve PATH`` that is expected to exit before it serves."""
    return subprocess.run(
        [sys.executable, "-m", "wsgistack", "serve", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BOUND,
    )


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def stop(process: subprocess.Popen[bytes], signum: int) -> int:
    process.send_signal(signum)
    return process.wait(BOUND)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_demo_with_waitress_logging_and_graceful_stop(signum: int) -> None:
    port = free_port()
    with serving(str(DEMO), port=port) as (process, base, output):
        status, body = get(f"{base}/")
        assert status == 200
        assert b"wsgistack demo" in body
        assert get(f"{base}/boom")[0] == 500
        assert stop(process, signum) == 0
        text = output.read_text()
    assert f"serving {DEMO} with waitress on http://127.0.0.1:{port}/" in text
    assert '[wsgistack.access] 127.0.0.1 "GET / HTTP/1.1" 200' in text  # demo.ini's [loggers] applied
    assert "ERROR [wsgistack.errors]" in text


def test_serve_stops_after_the_request_in_progress() -> None:
    port = free_port()
    with serving(str(DEMO), port=port) as (process, base, _):
        with urllib.request.urlopen(f"{base}/stream", timeout=10) as response:
            first = response.readline()
            process.send_signal(signal.SIGTERM)
            rest = response.read()
        assert first.startswith(b"line 1 of 5")
        assert rest.count(b"line ") == 4  # the stream in progress completed
        assert process.wait(BOUND) == 0


@pytest.mark.parametrize("server", ["gunicorn", "wsgiref"])
def test_serve_with_other_servers(server: str) -> None:
    port = free_port()
    with serving(str(DEMO), "--server", server, port=port) as (process, base, output):
        assert get(f"{base}/api/info")[0] == 200
        stop(process, signal.SIGTERM)
        text = output.read_text()
    assert f"with {server} on http://127.0.0.1:{port}/" in text
    if server == "wsgiref":
        assert "wsgiref is for development only" in text


SERVER_SECTIONS = [
    pytest.param("", _ServerSection(), id="empty"),
    pytest.param(
        "use = egg:waitress#main\nhost = 0.0.0.0\nport = 9000",
        _ServerSection("0.0.0.0", 9000, "waitress"),
        id="waitress",
    ),
    pytest.param("use = egg:waitress", _ServerSection(server="waitress"), id="default-entry-point"),
    pytest.param(
        "use = egg:Gunicorn#main\nbind = 127.0.0.2:9001\nworkers = 3",
        _ServerSection("127.0.0.2", 9001, "gunicorn", workers=3),
        id="gunicorn-bind",
    ),
    pytest.param("use = egg:pyramid#wsgiref", _ServerSection(server="wsgiref"), id="pyramid-wsgiref"),
    pytest.param(
        "listen = *:9002 [::1]:9003\nthreads = 8", _ServerSection("0.0.0.0", 9002, threads=8), id="listen-any"
    ),
    pytest.param("listen = [::1]:9003", _ServerSection("::1", 9003), id="listen-ipv6"),
    pytest.param("host = %(here)s\nport = %(http_port)s", _ServerSection("HERE", 9004), id="interpolated"),
    pytest.param("port = eighty\nthreads = -1", _ServerSection(), id="not-numbers"),
]


@pytest.mark.parametrize(("text", "expected"), SERVER_SECTIONS)
def test_server_section_gives_the_defaults(tmp_path: Path, text: str, expected: _ServerSection) -> None:
    path = tmp_path / "site.ini"
    path.write_text(f"[app:main]\nuse = egg:wsgistack#demo\n\n[server:main]\n{text}\n")
    got = _server_section(str(path), {"http_port": "9004"})
    assert got == expected._replace(host=str(tmp_path) if expected.host == "HERE" else expected.host)


def test_server_section_without_one_or_outside_ini(tmp_path: Path) -> None:
    path = tmp_path / "site.ini"
    path.write_text("[app:main]\nuse = egg:wsgistack#demo\n")
    assert _server_section(str(path), {}) == _ServerSection()
    toml = tmp_path / "wsgistack.toml"
    toml.write_text('app = "tests.test_config:toml_app"\n')
    assert _server_section(str(toml), {}) == _ServerSection()


@pytest.mark.parametrize(
    "use", ["egg:Paste#http", "egg:waitress#other", "call:waitress:serve_paste", "waitress"]
)
def test_server_section_refuses_a_server_serve_does_not_run(tmp_path: Path, use: str) -> None:
    path = tmp_path / "site.ini"
    path.write_text(f"[app:main]\nuse = egg:wsgistack#demo\n\n[server:main]\nport = 9000\nuse = {use}\n")
    with pytest.raises(ConfigError) as caught:
        _server_section(str(path), {})
    error = caught.value
    assert (error.file, error.line, error.section, error.key) == (str(path), 6, "server:main", "use")
    assert error.message == (
        f"{use!r} names a server that wsgistack serve does not run; it runs waitress (egg:waitress#main), "
        "gunicorn (egg:gunicorn#main), wsgiref (egg:pyramid#wsgiref): change use, or pass --server"
    )
    assert _server_section(str(path), {}, choose_server=False) == _ServerSection(port=9000)  # --server given


def test_check_warns_about_what_serve_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "site.ini"
    path.write_text("[app:main]\nuse = egg:wsgistack#demo\n\n[server:main]\nuse = egg:Paste#http\n")
    assert main(["check", str(path)]) == 0
    err = capsys.readouterr().err
    assert f"warning: wsgistack serve: {path}:5 [server:main] use: 'egg:Paste#http' names a server" in err
    assert f"ok: {path} [main] loads" in err


def test_serve_refuses_a_server_it_does_not_run_unless_told_which(tmp_path: Path) -> None:
    path = tmp_path / "site.ini"
    path.write_text("[app:main]\nuse = egg:wsgistack#demo\n\n[server:main]\nuse = egg:Paste#http\n")
    result = serve_failing(path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"wsgistack serve: error: {path}:5 [server:main] use: 'egg:Paste#http'")
    port = free_port()
    with serving(str(path), "--server", "wsgiref", port=port) as (process, base, output):
        assert get(f"{base}/api/info")[0] == 200
        stop(process, signal.SIGTERM)
        text = output.read_text()
    assert f"with wsgiref on http://127.0.0.1:{port}/" in text


def test_serve_starts_the_server_the_file_uses_where_it_says(tmp_path: Path) -> None:
    """gunicorn from ``use``, its port from a KEY=VALUE variable and its worker count from the section."""
    port = free_port()
    path = tmp_path / "site.ini"
    path.write_text(
        "[app:main]\nuse = egg:wsgistack#demo\n\n"
        "[server:main]\nuse = egg:gunicorn#main\nbind = 127.0.0.1:%(http_port)s\nworkers = 3\n"
    )
    with serving(str(path), f"http_port={port}", port=port, port_flag=False) as (process, base, output):
        assert get(f"{base}/api/info")[0] == 200
        stop(process, signal.SIGTERM)
        text = output.read_text()
    assert f"serving {path} with gunicorn on http://127.0.0.1:{port}/" in text
    assert text.count("Booting worker with pid") == 3


def test_serve_bad_config_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.ini"
    path.write_text("[app:main]\nuse = egg:wsgistack#nosuch\n")
    result = serve_failing(path)
    assert result.returncode == 1
    assert f"wsgistack serve: error: {path}:2 [app:main] use: " in result.stderr


def test_serve_reloads_when_the_config_changes(tmp_path: Path) -> None:
    path = tmp_path / "site.ini"
    path.write_text("[app:main]\nuse = egg:wsgistack#demo\ntitle = first\n")
    port = free_port()
    with serving(str(path), "--reload", port=port) as (process, base, output):
        assert b"<title>first</title>" in get(f"{base}/")[1]
        time.sleep(1.1)  # mtime granularity
        path.write_text("[app:main]\nuse = egg:wsgistack#demo\ntitle = second\n")
        deadline = time.monotonic() + BOUND
        while time.monotonic() < deadline:
            try:
                if b"<title>second</title>" in get(f"{base}/")[1]:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"no reload:\n{output.read_text()}")
        assert stop(process, signal.SIGINT) in (0, -signal.SIGINT)
        assert "a file changed; restarting" in output.read_text()


def test_serve_applies_logging_beside_a_section_that_repeats_keys(tmp_path: Path) -> None:
    path = tmp_path / "site.ini"
    path.write_text(
        "[pipeline:main]\npipeline = access_log demo\n"
        "[filter:access_log]\nuse = egg:wsgistack#access_log\nlogger = probe.access\n"
        "[app:demo]\nuse = egg:wsgistack#demo\n"
        "[uwsgi]\nhttp-socket = 127.0.0.1:0\nenv = A=1\nenv = B=2\n"  # uWSGI repeats keys on purpose
        "[loggers]\nkeys = root, probe\n[handlers]\nkeys = by_here, by_file\n[formatters]\nkeys = plain\n"
        "[logger_root]\nlevel = WARNING\nhandlers =\n"
        "[logger_probe]\nlevel = INFO\nhandlers = by_here, by_file\nqualname = probe\n"
        "[handler_by_here]\nclass = FileHandler\nargs = ('%(here)s/here.log', 'a')\nformatter = plain\n"
        "[handler_by_file]\nclass = FileHandler\nargs = ('%(__file__)s.log', 'a')\nformatter = plain\n"
        "[formatter_plain]\nformat = logged %(levelname)s [%(name)s] %(message)s\n"
    )
    assert main(["check", str(path)]) == 0
    port = free_port()
    with serving(str(path), port=port) as (process, base, output):
        assert get(f"{base}/")[0] == 200
        assert stop(process, signal.SIGTERM) == 0, output.read_text()
    for log in (tmp_path / "here.log", tmp_path / "site.ini.log"):  # %(here)s, %(__file__)s
        assert "logged INFO [probe.access] 127.0.0.1 - - [" in log.read_text()
        assert '"GET / HTTP/1.1" 200 ' in log.read_text()


PROBE = """\
import os


def make_app(global_conf, **local):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%s %d %d" % (VERSION, os.getpid(), os.getppid())]

    return app
"""


def write_later(path: Path, text: str) -> None:
    """Write ``text`` with a modification time 2 s after the file's current one: a change the reloader
    sees (and a .pyc is not reused) without sleeping for a coarse mtime's granularity."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def probe_site(tmp_path: Path, header: str) -> Path:
    """An INI whose app is the module ``reload_probe`` in ``tmp_path`` (on PYTHONPATH), answering ``v1``."""
    module = tmp_path / "reload_probe.py"
    if not module.exists():
        module.write_text(PROBE.replace("VERSION", 'b"v1"'))
    path = tmp_path / "site.ini"
    path.write_text(
        "[pipeline:main]\npipeline = request_id probe\n"
        f"[filter:request_id]\nuse = egg:wsgistack#request_id\nheader = {header}\n"
        "[app:probe]\nuse = call:reload_probe:make_app\n"
    )
    return path


def poll(base: str, ready: Callable[[int, dict[str, str], bytes], bool], output: Path) -> bytes:
    """Request ``/`` until ``ready(status, headers, body)`` (connections fail while the server restarts)."""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        try:
            status, headers, body = request(base, "/")
            if ready(status, headers, body):
                return body
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    pytest.fail(f"no reload:\n{output.read_text()}")


def test_serve_reload_with_gunicorn_loads_new_code_and_config(tmp_path: Path) -> None:
    path = probe_site(tmp_path, "X-First-ID")
    module = tmp_path / "reload_probe.py"
    port, env = free_port(), {"PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    arguments = (str(path), "--server", "gunicorn", "--reload")
    with serving(*arguments, port=port, env=env) as (process, base, output):
        status, headers, body = request(base, "/")
        assert (status, body.split()[0]) == (200, b"v1")
        assert "x-first-id" in headers
        write_later(module, PROBE.replace("VERSION", 'b"v2"'))
        poll(base, lambda status, headers, body: body.startswith(b"v2 "), output)
        write_later(path, path.read_text().replace("X-First-ID", "X-Second-ID"))  # a layer's option
        poll(base, lambda status, headers, body: "x-second-id" in headers, output)
        assert stop(process, signal.SIGTERM) == 0
        text = output.read_text()
    assert text.count("a file changed; restarting") == 2, text
    assert refuses(port)


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("server", ["waitress", "gunicorn"])
def test_serve_reload_parent_passes_sigterm_on_to_the_server(tmp_path: Path, server: str) -> None:
    path = probe_site(tmp_path, "X-Request-ID")
    port, env = free_port(), {"PYTHONPATH": str(tmp_path)}
    with serving(str(path), "--server", server, "--reload", port=port, env=env) as (process, base, output):
        status, _, body = request(base, "/")
        assert status == 200
        pid, parent = (int(word) for word in body.split()[1:])  # the process serving, and its parent
        assert parent == process.pid if server == "waitress" else parent not in (process.pid, pid)
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert process.wait(BOUND) == 0, output.read_text()
        assert time.monotonic() - started < 8, output.read_text()  # the parent's bound is 15 s
    assert refuses(port)
    deadline = time.monotonic() + 5
    while not (gone(pid) and gone(parent)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pid)
    assert gone(parent)


def test_console_script_and_module_entry_point() -> None:
    script = Path(sys.executable).parent / "wsgistack"
    for command in ([str(script)], [sys.executable, "-m", "wsgistack"]):
        result = subprocess.run(
            [*command, "check", str(DEMO)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=BOUND,
            env={**os.environ},
        )
        assert result.returncode == 0, result.stderr
        assert "[app:demo]" in result.stdout
