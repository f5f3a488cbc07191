"""Testing the site with its stack, in-process, with the fixtures of wsgistack's pytest plugin.

    pytest recipes/test_site.py

Requests go through every layer as a server would send them (Django's and Flask's own test clients
call the framework directly and bypass WSGI middleware). ``access_log`` holds the access log records
of the test; with ``format = json`` each message is one JSON object.
"""

from __future__ import annotations

import json
import logging

import pytest

from wsgistack.testing import Client


def logged(access_log: list[logging.LogRecord]) -> list[dict[str, object]]:
    return [json.loads(record.getMessage()) for record in access_log]


def test_home_page_carries_its_request_id(client: Client, access_log: list[logging.LogRecord]) -> None:
    response = client.get("/")
    request_id = response.headers["X-Request-ID"]
    assert request_id in response.text
    [entry] = logged(access_log)
    assert entry["status"] == 200
    assert entry["request_id"] == request_id


def test_static_files_are_answered_before_flask(client: Client) -> None:
    response = client.get("/static/style.css")
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    revalidated = client.get("/static/style.css", headers={"If-None-Match": response.headers["ETag"]})
    assert revalidated.status_int == 304


def test_uploads_have_a_larger_limit(client: Client, access_log: list[logging.LogRecord]) -> None:
    two_mib, eleven_mib = "x" * (2 * 1024 * 1024), "x" * (11 * 1024 * 1024)
    assert client.post("/upload", two_mib).json == {"received": len(two_mib)}
    client.post("/api/info", two_mib, status=413)  # 1 MiB anywhere else
    client.post("/upload", eleven_mib, status=413)
    assert [entry["status"] for entry in logged(access_log)] == [200, 413, 413]


def test_an_exception_is_a_logged_500(
    client: Client,
    access_log: list[logging.LogRecord],
    wsgi_errors: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = client.get("/boom", status=500)
    request_id = response.headers["X-Request-ID"]
    assert request_id in response.text  # the error page shows the id to quote in a bug report
    assert "Traceback" not in response.text
    [error] = [record for record in caplog.records if record.name == "wsgistack.errors"]
    assert error.exc_info is not None
    assert isinstance(error.exc_info[1], RuntimeError)
    assert [entry["status"] for entry in logged(access_log)] == [500]
    assert wsgi_errors == []  # logged through logging, not written to wsgi.errors
