"""The id of the current process without a system call per request, right in forked children too.

``os.getpid()`` is a system call on current glibc (which no longer caches the id): a tenth of a
microsecond per use, on every request, for a value that changes only at ``fork()``. Python's at-fork
hook keeps :attr:`Current.pid` up to date in children made by ``os.fork()`` (gunicorn, multiprocessing).
uWSGI forks its workers from C and runs those hooks only with ``py-call-osafterfork``: inside uWSGI
(whose embedded module is then present), :func:`hooks_unreliable` says so and callers ask the system.
"""

from __future__ import annotations

import os
import sys

__all__ = ["Current", "hooks_unreliable"]


class Current:
    """The process id as of the last fork that ran Python's at-fork hooks (or of the import)."""

    pid = os.getpid()


def _forked() -> None:
    Current.pid = os.getpid()


if hasattr(os, "register_at_fork"):  # no fork(), no hook needed
    os.register_at_fork(after_in_child=_forked)


def hooks_unreliable() -> bool:
    """Whether this process's children may skip Python's at-fork hooks (inside uWSGI)."""
    return "uwsgi" in sys.modules
