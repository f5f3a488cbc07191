"""The recipes in recipes/ run as documented: in-process with the wsgistack client, and under gunicorn,
waitress, uWSGI and ``wsgistack serve`` on 127.0.0.1, read with a real HTTP client.

Django is only ever set up in child processes (a server, or a Python child for the in-process checks),
so its global settings never reach the other tests.
"""

from __future__ import annotations

import gzip
import http.client
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import brotli
import pytest
import webob

import wsgistack
from wsgistack import StaticFiles
from wsgistack.config import describe
from wsgistack.core import WSGIApplication
from wsgistack.testing import capture_logs, client

from .servers import free_port, serve, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes"
BIN = Path(sys.executable).parent
STOP_TIMEOUT = 10.0
TWO_MIB = "x" * (2 * 1024 * 1024)
REQUEST_ID = re.compile(r"[0-9a-f]{24}")


# --- helpers ---------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased: servers differ in their case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(
    base: str,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
) -> Response:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def call(app: WSGIApplication, path: str, headers: dict[str, str] | None = None) -> Response:
    """One in-process request, its body read and closed as a server would (WebTest would decode it)."""
    status, headerlist, body = webob.Request.blank(path, headers=headers).call_application(app)
    try:
        data = b"".join(body)
    finally:
        if hasattr(body, "close"):
            body.close()
    return Response(int(status.split()[0]), {k.lower(): v for k, v in headerlist}, data)


class Run:
    """A server started by :func:`running`: its URL and what it has printed so far."""

    def __init__(self, url: str, log: IO[bytes]) -> None:
        self.url, self._log = url, log

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def wait_for(self, *texts: str, timeout: float = 10.0) -> str:
        """The output once it holds every one of ``texts``: an access line is written after the
        response has been sent, so it may come a moment after the client has read the response."""
        deadline = time.monotonic() + timeout
        while not all(text in (output := self.output()) for text in texts):
            if time.monotonic() > deadline:
                raise AssertionError(f"not in the server's output after {timeout} s: {texts}\n{output}")
            time.sleep(0.05)
        return output


@contextmanager
def running(command: Sequence[str], port: int, env: dict[str, str] | None = None) -> Iterator[Run]:
    """Start ``command`` (listening on ``port``) in the repository root; stop it by its pid on exit."""
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT)
        run = Run(f"http://127.0.0.1:{port}", log)
        try:
            try:
                wait_for_port(port, process)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{shlex.join(command)}: {exc}\n{run.output()}") from None
            yield run
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def json_lines(output: str) -> list[dict[str, Any]]:
    """The JSON access log lines among a server's output (bare, or after a logging prefix)."""
    return [json.loads(line[line.index('{"') :]) for line in output.splitlines() if '{"time":' in line]


def layer_lines(diagram: str) -> list[str]:
    """A stack diagram without its last line (the app) and without the ``[section]`` annotations."""
    return [re.sub(r"  \[[^\]]+\]$", "", line) for line in diagram.splitlines()[:-1]]


def check_flask_site(base: str) -> dict[str, str]:
    """The Flask recipe's behaviour through a real server; returns the request id of each path."""
    ids = {}
    page = fetch(base, "/", {"Accept-Encoding": "br"})
    assert page.status == 200
    assert page.headers["content-encoding"] == "br"
    ids["/"] = page.headers["x-request-id"]
    assert f"<code>{ids['/']}</code>" in brotli.decompress(page.body).decode()

    css = fetch(base, "/static/style.css")
    assert css.status == 200
    assert css.headers["cache-control"] == "public, max-age=3600"
    assert css.body == (RECIPES / "flask_app" / "static" / "style.css").read_bytes()
    assert fetch(base, "/static/style.css", {"If-None-Match": css.headers["etag"]}).status == 304

    info = fetch(base, "/api/info")
    assert info.status == 200
    ids["/api/info"] = info.headers["x-request-id"]
    assert info.json()["request_id"] == ids["/api/info"]
    assert info.json()["body_limit"] == 1024 * 1024

    upload = fetch(base, "/upload", method="POST", body=TWO_MIB.encode())
    assert upload.json() == {"received": len(TWO_MIB)}  # over 1 MiB, under the 10 MiB of /upload
    ids["/upload"] = upload.headers["x-request-id"]

    boom = fetch(base, "/boom")
    assert boom.status == 500
    ids["/boom"] = boom.headers["x-request-id"]
    assert ids["/boom"] in boom.body.decode()
    assert all(REQUEST_ID.fullmatch(value) for value in ids.values())
    assert len(set(ids.values())) == len(ids)  # unique, whichever worker process answered
    return ids


