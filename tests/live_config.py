"""WSGI apps for the real-server tests, built from the INI file named by ``WSGISTACK_LIVE_CONFIG``.

``tests.live_config:app`` is loaded by wsgistack's loader, ``tests.live_config:pastedeploy_app`` by
PasteDeploy's ``loadapp`` (the default file is ``tests/config_files/stack.ini``). Built on first access,
so importing this module costs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from wsgistack.core import WSGIApplication

CONFIG = os.environ.get("WSGISTACK_LIVE_CONFIG", str(Path(__file__).parent / "config_files" / "stack.ini"))


def __getattr__(name: str) -> WSGIApplication:
    if name == "app":
        import wsgistack

        return wsgistack.load(CONFIG)
    if name == "pastedeploy_app":
        from paste.deploy import loadapp

        app: WSGIApplication = loadapp(f"config:{os.path.abspath(CONFIG)}")
        return app
    raise AttributeError(name)
