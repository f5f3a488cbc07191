import logging

from wsgistack.testing import Client, assert_logged


def test_home(client: Client, access_log: list[logging.LogRecord]) -> None:
    response = client.get("/")
    assert response.status_int == 200
    assert len(access_log) == 1
    assert_logged(access_log[0], response)  # the status and the body bytes the client received
