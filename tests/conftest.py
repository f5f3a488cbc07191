"""Shared test configuration: pytester for the plugin's own tests, and a guard on logging state.

Logging configuration is process-wide. A test that leaves a ``wsgistack`` logger changed (a handler, a
level, ``propagate``, ``disabled``: as ``AccessLog(console=True)`` or a ``fileConfig`` does) would
change what later tests observe, so every test is checked: the state is restored and the test fails.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]

State = dict[str, tuple[int, bool, bool, tuple[logging.Handler, ...]]]


def _wsgistack_loggers() -> State:
    names = [name for name in logging.Logger.manager.loggerDict if name.split(".")[0] == "wsgistack"]
    loggers = [logging.getLogger(name) for name in names]
    return {lg.name: (lg.level, lg.propagate, lg.disabled, tuple(lg.handlers)) for lg in loggers}


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    before = _wsgistack_loggers()
    yield
    after = _wsgistack_loggers()
    for name in after.keys() - before.keys():  # made during the test: it must be as getLogger made it
        before[name] = (logging.NOTSET, True, False, ())
    changed = sorted(name for name in after if after[name] != before[name])
    for name in changed:
        logger = logging.getLogger(name)
        logger.level, logger.propagate, logger.disabled, handlers = before[name]
        logger.handlers[:] = handlers
    assert not changed, f"the test left logging configuration changed: {changed}"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Importing the test modules must not configure logging either (it would hold for every test)."""
    pristine = (logging.NOTSET, True, False, ())
    changed = sorted(name for name, state in _wsgistack_loggers().items() if state != pristine)
    if changed:
        raise pytest.UsageError(f"importing the tests changed logging configuration: {changed}")
