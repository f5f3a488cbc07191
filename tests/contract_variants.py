"""Per-layer option sets for the contract matrix in ``test_contract.py``.

Every name in ``wsgistack.pipeline.REGISTRY`` must appear here with its default options first and at
least one configured variant; ``test_every_registered_layer_has_variants`` enforces it, so a new
middleware joins the matrix as soon as it is registered. Each entry builds a :class:`Layer` from a
scratch directory (used by layers that serve files).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from wsgistack import Layer

LayerMaker = Callable[[Path], Layer[Any]]

VARIANTS: dict[str, list[LayerMaker]] = {
    # one entry per registered layer: defaults first, then configured variants
    "errors": [lambda d: Layer.named("errors"), lambda d: Layer.named("errors", debug=True)],
}
