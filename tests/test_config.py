"""wsgistack.load(): the PasteDeploy INI format (each section kind, URI form, interpolation rule) and TOML."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import webtest
from hypothesis import given
from hypothesis import strategies as st

import wsgistack
from wsgistack import ConfigError, ConfigWarning
from wsgistack.config import IniFile, describe
from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment, plain_response

ROOT = Path(__file__).resolve().parent.parent
SEEN: list[tuple[str, dict[str, Any], dict[str, Any]]] = []


# --- factories named by the files below (call:tests.test_config:…, paste.*_factory = …) ----------------


def text_app(text: str) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = f"{text} {environ.get('SCRIPT_NAME', '')}|{environ.get('PATH_INFO', '')}"
        return plain_response(environ, start_response, "200 OK", body)

    return app


def make_app(global_conf: dict[str, Any], **local_conf: Any) -> WSGIApplication:
    SEEN.append(("app", dict(global_conf), dict(local_conf)))
    return text_app(str(local_conf.get("text", "app")))


def strict_app(global_conf: dict[str, Any], *, text: str = "strict") -> WSGIApplication:
    return text_app(text)


def failing_app(global_conf: dict[str, Any], **local_conf: Any) -> WSGIApplication:
    raise KeyError("database_url")


def make_filter(
    global_conf: dict[str, Any], **local_conf: Any
) -> Callable[[WSGIApplication], WSGIApplication]:
    SEEN.append(("filter", dict(global_conf), dict(local_conf)))
    tag = str(local_conf.get("tag", "f"))

    def wrap(app: WSGIApplication) -> WSGIApplication:
        return Tag(app, tag=tag)

    return wrap


def make_filter_app(app: WSGIApplication, global_conf: dict[str, Any], **local_conf: Any) -> WSGIApplication:
    return make_filter(global_conf, **local_conf)(app)


def make_composite(loader: Any, global_conf: dict[str, Any], **local_conf: Any) -> WSGIApplication:
    first = loader.get_filter(local_conf["filter"])
    app: WSGIApplication = first(loader.get_app(local_conf["app"]))
    return app


# --- helpers -----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _clear_seen() -> Iterator[None]:
    SEEN.clear()
    yield
    SEEN.clear()


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def body(app: WSGIApplication, path: str = "/", **environ: str) -> str:
    response = webtest.TestApp(app).get(path, extra_environ=environ)
    return response.text


def error(config: Path | str, name: str = "main", **kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        wsgistack.load(config, name, **kwargs)
    return caught.value


def where(exc: ConfigError) -> tuple[str | None, int | None, str | None, str | None]:
    return exc.file, exc.line, exc.section, exc.key


# --- section kinds -----------------------------------------------------------------------------------


def test_app_and_application_sections(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.ini",
        """
        [app:main]
        use = call:tests.test_config:make_app
        text = hello

        [application:other]
        paste.app_factory = tests.test_config:make_app
        text = other
    """,
    )
    assert body(wsgistack.load(path)) == "hello |/"
    assert body(wsgistack.load(path, "other")) == "other |/"
    assert SEEN[0][2] == {"text": "hello"}
    assert SEEN[0][1] == {"here": str(tmp_path), "__file__": str(path)}


def test_pipeline_outermost_first_with_filter_kinds(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.ini",
        """
        [pipeline:main]
        pipeline =
            outer
            middle
            egg:wsgistack#request_id
            inner
            app

        [filter:outer]
        paste.filter_factory = tests.test_config:make_filter
        tag = outer

        [filter:middle]
        use = call:tests.test_config:make_filter
        tag = middle

        [filter:inner]
        paste.filter_app_factory = tests.test_config:make_filter_app
        tag = inner

        [app:app]
        use = call:tests.test_config:make_app
    """,
    )
    app = wsgistack.load(path)
    assert body(app) == "outer(middle(inner(app |/)))"
    assert webtest.TestApp(app).get("/").headers["X-Request-ID"]
    assert [kind for kind, _, _ in SEEN] == ["app", "filter", "filter", "filter"]  # app first, as PasteDeploy


def test_filter_app_with_next(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "fa.ini",
        """
        [filter-app:main]
        use = call:tests.test_config:make_filter
        tag = wrapped
        next = real

        [app:real]
        use = call:tests.test_config:make_app
        text = real
    """,
    )
    assert body(wsgistack.load(path)) == "wrapped(real |/)"


def test_filter_with_on_an_app_and_on_a_filter(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "fw.ini",
        """
        [app:main]
        use = call:tests.test_config:make_app
        filter-with = first

        [filter:first]
        use = call:tests.test_config:make_filter
        tag = first
        filter-with = second

        [filter:second]
        use = call:tests.test_config:make_filter
        tag = second
    """,
    )
    # As PasteDeploy: a filter's own filter-with wraps it, so "second" ends up outermost.
    assert body(wsgistack.load(path)) == "second(first(app |/))"
    assert all("filter-with" not in local for _, _, local in SEEN)


def test_composite_gets_a_loader_for_apps_and_filters(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.ini",
        """
        [composite:main]
        paste.composite_factory = tests.test_config:make_composite
        filter = tagger
        app = leaf

        [filter:tagger]
        use = call:tests.test_config:make_filter
        tag = t

        [app:leaf]
        use = call:tests.test_config:make_app
        text = leaf
    """,
    )
    assert body(wsgistack.load(path)) == "t(leaf |/)"


def test_urlmap_composite_routes_and_moves_script_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "u.ini",
        """
        [composite:main]
        use = egg:wsgistack#urlmap
        / = root
        /api/ = api
        /api/v2: v2
        domain example.com /api = host_api

        [app:root]
        use = call:tests.test_config:make_app
        text = root

        [app:api]
        use = call:tests.test_config:make_app
        text = api

        [app:v2]
        use = call:tests.test_config:make_app
        text = v2

        [app:host_api]
        use = call:tests.test_config:make_app
        text = host
    """,
    )
    app = wsgistack.load(path)
    assert body(app, "/api/x") == "api /api|/x"
    assert body(app, "/api") == "api /api|"
    assert body(app, "/apix") == "root |/apix"
    assert body(app, "/api/v2/y") == "v2 /api/v2|/y"
    assert body(app, "/api/x", HTTP_HOST="example.com") == "host /api|/x"
    assert body(app, "/other", HTTP_HOST="example.com") == "root |/other"
    assert describe(path).splitlines()[3:5] == [
        "├── /api/v2 → call:tests.test_config:make_app(text='v2')  [app:v2]",
        "└── domain example.com /api → call:tests.test_config:make_app(text='host')  [app:host_api]",
    ]


def test_use_of_another_section_merges_local_options(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "u.ini",
        """
        [app:base]
        use = call:tests.test_config:make_app
        text = base
        colour = blue

        [app:main]
        use = base
        text = derived
    """,
    )
    assert body(wsgistack.load(path)) == "derived |/"
    assert SEEN[-1][2] == {"text": "derived", "colour": "blue"}


def test_config_uri_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    write(
        tmp_path / "shared",
        "base.ini",
        """
        [DEFAULT]
        region = eu

        [app:api]
        use = call:tests.test_config:make_app
        text = %(region)s from %(here)s
    """,
    )
    path = write(
        tmp_path,
        "site.ini",
        """
        [app:main]
        use = config:shared/base.ini#api
    """,
    )
    assert body(wsgistack.load(path)) == f"eu from {tmp_path / 'shared'} |/"
    # As PasteDeploy: __file__ is the using file's; [DEFAULT] of the used file is global.
    assert SEEN[-1][1]["__file__"] == str(path)
    assert SEEN[-1][1]["region"] == "eu"


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(lambda p: p, id="Path"),
        pytest.param(lambda p: str(p), id="str"),
        pytest.param(lambda p: f"config:{p}", id="config-uri"),
        pytest.param(lambda p: f"config:{p}#other", id="config-uri-fragment"),
        pytest.param(lambda p: f"{p}#other", id="path-fragment"),
    ],
)
def test_uri_forms(tmp_path: Path, form: Callable[[Path], Any]) -> None:
    path = write(
        tmp_path,
        "forms.ini",
        """
        [app:main]
        use = call:tests.test_config:make_app
        text = main

        [app:other]
        use = call:tests.test_config:make_app
        text = other
    """,
    )
    target = form(path)
    expected = "other" if "#" in str(target) else "main"
    assert body(wsgistack.load(target)) == f"{expected} |/"


def test_egg_and_call_uris_without_a_file() -> None:
    assert "wsgistack demo" in body(wsgistack.load("egg:wsgistack#demo"))
    assert body(wsgistack.load("call:tests.test_config:make_app")) == "app |/"


def test_relative_config_uri_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "rel.ini", "[app:main]\nuse = call:tests.test_config:make_app\n")
    monkeypatch.chdir(tmp_path)
    assert body(wsgistack.load("config:rel.ini")) == "app |/"


# --- interpolation, DEFAULT, set/get -----------------------------------------------------------------


def test_interpolation_here_file_defaults_and_literal_percent(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "i.ini",
        """
        [DEFAULT]
        domain = example.org
        media = media.%(domain)s

        [app:main]
        use = call:tests.test_config:make_app
        db = sqlite:///%(here)s/app.db
        me = %(__file__)s
        url = https://%(media)s/x
        rate = 100%%
        self = %(db)s?x
    """,
    )
    wsgistack.load(path)
    _, global_conf, local = SEEN[-1]
    assert local == {
        "db": f"sqlite:///{tmp_path}/app.db",
        "me": str(path),
        "url": "https://media.example.org/x",
        "rate": "100%",
        "self": f"sqlite:///{tmp_path}/app.db?x",
    }
    assert global_conf["media"] == "media.example.org"


def test_global_conf_reaches_factories_but_default_wins_interpolation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "g.ini",
        """
        [DEFAULT]
        port = 80

        [app:main]
        use = call:tests.test_config:make_app
        url = http://host:%(port)s/
        extra = %(extra_global)s
    """,
    )
    wsgistack.load(path, global_conf={"port": "8080", "extra_global": "yes"})
    _, global_conf, local = SEEN[-1]
    assert global_conf["port"] == "8080"  # PasteDeploy: global_conf overrides the dict …
    assert local == {"url": "http://host:80/", "extra": "yes"}  # … but not [DEFAULT] in interpolation


def test_set_and_get(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.ini",
        """
        [DEFAULT]
        debug = false
        db = sqlite://

        [app:main]
        use = call:tests.test_config:make_app
        set debug = true
        get database = db
    """,
    )
    wsgistack.load(path)
    _, global_conf, local = SEEN[-1]
    assert global_conf["debug"] == "true"
    assert local == {"database": "sqlite://"}


def test_default_shadows_local_with_a_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "w.ini",
        """
        [DEFAULT]
        debug = false

        [app:main]
        use = call:tests.test_config:make_app
        debug = true
    """,
    )
    with pytest.warns(ConfigWarning) as record:
        wsgistack.load(path)
    (warning,) = record
    message = str(warning.message)
    assert f"{path}:6 [app:main] debug is ignored because [DEFAULT] also defines 'debug'" in message
    assert "set debug = …" in message
    _, global_conf, local = SEEN[-1]
    assert local == {}
    assert global_conf["debug"] == "false"


def test_shadowing_by_global_conf_warns_too(tmp_path: Path) -> None:
    path = write(tmp_path, "w.ini", "[app:main]\nuse = call:tests.test_config:make_app\nmode = local\n")
    with pytest.warns(ConfigWarning, match="the global configuration passed to the loader"):
        wsgistack.load(path, global_conf={"mode": "global"})
    assert SEEN[-1][2] == {}


def test_interpolation_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "e.ini",
        """
        [app:main]
        use = call:tests.test_config:make_app
        home = %(HOME)s

        [app:syntax]
        use = call:tests.test_config:make_app
        rate = 100%

        [app:loop]
        use = call:tests.test_config:make_app
        a = %(b)s
        b = %(a)s
    """,
    )
    missing = error(path)
    assert where(missing) == (str(path), 3, "app:main", "home")
    assert "%(HOME)s refers to an undefined name; defined here: __file__, here, home, use" in str(missing)
    syntax = error(path, "syntax")
    assert where(syntax) == (str(path), 7, "app:syntax", "rate")
    assert "write %% for a literal %" in str(syntax)
    loop = error(path, "loop")
    assert where(loop)[2:] == ("app:loop", "a")
    assert "nested deeper than 10 levels" in str(loop)


def test_interpolation_reads_no_environment_and_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "s3cret")
    path = write(
        tmp_path,
        "env.ini",
        """
        [app:main]
        use = call:tests.test_config:make_app
        a = ${SECRET_TOKEN}
        b = $SECRET_TOKEN
    """,
    )
    wsgistack.load(path)
    assert SEEN[-1][2] == {"a": "${SECRET_TOKEN}", "b": "$SECRET_TOKEN"}
    assert "s3cret" not in str(error(write(tmp_path, "x.ini", "[app:main]\nuse = x\nv = %(SECRET_TOKEN)s\n")))


def test_a_non_ini_file_named_by_config_is_not_echoed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:" + "A" * 200 + "\n")
    path = write(tmp_path, "s.ini", "[app:main]\nuse = config:secret.txt\n")
    exc = error(path)
    assert exc.file == str(secret)
    assert exc.line == 1
    assert "A" * 80 not in str(exc)


# --- INI syntax --------------------------------------------------------------------------------------


def test_syntax_as_configparser(tmp_path: Path) -> None:
    ini = IniFile(
        "x.ini",
        textwrap.dedent("""
        # comment
        [app:main]
        ; another
        key = value with # no inline comment
        colon: value
        multi =
            one

            two
        # a comment inside the value
            three
        empty =
        CaseSensitive = yes
        """),
    )
    entries = ini.sections["app:main"].entries
    assert {k: e.value for k, e in entries.items()} == {
        "key": "value with # no inline comment",
        "colon": "value",
        "multi": "\none\n\ntwo\nthree",
        "empty": "",
        "CaseSensitive": "yes",
    }
    assert entries["multi"].line == 7


def test_duplicate_keys_in_our_sections_name_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.ini",
        """
        [app:main]
        use = call:tests.test_config:make_app
        text = one
        text = two
    """,
    )
    exc = error(path)
    assert where(exc) == (str(path), 4, "app:main", "text")
    assert "key 'text' is set twice (lines 3 and 4)" in str(exc)


def test_duplicate_sections_name_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "d.ini", "[app:main]\nuse = x\n[app:main]\nuse = y\n")
    exc = error(path)
    assert where(exc)[:3] == (str(path), 3, "app:main")
    assert "appears twice (lines 1 and 3)" in str(exc)


def test_foreign_sections_may_repeat_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "uwsgi.ini",
        """
        [uwsgi]
        http = :8080
        env = A=1
        env = B=2
        not a key value line

        [server:main]
        port = %(undefined)s
        port = 1

        [app:main]
        use = call:tests.test_config:make_app
    """,
    )
    assert body(wsgistack.load(path)) == "app |/"


def test_text_before_any_section(tmp_path: Path) -> None:
    exc = error(write(tmp_path, "n.ini", "key = value\n[app:main]\n"))
    assert exc.line == 1
    assert "comes before any [section] header" in str(exc)


def test_line_that_is_not_key_value(tmp_path: Path) -> None:
    exc = error(write(tmp_path, "n.ini", "[app:main]\nuse = x\njust words\n"))
    assert where(exc)[1:3] == (3, "app:main")
    assert "is not 'key = value'" in str(exc)


# --- errors name the file, the section and the key -------------------------------------------------


def test_missing_file() -> None:
    exc = error("/nonexistent/site.ini")
    assert "configuration file '/nonexistent/site.ini' does not exist" in str(exc)


def test_missing_section_lists_what_is_there_and_case(tmp_path: Path) -> None:
    path = write(tmp_path, "m.ini", "[app:Main]\nuse = x\n[filter:f]\nuse = y\n")
    exc = error(path)
    assert exc.file == str(path)
    assert "no app called 'main'" in str(exc)
    assert "did you mean [app:Main]? (names are case-sensitive)" in str(exc)
    assert "apps there: [app:Main]" in str(exc)


def test_unknown_filter_in_a_pipeline(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.ini",
        "[pipeline:main]\npipeline = nosuch app\n[app:app]\nuse = call:tests.test_config:make_app\n",
    )
    exc = error(path)
    assert where(exc) == (str(path), 2, "pipeline:main", "pipeline")
    assert "no filter called 'nosuch'" in str(exc)


def test_unknown_option_of_our_filter_names_accepted_options_and_types(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "o.ini",
        """
        [filter-app:main]
        use = egg:wsgistack#body_limit
        max_byte = 10MB
        next = app

        [app:app]
        use = call:tests.test_config:make_app
    """,
    )
    exc = error(path)
    assert where(exc) == (str(path), 3, "filter-app:main", "max_byte")
    message = str(exc)
    assert "body_limit has no option 'max_byte' (did you mean 'max_bytes'?)" in message
    assert "max_bytes (size)" in message
    assert "assume_terminated (bool)" in message


def test_bad_value_names_key_and_expected_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "v.ini",
        """
        [filter:errs]
        use = egg:wsgistack#errors
        debug = maybe

        [pipeline:main]
        pipeline = errs app

        [app:app]
        use = call:tests.test_config:make_app
    """,
    )
    exc = error(path)
    assert where(exc) == (str(path), 3, "filter:errs", "debug")
    assert "'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)" in str(exc)


def test_middleware_validation_error_is_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "h.ini",
        """
        [filter-app:main]
        use = egg:wsgistack#request_id
        header = Bad Header
        next = app

        [app:app]
        use = call:tests.test_config:make_app
    """,
    )
    exc = error(path)
    assert where(exc) == (str(path), 3, "filter-app:main", "header")
    assert "request_id: header:" in str(exc)


@pytest.mark.parametrize(
    ("use", "expected"),
    [
        pytest.param(
            "call:tests.nosuchmodule:make", "cannot import module 'tests.nosuchmodule'", id="module"
        ),
        pytest.param(
            "call:tests.test_config:nosuch", "'tests.test_config' has no attribute 'nosuch'", id="attribute"
        ),
        pytest.param("call:nocolon", "is not call:module:object", id="call-syntax"),
        pytest.param("ftp:thing", "unknown URI scheme 'ftp'", id="scheme"),
        pytest.param(
            "egg:NoSuchDistXyz#main", "distribution 'NoSuchDistXyz' is not installed", id="egg-missing"
        ),
        pytest.param(
            "egg:wsgistack#nosuch",
            "has no app entry point 'nosuch'; it offers: demo, static, urlmap",
            id="egg-entry-point",
        ),
        pytest.param(
            "egg:wsgistack#compress",
            "'compress' is in paste.filter_app_factory, so it is not an app",
            id="egg-filter-as-app",
        ),
        pytest.param("config:missing.ini", "does not exist", id="config-missing"),
    ],
)
def test_bad_use_values(tmp_path: Path, use: str, expected: str) -> None:
    path = write(tmp_path, "u.ini", f"[app:main]\nuse = {use}\n")
    exc = error(path)
    assert where(exc)[2:] == ("app:main", "use")
    assert exc.file in (str(path), str(tmp_path / "missing.ini"))
    assert expected in str(exc)


def test_third_party_factory_with_an_unknown_option(tmp_path: Path) -> None:
    path = write(tmp_path, "t.ini", "[app:main]\npaste.app_factory = tests.test_config:strict_app\ntxt = x\n")
    exc = error(path)
    assert where(exc) == (str(path), 3, "app:main", "txt")
    assert "tests.test_config:strict_app does not accept option 'txt'; it accepts: text" in str(exc)


def test_factory_exception_is_wrapped_with_its_section(tmp_path: Path) -> None:
    path = write(tmp_path, "f.ini", "[app:main]\nuse = call:tests.test_config:failing_app\n")
    exc = error(path)
    assert where(exc)[2] == "app:main"
    assert "call:tests.test_config:failing_app failed: KeyError: 'database_url'" in str(exc)
    assert isinstance(exc.__cause__, KeyError)


def test_structure_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.ini",
        """
        [filter-app:nonext]
        use = egg:wsgistack#errors

        [pipeline:extra]
        pipeline = app
        debug = true

        [pipeline:empty]
        pipeline =

        [app:app]
        use = call:tests.test_config:make_app

        [app:both]
        use = call:tests.test_config:make_app
        [pipeline:both]
        pipeline = app

        [app:nothing]
        text = hi

        [app:twoprotocols]
        paste.app_factory = tests.test_config:make_app
        paste.composite_factory = tests.test_config:make_composite
    """,
    )
    assert "needs 'next = <app name>'" in str(e := error(path, "nonext"))
    assert e.key == "next"
    assert "takes only 'pipeline'" in str(e := error(path, "extra"))
    assert e.key == "debug"
    assert "the pipeline is empty" in str(error(path, "empty"))
    assert "'both' is ambiguous" in str(e := error(path, "both"))
    assert "[app:both] (line 14)" in str(e)
    assert "nothing to load" in str(e := error(path, "nothing"))
    assert e.section == "app:nothing"
    assert "more than one factory given" in str(error(path, "twoprotocols"))


def test_missing_global_for_get(tmp_path: Path) -> None:
    path = write(tmp_path, "g.ini", "[app:main]\nuse = call:tests.test_config:make_app\nget db = nosuch\n")
    exc = error(path)
    assert where(exc) == (str(path), 3, "app:main", "get db")
    assert "there is no global 'nosuch'" in str(exc)


def test_require_names_the_missing_distribution(tmp_path: Path) -> None:
    path = write(
        tmp_path, "r.ini", "[app:main]\nuse = call:tests.test_config:make_app\nrequire = NoSuchDistAbc\n"
    )
    exc = error(path)
    assert where(exc) == (str(path), 3, "app:main", "require")
    assert "distribution 'NoSuchDistAbc' is not installed" in str(exc)


def test_filter_is_not_an_app(tmp_path: Path) -> None:
    path = write(tmp_path, "f.ini", "[filter:main]\nuse = egg:wsgistack#errors\n")
    assert "no app called 'main'" in str(error(path))


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"a.ini": "[app:main]\nuse = main\n"}, id="use-itself"),
        pytest.param({"a.ini": "[app:main]\nuse = other\n[app:other]\nuse = main\n"}, id="use-loop"),
        pytest.param(
            {"a.ini": "[app:main]\nuse = config:b.ini\n", "b.ini": "[app:main]\nuse = config:a.ini\n"},
            id="config-files",
        ),
        pytest.param(
            {"a.ini": "[pipeline:main]\npipeline = f main\n[filter:f]\nuse = egg:wsgistack#errors\n"},
            id="pipeline",
        ),
        pytest.param({"a.ini": "[composite:main]\nuse = egg:wsgistack#urlmap\n/ = main\n"}, id="urlmap"),
        pytest.param(
            {
                "a.ini": "[app:main]\nuse = call:tests.test_config:make_app\nfilter-with = f\n"
                "[filter:f]\nuse = egg:wsgistack#errors\nfilter-with = f\n"
            },
            id="filter-with",
        ),
    ],
)
def test_cycles_are_detected(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    exc = error(tmp_path / "a.ini")
    assert "configuration refers to itself" in str(exc)
    assert exc.file is not None
    assert exc.section is not None


def test_name_and_fragment_conflict(tmp_path: Path) -> None:
    assert "give one" in str(error(f"{tmp_path}/x.ini#api", "other"))


# --- TOML --------------------------------------------------------------------------------------------


def test_toml_layers_in_order_with_typed_options(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "wsgistack.toml",
        """
        app = "tests.test_config:toml_app"

        [[layer]]
        use = "wsgistack.request_id:RequestID"
        header = "X-Trace"

        [[layer]]
        use = "tests.test_config:Tag"
        tag = "outer"

        [[layer]]
        use = "body_limit"
        max_bytes = "1KiB"
    """,
    )
    app = wsgistack.load(path)
    response = webtest.TestApp(app).get("/")
    assert response.text == "outer(toml)"
    assert response.headers["X-Trace"]
    assert webtest.TestApp(app).post("/", "x" * 2000, status=413).status_code == 413
    assert describe(path).splitlines() == [
        "request_id(header='X-Trace')",
        "└── Tag(tag='outer')",
        "    └── body_limit(max_bytes=1024)",
        "        └── tests.test_config:toml_app",
    ]


def test_toml_table_values_take_units_like_top_level_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "wsgistack.toml",
        """
        app = "tests.test_config:toml_app"

        [[layer]]
        use = "body_limit"
        max_bytes = "1KiB"
        limits = { "/upload" = "2KiB", "/big" = 4096 }
    """,
    )
    assert (
        describe(path).splitlines()[0] == "body_limit(max_bytes=1024, limits={'/upload': 2048, '/big': 4096})"
    )
    app = webtest.TestApp(wsgistack.load(path))
    assert app.post("/upload/x", "x" * 1500).text == "toml"
    assert app.post("/other", "x" * 1500, status=413).status_code == 413
    bad = write(tmp_path, "bad.toml", 'app = "tests.test_config:toml_app"\n[[layer]]\nuse = "body_limit"\n'
                'max_bytes = 1\nlimits = { "/u" = "lots" }\n')  # fmt: skip
    exc = error(bad)
    assert exc.file == str(bad)
    assert exc.key == "limits"
    assert "'lots'" in str(exc)


def toml_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    environ["wsgi.input"].read()
    return plain_response(environ, start_response, "200 OK", "toml")


class Tag:
    def __init__(self, app: WSGIApplication, *, tag: str = "t") -> None:
        self.app, self.tag = app, tag

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(
                status, [(k, v) for k, v in headers if k.lower() != "content-length"], exc_info
            )

        body = self.app(environ, start)
        try:
            return [f"{self.tag}(".encode(), *body, b")"]
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()  # PEP 3333: the iterable the app returned is always closed


def test_pyproject_tool_table(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "site"

        [tool.wsgistack]
        app = "tests.test_config:toml_app"

        [[tool.wsgistack.layer]]
        use = "errors"
        debug = true
    """,
    )
    assert body(wsgistack.load(path)) == "toml"
    assert "CatchErrors(debug=True)" in describe(path) or "errors(debug=True)" in describe(path)


