"""Sphinx configuration for the wsgistack documentation (MyST Markdown pages)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from sphinx.application import Sphinx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import wsgistack

project = "wsgistack"
author = "The wsgistack developers"
copyright = "2026, The wsgistack developers"
release = version = wsgistack.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
nitpicky = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "furo"
html_title = "wsgistack"


def _benchmark_results(app: Sphinx, docname: str, source: list[str]) -> None:
    """performance.md shows benchmarks/results/latest.md when that file exists."""
    results = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "latest.md"
    if docname == "performance" and results.is_file():
        source[0] = re.sub(
            r"<!-- benchmark-results\b.*?<!-- /benchmark-results -->",
            "```{include} ../benchmarks/results/latest.md\n```\n\n"
            "```{image} ../benchmarks/results/latest.svg\n:alt: every comparison of the run as a ratio\n```",
            source[0],
            flags=re.DOTALL,
        )


def setup(app: Sphinx) -> None:
    app.connect("source-read", _benchmark_results)
