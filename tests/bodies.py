"""Helpers for tests that play the server's part with a response body."""

from __future__ import annotations

from collections.abc import Iterable


def close_body(body: Iterable[bytes]) -> None:
    """Close a response body as a server does; the body must have ``close()``."""
    close = getattr(body, "close", None)
    assert close is not None, "a body that holds a file or logs on close must have close()"
    close()
