"""Configuration loading, cold: each measurement is a fresh interpreter.

* ``load()`` of ``recipes/demo.ini`` (six layers around the demo app), timed inside a new process from
  before ``import wsgistack`` to the returned app — against PasteDeploy's ``loadapp`` of the same file
  (the same factories, through the same entry points) in the same run. Goal: <= 50 ms.
* ``python -X importtime -c "import wsgistack"``: the cumulative import time of the package. Goal: <= 30 ms.

Bytecode is cached as on an installed system (in a scratch ``PYTHONPYCACHEPREFIX``, even where
``PYTHONDONTWRITEBYTECODE`` is set): compiling every module from source on each start is not what a
server start costs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .harness import Report, Stats

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "recipes" / "demo.ini"
SUITE = "config"
LOAD_GOAL = 0.050
IMPORT_GOAL = 0.030

_TIMED = """
import time
start = time.perf_counter()
{body}
print(time.perf_counter() - start)
"""
_OURS = "import wsgistack\napp = wsgistack.load({path!r})"
_PASTEDEPLOY = "from paste.deploy import loadapp\napp = loadapp('config:' + {path!r})"


_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def _fresh(code: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=_ENV
    )
    return float(result.stdout.strip().splitlines()[-1])


def _import_time() -> float:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import wsgistack"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=_ENV,
    )
    for line in reversed(result.stderr.splitlines()):
        parts = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == "wsgistack":
            return int(parts[1]) / 1e6
    raise RuntimeError(f"no 'wsgistack' line in -X importtime output:\n{result.stderr[-2000:]}")


def _stats(samples: list[float]) -> Stats:
    return Stats(statistics.median(samples), tuple(samples), 1)


def run(report: Report, quick: bool) -> None:
    with tempfile.TemporaryDirectory() as cache:
        _ENV["PYTHONPYCACHEPREFIX"] = cache
        try:
            _run(report, quick)
        finally:
            del _ENV["PYTHONPYCACHEPREFIX"]


def _run(report: Report, quick: bool) -> None:
    runs = 2 if quick else 21
    path = str(CONFIG)
    codes = {
        impl: _TIMED.format(body=template.format(path=path))
        for impl, template in (("wsgistack.load", _OURS), ("paste.deploy.loadapp", _PASTEDEPLOY))
    }
    samples: dict[str, list[float]] = {impl: [] for impl in codes}
    for code in codes.values():
        _fresh(code)  # warm the OS file cache and the .pyc files once
    # Alternating processes: a busy spell of the machine falls on both loaders alike.
    for _ in range(runs):
        for impl, code in codes.items():
            samples[impl].append(_fresh(code))
    for impl, times in samples.items():
        report.add(SUITE, "6-layer INI, cold process", impl, _stats(times))
    report.compare(SUITE, "6-layer INI, cold process", "wsgistack.load", "paste.deploy.loadapp")
    _import_time()
    report.add(
        SUITE, "import wsgistack (-X importtime)", "wsgistack", _stats([_import_time() for _ in range(runs)])
    )
    load = report.median(SUITE, "6-layer INI, cold process", "wsgistack.load")
    imported = report.median(SUITE, "import wsgistack (-X importtime)", "wsgistack")
    report.note(
        f"config: cold load() of recipes/demo.ini {load * 1e3:.1f} ms (goal <= {LOAD_GOAL * 1e3:.0f} ms: "
        f"{'met' if load <= LOAD_GOAL else 'NOT met'}); import wsgistack {imported * 1e3:.1f} ms "
        f"(goal <= {IMPORT_GOAL * 1e3:.0f} ms: {'met' if imported <= IMPORT_GOAL else 'NOT met'})."
    )
