"""wsgistack: composable, PEP 3333-correct WSGI middleware and a declarative pipeline builder.

Public names are imported on first use (PEP 562), so ``import wsgistack`` stays cheap and a process
only pays for the middleware it uses.
"""

from __future__ import annotations

import importlib

# typing (and the re module it imports) would double the cost of ``import wsgistack``; type checkers
# treat a module-level TYPE_CHECKING = False like typing.TYPE_CHECKING.
TYPE_CHECKING = False

__version__ = "0.1.0"

_EXPORTS = {
    "AccessLog": "access_log",
    "BodyLimit": "body_limit",
    "CatchErrors": "errors",
    "ClosingIterable": "core",
    "Compress": "compress",
    "ConfigError": "config",
    "ConfigWarning": "config",
    "Layer": "pipeline",
    "LayerError": "pipeline",
    "LimitedStream": "body_limit",
    "Pipeline": "pipeline",
    "REGISTRY": "pipeline",
    "Registration": "pipeline",
    "RequestID": "request_id",
    "RequestIDFilter": "request_id",
    "RequestTooLarge": "body_limit",
    "ResponseStart": "core",
    "StaticFiles": "static",
    "load": "config",
    "request_id_var": "request_id",
}

__all__ = [
    "REGISTRY",
    "AccessLog",
    "BodyLimit",
    "CatchErrors",
    "ClosingIterable",
    "Compress",
    "ConfigError",
    "ConfigWarning",
    "Layer",
    "LayerError",
    "LimitedStream",
    "Pipeline",
    "Registration",
    "RequestID",
    "RequestIDFilter",
    "RequestTooLarge",
    "ResponseStart",
    "StaticFiles",
    "__version__",
    "load",
    "request_id_var",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wsgistack' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from .access_log import AccessLog
    from .body_limit import BodyLimit, LimitedStream, RequestTooLarge
    from .compress import Compress
    from .config import ConfigError, ConfigWarning, load
    from .core import ClosingIterable, ResponseStart
    from .errors import CatchErrors
    from .pipeline import REGISTRY, Layer, LayerError, Pipeline, Registration
    from .request_id import RequestID, RequestIDFilter, request_id_var
    from .static import StaticFiles
