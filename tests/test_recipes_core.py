"""The "write your own middleware" recipe works and passes the full contract matrix."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from webtest import TestApp

from recipes.own_middleware import Timing
from wsgistack.core import StartResponse, WSGIEnvironment
from wsgistack.testing import CASES, check_layer


@pytest.mark.parametrize(("shape", "iteration"), CASES)
def test_recipe_passes_the_contract(shape: str, iteration: str) -> None:
    check_layer(lambda app: Timing(app, metric="view"), shape, iteration)


def test_recipe_adds_server_timing_and_counts_bytes() -> None:
    seen: dict[str, object] = {}

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen["environ"] = environ
        start_response("200 OK", [("Content-Type", "text/plain"), ("Server-Timing", "db;dur=1.0")])
        return [b"hello ", b"world"]

    response = TestApp(Timing(app)).get("/")
    assert response.text == "hello world"
    db, app_timing = response.headers["Server-Timing"].split(", ")
    assert db == "db;dur=1.0"
    assert app_timing.startswith("app;dur=")
    assert seen["environ"]["timing.bytes"] == 11  # type: ignore[index]


def test_recipe_validates_its_option() -> None:
    with pytest.raises(ValueError, match="metric must be a simple token"):
        Timing(lambda e, s: [], metric="a;b")
