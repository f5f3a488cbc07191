"""``python -m wsgistack``: the same as the ``wsgistack`` command."""

from .cli import main

raise SystemExit(main())
