"""URLMap: host mounts first, longest prefix, segment boundaries, trailing slashes, SCRIPT_NAME/PATH_INFO."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
import webtest
from hypothesis import given
from hypothesis import strategies as st
from paste.urlmap import URLMap as PasteURLMap

from wsgistack.core import StartResponse, WSGIApplication, WSGIEnvironment, plain_response
from wsgistack.urlmap import URLMap, parse_mount


def echo(name: str) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return plain_response(
            environ, start_response, "200 OK", f"{name} {environ['SCRIPT_NAME']}|{environ['PATH_INFO']}"
        )

    return app


def recorder(statuses: list[str]) -> StartResponse:
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return None

    return start_response


MOUNTS = {
    "/": echo("root"),
    "/api": echo("api"),
    "/api/v2/": echo("v2"),
    "/slash/": echo("slash"),
    "domain example.com /api": echo("host-api"),
    "domain example.com port 8080 /": echo("host-8080"),
}


@pytest.mark.parametrize(
    ("path", "host", "expected"),
    [
        pytest.param("/", "localhost", "root |/", id="root"),
        pytest.param("", "localhost", "root |", id="empty-path"),
        pytest.param("/api", "localhost", "api /api|", id="exact"),
        pytest.param("/api/", "localhost", "api /api|/", id="exact-slash"),
        pytest.param("/api/users", "localhost", "api /api|/users", id="below"),
        pytest.param("/apix", "localhost", "root |/apix", id="segment-boundary"),
        pytest.param("/api/v2/x", "localhost", "v2 /api/v2|/x", id="longest-prefix"),
        pytest.param("/api/v2x", "localhost", "api /api|/v2x", id="longest-prefix-boundary"),
        pytest.param("/slash/x", "localhost", "slash /slash|/x", id="trailing-slash-mount"),
        pytest.param("/slash", "localhost", "slash /slash|", id="trailing-slash-mount-bare"),
        pytest.param("/api/x", "example.com", "host-api /api|/x", id="host-first"),
        pytest.param("/api/x", "EXAMPLE.com:80", "host-api /api|/x", id="host-case-and-port"),
        pytest.param("/other", "example.com:8080", "host-8080 |/other", id="host-and-port"),
        pytest.param("/other", "example.com", "root |/other", id="host-without-match-falls-back"),
    ],
)
def test_routing(path: str, host: str, expected: str) -> None:
    app = URLMap(MOUNTS)
    environ = {"HTTP_HOST": host, "PATH_INFO": path, "SCRIPT_NAME": ""}
    assert webtest.TestApp(app).get("/", extra_environ=environ).text == expected


def test_script_name_is_appended_and_the_callers_environ_untouched() -> None:
    seen: dict[str, Any] = {}

    def inner(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.update(environ)
        environ["inner.flag"] = True
        return plain_response(environ, start_response, "200 OK", "ok")

    app = URLMap({"/mnt": inner})
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/base", "PATH_INFO": "/mnt/x", "HTTP_HOST": "h"}
    started: list[str] = []
    body = b"".join(app(environ, recorder(started)))
    assert body == b"ok"
    assert started == ["200 OK"]
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"]) == ("/base/mnt", "/x")
    assert environ == {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/base",
        "PATH_INFO": "/mnt/x",
        "HTTP_HOST": "h",
    }


def test_not_found_echoes_nothing_and_can_be_replaced() -> None:
    app = URLMap({"/a": echo("a")})
    response = webtest.TestApp(app).get("/<script>", status=404)
    assert response.text == "Not Found\n"
    custom = URLMap({"/a": echo("a")}, not_found_app=echo("fallback"))
    assert webtest.TestApp(custom).get("/zzz").text == "fallback |/zzz"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("/", (None, ""), id="root"),
        pytest.param("/a//b/", (None, "/a/b"), id="normalised"),
        pytest.param("domain Example.com /x", ("example.com", "/x"), id="domain"),
        pytest.param("domain h port 81 /", ("h:81", ""), id="port"),
        pytest.param("http://h.example:8080/p/", ("h.example:8080", "/p"), id="url"),
    ],
)
def test_parse_mount(expression: str, expected: tuple[str | None, str]) -> None:
    assert parse_mount(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        pytest.param("api", "must start with '/'", id="relative"),
        pytest.param("port 80 /", "'port' needs a 'domain'", id="port-alone"),
        pytest.param("domain", "must be followed by a host name", id="domain-alone"),
        pytest.param("/a /b", "more than one path", id="two-paths"),
        pytest.param("domain a domain b /", "'domain' given twice", id="domain-twice"),
        pytest.param("domain a port x /", "port 'x' is not a number", id="port-nan"),
    ],
)
def test_parse_mount_errors(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mount(expression)


def test_duplicate_mount_and_non_app() -> None:
    with pytest.raises(ValueError, match="mounted twice"):
        URLMap({"/a": echo("1"), "/a/": echo("2")})
    with pytest.raises(TypeError, match="not a WSGI application"):
        URLMap({"/a": "not an app"})  # type: ignore[arg-type]


segment = st.sampled_from(["a", "b", "ab", "api", "x"])
paths = st.lists(segment, max_size=4).map(lambda parts: "/" + "/".join(parts))


@given(mounts=st.lists(paths, min_size=1, max_size=5, unique=True), path=paths)
def test_routes_like_paste(mounts: list[str], path: str) -> None:
    """Host-less routing agrees with Paste's URLMap (the SCRIPT_NAME/PATH_INFO split included)."""
    ours = URLMap({mount: echo(mount) for mount in mounts})
    theirs = PasteURLMap()
    for mount in mounts:
        theirs[mount] = echo(mount)
    results = []
    for app in (ours, theirs):
        environ = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "HTTP_HOST": "h",
            "wsgi.url_scheme": "http",
        }
        statuses: list[str] = []
        chunks = app(environ, recorder(statuses))
        results.append((statuses[0][:3], b"".join(chunks) if statuses[0].startswith("200") else b""))
    assert results[0] == results[1]