@pytest.mark.parametrize(
    ("text", "section", "key", "line", "expected"),
    [
        pytest.param(
            'app = "tests.test_config:toml_app"\n[[layer]]\nuse = "errors"\ndebgu = true\n',
            "[layer] #1 (errors)",
            "debgu",
            4,
            "did you mean 'debug'?",
            id="typo",
        ),
        pytest.param(
            'app = "tests.test_config:toml_app"\n[[layer]]\nuse = "errors"\ndebug = "yes please"\n',
            "[layer] #1 (errors)",
            "debug",
            4,
            "is not a boolean",
            id="bad-string",
        ),
        pytest.param(
            'app = "tests.test_config:toml_app"\n[[layer]]\nuse = "body_limit"\nmax_bytes = true\n',
            "[layer] #1 (body_limit)",
            "max_bytes",
            4,
            "bool True is not a size",
            id="bad-native",
        ),
        pytest.param(
            'app = "tests.test_config:toml_app"\n[[layer]]\nuse = "errors"\n[[layer]]\nuse = "compres"\n',
            "[layer] #2 (compres)",
            "use",
            5,
            "unknown layer 'compres' (did you mean 'compress'?)",
            id="unknown-layer",
        ),
        pytest.param(
            'app = "tests.test_config:toml_app"\n[[layer]]\ndebug = true\n',
            "[layer] #1",
            "use",
            2,
            "each [[layer]] needs use",
            id="no-use",
        ),
        pytest.param(
            '[[layer]]\nuse = "errors"\n',
            "top level",
            "app",
            None,
            'needs app = "module:object"',
            id="no-app",
        ),
        pytest.param(
            'app = "tests.test_config:toml_app"\nlayers = []\n',
            "top level",
            "layers",
            None,
            "unknown key",
            id="unknown-key",
        ),
        pytest.param(
            'app = "tests.nosuch:app"\n', "top level", "app", None, "cannot import module", id="import"
        ),
    ],
)
def test_toml_errors(
    tmp_path: Path, text: str, section: str, key: str, line: int | None, expected: str
) -> None:
    path = tmp_path / "wsgistack.toml"
    path.write_text(text)
    exc = error(path)
    assert where(exc) == (str(path), line, section, key)
    assert expected in str(exc)


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "wsgistack.toml"
    path.write_text("app = \n")
    assert "not valid TOML" in str(e := error(path))
    assert e.file == str(path)


