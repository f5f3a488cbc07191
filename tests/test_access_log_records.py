"""AccessLog's records are the records ``Logger.makeRecord()`` makes, field for field.

AccessLog makes its records from a template (``access_log._Records``) instead of running
``LogRecord.__init__`` for every request. These tests compare the two under the same clock, thread,
process and asyncio task, on the Python running them; this file imports nothing but the package and
pytest so that it runs on every supported Python.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from wsgistack import access_log
from wsgistack.access_log import _SOURCE, _Records

# Just before a second boundary: the millisecond fields round differently with floats and with ns.
NOW_NS = 1_700_000_000_999_999_900


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("tests.access_log_records")
    logger.setLevel(logging.INFO)
    yield logger
    logger.setLevel(logging.NOTSET)


@pytest.fixture
def primed(logger: logging.Logger) -> _Records:
    """AccessLog's record maker for ``logger``, after its first record (the template is made then)."""
    records = _Records(logger, logging.INFO)
    records("first")
    return records


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: NOW_NS / 1e9)
    monkeypatch.setattr(time, "time_ns", lambda: NOW_NS)


def stock(logger: logging.Logger, message: object) -> dict[str, object]:
    return logger.makeRecord(logger.name, logging.INFO, _SOURCE, 0, message, (), None).__dict__


def made(records: _Records, message: object) -> dict[str, object]:
    """A record from the template path (on the Pythons it mirrors), as a dict of its fields."""
    record = records(message)
    assert type(record) is logging.LogRecord
    assert (records._template is not None) == access_log._MIRRORED, "the template path was not taken"
    return record.__dict__


@pytest.mark.usefixtures("frozen_clock")
def test_the_fast_path_is_taken_on_the_pythons_it_mirrors(primed: _Records, logger: logging.Logger) -> None:
    mirrored = sys.version_info[:2] in {(3, 11), (3, 12), (3, 13)}
    assert mirrored == access_log._MIRRORED
    records = primed
    assert (records._template is not None) == access_log._MIRRORED


@pytest.mark.usefixtures("frozen_clock")
def test_a_record_is_the_stock_record(logger: logging.Logger) -> None:
    records = _Records(logger, logging.INFO)
    message = object()
    for _ in range(3):  # the first one builds the template; the others copy it
        assert made(records, message) == stock(logger, message)
    assert list(made(records, message)) == list(stock(logger, message))  # same fields, same order
    record = records("GET / 200")
    assert record.getMessage() == "GET / 200"
    assert logging.Formatter("%(asctime)s %(msecs)03d %(module)s %(message)s").format(record) == (
        logging.Formatter("%(asctime)s %(msecs)03d %(module)s %(message)s").format(
            logger.makeRecord(logger.name, logging.INFO, _SOURCE, 0, "GET / 200", (), None)
        )
    )


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize(
    "flag",
    ["logThreads", "logProcesses", "logMultiprocessing"]
    + (["logAsyncioTasks"] if sys.version_info >= (3, 12) else []),  # new in 3.12
)
def test_logging_flags_are_honoured(
    primed: _Records, logger: logging.Logger, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    records = primed
    before = made(records, "on")
    monkeypatch.setattr(logging, flag, False)
    after = made(records, "off")
    assert after == stock(logger, "off")
    field = {"logThreads": "thread", "logProcesses": "process", "logMultiprocessing": "processName"}
    if flag in field:
        assert before[field[flag]] is not None
        assert after[field[flag]] is None


@pytest.mark.usefixtures("frozen_clock")
def test_a_renamed_level_is_the_name_in_later_records(
    primed: _Records, logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = primed
    monkeypatch.setitem(logging._levelToName, logging.INFO, "NOTE")
    assert made(records, "after") == stock(logger, "after")
    assert made(records, "after")["levelname"] == "NOTE"


@pytest.mark.usefixtures("frozen_clock")
def test_another_thread_and_the_multiprocessing_name(
    primed: _Records, logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = primed
    import multiprocessing

    monkeypatch.setattr(multiprocessing.current_process(), "name", "Worker-7")
    seen: list[tuple[dict[str, object], dict[str, object]]] = []
    worker = threading.Thread(
        target=lambda: seen.append((made(records, "x"), stock(logger, "x"))), name="request-thread"
    )
    worker.start()
    worker.join()
    ours, theirs = seen[0]
    assert ours == theirs
    assert ours["threadName"] == "request-thread"
    assert ours["processName"] == "Worker-7"


@pytest.mark.usefixtures("frozen_clock")
def test_inside_an_asyncio_task(primed: _Records, logger: logging.Logger) -> None:
    records = primed

    async def handle() -> tuple[dict[str, object], dict[str, object]]:
        return made(records, "x"), stock(logger, "x")

    async def main() -> tuple[dict[str, object], dict[str, object]]:
        return await asyncio.create_task(handle(), name="request-task")

    ours, theirs = asyncio.run(main())
    assert ours == theirs
    if sys.version_info >= (3, 12):
        assert ours["taskName"] == "request-task"


def test_a_custom_record_factory_makes_the_records(logger: logging.Logger) -> None:
    factory = logging.getLogRecordFactory()

    def tagged(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.tag = "custom"
        return record

    records = _Records(logger, logging.INFO)
    logging.setLogRecordFactory(tagged)
    try:
        record = records("x")
    finally:
        logging.setLogRecordFactory(factory)
    assert getattr(record, "tag", None) == "custom"
    assert records._template is None


def test_a_logger_class_with_its_own_make_record_makes_the_records() -> None:
    class Tagging(logging.Logger):
        def makeRecord(self, *args: object, **kwargs: object) -> logging.LogRecord:
            record = super().makeRecord(*args, **kwargs)  # type: ignore[arg-type]
            record.tag = "subclass"
            return record

    record = _Records(Tagging("tests.tagging"), logging.INFO)("x")
    assert getattr(record, "tag", None) == "subclass"


def test_a_make_record_patched_onto_the_logger_makes_the_records(
    primed: _Records, logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = primed
    stock_make = logger.makeRecord

    def tagging(*args: object, **kwargs: object) -> logging.LogRecord:
        record = stock_make(*args, **kwargs)  # type: ignore[arg-type]
        record.tag = "instance"
        return record

    monkeypatch.setattr(logger, "makeRecord", tagging)
    assert getattr(records("x"), "tag", None) == "instance"


def test_a_forked_child_logs_its_own_process_id(primed: _Records) -> None:
    """The id comes from the at-fork hook, not from a system call per record: a child must see its own."""
    import os

    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what its record says and leave without running pytest's teardown
        os.write(writer, f"{primed('in the child').process} {os.getpid()}".encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        logged, actual = pipe.read().split()
    os.waitpid(pid, 0)
    assert logged == actual
    assert int(logged) != os.getpid()
    assert primed("in the parent").process == os.getpid()