def check_logged(output: str, ids: dict[str, str]) -> None:
    """One JSON access line per request, with its request id and status; the traceback of /boom."""
    entries = {entry["request_id"]: entry for entry in json_lines(output)}
    for path, request_id in ids.items():
        assert entries[request_id]["path"] == path
        assert entries[request_id]["status"] == (500 if path == "/boom" else 200)
    assert "RuntimeError: boom: CatchErrors answers 500" in output


# --- Flask: flask_app/wsgi.py ------------------------------------------------------------------------


def test_flask_wsgi_py_in_process() -> None:
    from recipes.flask_app.wsgi import flask_app, pipeline

    browser = client(flask_app, pipeline=pipeline, layer_lint=True)  # blames a misbehaving layer
    with capture_logs("wsgistack") as records:
        page = browser.get("/")
        css = browser.get("/static/style.css")
        info = browser.get("/api/info")
        browser.post("/upload", TWO_MIB)
        browser.post("/api/info", TWO_MIB, status=413)
        browser.post("/upload", "x" * (10 * 1024 * 1024 + 1), status=413)
        boom = browser.get("/boom", status=500)
    assert page.headers["X-Request-ID"] in page.text
    assert css.headers["Cache-Control"] == "public, max-age=3600"  # StaticFiles', not Flask's
    assert info.json["request_id"] == info.headers["X-Request-ID"]
    assert "Traceback" not in boom.text
    access = [json.loads(r.getMessage()) for r in records if r.name == "wsgistack.access"]
    assert [(entry["path"], entry["status"]) for entry in access] == [
        ("/", 200),
        ("/static/style.css", 200),
        ("/api/info", 200),
        ("/upload", 200),
        ("/api/info", 413),
        ("/upload", 413),
        ("/boom", 500),
    ]
    [error] = [r for r in records if r.name == "wsgistack.errors"]
    assert boom.headers["X-Request-ID"] in error.getMessage()


def test_flask_wsgi_py_compresses_pages_but_not_small_streams() -> None:
    from recipes.flask_app.wsgi import application

    page = call(application, "/", {"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"
    assert b"Flask behind wsgistack" in gzip.decompress(page.body)
    assert "Accept-Encoding" in page.headers["vary"]
    stream = call(application, "/stream", {"Accept-Encoding": "gzip"})
    assert "content-encoding" not in stream.headers  # judged by its first line, shorter than 500 bytes
    assert stream.body.count(b"line ") == 5


def test_gunicorn_conf_py_settings() -> None:
    result = subprocess.run(
        [BIN / "gunicorn", "--config", "recipes/gunicorn.conf.py", "--print-config"],
        cwd=ROOT,
        env={
            k: v
            for k, v in os.environ.items()
            if k not in ("BIND", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "GUNICORN_CMD_ARGS")
        },
        capture_output=True,
        text=True,
        check=True,
    )
    settings = dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, re.MULTILINE))
    assert settings["wsgi_app"] == "recipes.flask_app.wsgi:application"
    assert settings["preload_app"] == "True"
    assert settings["worker_class"] == "sync"
    assert settings["accesslog"] == "None"
    assert settings["bind"] == "['127.0.0.1:8000']"
    assert int(settings["workers"]) == 2 * (os.cpu_count() or 1) + 1


