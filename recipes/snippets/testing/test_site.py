import logging

from wsgistack.testing import Client


def test_home(client: Client, access_log: list[logging.LogRecord]) -> None:
    assert client.get("/").status_int == 200
    assert len(access_log) == 1
