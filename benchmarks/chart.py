"""Turn benchmark results (``python -m benchmarks.run --json FILE``) into an SVG chart of every comparison.

``python -m benchmarks.chart RESULTS.json OUT.svg``: one bar per comparison on a logarithmic axis (1 = parity;
shorter is better for "ours / theirs"), with the project's goal marked where there is one. Plain SVG, no
plotting library.
"""

from __future__ import annotations

import argparse
import json
import math
from html import escape
from pathlib import Path
from typing import Any

LOW, HIGH = 0.01, 100.0
ROW, LABEL_WIDTH, BAR_WIDTH, TOP = 22, 520, 420, 40


def _x(ratio: float) -> float:
    clipped = min(max(ratio, LOW), HIGH)
    return (
        LABEL_WIDTH
        + (math.log10(clipped) - math.log10(LOW)) / (math.log10(HIGH) - math.log10(LOW)) * BAR_WIDTH
    )


def render(results: dict[str, Any]) -> str:
    comparisons = results["comparisons"]
    height = TOP + ROW * len(comparisons) + 30
    width = LABEL_WIDTH + BAR_WIDTH + 80
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<text x="10" y="20" font-size="14">wsgistack benchmarks: ratios (log scale, 1 = parity); '
        f"Python {escape(str(results.get('python', '')))}</text>",
    ]
    for tick in (0.01, 0.1, 1, 10, 100):
        x = _x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP - 8}" x2="{x:.1f}" y2="{height - 25}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">{tick:g}</text>')
    for row, item in enumerate(comparisons):
        y = TOP + row * ROW
        ratio, goal, met = float(item["ratio"]), item.get("goal"), item.get("met")
        label = f"{item['suite']}: {item['case']} - {item['label']}"
        colour = {True: "#2e7d32", False: "#c62828"}.get(met, "#546e7a")
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 14}" text-anchor="end">{escape(label[:80])}</text>'
        )
        start, end = _x(1.0), _x(ratio)
        left, span = min(start, end), abs(end - start)
        parts.append(
            f'<rect x="{left:.1f}" y="{y + 4}" width="{max(span, 1):.1f}" height="{ROW - 8}" '
            f'fill="{colour}"/>'
        )
        parts.append(f'<text x="{max(start, end) + 4:.1f}" y="{y + 14}">{ratio:.2f}</text>')
        if goal is not None:
            gx = _x(float(goal))
            parts.append(
                f'<line x1="{gx:.1f}" y1="{y + 1}" x2="{gx:.1f}" y2="{y + ROW - 1}" '
                'stroke="#000" stroke-width="2"/>'
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chart", description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    args.output.write_text(render(json.loads(args.results.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