def test_flask_under_gunicorn_with_several_preloaded_workers_behind_a_proxy() -> None:
    [command] = [line for line in documented_lines("gunicorn.conf.py") if line.startswith("gunicorn ")]
    port = free_port()
    env = {"BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
    with running([str(BIN / "gunicorn"), *shlex.split(command)[1:]], port, env) as run:
        ids = check_flask_site(run.url)

        # A sync worker streaming a response accepts nothing else, so the next request is the other
        # worker's. Both were forked from a master that had built the stack (preload_app): RequestID
        # drew a new id prefix in each.
        parts = urlsplit(run.url)
        streaming = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        try:
            streaming.request("GET", "/stream")
            stream = streaming.getresponse()
            assert stream.readline() == b"line 1\n"
            other = fetch(run.url, "/api/info", {"X-Forwarded-Proto": "https"})
            rest = stream.read()
        finally:
            streaming.close()
        assert rest == b"line 2\nline 3\nline 4\nline 5\n"
        stream_id, other_id = stream.getheader("X-Request-ID") or "", other.headers["x-request-id"]
        assert REQUEST_ID.fullmatch(stream_id)
        assert stream_id[:16] != other_id[:16]

        # The proxy's X-Forwarded-Proto (from an address in forwarded_allow_ips) reaches the app.
        assert other.json()["url"].startswith("https://")

        output = run.wait_for(*(f'"request_id":"{value}"' for value in [*ids.values(), stream_id, other_id]))
    assert output.count("Booting worker") == 2  # WEB_CONCURRENCY
    check_logged(output, ids)
    other_lines = [line for line in output.splitlines() if not line.startswith("{")]
    assert not [line for line in other_lines if '"GET /' in line]  # gunicorn's own access log is off


def test_workers_on_several_machines_agree_on_etags_when_mtimes_agree(tmp_path: Path) -> None:
    # Each process builds its own StaticFiles table; an ETag comes from the file's mtime and size, so
    # copies deployed with their mtimes (rsync -t, a container image, shutil.copy2) validate everywhere.
    source = RECIPES / "flask_app" / "static"
    machine_a = shutil.copytree(source, tmp_path / "a")
    machine_b = shutil.copytree(source, tmp_path / "b")
    touched = shutil.copytree(source, tmp_path / "touched")
    os.utime(touched / "style.css", ns=(0, (source / "style.css").stat().st_mtime_ns + 10**9))

    def etag(directory: Path) -> str:
        files = StaticFiles(None, directory)
        return call(files, "/static/style.css").headers["etag"]

    assert etag(machine_a) == etag(machine_b)
    assert etag(touched) != etag(machine_a)


# --- Django: django_project/wsgi.py ----------------------------------------------------------------


def django_env(static_root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_STATIC_ROOT": str(static_root)}


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """STATIC_ROOT after the documented ``collectstatic`` (ManifestStaticFilesStorage), then
    ``wsgistack compress`` on it."""
    static_root = tmp_path_factory.mktemp("django") / "collected"
    [collectstatic, _] = documented_commands("django_project/wsgi.py")
    assert collectstatic[:4] == ["python", "-m", "django", "collectstatic"]
    for command in (collectstatic[1:], ["-m", "wsgistack", "compress", "-q", str(static_root)]):
        subprocess.run(
            [sys.executable, *command], cwd=ROOT, env=django_env(static_root), check=True, capture_output=True
        )
    return static_root


def hashed_css(static_root: Path) -> str:
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    name: str = manifest["paths"]["site.css"]
    assert re.fullmatch(r"site\.[0-9a-f]{12}\.css", name)
    return name


def test_django_project_passes_djangos_checks(collected: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "django", "check", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**django_env(collected), "DJANGO_SETTINGS_MODULE": "recipes.django_project.settings"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def django_in_process(static_root: str) -> dict[str, Any]:
    """Run in a child Python: the Django stack through the wsgistack client; returns what it saw."""
    os.environ["DJANGO_STATIC_ROOT"] = static_root
    from recipes.django_project.wsgi import application, django_app, pipeline

    name = hashed_css(Path(static_root))
    browser = client(django_app, pipeline=pipeline, layer_lint=True)
    with capture_logs("wsgistack.access") as records:
        page = browser.get("/")
        css = browser.get(f"/static/{name}")
        not_modified = browser.get(f"/static/{name}", headers={"If-None-Match": css.headers["ETag"]})
        plain = browser.get("/static/site.css")
        missing = browser.get("/static/nothing.css", status=404)
    encoded = call(application, f"/static/{name}", {"Accept-Encoding": "br"})
    compressed_page = call(application, "/", {"Accept-Encoding": "gzip"})
    return {
        "page_id": page.headers["X-Request-ID"],
        "page": page.text,
        "page_frame_options": page.headers.get("X-Frame-Options"),
        "css_cache": css.headers["Cache-Control"],
        "css_body": css.text,
        "css_frame_options": css.headers.get("X-Frame-Options"),
        "not_modified": not_modified.status_int,
        "plain_cache": plain.headers["Cache-Control"],
        "missing_frame_options": missing.headers.get("X-Frame-Options"),
        "encoded": [encoded.headers.get("content-encoding"), len(encoded.body)],
        "page_encoding": compressed_page.headers.get("content-encoding"),
        "logged": [json.loads(r.getMessage())["status"] for r in records],
    }


def test_django_project_in_process(collected: Path) -> None:
    script = (
        f"import json, tests.test_recipes as t; print(json.dumps(t.django_in_process({str(collected)!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-W", "ignore:'cgi' is deprecated:DeprecationWarning", "-c", script],
        cwd=ROOT,
        env=django_env(collected),  # wsgi.py sets DJANGO_SETTINGS_MODULE
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    name = hashed_css(collected)
    assert f'href="/static/{name}"' in seen["page"]  # {% static %} gives the hashed name
    assert f"<code>{seen['page_id']}</code>" in seen["page"]
    assert seen["page_frame_options"] == "DENY"  # Django's middleware ran for the page...
    assert seen["css_frame_options"] is None  # ...but static files never reached Django
    assert seen["missing_frame_options"] == "DENY"  # a miss goes on to Django, which answers 404
    assert seen["css_cache"] == "public, max-age=31536000, immutable"
    assert seen["css_body"] == (RECIPES / "django_project" / "static" / "site.css").read_text()
    assert seen["not_modified"] == 304
    assert seen["plain_cache"] == "public, max-age=60"  # an unhashed name is not immutable
    assert seen["encoded"] == ["br", (collected / f"{name}.br").stat().st_size]  # precompressed
    assert seen["page_encoding"] == "gzip"
    assert seen["logged"] == [200, 200, 304, 200, 404]


def test_django_project_under_gunicorn(collected: Path) -> None:
    name = hashed_css(collected)
    [_, gunicorn] = documented_commands("django_project/wsgi.py")
    assert gunicorn[0] == "gunicorn"
    env = {"DJANGO_STATIC_ROOT": str(collected)}
    with serve(gunicorn[1], server="gunicorn", env=env) as base:
        page = fetch(base, "/", {"Accept-Encoding": "gzip"})
        css = fetch(base, f"/static/{name}", {"Accept-Encoding": "br, gzip"})
    assert page.status == 200
    assert page.headers["content-encoding"] == "gzip"
    assert f'href="/static/{name}"' in gzip.decompress(page.body).decode()
    assert css.status == 200
    assert css.headers["content-encoding"] == "br"
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert brotli.decompress(css.body) == (RECIPES / "django_project" / "static" / "site.css").read_bytes()


# --- INI and TOML pipelines ---------------------------------------------------------------------------


def documented_lines(name: str) -> list[str]:
    """The commands shown at the top of a recipe file: ``#   command`` lines of its opening comment, or
    indented lines of its module docstring."""
    text = (RECIPES / name).read_text()
    if text.startswith('"""'):
        return [line[4:] for line in text.split('"""', 2)[1].splitlines() if line.startswith("    ")]
    head = itertools.takewhile(lambda line: line.startswith("#"), text.splitlines())
    return [line[4:] for line in head if line.startswith("#   ")]


def documented_commands(name: str) -> list[list[str]]:
    return [shlex.split(line) for line in documented_lines(name)]


SERVE_COMMANDS = [
    (name, command)
    for name in ("production.ini", "wsgistack.toml", "paste_era.ini")
    for command in documented_commands(name)
    if command[:2] != ["wsgistack", "check"]
]


def test_the_configuration_files_document_how_to_serve_them() -> None:
    assert [(name, command[0]) for name, command in SERVE_COMMANDS] == [
        ("production.ini", "wsgistack"),
        ("production.ini", "gunicorn"),
        ("production.ini", "waitress-serve"),
        ("production.ini", "uwsgi"),
        ("wsgistack.toml", "wsgistack"),
        ("paste_era.ini", "wsgistack"),
    ]


@pytest.mark.parametrize(
    ("name", "command"), SERVE_COMMANDS, ids=[f"{name}: {command[0]}" for name, command in SERVE_COMMANDS]
)
def test_configuration_served_as_documented(name: str, command: list[str]) -> None:
    port = free_port()
    words = [word.replace("8080", str(port)) for word in command]
    if words[:2] == ["wsgistack", "serve"]:
        words += ["--port", str(port)]  # as documented it listens on 8080 (or [server:main]'s port)
    assert str(port) in " ".join(words)
    with running([str(BIN / words[0]), *words[1:]], port) as run:
        if name == "paste_era.ini":
            check_paste_era_site(run)
        else:
            ids = check_flask_site(run.url)
            check_logged(run.wait_for(*(f'"request_id":"{value}"' for value in ids.values())), ids)


def check_paste_era_site(run: Run) -> None:
    page = fetch(run.url, "/", {"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"
    assert b"Flask behind wsgistack" in gzip.decompress(page.body)
    assert fetch(run.url, "/static/style.css").headers["cache-control"] == "public, max-age=3600"
    boom = fetch(run.url, "/boom")
    assert boom.status == 500
    assert b"Traceback" not in boom.body
    output = run.wait_for('"GET /boom HTTP/1.1" 500 ')  # TransLogger's line, on its "wsgi" logger
    assert re.search(r'INFO \[wsgi\] 127\.0\.0\.1 - - \[[^]]+\] "GET / HTTP/1\.1" 200 \d+ "-" "-"', output)


def test_toml_ini_and_python_build_the_same_stack() -> None:
    from recipes.flask_app.wsgi import pipeline

    from_ini = describe(RECIPES / "production.ini")
    from_toml = describe(RECIPES / "wsgistack.toml")
    assert layer_lines(from_ini) == layer_lines(from_toml) == layer_lines(pipeline.describe())
    assert len(layer_lines(from_ini)) == 6


def test_toml_and_ini_answer_alike() -> None:
    def answers(app: WSGIApplication) -> list[tuple[int, list[str]]]:
        browser = client(app)
        responses = [
            browser.get("/"),
            browser.get("/static/app.js"),
            browser.get("/api/info"),
            browser.post("/api/info", TWO_MIB, status=413),
            browser.get("/boom", status=500),
        ]
        return [(r.status_int, sorted(name for name, _ in r.headerlist)) for r in responses]

    assert answers(wsgistack.load(RECIPES / "production.ini")) == answers(
        wsgistack.load(RECIPES / "wsgistack.toml")
    )


def test_wsgistack_check_prints_the_toml_stack(capsys: pytest.CaptureFixture[str]) -> None:
    from wsgistack.cli import main

    assert main(["check", str(RECIPES / "wsgistack.toml")]) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == describe(RECIPES / "wsgistack.toml")
    assert "loads" in printed.err


@pytest.mark.parametrize("loader", ["wsgistack", "pastedeploy"])
def test_paste_era_ini(loader: str, caplog: pytest.LogCaptureFixture) -> None:
    path = RECIPES / "paste_era.ini"
    text = path.read_text()
    assert "egg:Paste#" not in text.replace("`egg:Paste#`", "")
    for option in (
        "compress_level",
        "logger_name",
        "setup_console_handler",
        "document_root",
        "cache_max_age",
    ):
        assert f"\n{option} = " in text  # Paste's own option names
    if loader == "pastedeploy":
        from paste.deploy import loadapp

        app = loadapp(f"config:{path}")
    else:
        app = wsgistack.load(path)
    with caplog.at_level("INFO", logger="wsgi"):
        page = call(app, "/", {"Accept-Encoding": "gzip"})
        css = call(app, "/static/style.css")
        boom = call(app, "/boom")
    assert page.headers["content-encoding"] == "gzip"
    assert b"Flask behind wsgistack" in gzip.decompress(page.body)
    assert css.headers["cache-control"] == "public, max-age=3600"  # egg:wsgistack#static, cache_max_age
    assert css.body == (RECIPES / "flask_app" / "static" / "style.css").read_bytes()
    assert boom.status == 500
    assert b"Traceback" not in boom.body  # debug = false in [DEFAULT], as error_catcher reads it
    lines = [r.getMessage() for r in caplog.records if r.name == "wsgi"]  # translogger's logger_name
    assert len(lines) == 2  # the site's requests; /static is another app of the urlmap
    assert re.fullmatch(r'\S+ - - \[[^]]+\] "GET / HTTP/1.0" 200 \d+ "-" "-"', lines[0])
    assert '"GET /boom HTTP/1.0" 500 ' in lines[1]


# --- the testing recipe ------------------------------------------------------------------------------


def test_testing_recipe_passes(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(str(RECIPES / "test_site.py"), "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)  # four tests, against wsgi.py and production.ini
    result.stdout.fnmatch_lines(["*test_site.py::test_home_page_carries_its_request_id*production.ini*"])
