"""The signatures, messages, diagrams and output that the pages show (blocks marked ``<!-- output: KEY -->``)
are those of the code: each is produced here and compared."""

from __future__ import annotations

import gc
import inspect
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import wsgistack
from wsgistack import CatchErrors, Layer, LimitedStream, Pipeline, RequestID
from wsgistack.core import (
    ClosingIterable,
    Headers,
    OptExcInfo,
    StartResponse,
    WSGIApplication,
    WSGIEnvironment,
)
from wsgistack.testing import ContractServer, LayerViolation, Probe, capture_logs, client, contract_environ

from .test_docs import ROOT, SNIPPETS, marked

# --- signatures ------------------------------------------------------------------------------------------


def plain_signature(name: str, function: Callable[..., Any]) -> str:
    """``name(a, b="x", *, c=None) -> Result`` as the pages write it: no annotations but the result's."""
    signature = inspect.signature(function)
    parts: list[str] = []
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY and "*" not in parts:
            parts.append("*")
        default = parameter.default
        if default is parameter.empty:
            parts.append(parameter.name)
        else:
            parts.append(
                f"{parameter.name}={json.dumps(default) if isinstance(default, str) else repr(default)}"
            )
    result = signature.return_annotation
    returns = "" if result is signature.empty or inspect.isclass(function) else f" -> {result}"
    return f"{name}({', '.join(parts)}){returns}"


@pytest.mark.parametrize(
    ("name", "key", "function"),
    [
        ("configuration", "load-signature", wsgistack.load),
        ("body_limit", "limited-stream-signature", LimitedStream),
    ],
)
def test_signature(name: str, key: str, function: Callable[..., Any]) -> None:
    documented = marked(name, key).body.strip()
    assert documented == plain_signature(function.__name__, function)


# --- testing.md: layer_lint blames the layer at fault ---------------------------------------------------


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def shout(app: WSGIApplication) -> WSGIApplication:
    """Yields str instead of bytes."""

    def upper(chunk: bytes) -> Any:  # the mistake: str
        return chunk.decode().upper()

    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return ClosingIterable(app(environ, start_response), map_chunk=upper)

    return layer


def forgets_close(app: WSGIApplication) -> WSGIApplication:
    """Reads the body it got but never closes it."""

    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return list(app(environ, start_response))

    return layer


def mutates_headers(app: WSGIApplication) -> WSGIApplication:
    """Appends to the header list it was given."""

    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: Headers, exc_info: OptExcInfo = None) -> Any:
            headers.append(("X-Tag", "1"))
            return start_response(status, headers)

        return app(environ, start)

    return layer


def test_layer_violations(monkeypatch: pytest.MonkeyPatch) -> None:
    unraisable: list[str] = []
    # The client closes what forgets_close left open: no validator complains when it is collected.
    monkeypatch.setattr(sys, "unraisablehook", lambda report: unraisable.append(str(report.exc_value)))
    messages = []
    for pipeline in (
        Pipeline(Layer.named("request_id"), Layer(shout)),
        Pipeline(Layer.named("request_id"), Layer.named("errors"), Layer(forgets_close)),
        Pipeline(Layer(mutates_headers), Layer.named("request_id")),
    ):
        with pytest.raises(LayerViolation) as caught:
            client(hello, pipeline=pipeline, layer_lint=True).get("/")
        messages.append(f"LayerViolation: {caught.value}")
        del caught
    gc.collect()
    assert messages == marked("testing", "layer-violations").body.splitlines()
    assert unraisable == []


# --- errors.md: the four phases --------------------------------------------------------------------------


class Body:
    """A response body: yields ``chunks``, then raises ``raise_after`` if given; ``close()`` may raise."""

    def __init__(
        self, chunks: list[bytes], *, raise_after: bool = False, raise_in_close: bool = False
    ) -> None:
        self.chunks, self.raise_after, self.raise_in_close = chunks, raise_after, raise_in_close
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.raise_after:
            raise RuntimeError("raised while iterating")

    def close(self) -> None:
        self.closed += 1
        if self.raise_in_close:
            raise RuntimeError("raised in close()")


def phase_app(phase: int, body: Body) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if phase == 1:
            raise RuntimeError("raised by the call")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
        return body

    return app


PHASE_BODIES = {
    1: lambda: Body([]),
    2: lambda: Body([], raise_after=True),  # raised at the first value, after start_response
    3: lambda: Body([b"partial"], raise_after=True),  # after the first non-empty value
    4: lambda: Body([b"partial"], raise_in_close=True),
}


