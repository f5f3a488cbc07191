"""The files under recipes/snippets/, which the pages include, do what the pages say: each configuration
file is loaded and requests go through the stack it builds; each logging configuration is applied in a
fresh Python and its records are followed to the handlers; the test files run under pytest."""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest
import webtest
from paste.deploy import loadapp

import wsgistack
from wsgistack.config import describe
from wsgistack.core import StartResponse, WSGIEnvironment
from wsgistack.static import HASHED_NAME
from wsgistack.testing import capture_logs, client

from .servers import free_port, last_output, run_command
from .test_docs import BIN, ROOT, SNIPPETS, page, table_after
from .test_docs_cli import fetch
from .test_docs_output import diff_sides

REQUEST_ID = r"[0-9a-f]{24}"


def diagram(path: str | Path, name: str = "main") -> str:
    return describe(path, name).replace(str(ROOT), "…")


# --- configuration.md ------------------------------------------------------------------------------------


def test_stack_ini() -> None:
    """The stack it builds is on the page (a doctest); here, requests through it."""
    site = client(SNIPPETS / "stack.ini")
    with capture_logs("wsgistack.access") as access_log:
        page = site.get("/")
        css = site.get("/static/site.css")
        assert site.post("/upload", "x" * 10_000_000).json == {"received": 10_000_000}
        site.post("/upload", "x" * 10_000_001, status=413)  # 10MB: 10 000 000 bytes
        boom = site.get("/boom", status=500)
    assert re.fullmatch(REQUEST_ID, page.headers["X-Request-ID"])
    assert css.text == (SNIPPETS / "static" / "site.css").read_text()
    assert "Traceback" not in boom.text
    assert [record.getMessage().split('"')[1] for record in access_log] == [
        "GET / HTTP/1.0",
        "GET /static/site.css HTTP/1.0",
        "POST /upload HTTP/1.0",
        "POST /upload HTTP/1.0",
        "GET /boom HTTP/1.0",
    ]
    assert re.search(r'" 500 \d+ "-" "-"$', access_log[-1].getMessage())  # combined: referer, agent


def test_misspelt_ini_error_has_its_parts() -> None:
    with pytest.raises(wsgistack.ConfigError) as caught:
        wsgistack.load(SNIPPETS / "misspelt.ini")
    error = caught.value
    assert (error.file, error.line, error.section, error.key) == (
        str(SNIPPETS / "misspelt.ini"),
        6,
        "filter:limit",
        "max_byte",
    )
    assert isinstance(error, ValueError)


def test_urlmap_ini() -> None:
    site = client(SNIPPETS / "urlmap.ini")

    def answer(path: str, host: str = "localhost") -> str:
        return site.get(path, headers={"Host": host}).text

    assert answer("/api") == "api SCRIPT_NAME='/api' PATH_INFO=''"
    assert answer("/api/users") == "api SCRIPT_NAME='/api' PATH_INFO='/users'"
    assert answer("/apix").startswith("notfound ")  # whole segments only
    assert answer("/static/x") == "assets SCRIPT_NAME='/static' PATH_INFO='/x'"  # "/static/" mounts /static
    assert answer("/static").startswith("assets ")
    assert answer("/").startswith("notfound ")
    assert answer("/api/users", "admin.example.com") == "admin SCRIPT_NAME='' PATH_INFO='/api/users'"
    assert answer("/api/v1", "example.com:8080").startswith("api_8080 ")
    assert answer("/api/v1", "example.com").startswith("api ")


def test_urlmap_leaves_the_callers_environ_alone() -> None:
    urlmap = wsgistack.load(SNIPPETS / "urlmap.ini")
    seen: dict[str, str] = {}

    def outer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        result = urlmap(environ, start_response)
        seen.update(script_name=environ["SCRIPT_NAME"], path_info=environ["PATH_INFO"])
        return result

    assert client(outer).get("/api/users").text.startswith("api ")
    assert seen == {"script_name": "", "path_info": "/api/users"}


def test_urlmap_without_not_found_app() -> None:
    from wsgistack.urlmap import URLMap

    def api(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"api"]

    response = client(URLMap({"/api": api})).get("/<script>", status=404)
    assert response.text == "Not Found\n"  # nothing from the request is echoed


