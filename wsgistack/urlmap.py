"""URLMap: dispatch to applications by URL prefix (and optionally host), like Paste's ``urlmap``.

Mounts for a specific host are tried before host-less ones, then the longest prefix first. A prefix
matches whole path segments only (``/api`` matches ``/api`` and ``/api/x``, not ``/apix``), and a
trailing slash in a mount is ignored (``/slash/`` serves ``/slash/x``; werkzeug's dispatcher never
matches it). The matched prefix moves from ``PATH_INFO`` to ``SCRIPT_NAME`` in a *copy* of the environ
handed to the mounted app, so the caller's environ (what outer middleware and other mounts see) keeps
the request's path as it arrived.

In INI files it is ``[composite:NAME] use = egg:wsgistack#urlmap`` with lines ``/path = app`` (or
``/path: app``), ``domain example.com /path = app``, ``domain example.com port 8080 / = app`` and an
optional ``not_found_app = name``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .core import StartResponse, WSGIApplication, WSGIEnvironment, plain_response

__all__ = ["URLMap", "parse_mount", "urlmap_factory"]


def _not_found(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    # Unlike Paste's page, nothing from the request is echoed back.
    return plain_response(environ, start_response, "404 Not Found", "Not Found\n")


def parse_mount(expression: str) -> tuple[str | None, str]:
    """``(host or None, prefix)`` from ``/path``, ``domain HOST [port N] /path`` or ``http://host[:port]/path``.

    The prefix is normalised: repeated slashes collapse and a trailing slash is dropped (``/`` becomes
    ``""``, which mounts at the root). Raises ValueError for anything else.
    """
    import re

    host: str | None = None
    port: str | None = None
    path: str | None = None
    text = expression.strip()
    match = re.fullmatch(r"(?i)https?://([^/\s]+)(/\S*)?", text)
    if match:
        host, path = match.group(1), match.group(2) or "/"
    else:
        parts = text.split()
        while parts:
            word = parts.pop(0)
            if word in ("domain", "port"):
                if not parts:
                    raise ValueError(
                        f"{word!r} must be followed by a {'host name' if word == 'domain' else 'number'}"
                    )
                value = parts.pop(0)
                if (host if word == "domain" else port) is not None:
                    raise ValueError(f"{word!r} given twice")
                if word == "domain":
                    host = value
                else:
                    port = value
            elif path is None:
                path = word
            else:
                raise ValueError(f"more than one path ({path!r} and {word!r})")
        if port is not None:
            if host is None:
                raise ValueError("'port' needs a 'domain'")
            if not port.isdigit():
                raise ValueError(f"port {port!r} is not a number")
            host = f"{host}:{port}"
    if path is None:
        path = "/"
    if not path.startswith("/"):
        raise ValueError(f"mount {path!r} must start with '/'")
    return (host.lower() if host else None), re.sub("//+", "/", path).rstrip("/")


class URLMap:
    """Dispatch by host and URL prefix; ``not_found_app`` answers what no mount matches (404 by default).

    ``mounts`` maps a mount expression (see :func:`parse_mount`) to an application.
    """

    __slots__ = ("_mounts", "not_found_app")

    def __init__(
        self,
        mounts: Mapping[str, WSGIApplication] | Iterable[tuple[str, WSGIApplication]] = (),
        *,
        not_found_app: WSGIApplication | None = None,
    ) -> None:
        self._mounts: list[tuple[str | None, str, WSGIApplication]] = []
        self.not_found_app: WSGIApplication = not_found_app or _not_found
        items = mounts.items() if isinstance(mounts, Mapping) else mounts
        for expression, app in items:
            self.mount(expression, app)

    def mount(self, expression: str, app: WSGIApplication) -> None:
        """Add ``app`` at ``expression``; a second mount at the same host and prefix is a ValueError."""
        if not callable(app):
            raise TypeError(
                f"the app mounted at {expression!r} is {type(app).__name__}, not a WSGI application"
            )
        host, prefix = parse_mount(expression)
        if any(h == host and p == prefix for h, p, _ in self._mounts):
            raise ValueError(f"{expression!r} is mounted twice")
        self._mounts.append((host, prefix, app))
        # Host-specific mounts first, then the longest prefix: the most specific match wins.
        self._mounts.sort(key=lambda mount: (mount[0] is None, -len(mount[1])))

    @property
    def mounts(self) -> list[tuple[str | None, str]]:
        """``(host, prefix)`` in matching order."""
        return [(host, prefix) for host, prefix, _ in self._mounts]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or ""
        host = port = None
        for host_name, prefix, app in self._mounts:
            if host_name is not None:
                if host is None:
                    host, port = _host_and_port(environ)
                if host_name != host and host_name != f"{host}:{port}":
                    continue
            if path == prefix or path.startswith(prefix + "/"):
                inner = dict(environ)
                inner["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                inner["PATH_INFO"] = path[len(prefix) :]
                return app(inner, start_response)
        return self.not_found_app(environ, start_response)

    def __repr__(self) -> str:
        mounts = ", ".join(f"{host or ''}{prefix or '/'}" for host, prefix in self.mounts)
        return f"URLMap({mounts})"


def _host_and_port(environ: WSGIEnvironment) -> tuple[str, str]:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    host = host.lower().rstrip(".")
    if host.startswith("["):  # IPv6 literal: [::1]:8080
        end = host.find("]")
        name, rest = host[: end + 1], host[end + 1 :]
        if rest.startswith(":"):
            return name, rest[1:]
    elif ":" in host:
        name, _, port = host.partition(":")
        return name, port
    default = environ.get("SERVER_PORT") or ("443" if environ.get("wsgi.url_scheme") == "https" else "80")
    return host, str(default)


def urlmap_factory(loader: Any, global_conf: Mapping[str, Any], **local_conf: Any) -> WSGIApplication:
    """``paste.composite_factory``: one mount per ``path = app name`` line; ``not_found_app`` like Paste."""
    from .config import ConfigError

    not_found_name = local_conf.pop("not_found_app", None) or global_conf.get("not_found_app")
    not_found = loader.get_app(not_found_name, global_conf=global_conf) if not_found_name else None
    urlmap = URLMap(not_found_app=not_found)
    get_app_at = getattr(loader, "get_app_at", None)  # wsgistack's loader shows mounts in the diagram
    for expression, name in local_conf.items():
        try:
            parse_mount(expression)
        except ValueError as exc:
            raise ConfigError(
                f"urlmap: {exc}; write '/path = app', 'domain HOST /path = app' or 'not_found_app = app'",
                key=expression,
            ) from None
        app_name = str(name).strip()
        if not app_name:
            raise ConfigError("urlmap: no app named for this mount", key=expression)
        app = (
            get_app_at(expression, app_name, global_conf)
            if get_app_at
            else loader.get_app(app_name, global_conf)
        )
        try:
            urlmap.mount(expression, app)
        except ValueError as exc:
            raise ConfigError(f"urlmap: {exc}", key=expression) from None
    return urlmap