# --- the demo, import cost, entry points -------------------------------------------------------------


def test_demo_ini_describes_the_recommended_stack() -> None:
    diagram = describe(ROOT / "recipes" / "demo.ini")
    lines = diagram.splitlines()
    assert lines[0].startswith("RequestID(header='X-Request-ID')") or lines[0].startswith("request_id(")
    order = ["request_id", "access_log", "errors", "body_limit", "compress", "static", "app:demo"]
    positions = [diagram.index(f"[{'filter:' if n != 'app:demo' else ''}{n}]") for n in order]
    assert positions == sorted(positions)
    assert "max_bytes=1048576" in diagram
    assert "max_age=3600" in diagram


def test_import_is_light() -> None:
    code = (
        "import sys, wsgistack; print(sorted(m for m in ('importlib.metadata', 'configparser', 'tomllib', "
        "'wsgistack.paste', 'wsgistack.urlmap', 'logging.config') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_entry_point_lookup_agrees_with_importlib_metadata() -> None:
    import importlib.metadata

    from wsgistack.config import _entry_points

    ours = _entry_points("wsgistack", None)
    theirs: dict[str, dict[str, str]] = {}
    for point in importlib.metadata.distribution("wsgistack").entry_points:
        theirs.setdefault(point.group, {})[point.name] = point.value
    assert ours == theirs
    assert _entry_points("PasteDeploy", None) == _entry_points("pastedeploy", None)


def test_every_registered_middleware_has_a_paste_entry_point() -> None:
    from wsgistack.config import _entry_points, _import_object
    from wsgistack.paste import FilterFactory

    filters = _entry_points("wsgistack", None)["paste.filter_app_factory"]
    for name, registration in wsgistack.REGISTRY.items():
        factory = _import_object(filters[name], None)
        assert isinstance(factory, FilterFactory)
        assert factory.middleware() is registration.factory


def test_config_error_is_a_value_error_with_parts() -> None:
    exc = ConfigError("bad", file=os.path.join("etc", "x.ini"), line=3, section="app:main", key="k")
    assert isinstance(exc, ValueError)
    assert str(exc) == f"{os.path.join('etc', 'x.ini')}:3 [app:main] k: bad"
    assert str(ConfigError("plain")) == "plain"


class Factories:
    @staticmethod
    def app(global_conf: dict[str, Any], **local_conf: Any) -> WSGIApplication:
        return text_app("static method")


def test_call_with_a_dotted_attribute_and_in_a_filter_app(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.ini",
        """
        [filter-app:main]
        use = call:tests.test_config:make_filter
        tag = fa
        next = real

        [app:real]
        use = call:tests.test_config:Factories.app
    """,
    )
    assert body(wsgistack.load(path)) == "fa(static method |/)"


def test_filter_with_on_a_pipeline_wraps_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.ini",
        """
        [pipeline:main]
        pipeline = inner app
        filter-with = outer

        [filter:inner]
        use = call:tests.test_config:make_filter
        tag = inner

        [filter:outer]
        use = call:tests.test_config:make_filter
        tag = outer

        [app:app]
        use = call:tests.test_config:make_app
    """,
    )
    assert body(wsgistack.load(path)) == "outer(inner(app |/))"


