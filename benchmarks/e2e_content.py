"""The content the end-to-end app serves (no side effects: tests import it to check responses)."""

from __future__ import annotations

PAGE = (
    "<!doctype html><html><head><title>wsgistack</title></head><body>" + "<p>Hello, stack.</p>" * 100
).encode()
SCRIPT = b"".join(f"function f{n}(a, b) {{ return a * {n} + b; }}\n".encode() for n in range(500))
