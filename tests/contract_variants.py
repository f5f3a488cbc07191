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
    "body_limit": [
        lambda d: Layer.named("body_limit", max_bytes=1024),
        lambda d: Layer.named(
            "body_limit", max_bytes=0, limits={"/contract": 1 << 20}, drain=4096, assume_terminated=True
        ),
    ],
    "errors": [lambda d: Layer.named("errors"), lambda d: Layer.named("errors", debug=True)],
    "compress": [
        lambda d: Layer.named("compress"),
        lambda d: Layer.named("compress", minimum_size=0),
        lambda d: Layer.named(
            "compress", minimum_size=0, encodings=("gzip",), flush=False, breach_padding=32
        ),
        lambda d: Layer.named("compress", minimum_size=0, encodings=("br", "zstd"), etag="suffix"),
    ],
    "static": [
        lambda d: Layer.named("static", d),
        lambda d: Layer.named(
            "static",
            (d / "site.css").write_text("body { margin: 0 }\n") and d,
            prefix="/assets/",
            index_file=True,
            cors="*",
            cache_max_file_size=0,
            other_methods="pass",
        ),
        lambda d: Layer.named("static", d, prefix="/", autorefresh=True, allow_dotfiles=True),
    ],
    # AccessLog passes requests through while its logger is disabled; WARNING and ERROR are enabled
    # under the default logging configuration, so those variants wrap every response.
    "access_log": [
        lambda d: Layer.named("access_log"),
        lambda d: Layer.named("access_log", format="json", level="WARNING"),
        lambda d: Layer.named(
            "access_log",
            level="ERROR",
            format='%(h)s "%(r)s" %(s)s %(b)s %(D)s %(L)s %(aborted)s %({content-type}o)s %({user-agent}i)s',
            exclude_paths=["/health"],
        ),
    ],
    "request_id": [
        lambda d: Layer.named("request_id"),
        lambda d: Layer.named(
            "request_id", header="X-Correlation-ID", trust_incoming=False, validator=r"[0-9a-f]{24}"
        ),
    ],
}