def test_stack_toml() -> None:
    assert diagram(SNIPPETS / "stack.toml") == textwrap.dedent(
        """\
        request_id()
        └── access_log(format='combined', exclude_paths=['/health'])
            └── body_limit(max_bytes=10000000)
                └── Timing(metric='flask')
                    └── recipes.flask_app.wsgi:flask_app"""
    )
    site = client(SNIPPETS / "stack.toml")
    with capture_logs("wsgistack.access") as access_log:
        page = site.get("/")
        site.get("/health", status=404)  # not logged
        site.post("/upload", "x" * 10_000_001, status=413)
    assert re.fullmatch(r"flask;dur=\d+\.\d", page.headers["Server-Timing"])
    assert re.fullmatch(REQUEST_ID, page.headers["X-Request-ID"])
    assert [record.getMessage().split('"')[1] for record in access_log] == [
        "GET / HTTP/1.0",
        "POST /upload HTTP/1.0",
    ]


def test_stack_toml_in_pyproject(tmp_path: Path) -> None:
    """In pyproject.toml the same keys go under [tool.wsgistack] and [[tool.wsgistack.layer]]."""
    text = (SNIPPETS / "stack.toml").read_text().replace("[[layer]]", "[[tool.wsgistack.layer]]")
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "site"\n\n[tool.wsgistack]\n{text}')
    assert describe(tmp_path / "pyproject.toml") == describe(SNIPPETS / "stack.toml")


def test_toml_errors_name_the_layer(tmp_path: Path) -> None:
    text = (SNIPPETS / "stack.toml").read_text().replace('format = "combined"', 'formatt = "combined"')
    (tmp_path / "site.toml").write_text(text)
    with pytest.raises(wsgistack.ConfigError) as caught:
        wsgistack.load(tmp_path / "site.toml")
    assert caught.value.section == "[layer] #2 (access_log)"
    assert caught.value.key == "formatt"
    assert caught.value.line == text.splitlines().index('formatt = "combined"') + 1
    assert "did you mean 'format'?" in str(caught.value)


# --- the middleware pages --------------------------------------------------------------------------------


def test_static_ini() -> None:
    assert diagram(SNIPPETS / "static.ini") == (
        "static(directory=PosixPath('…/recipes/snippets/static'), prefix='/static/', max_age=3600,"
        " index_file=True)  [filter:static]\n"
        "└── call:recipes.snippets.echo:make_app(name='site')  [app:site]"
    )
    site = client(SNIPPETS / "static.ini")
    css = site.get("/static/site.css")
    assert css.headers["Cache-Control"] == "public, max-age=3600"
    assert site.get("/static/").text == (SNIPPETS / "static" / "index.html").read_text()  # index_file
    assert site.get("/static", status=302).headers["Location"] == "static/"  # relative
    assert site.get("/other").text.startswith("site ")
    files = client(SNIPPETS / "static.ini", name="files")  # the app, as Paste's egg:Paste#static
    assert files.get("/readme.txt").text == (SNIPPETS / "public" / "readme.txt").read_text()
    assert files.get("/static/site.css", status=404).text == "Not Found\n"


IMMUTABLE = "public, max-age=31536000, immutable"
#: Assets as Vite names them; the first hash has no digit, so only the directory regex makes it immutable.
BUNDLE_ASSETS = ("index-Cq_xZkWm.js", "index-B0ykI2W9.css")


def test_static_bundle_ini() -> None:
    assert diagram(SNIPPETS / "static_bundle.ini").splitlines()[0] == (
        "static(directory=PosixPath('…/recipes/snippets/bundle'), prefix='/static/', index_file=True,"
        " immutable='^/static/assets/')  [filter:static]"
    )
    site = client(SNIPPETS / "static_bundle.ini")
    for name in BUNDLE_ASSETS:
        asset = site.get(f"/static/assets/{name}")
        assert asset.body == (SNIPPETS / "bundle" / "assets" / name).read_bytes()
        assert asset.headers["Cache-Control"] == IMMUTABLE
    hashed = [HASHED_NAME.search(f"/static/assets/{name}") is not None for name in BUNDLE_ASSETS]
    assert hashed == [False, True]  # the default would miss the first
    assert site.get("/static/").headers["Cache-Control"] == "public, max-age=60"  # the index keeps its name
    assert site.get("/other").text.startswith("site ")