def diagram_outcomes(diagram: str) -> dict[int, str]:
    """The outcome the diagram's bottom line gives each phase: the segment under the phase's ``├``."""
    lines = diagram.splitlines()
    legend = lines[-1]
    segments = [(m.start(), m.end(), m.group(1)) for m in re.finditer(r"◄─+ ([^─]+?) ─+►", legend)]
    outcomes = {}
    for line in lines:
        phase = re.match(r" phase (\d)", line)
        if phase:
            column = line.index("├")
            [outcome] = [text for start, end, text in segments if start <= column < end]
            outcomes[int(phase.group(1))] = outcome
    return outcomes


def test_the_four_phases() -> None:
    outcomes = diagram_outcomes(marked("errors", "phases").body)
    assert outcomes == {
        1: "headers not sent: answer 500",
        2: "headers not sent: answer 500",
        3: "sent: re-raise",
        4: "log only",
    }
    for phase, outcome in sorted(outcomes.items()):
        body = PHASE_BODIES[phase]()
        server = ContractServer()
        with capture_logs("wsgistack.errors") as records:
            server.run(CatchErrors(phase_app(phase, body)), contract_environ(), "full", Probe())
        assert len(records) == 1, phase  # logged once, in every phase
        if outcome == "headers not sent: answer 500":
            assert server.error is None
            assert server.calls == [("500 Internal Server Error", False)]  # one clean call
            assert "before the response was sent" in records[0].getMessage()
        elif outcome == "sent: re-raise":
            assert str(server.error) == "raised while iterating"
            assert server.sent_when_failed
            assert server.calls == [("200 OK", False)]
            assert "after the response headers were sent" in records[0].getMessage()
        else:
            assert server.error is None
            assert server.calls == [("200 OK", False)]
            assert b"".join(server.values) == b"partial"
            assert "in close()" in records[0].getMessage()
        assert body.closed == (0 if phase == 1 else 1)


def test_an_empty_value_sends_nothing() -> None:
    """Phase 2 also covers an error after an empty first value: the app's status and headers go."""
    server = ContractServer()
    with capture_logs("wsgistack.errors"):
        server.run(
            CatchErrors(phase_app(2, Body([b""], raise_after=True))), contract_environ(), "full", Probe()
        )
    assert server.error is None
    assert server.status == "500 Internal Server Error"
    assert ("Content-Length", "7") not in server.headers


# --- access_log.md: the json format ----------------------------------------------------------------------


def test_json_line() -> None:
    documented = json.loads(" ".join(marked("access_log", "json-line").body.splitlines()))
    assert documented["request_id"].isascii()  # "one JSON object per line, ASCII only"

    def page(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"x" * documented["bytes"]]

    environ = {"REMOTE_ADDR": documented["remote_addr"], "SERVER_PROTOCOL": documented["protocol"]}
    site = client(RequestID(wsgistack.AccessLog(page, format="json")), extra_environ=environ)
    with capture_logs("wsgistack.access") as records:
        site.get(documented["target"], headers={"User-Agent": documented["user_agent"]})
    [record] = records
    line = record.getMessage()
    assert line.isascii()
    logged = json.loads(line)
    assert list(logged) == list(documented)
    varying = {"time", "duration_us", "request_id"}
    assert {k: v for k, v in logged.items() if k not in varying} == {
        k: v for k, v in documented.items() if k not in varying
    }
    time_format = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
    assert re.fullmatch(time_format, logged["time"])
    assert re.fullmatch(time_format, documented["time"])
    assert re.fullmatch(r"[0-9a-f]{24}", logged["request_id"])
    assert re.fullmatch(r"[0-9a-f]{24}", documented["request_id"])
    assert isinstance(logged["duration_us"], int)
    assert isinstance(documented["duration_us"], int)
    assert record.__dict__["status"] == 200  # the same fields are on the record
    assert record.__dict__["path"] == documented["path"]


# --- migrating.md: a configuration still naming egg:Paste, without Paste installed ------------------------


def diff_sides(diff: str) -> tuple[str, str]:
    """The file before and after a unified diff without hunk headers."""
    lines = diff.splitlines()
    before = "".join(line[1:] + "\n" for line in lines if line[:1] in (" ", "-", ""))
    after = "".join(line[1:] + "\n" for line in lines if line[:1] in (" ", "+", ""))
    return before, after


def test_paste_missing(tmp_path: Path) -> None:
    before, _ = diff_sides((SNIPPETS / "migrating.diff").read_text())
    (tmp_path / "site.ini").write_text(before)
    # -S: a Python without site-packages, so without Paste; wsgistack is imported from the checkout.
    script = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import wsgistack; wsgistack.load('site.ini')"
    result = subprocess.run(
        [sys.executable, "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("wsgistack.config.ConfigError: ")
    message = last.removeprefix("wsgistack.config.ConfigError: ").replace(f"{tmp_path}/", "")
    assert message == " ".join(marked("migrating", "paste-missing").body.splitlines())
