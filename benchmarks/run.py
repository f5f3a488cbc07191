"""Run the benchmark suites.

``python -m benchmarks.run [--quick] [--only a,b] [--json FILE] [--markdown FILE]``
"""

from __future__ import annotations

import argparse
import importlib
import platform
import time

from .harness import Report, suites


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts: prove the suites run")
    parser.add_argument("--only", help="comma-separated suite names (default: all)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="write the tables as Markdown")
    args = parser.parse_args(argv)
    report = Report()
    report.note(f"Python {platform.python_version()} on {platform.machine()}, {time.strftime('%Y-%m-%d')}.")
    for name in suites(args.only.split(",") if args.only else None):
        started = time.perf_counter()
        module = importlib.import_module(f"benchmarks.bench_{name}")
        module.run(report, args.quick)
        print(f"# {name}: {time.perf_counter() - started:.1f} s", flush=True)
    print(report.markdown())
    if args.json:
        report.save(args.json)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as file:
            file.write(report.markdown() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
