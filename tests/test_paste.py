"""wsgistack.paste: string options converted by signature, Paste's aliases, and PasteDeploy compatibility."""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import webob
import webtest
from hypothesis import given
from hypothesis import strategies as st
from paste.deploy import loadapp

import wsgistack
from wsgistack import ConfigError
from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment, plain_response
from wsgistack.paste import (
    FilterFactory,
    access_log,
    asbool,
    asduration,
    asint,
    aslist,
    assize,
    body_limit,
    compress,
    convert_options,
    error_catcher,
    errors,
    request_id,
    static,
    static_app,
    translogger,
)
from wsgistack.paste import gzip as gzip_alias

FILES = Path(__file__).parent / "config_files"
ROOT = Path(__file__).resolve().parent.parent


def paste_era_app(global_conf: dict[str, Any], **local_conf: Any) -> WSGIApplication:
    """The app of ``config_files/paste_era.ini``: a compressible page, and /boom raises."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("boom")
        return plain_response(environ, start_response, "200 OK", "paste era " * 100)

    return app


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    return plain_response(environ, start_response, "200 OK", "hello " * 100)


# --- converters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *(pytest.param(t, True, id=f"true-{t}") for t in ("true", "Yes", "ON", "y", "t", "1", " true ")),
        *(pytest.param(t, False, id=f"false-{t}") for t in ("false", "No", "off", "n", "F", "0")),
    ],
)
def test_asbool(text: str, expected: bool) -> None:
    assert asbool(text) is expected


@pytest.mark.parametrize("text", ["", "maybe", "2", "truee"])
def test_asbool_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a boolean"):
        asbool(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("512", 512, id="plain"),
        pytest.param("10MB", 10_000_000, id="MB"),
        pytest.param("512KiB", 524_288, id="KiB"),
        pytest.param("1.5 GB", 1_500_000_000, id="fraction-space"),
        pytest.param("2mib", 2 * 2**20, id="lower-case"),
        pytest.param("7b", 7, id="bytes"),
    ],
)
def test_assize(text: str, expected: int) -> None:
    assert assize(text) == expected


@pytest.mark.parametrize("text", ["10M", "ten", "1.5B", "-1KB", "", "10 MBs"])
def test_assize_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|whole number"):
        assize(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("30", 30, id="plain"),
        pytest.param("30s", 30, id="s"),
        pytest.param("5m", 300, id="m"),
        pytest.param("1h30m", 5400, id="compound"),
        pytest.param("1.5h", 5400, id="fraction"),
        pytest.param("500ms", 0.5, id="ms"),
        pytest.param("2d", 172_800, id="d"),
        pytest.param("1w", 604_800, id="w"),
    ],
)
def test_asduration(text: str, expected: float) -> None:
    assert asduration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "1h30", "5x", "h"])
def test_asduration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        asduration(text)


@given(
    number=st.integers(min_value=0, max_value=10**6),
    unit=st.sampled_from(["B", "KB", "MB", "KiB", "MiB", "GiB"]),
)
def test_assize_units(number: int, unit: str) -> None:
    factor = {"B": 1, "KB": 1000, "MB": 10**6, "KiB": 1024, "MiB": 2**20, "GiB": 2**30}[unit]
    assert assize(f"{number}{unit}") == number * factor
    assert assize(f"{number} {unit.lower()}") == number * factor


@given(hours=st.integers(0, 100), minutes=st.integers(0, 59), seconds=st.integers(0, 59))
def test_asduration_compound(hours: int, minutes: int, seconds: int) -> None:
    assert asduration(f"{hours}h{minutes}m{seconds}s") == hours * 3600 + minutes * 60 + seconds


def test_asint_and_aslist() -> None:
    assert asint(" 42 ") == 42
    assert asint("1h", "max_age") == 3600
    assert asint("1KiB", "minimum_size") == 1024
    with pytest.raises(ValueError, match="not a whole number of seconds"):
        asint("1500ms", "max_age")
    with pytest.raises(ValueError, match="is not an integer"):
        asint("1KiB", "level")
    assert aslist("a b,c\n d ,") == ["a", "b", "c", "d"]


# --- conversion driven by the middleware signatures --------------------------------------------------


def layer_options(
    factory: FilterFactory, local: dict[str, str], global_conf: dict[str, str] | None = None
) -> dict[str, Any]:
    return factory.wsgistack_layer(global_conf or {"here": "/srv/site"}, local).options


def test_static_options() -> None:
    options = layer_options(
        static,
        {
            "directory": "assets",
            "max_age": "1h",
            "index_file": "true",
            "allow_dotfiles": "no",
            "media_types": ".foo: text/x-foo\n.bar: text/x-bar",
            "other_methods": "pass",
            "cache_max_bytes": "16MiB",
            "charset": "none",
        },
    )
    assert options == {
        "directory": Path("/srv/site/assets"),
        "max_age": 3600,
        "index_file": True,
        "allow_dotfiles": False,
        "media_types": {".foo": "text/x-foo", ".bar": "text/x-bar"},
        "other_methods": "pass",
        "cache_max_bytes": 16 * 2**20,
        "charset": None,
    }
    assert (
        layer_options(static, {"directory": "/abs", "index_file": "index.htm"})["index_file"] == "index.htm"
    )


def test_compress_options() -> None:
    options = layer_options(
        compress,
        {
            "minimum_size": "1KB",
            "encodings": "br, gzip",
            "gzip_level": "9",
            "statuses": "200 203",
            "etag": "suffix",
            "flush": "off",
            "opt_out_header": "none",
            "exclude_paths": "^/api/",
        },
    )
    assert options == {
        "minimum_size": 1000,
        "encodings": ["br", "gzip"],
        "gzip_level": 9,
        "statuses": [200, 203],
        "etag": "suffix",
        "flush": False,
        "opt_out_header": None,
        "exclude_paths": "^/api/",
    }


def test_body_limit_access_log_request_id_errors_options() -> None:
    assert layer_options(body_limit, {"max_bytes": "10MB", "limits": "/upload: 1GiB\n/api: 64KiB"}) == {
        "max_bytes": 10_000_000,
        "limits": {"/upload": 2**30, "/api": 65536},
    }
    assert layer_options(
        access_log, {"level": "WARNING", "exclude_paths": "/health /metrics", "console": "yes"}
    ) == {"level": "WARNING", "exclude_paths": ["/health", "/metrics"], "console": True}
    assert layer_options(access_log, {"level": "30"}) == {"level": 30}
    generator = "tests.test_paste:make_id"
    assert layer_options(request_id, {"generator": generator, "trust_incoming": "false"}) == {
        "generator": make_id,
        "trust_incoming": False,
    }
    assert layer_options(
        errors, {"on_error": "tests.test_paste:hook", "error_app": "tests.test_paste:hello"}
    ) == {"on_error": hook, "error_app": hello}
    assert layer_options(errors, {"on_error": "tests.test_paste:hook tests.test_paste:hook"})["on_error"] == [
        hook,
        hook,
    ]


def make_id() -> str:
    return "fixed-id"


def hook(environ: WSGIEnvironment, exc_info: Any) -> None:
    pass


@pytest.mark.parametrize(
    ("factory", "local", "key", "message"),
    [
        pytest.param(compress, {"level": "9"}, "level", "compress has no option 'level'", id="unknown"),
        pytest.param(
            compress,
            {"gzip_level": "max"},
            "gzip_level",
            "'max' is not an integer; expected int | none",
            id="bad-int",
        ),
        pytest.param(
            compress, {"etag": "strong"}, "etag", "'strong' is not one of 'weak', 'suffix'", id="literal"
        ),
        pytest.param(
            static, {"directory": "x", "max_age": "forever"}, "max_age", "is not a duration", id="duration"
        ),
        pytest.param(
            request_id,
            {"generator": "tests.test_paste:nosuch"},
            "generator",
            "'tests.test_paste' has no attribute 'nosuch'",
            id="import",
        ),
        pytest.param(
            request_id,
            {"generator": "nocolon"},
            "generator",
            "is not a 'module:object' reference",
            id="reference",
        ),
        pytest.param(
            gzip_alias,
            {"compress_levl": "1"},
            "compress_levl",
            "did you mean 'compress_level'?",
            id="alias-typo",
        ),
    ],
)
def test_conversion_errors(factory: FilterFactory, local: dict[str, str], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        factory.wsgistack_layer({"here": "/srv"}, local)
    assert caught.value.key == key
    assert message in str(caught.value)


def test_unknown_option_lists_every_option_with_its_type() -> None:
    with pytest.raises(ConfigError) as caught:
        layer_options(gzip_alias, {"nope": "1"})
    message = str(caught.value)
    assert "compress_level (= gzip_level) (int | none)" in message
    assert "minimum_size (size)" in message
    assert "encodings (list of str | none)" in message


def test_convert_options_for_any_factory() -> None:
    def factory(
        app: WSGIApplication, *, ratio: float = 1.0, names: tuple[str, ...] = (), timeout: float = 1
    ) -> Any:
        return app

    assert convert_options("f", factory, {"ratio": "0.5", "names": "a b", "timeout": "1m"}) == {
        "ratio": 0.5,
        "names": ("a", "b"),
        "timeout": 60.0,
    }


# --- Paste aliases -----------------------------------------------------------------------------------


def test_gzip_alias_maps_compress_level() -> None:
    assert layer_options(gzip_alias, {"compress_level": "6"}) == {"gzip_level": 6}


def test_translogger_alias(caplog: pytest.LogCaptureFixture) -> None:
    options = layer_options(
        translogger,
        {
            "logger_name": "site.access",
            "logging_level": "WARNING",
            "setup_console_handler": "false",
            "format": "%(REQUEST_METHOD)s %(REQUEST_URI)s %(status)s",
            "time_format": "%Y",
        },
    )
    assert options == {
        "logger": "site.access",
        "level": "WARNING",
        "console": False,
        "format": "%(REQUEST_METHOD)s %(REQUEST_URI)s %(status)s",
        "time_format": "%Y",
    }
    assert layer_options(translogger, {})["logger"] == "wsgi"  # Paste's default logger name
    with caplog.at_level(logging.WARNING, logger="site.access"):
        webtest.TestApp(
            translogger(
                hello,
                {"here": "/"},
                logger_name="site.access",
                logging_level="WARNING",
                setup_console_handler="false",
                format="%(REQUEST_METHOD)s %(REQUEST_URI)s %(status)s",
            )
        ).get("/x?y=1")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("site.access", 30, "GET /x?y=1 200")
    ]


def test_translogger_console_handler_is_added_once(tmp_path: Path) -> None:
    logger = logging.getLogger("wsgistack.test.console")
    try:
        for _ in range(3):
            translogger(hello, {}, logger_name="wsgistack.test.console")
        assert len(logger.handlers) == 1
        assert logger.propagate is False
    finally:
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def test_error_catcher_reads_debug_from_global_conf_like_paste() -> None:
    assert layer_options(error_catcher, {}, {"debug": "true"}) == {"debug": True}
    assert layer_options(error_catcher, {"debug": "false"}, {"debug": "true"}) == {"debug": False}
    assert layer_options(errors, {}, {"debug": "true"}) == {}  # wsgistack's own name: only its own options
    assert layer_options(error_catcher, {"error_message": "Sorry"}) == {"message": "Sorry"}


@pytest.mark.parametrize("key", ["error_email", "smtp_server", "error_log", "show_exceptions_in_wsgi_errors"])
def test_error_catcher_explains_what_it_does_not_do(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        layer_options(error_catcher, {key: "x"})
    assert caught.value.key == key
    assert f"error_catcher: option {key!r} is not supported: " in str(caught.value)
    assert "wsgistack.errors" in str(caught.value)


def test_static_app_serves_document_root_and_404s(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hi there")
    app = webtest.TestApp(static_app({"here": str(tmp_path)}, document_root=".", cache_max_age="1h"))
    response = app.get("/hello.txt")
    assert response.text == "hi there"
    assert "max-age=3600" in response.headers["Cache-Control"]
    assert app.get("/missing.txt", status=404).status_code == 404
    with pytest.raises(ConfigError, match="'document_root' is required") as caught:
        static_app({})
    assert caught.value.key == "document_root"


def raw(app: WSGIApplication, path: str, **headers: str) -> webob.Response:
    """The response as sent (WebTest would decode a gzip body and drop Content-Encoding)."""
    fields = {name.replace("_", "-"): value for name, value in headers.items()}
    return webob.Request.blank(path, headers=fields).get_response(app)


def test_factories_are_paste_filter_app_factories() -> None:
    response = raw(compress(hello, {"here": "/"}, minimum_size="10"), "/", Accept_Encoding="gzip")
    assert response.headers["Content-Encoding"] == "gzip"
    assert repr(compress) == "<paste.filter_app_factory compress -> wsgistack.compress:Compress>"


# --- PasteDeploy, WebTest and the Paste-era migration -------------------------------------------------


@pytest.fixture
def quiet_access_log() -> Iterator[None]:
    logger = logging.getLogger("wsgistack.test.access")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # WebTest fails a request that writes to wsgi.errors; logs go elsewhere
    yield
    logger.setLevel(level)


@pytest.mark.usefixtures("quiet_access_log")
@pytest.mark.parametrize("loader", ["pastedeploy", "wsgistack", "webtest"])
def test_the_stack_loads_through_pastedeploy_webtest_and_wsgistack(loader: str) -> None:
    path = FILES / "stack.ini"
    if loader == "pastedeploy":
        client = webtest.TestApp(loadapp(f"config:{path}"))
    elif loader == "wsgistack":
        client = webtest.TestApp(wsgistack.load(path))
    else:
        client = webtest.TestApp("config:stack.ini", relative_to=str(FILES))
    page = raw(client.app, "/", Accept_Encoding="gzip")
    assert page.headers["Content-Encoding"] == "gzip"
    assert re.fullmatch(r"[0-9a-f]{24}", page.headers["X-Request-ID"])
    assert "wsgistack demo" in gzip.decompress(page.body).decode()
    css = client.get("/static/demo.css")
    assert css.headers["Cache-Control"] == "public, max-age=120"
    assert client.get("/boom", status=500).status_code == 500
    assert client.post("/upload", "x" * 2000, status=413).status_code == 413
    assert client.get("/stream").text.count("line ") == 3


@pytest.mark.parametrize("loader", ["pastedeploy", "wsgistack"])
def test_paste_era_ini_runs_after_the_egg_name_swap(
    loader: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "paste_era.ini"
    path.write_text((FILES / "paste_era.ini").read_text().replace("egg:Paste#", "egg:wsgistack#"))
    app = loadapp(f"config:{path}") if loader == "pastedeploy" else wsgistack.load(path)
    client = webtest.TestApp(app)
    with caplog.at_level(logging.WARNING, logger="paste_era.access"):
        page = raw(app, "/page", Accept_Encoding="gzip")
        error = client.get("/boom", status=500, expect_errors=True)
    assert page.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(page.body).decode().startswith("paste era")
    assert "Traceback" not in error.text  # debug = false
    lines = [r.getMessage() for r in caplog.records if r.name == "paste_era.access"]
    assert len(lines) == 2
    assert re.fullmatch(r'\S+ - - \[[^]]+\] "GET /page HTTP/1.0" 200 \d+', lines[0])
    assert lines[1].endswith('"GET /boom HTTP/1.0" 500 ' + str(len(error.body)))


def test_pastedeploy_errors_from_our_factories_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.ini"
    path.write_text(
        "[filter-app:main]\nuse = egg:wsgistack#compress\nminimum_size = big\nnext = app\n"
        "[app:app]\nuse = egg:wsgistack#demo\n"
    )
    with pytest.raises(ConfigError) as caught:
        loadapp(f"config:{path}")
    assert caught.value.key == "minimum_size"
    assert "compress: minimum_size = 'big': 'big' is not a size" in str(caught.value)
