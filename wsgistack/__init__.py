"""wsgistack: composable, PEP 3333-correct WSGI middleware and a declarative pipeline builder."""

from .core import ClosingIterable, ResponseStart
from .errors import CatchErrors
from .pipeline import REGISTRY, Layer, LayerError, Pipeline, Registration

__version__ = "0.1.0"

__all__ = [
    "REGISTRY",
    "CatchErrors",
    "ClosingIterable",
    "Layer",
    "LayerError",
    "Pipeline",
    "Registration",
    "ResponseStart",
    "__version__",
]