def test_compress_ini() -> None:
    assert diagram(SNIPPETS / "compress.ini") == (
        "compress(minimum_size=1024, encodings=['zstd', 'br', 'gzip'])  [filter:compress]\n"
        "└── egg:wsgistack#static(document_root='%(here)s/static')  [app:pages]"
    )
    from wsgistack.testing import client

    browser = client(wsgistack.load(SNIPPETS / "compress.ini"))

    def encoding(path: str, accept: str) -> str | None:
        response = browser.get(path, headers={"Accept-Encoding": accept})
        assert response.status_int == 200
        return response.headers.get("Content-Encoding")

    assert encoding("/manual.html", "gzip, br, zstd") == "zstd"  # the server's order breaks the tie
    assert encoding("/manual.html", "gzip, br") == "br"
    assert encoding("/manual.html", "gzip, br;q=0.5") == "gzip"
    assert encoding("/site.css", "gzip, br, zstd") is None  # 34 bytes, under minimum_size


def test_body_limit_ini() -> None:
    assert diagram(SNIPPETS / "body_limit.ini").splitlines()[0] == (
        "body_limit(max_bytes=10000000)  [filter:body_limit]"
    )
    site = client(SNIPPETS / "body_limit.ini")
    assert site.post("/upload", "x" * 10_000_000).json == {"received": 10_000_000}
    site.post("/upload", "x" * 10_000_001, status=413)


def test_body_limit_toml() -> None:
    assert diagram(SNIPPETS / "body_limit.toml").splitlines()[0] == (
        "body_limit(max_bytes=1048576, limits={'/upload': 104857600})"
    )
    site = client(SNIPPETS / "body_limit.toml")
    two_mib = "x" * (2 << 20)
    assert site.post("/upload", two_mib).json == {"received": len(two_mib)}
    site.post("/api/info", two_mib, status=413)
    assert site.get("/api/info").json["body_limit"] == 1048576
    limit = wsgistack.load(SNIPPETS / "body_limit.toml")
    assert isinstance(limit, wsgistack.BodyLimit)
    assert (limit.limit_for("/upload/photo"), limit.limit_for("/uploads")) == (100 << 20, 1 << 20)


def test_errors_ini() -> None:
    assert diagram(SNIPPETS / "errors.ini").splitlines()[0] == "errors(debug=False)  [filter:errors]"
    with capture_logs("wsgistack.errors") as records:
        boom = client(SNIPPETS / "errors.ini").get("/boom", status=500)
    assert "Traceback" not in boom.text
    assert boom.headers["Cache-Control"] == "no-store"
    [record] = records
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


def test_error_catcher_reads_debug_from_default(tmp_path: Path) -> None:
    """egg:wsgistack#error_catcher, like Paste, takes ``debug`` from [DEFAULT]; egg:wsgistack#errors not."""
    text = (SNIPPETS / "errors.ini").read_text().replace("debug = false\n", "")
    for use, debug in (("egg:wsgistack#error_catcher", True), ("egg:wsgistack#errors", False)):
        ini = f"[DEFAULT]\ndebug = true\n\n{text.replace('egg:wsgistack#errors', use)}"
        (tmp_path / "site.ini").write_text(ini)
        with capture_logs("wsgistack.errors"):
            boom = client(tmp_path / "site.ini").get("/boom", status=500)
        assert ("Traceback" in boom.text) is debug, use


def test_access_log_ini() -> None:
    assert diagram(SNIPPETS / "access_log.ini").splitlines()[1] == (
        """└── access_log(format='%(h)s "%(r)s" %(s)s %(B)s %(D)s %(request_id)s',"""
        """ exclude_paths=['/health', '/metrics'])  [filter:access_log]"""
    )
    site = client(SNIPPETS / "access_log.ini", extra_environ={"REMOTE_ADDR": "192.0.2.7"})
    with capture_logs("wsgistack.access") as access_log:
        page = site.get("/")
        for path in ("/health", "/metrics", "/metrics/workers"):
            site.get(path, status=404)
    [record] = access_log  # /health and /metrics are not logged, nor the paths below them
    assert re.fullmatch(
        rf'192\.0\.2\.7 "GET / HTTP/1\.0" 200 {len(page.body)} \d+ {page.headers["X-Request-ID"]}',
        record.getMessage(),
    )


