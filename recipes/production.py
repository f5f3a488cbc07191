"""``production.ini`` as a module, for servers that take ``module:application``.

    waitress-serve --listen=127.0.0.1:8080 recipes.production:application

The file's logging sections are applied as ``wsgistack serve`` and ``gunicorn --paste`` apply them
(``here`` and ``__file__`` defined, loggers that already exist kept enabled).
"""

from __future__ import annotations

import logging.config
from pathlib import Path

import wsgistack

CONFIG = Path(__file__).resolve().parent / "production.ini"

logging.config.fileConfig(
    CONFIG, {"here": str(CONFIG.parent), "__file__": str(CONFIG)}, disable_existing_loggers=False
)
application = wsgistack.load(CONFIG)