def test_the_warning_points_at_the_caller(tmp_path: Path) -> None:
    path = write(
        tmp_path, "w.ini", "[DEFAULT]\nx = 1\n[app:main]\nuse = call:tests.test_config:make_app\nx = 2\n"
    )
    with pytest.warns(ConfigWarning) as record:
        wsgistack.load(path)
    assert record[0].filename == __file__


keys = st.sampled_from(["a", "b", "key", "Key", "x.y", "set z"])
plain = st.text(alphabet="abc xyz/=:%()-_.#;", max_size=12).map(lambda text: text.replace("%", "%%"))


@st.composite
def ini_texts(draw: st.DrawFn) -> str:
    lines = []
    for number in range(draw(st.integers(1, 3))):
        lines.append(f"[app:s{number}]")
        for key in draw(st.lists(keys, unique=True, max_size=4)):
            lines.append(f"{key}{draw(st.sampled_from([' = ', '=', ': ', ' : ']))}{draw(plain).strip()}")
            followers = st.sampled_from(["", "# comment", "; comment", "    more", "\tindented #x"])
            lines.extend(draw(st.lists(followers, max_size=3)))
        lines.append(draw(st.sampled_from(["", "# trailing comment"])))
    return "\n".join(lines) + "\n"


@given(text=ini_texts())
def test_the_parser_reads_what_configparser_reads(text: str) -> None:
    import configparser

    reference = configparser.ConfigParser(interpolation=None, strict=True)
    reference.optionxform = str  # type: ignore[assignment,method-assign]
    reference.read_string(text)
    ours = IniFile("t.ini", text)
    assert list(ours.sections) == reference.sections()
    for name, section in ours.sections.items():
        assert {key: entry.value for key, entry in section.entries.items()} == dict(reference[name])