def test_request_id_ini() -> None:
    assert diagram(SNIPPETS / "request_id.ini").splitlines()[0] == (
        "request_id(header='X-Correlation-ID', trust_incoming=False)  [filter:request_id]"
    )
    site = client(SNIPPETS / "request_id.ini")
    response = site.get("/api/info", headers={"X-Correlation-ID": "chosen-by-the-client"})
    generated = response.headers["X-Correlation-ID"]
    assert re.fullmatch(REQUEST_ID, generated)  # the incoming id is not trusted
    assert response.json["request_id"] == generated
    assert "X-Request-ID" not in response.headers


# --- logging configurations: applied in a fresh Python ---------------------------------------------------


REQUESTS = """
import logging

from wsgistack import Layer, Pipeline
from wsgistack.testing import client


def app(environ, start_response):
    logging.getLogger("shop").info("order placed")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


stack = Pipeline(Layer.named("request_id"), Layer.named("access_log")).wrap(app)
client(stack).get("/orders", headers={"X-Request-ID": "order-42"})
logging.getLogger("shop").info("outside a request")
logging.shutdown()
"""

ACCESS_LINE = r'- - - \[[^]]+\] "GET /orders HTTP/1\.0" 200 2 "-" "-"'
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


def run_python(setup: str, cwd: Path) -> str:
    """Run ``setup`` and then the requests above in a fresh interpreter; return what went to stderr."""
    result = subprocess.run(
        [sys.executable, "-c", setup + REQUESTS],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert "Logging error" not in result.stderr, result.stderr
    assert result.stdout == ""
    return result.stderr


def run_snippet(name: str) -> str:
    return f"import runpy\nrunpy.run_path({str(SNIPPETS / name)!r})\n"


def test_access_logging_py(tmp_path: Path) -> None:
    stderr = run_python(run_snippet("access_logging.py"), tmp_path)
    assert re.fullmatch(ACCESS_LINE + "\n", (tmp_path / "access.log").read_text())
    assert re.fullmatch(
        f"{TIME} INFO shop \\[order-42\\] order placed\n{TIME} INFO shop \\[-\\] outside a request\n", stderr
    )  # the access line went to its file only


def test_access_logging_ini(tmp_path: Path) -> None:
    shutil.copy(SNIPPETS / "access_logging.ini", tmp_path)
    setup = (
        "import logging.config\n"
        "logging.config.fileConfig('access_logging.ini', {'here': '.', '__file__': 'access_logging.ini'},"
        " disable_existing_loggers=False)\n"
    )
    stderr = run_python(setup, tmp_path)
    assert re.fullmatch(ACCESS_LINE + "\n", (tmp_path / "access.log").read_text())
    assert re.fullmatch(
        f"{TIME} INFO \\[shop\\] order placed\n{TIME} INFO \\[shop\\] outside a request\n", stderr
    )


def test_request_id_logging_py(tmp_path: Path) -> None:
    stderr = run_python(run_snippet("request_id_logging.py"), tmp_path)
    assert re.fullmatch(
        f"{TIME} INFO shop \\[order-42\\] order placed\n"
        f"{TIME} INFO wsgistack.access \\[order-42\\] {ACCESS_LINE}\n"
        f"{TIME} INFO shop \\[-\\] outside a request\n",
        stderr,
    )


def test_request_id_filter_py(tmp_path: Path) -> None:
    (tmp_path / "logging.ini").write_text(
        textwrap.dedent(
            """\
            [loggers]
            keys = root

            [handlers]
            keys = console

            [formatters]
            keys = generic

            [logger_root]
            level = INFO
            handlers = console

            [handler_console]
            class = StreamHandler
            args = (sys.stderr,)
            formatter = generic

            [formatter_generic]
            format = %(levelname)s %(name)s [%(request_id)s] %(message)s
            """
        )
    )
    setup = "import logging.config\nlogging.config.fileConfig('logging.ini')\n" + run_snippet(
        "request_id_filter.py"
    )
    stderr = run_python(setup, tmp_path)
    assert re.fullmatch(
        "INFO shop \\[order-42\\] order placed\n"
        f"INFO wsgistack.access \\[order-42\\] {ACCESS_LINE}\n"
        "INFO shop \\[-\\] outside a request\n",
        stderr,
    )


GUNICORN_ACCESS_LINE = re.compile(r'"GET / HTTP/1\.1" 200 \d+ "-"')


@pytest.mark.parametrize("silenced", [True, False], ids=["gunicorn_logging.py", "without it"])
def test_gunicorn_logging_py(silenced: bool, tmp_path: Path) -> None:
    """With the snippet, each request is logged once, by AccessLog; without it, gunicorn logs it too."""
    if silenced:
        settings = ["-c", str(SNIPPETS / "gunicorn_logging.py")]
    else:
        (tmp_path / "logging.json").write_text(json.dumps({"version": 1}))
        settings = ["--log-config-json", str(tmp_path / "logging.json")]
    port = free_port()
    command = [str(BIN / "gunicorn"), *settings, "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    with run_command([*command, "recipes.flask_app.wsgi:application"], port) as url:
        status, headers = fetch(url, "/")
    assert status == 200
    output = last_output()
    request_id = headers["x-request-id"]
    assert len([line for line in output.splitlines() if f'"request_id":"{request_id}"' in line]) == 1
    assert bool(GUNICORN_ACCESS_LINE.search(output)) is not silenced, output


# --- testing.md: the test files run under pytest -------------------------------------------------------


def test_testing_snippets(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess(str(SNIPPETS / "testing"), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1 + 1 + 45)  # test_stack.py, test_site.py, test_contract.py's matrix


def test_wsgistack_config_in_pyproject(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject=(SNIPPETS / "testing" / "pytest_config.toml").read_text())
    shutil.copy(ROOT / "recipes" / "production.ini", pytester.path)
    (pytester.path / "flask_app").symlink_to(ROOT / "recipes" / "flask_app")  # production.ini's static files
    shutil.copy(SNIPPETS / "testing" / "test_site.py", pytester.path)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# --- migrating.md ----------------------------------------------------------------------------------------


APPS = """
[app:site]
use = call:recipes.snippets.echo:make_app
name = site

[app:api]
use = site
name = api

[pipeline:filtered]
pipeline = translogger errors gzip site
"""


def test_migrating_diff_only_changes_the_egg_names(tmp_path: Path) -> None:
    before, after = diff_sides((SNIPPETS / "migrating.diff").read_text())
    assert "egg:Paste#" in before
    assert after == before.replace("egg:Paste#", "egg:wsgistack#")
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "robots.txt").write_text("User-agent: *\n")
    (tmp_path / "before.ini").write_text(before + APPS)
    (tmp_path / "after.ini").write_text(after + APPS)

    def load(loader: str, file: str, name: str) -> webtest.TestApp:
        path = tmp_path / file
        return webtest.TestApp(
            wsgistack.load(path, name) if loader == "wsgistack" else loadapp(f"config:{path}", name=name)
        )

    # wsgistack loads the new file; PasteDeploy loads both, the old one with Paste's middleware.
    for loader, file in [
        ("wsgistack", "after.ini"),
        ("PasteDeploy", "after.ini"),
        ("PasteDeploy", "before.ini"),
    ]:
        site = load(loader, file, "main")
        assert site.get("/api/users").text.startswith("api "), (loader, file)
        assert site.get("/").text.startswith("site ")
        assert load(loader, file, "assets").get("/robots.txt").text == "User-agent: *\n"
        with capture_logs("wsgi") as translogger:
            load(loader, file, "filtered").get("/")
        assert len(translogger) == 1, (loader, file)

    assert describe(tmp_path / "after.ini", "filtered").replace(str(tmp_path), "") == textwrap.dedent(
        """\
        access_log(logger='wsgi', console=False)  [filter:translogger]
        └── errors()  [filter:errors]
            └── compress(gzip_level=6)  [filter:gzip]
                └── call:recipes.snippets.echo:make_app(name='site')  [app:site]"""
    )
    # WebTest loads "config:" URIs with PasteDeploy (its type stubs only know apps).
    via_webtest = webtest.TestApp(f"config:{tmp_path / 'after.ini'}")  # type: ignore[type-var]
    assert via_webtest.get("/api").text.startswith("api ")


# --- migrating.md: from WhiteNoise ------------------------------------------------------------------------

#: WhiteNoise's options (WhiteNoise.__init__ in whitenoise/base.py, version 6.12) and the StaticFiles option
#: that migrating.md gives for each; the installed WhiteNoise must take exactly these. The WhiteNoise side of
#: the wsgi.py pair is a Django project's file: it is read here, not run.
WHITENOISE_OPTIONS = {
    "application": "app",
    "root": "directory",
    "prefix": "prefix",
    "autorefresh": "autorefresh",
    "max_age": "max_age",
    "allow_all_origins": "cors",
    "charset": "charset",
    "mimetypes": "media_types",
    "add_headers_function": "add_headers",
    "index_file": "index_file",
    "immutable_file_test": "immutable",
}


def test_the_mapping_covers_whitenoise_s_options() -> None:
    from whitenoise import WhiteNoise  # type: ignore[import-untyped]

    parameters = list(inspect.signature(WhiteNoise.__init__).parameters)
    assert parameters[1:] == list(WHITENOISE_OPTIONS)


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    """The calls of ``name`` (a function or a method) in ``tree``."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name)
    ]


def test_whitenoise_options_table() -> None:
    rows = table_after(page("migrating"), "### 2. Options")
    assert set(WHITENOISE_OPTIONS.values()) <= set(inspect.signature(wsgistack.StaticFiles).parameters)
    for theirs, ours in WHITENOISE_OPTIONS.items():
        assert any(
            re.match(rf"`{theirs}\b", row["WhiteNoise"]) and re.match(rf"`{ours}\b", row["StaticFiles"])
            for row in rows
        ), (theirs, ours)


def test_whitenoise_wsgi_pair() -> None:
    before = ast.parse((SNIPPETS / "whitenoise_wsgi.py").read_text())
    after = ast.parse((SNIPPETS / "wsgistack_wsgi.py").read_text())
    [whitenoise] = calls(before, "WhiteNoise")
    [static] = calls(after, "StaticFiles")
    theirs = {str(keyword.arg): ast.dump(keyword.value) for keyword in whitenoise.keywords}
    ours = {str(keyword.arg): ast.dump(keyword.value) for keyword in static.keywords}
    assert set(theirs) <= set(WHITENOISE_OPTIONS)
    assert ast.dump(whitenoise.args[0]) == ast.dump(static.args[0])  # the application
    ours["directory"] = ast.dump(static.args[1])
    assert ours.pop("cors") == ast.dump(ast.Constant("*"))  # WhiteNoise's allow_all_origins=True default
    assert {WHITENOISE_OPTIONS[name]: value for name, value in theirs.items()} == ours  # same values
    assert [ast.dump(call) for call in calls(before, "add_files")] == [
        ast.dump(call) for call in calls(after, "add_files")
    ]
    hooks = [
        [argument.arg for argument in node.args.args]
        for tree in (before, after)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "add_headers"
    ]
    assert hooks == [["headers", "path", "url"], ["url", "path"]]

    from recipes.snippets.wsgistack_wsgi import application

    site = client(application)
    bundle = SNIPPETS / "bundle"
    for name in BUNDLE_ASSETS:
        asset = site.get(f"/static/assets/{name}")
        assert asset.body == (bundle / "assets" / name).read_bytes()
        assert asset.headers["Cache-Control"] == IMMUTABLE
        assert asset.headers["Access-Control-Allow-Origin"] == "*"
        assert "X-Frame-Options" not in asset.headers
        site.get(f"/static/assets/{name}", headers={"If-None-Match": asset.headers["ETag"]}, status=304)
    index = site.get("/static/")
    assert index.body == (bundle / "index.html").read_bytes()
    assert index.headers["Cache-Control"] == "public, max-age=3600"
    assert index.headers["X-Frame-Options"] == "DENY"
    assert site.get("/static", status=302).headers["Location"] == "static/"
    readme = site.get("/readme.txt")  # add_files(..., prefix="/")
    assert readme.body == (SNIPPETS / "public" / "readme.txt").read_bytes()
    assert readme.headers["Cache-Control"] == "public, max-age=3600"
    assert site.get("/other").text.startswith("site ")
