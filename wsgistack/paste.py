"""PasteDeploy entry points: wsgistack's middleware configured from INI strings.

INI values arrive as strings. :func:`convert_options` turns them into the types the middleware's own
signature asks for, with PasteDeploy's converter semantics (``asbool``, ``asint``, ``aslist``) plus sizes
(``10MB``, ``512KiB``) and durations (``30s``, ``1h``); an unknown key or a bad value raises
:class:`~wsgistack.config.ConfigError` naming the key and the accepted options with their types.

The factories here are registered in ``pyproject.toml`` under ``paste.filter_app_factory`` (one per
middleware, plus Paste's names ``gzip``, ``translogger`` and ``error_catcher`` with Paste's option
names), ``paste.app_factory`` (``static``, ``demo``) and ``paste.composite_factory`` (``urlmap``, in
:mod:`wsgistack.urlmap`). PasteDeploy, pserve, ``gunicorn --paste``, uWSGI and WebTest call them as
``factory(app, global_conf, **local_conf)``; :func:`wsgistack.load` calls them too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .config import ConfigError

if TYPE_CHECKING:
    from .core import StartResponse, WSGIApplication, WSGIEnvironment
    from .pipeline import Layer

__all__ = [
    "FilterFactory",
    "access_log",
    "body_limit",
    "compress",
    "convert_options",
    "demo_app",
    "error_catcher",
    "errors",
    "gzip",
    "request_id",
    "static",
    "static_app",
    "translogger",
]

_TRUE = frozenset({"true", "yes", "on", "y", "t", "1"})
_FALSE = frozenset({"false", "no", "off", "n", "f", "0"})
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Which integers are sizes or durations is read from the option's name: annotations say only "int".
_SIZE_WORDS = ("size", "bytes", "length", "limit", "drain")
_DURATION_WORDS = ("age", "timeout", "seconds", "ttl", "interval", "duration", "delay", "expire")


# --------------------------------------------------------------------------------------------------
# Converters (string -> value); each raises ValueError with what it expected.


def asbool(value: str) -> bool:
    """PasteDeploy's ``asbool``: true/yes/on/y/t/1 and false/no/off/n/f/0, any case."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a boolean (true/false, yes/no, on/off, 1/0)")


def aslist(value: str) -> list[str]:
    """Items separated by whitespace (PasteDeploy's ``aslist``) or commas; newlines work too."""
    return value.replace(",", " ").split()


def assize(value: str) -> int:
    """Bytes: ``1024``, ``10MB`` (10**6), ``512KiB`` (2**10 each), ``1.5GB``; units are case-insensitive."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
    unit = match.group(2).lower() if match else ""
    if match is None or (unit and unit not in _SIZE_UNITS):
        raise ValueError(f"{value!r} is not a size (bytes, or a number with B, KB, MB, GB, KiB, MiB, GiB)")
    number = float(match.group(1)) * _SIZE_UNITS.get(unit, 1)
    if number != int(number):
        raise ValueError(f"{value!r} is not a whole number of bytes")
    return int(number)


def asduration(value: str) -> float:
    """Seconds: ``30``, ``30s``, ``1.5h``, ``1h30m``, ``500ms``, ``2d``, ``1w``."""
    import re

    text = value.strip().lower().replace(" ", "")
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?", text)
    if (
        not text
        or "".join(number + unit for number, unit in parts) != text
        or (len(parts) > 1 and not all(unit for _, unit in parts))
    ):
        raise ValueError(f"{value!r} is not a duration (seconds, or like 30s, 5m, 1h30m, 2d, 500ms)")
    return sum(float(number) * _DURATION_UNITS[unit or "s"] for number, unit in parts)


def asint(value: str, name: str = "") -> int:
    """PasteDeploy's ``asint``; options named like sizes or durations also take units."""
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    kind = _number_kind(name)
    if kind == "size":
        return assize(text)
    if kind == "duration":
        seconds = asduration(text)
        if seconds != int(seconds):
            raise ValueError(f"{value!r} is not a whole number of seconds")
        return int(seconds)
    raise ValueError(f"{value!r} is not an integer")


def _number_kind(name: str) -> str | None:
    lowered = name.lower()
    if any(word in lowered for word in _SIZE_WORDS):
        return "size"
    if any(word in lowered for word in _DURATION_WORDS):
        return "duration"
    return None


def _asfloat(value: str, name: str) -> float:
    try:
        return float(value.strip())
    except ValueError:
        if _number_kind(name) == "duration":
            return asduration(value)
        raise ValueError(f"{value!r} is not a number") from None


def _asobject(value: str) -> Any:
    from .config import _import_object

    text = value.strip()
    if ":" not in text:
        raise ValueError(f"{value!r} is not a 'module:object' reference")
    return _import_object(text, None, "reference")


def _describe_type(hint: Any, name: str) -> str:
    """Short human name of an annotation, for messages and ``wsgistack check``."""
    import typing

    if hint is bool:
        return "bool"
    if hint is int:
        kind = _number_kind(name)
        return {"size": "size", "duration": "seconds"}.get(kind or "", "int")
    if hint is float:
        return "seconds" if _number_kind(name) == "duration" else "float"
    if hint is str:
        return "str"
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if _is_union(hint):
        return " | ".join(dict.fromkeys(_describe_type(arg, name) for arg in args))
    if hint is type(None):
        return "none"
    if origin is typing.Literal:
        return " | ".join(repr(arg) for arg in args)
    if _is_path(hint):
        return "path"
    if origin in _LIST_ORIGINS():
        return f"list of {_describe_type(args[0], name) if args else 'str'}"
    if origin in _MAP_ORIGINS():
        return "'Name: value' lines"
    if _is_callable(hint):
        return "module:object"
    return getattr(hint, "__name__", None) or str(hint)


def _is_union(hint: Any) -> bool:
    import types
    import typing

    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _is_path(hint: Any) -> bool:
    import typing

    # pathlib.PurePath and its subclasses are os.PathLike (they define __fspath__): no need to import
    # pathlib, which also imports urllib.parse and ipaddress, to recognise them.
    target = typing.get_origin(hint) or hint
    return isinstance(target, type) and issubclass(target, os.PathLike)


def _is_callable(hint: Any) -> bool:
    import collections.abc
    import typing

    origin = typing.get_origin(hint) or hint
    if origin is collections.abc.Callable:
        return True
    # Protocols with __call__ (wsgiref.types.StartResponse, hooks): referenced as module:object.
    return isinstance(origin, type) and getattr(origin, "_is_protocol", False) and "__call__" in dir(origin)


def _LIST_ORIGINS() -> tuple[Any, ...]:
    import collections.abc as abc

    return (
        list,
        tuple,
        set,
        frozenset,
        abc.Iterable,
        abc.Sequence,
        abc.Collection,
        abc.Set,
        abc.MutableSequence,
    )


def _MAP_ORIGINS() -> tuple[Any, ...]:
    import collections.abc as abc

    return (dict, abc.Mapping, abc.MutableMapping)


def _convert(value: str, hint: Any, name: str, here: str | None) -> Any:
    """``value`` as the annotation ``hint`` of option ``name``; ValueError saying what was expected."""
    import enum
    import re
    import typing

    if hint is Any or hint is object or hint is str:
        return value
    if hint is bool:
        return asbool(value)
    if hint is int:
        return asint(value, name)
    if hint is float:
        return _asfloat(value, name)
    if hint is type(None):
        if value.strip().lower() in ("", "none", "null"):
            return None
        raise ValueError(f"{value!r} is not none")
    if _is_union(hint):
        members = typing.get_args(hint)
        if type(None) in members and value.strip().lower() in ("", "none", "null"):
            return None
        members = tuple(m for m in members if m is not type(None))
        paths = [m for m in members if _is_path(m)]
        if paths:
            return _convert(value, paths[0], name, here)
        literal = [m for m in members if m in (bool, int, float)]
        errors = []
        for member in literal:
            try:
                return _convert(value, member, name, here)
            except ValueError as exc:
                errors.append(str(exc))
        if str in members or any(m is re.Pattern or typing.get_origin(m) is re.Pattern for m in members):
            return value  # the middleware parses the string form itself (a regex, a level name, …)
        for member in members:
            if member in literal:
                continue
            if typing.get_origin(member) in _LIST_ORIGINS() and not aslist(value)[1:]:
                continue  # one item: prefer the single form, e.g. ``Hook | Iterable[Hook]``
            try:
                return _convert(value, member, name, here)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(
            errors[0] if len(errors) == 1 else f"{value!r} is not a {_describe_type(hint, name)}"
        )
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal:
        for choice in args:
            if str(choice) == value.strip():
                return choice
        raise ValueError(f"{value!r} is not one of {', '.join(repr(a) for a in args)}")
    if _is_path(hint):
        import pathlib

        path = pathlib.Path(value.strip())
        if here is not None and not path.is_absolute():
            path = pathlib.Path(here) / path  # relative to the configuration file, like PasteDeploy apps
        return path
    if origin in _LIST_ORIGINS() or hint in _LIST_ORIGINS():
        item = args[0] if args else str
        items = [_convert(part, item, name, here) for part in aslist(value)]
        if origin in (set, frozenset, typing.get_origin(typing.AbstractSet[str])):
            return frozenset(items)
        return tuple(items) if origin is tuple else items
    if origin in _MAP_ORIGINS() or hint in _MAP_ORIGINS():
        value_type = args[1] if len(args) == 2 else str
        mapping: dict[str, Any] = {}
        for line in value.splitlines():
            if line.strip():
                key, separator, item = line.partition(":")
                if not separator or not key.strip():
                    raise ValueError(f"{line.strip()!r} is not 'Name: value' (one per line)")
                mapping[key.strip()] = _convert(item.strip(), value_type, name, here)
        return mapping
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        for member in hint:
            if value.strip().lower() in (member.name.lower(), str(member.value).lower()):
                return member
        raise ValueError(f"{value!r} is not one of {', '.join(m.name.lower() for m in hint)}")
    if _is_callable(hint):
        return _asobject(value)
    raise ValueError(
        f"option {name!r} ({_describe_type(hint, name)}) cannot be set from a configuration file"
    )


def _parameters(factory: Callable[..., Any], skip: int) -> dict[str, Any]:
    """``{option: annotation}`` for the keyword options of ``factory`` after its first ``skip`` parameters."""
    import inspect
    import typing

    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}
    target = factory.__init__ if isinstance(factory, type) else factory  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # an annotation naming something imported only for type checking
        hints = {}
    params = list(signature.parameters.values())[skip:]
    return {
        p.name: hints.get(p.name, p.annotation if not isinstance(p.annotation, str) else Any)
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def accepted_options(
    factory: Callable[..., Any], *, skip: int = 1, renames: Mapping[str, str] | None = None
) -> str:
    """``name (type), …`` for messages: the options of ``factory`` and the alias names that map to them."""
    params = _parameters(factory, skip)
    inverse = {target: alias for alias, target in (renames or {}).items()}
    parts = []
    for name, hint in params.items():
        label = f"{inverse[name]} (= {name})" if name in inverse else name
        parts.append(f"{label} ({_describe_type(hint, name)})")
    return ", ".join(parts) or "(none)"


def convert_options(
    layer: str,
    factory: Callable[..., Any],
    options: Mapping[str, Any],
    *,
    here: str | None = None,
    renames: Mapping[str, str] | None = None,
    strings_only: bool = False,
    skip: int = 1,
) -> dict[str, Any]:
    """Options for ``factory`` from configuration values, typed by its signature.

    ``renames`` maps alias option names (Paste's) to the factory's. With ``strings_only`` (TOML, where
    values are already typed) only string values are converted, and only for options that are not
    strings; other values are checked against simple annotations. Relative paths are resolved against
    ``here``. Raises :class:`ConfigError` with the offending ``key`` and the accepted options.
    """
    params = _parameters(factory, skip)
    renames = renames or {}
    result: dict[str, Any] = {}
    for key, value in options.items():
        name = renames.get(key, key)
        if name not in params:
            import difflib

            choices = [*params, *renames]
            close = difflib.get_close_matches(key, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{layer} has no option {key!r}{hint}; "
                f"it accepts: {accepted_options(factory, skip=skip, renames=renames)}",
                key=key,
            )
        hint_type = params[name]
        try:
            if isinstance(value, str):
                result[name] = _convert(value, hint_type, name, here)
            elif strings_only:
                result[name] = _check_native(value, hint_type, name, here)
            else:
                result[name] = value
        except ConfigError as exc:
            raise exc.locate(key=key) from None
        except ValueError as exc:
            raise ConfigError(
                f"{layer}: {key} = {value!r}: {exc}; expected {_describe_type(hint_type, name)}", key=key
            ) from None
    return result


def _check_native(value: Any, hint: Any, name: str, here: str | None) -> Any:
    """A TOML value against a simple annotation (bool, int, float, list); anything else is passed on."""
    import typing

    simple: dict[Any, type | tuple[type, ...]] = {bool: bool, int: int, float: (int, float)}
    members = typing.get_args(hint) if _is_union(hint) else (hint,)
    if type(None) in members and value is None:
        return None
    checks = [simple[m] for m in members if m in simple]
    if len(checks) == len(members) and checks:
        ok = any(isinstance(value, c) and not (isinstance(value, bool) and c is not bool) for c in checks)
        if not ok:
            raise ValueError(f"{type(value).__name__} {value!r} is not a {_describe_type(hint, name)}")
    if isinstance(value, list) and any(typing.get_origin(m) in _LIST_ORIGINS() for m in members):
        return value
    if isinstance(value, dict):
        for member in members:
            if typing.get_origin(member) in _MAP_ORIGINS():
                # A TOML table: its values get what a top-level value would (e.g. "10MiB" for an int size).
                args = typing.get_args(member)
                item = args[1] if len(args) == 2 else Any
                return {
                    key: _convert(v, item, name, here)
                    if isinstance(v, str)
                    else _check_native(v, item, name, here)
                    for key, v in value.items()
                }
    if any(_is_path(m) for m in members) and isinstance(value, str):
        return _convert(value, hint, name, here)
    return value


# --------------------------------------------------------------------------------------------------
# Factories


class FilterFactory:
    """A ``paste.filter_app_factory`` for one wsgistack middleware: ``factory(app, global_conf, **options)``.

    ``target`` is the middleware as ``module:Class`` (imported when first used). ``renames`` maps Paste's
    option names to ours; ``defaults`` are this entry point's own defaults (an alias may differ from
    the middleware, as Paste's did); ``from_global`` lists options also read from ``global_conf`` (as
    Paste read ``debug``); ``unsupported`` explains options that Paste had and wsgistack does not.
    """

    def __init__(
        self,
        name: str,
        target: str,
        *,
        renames: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        from_global: tuple[str, ...] = (),
        unsupported: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.target = target
        self.renames = dict(renames or {})
        self.defaults = dict(defaults or {})
        self.from_global = from_global
        self.unsupported = dict(unsupported or {})

    def middleware(self) -> Callable[..., WSGIApplication]:
        from .config import _import_object

        factory: Callable[..., WSGIApplication] = _import_object(self.target, None, f"middleware {self.name}")
        return factory

    def wsgistack_layer(self, global_conf: Mapping[str, Any], local_conf: Mapping[str, Any]) -> Layer[Any]:
        """The :class:`~wsgistack.pipeline.Layer` these INI options describe (typed, validated)."""
        from .pipeline import Layer, LayerError

        factory = self.middleware()
        options = dict(local_conf)
        for key in self.unsupported:
            if key in options:
                raise ConfigError(
                    f"{self.name}: option {key!r} is not supported: {self.unsupported[key]}", key=key
                )
        for key in self.from_global:
            if key not in options and key in global_conf:
                options[key] = global_conf[key]
        here = global_conf.get("here")
        typed = convert_options(
            self.name, factory, options, here=here if isinstance(here, str) else None, renames=self.renames
        )
        for key, value in self.defaults.items():
            typed.setdefault(key, value)
        try:
            return Layer(factory, **typed)
        except LayerError as exc:
            raise ConfigError(f"{self.name}: {exc}") from None

    def apply(
        self, layer: Layer[Any], app: WSGIApplication, local_conf: Mapping[str, Any]
    ) -> WSGIApplication:
        """``layer.build(app)``; the middleware's own validation errors become ConfigErrors with the key."""
        try:
            return layer.build(app)
        except (TypeError, ValueError) as exc:  # the middleware's message starts with the option's name
            message = str(exc)
            key = next((k for k in local_conf if message.startswith((k, self.renames.get(k, k)))), None)
            key = key or next((k for k in local_conf if k in message), None)
            raise ConfigError(f"{self.name}: {exc}", key=key) from None

    def __call__(
        self, app: WSGIApplication, global_conf: Mapping[str, Any], **local_conf: Any
    ) -> WSGIApplication:
        return self.apply(self.wsgistack_layer(global_conf, local_conf), app, local_conf)

    def __repr__(self) -> str:
        return f"<paste.filter_app_factory {self.name} -> {self.target}>"


static = FilterFactory("static", "wsgistack.static:StaticFiles")
compress = FilterFactory("compress", "wsgistack.compress:Compress")
body_limit = FilterFactory("body_limit", "wsgistack.body_limit:BodyLimit")
errors = FilterFactory("errors", "wsgistack.errors:CatchErrors")
access_log = FilterFactory("access_log", "wsgistack.access_log:AccessLog")
request_id = FilterFactory("request_id", "wsgistack.request_id:RequestID")

#: Paste's ``egg:Paste#gzip`` (paste.gzipper): ``compress_level``.
gzip = FilterFactory("gzip", "wsgistack.compress:Compress", renames={"compress_level": "gzip_level"})

#: Paste's ``egg:Paste#translogger``: its option names, its logger name ``wsgi`` and, as Paste did by
#: default, a console handler (``setup_console_handler = false`` turns it off). Paste's ``format`` atoms
#: (``%(REMOTE_ADDR)s``, ``%(time)s``, …) are AccessLog atoms too.
translogger = FilterFactory(
    "translogger",
    "wsgistack.access_log:AccessLog",
    renames={"logger_name": "logger", "logging_level": "level", "setup_console_handler": "console"},
    defaults={"logger": "wsgi", "console": True},
    unsupported={"set_logger_level": "the logger's level is set by the logging configuration ([loggers])"},
)

_NO_MAIL = "configure a logging handler (e.g. logging.handlers.SMTPHandler) on the 'wsgistack.errors' logger"
#: Paste's ``egg:Paste#error_catcher``: ``debug`` (also from ``[DEFAULT]``, as Paste), ``error_message``.
error_catcher = FilterFactory(
    "error_catcher",
    "wsgistack.errors:CatchErrors",
    renames={"error_message": "message"},
    from_global=("debug",),
    unsupported={
        **dict.fromkeys(
            (
                "error_email",
                "smtp_server",
                "smtp_username",
                "smtp_password",
                "smtp_use_tls",
                "from_address",
                "error_subject_prefix",
            ),
            f"e-mail reports: {_NO_MAIL}",
        ),
        "error_log": "errors are logged to the 'wsgistack.errors' logger; point a FileHandler at it",
        "show_exceptions_in_wsgi_errors": "errors are logged to the 'wsgistack.errors' logger",
        "xmlhttp_key": "the error page is chosen by the Accept header",
    },
)


def _not_found(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    from .core import plain_response

    return plain_response(environ, start_response, "404 Not Found", "Not Found\n")


def static_app(
    global_conf: Mapping[str, Any], document_root: str | None = None, **local_conf: Any
) -> WSGIApplication:
    """Paste's ``egg:Paste#static`` app: the files under ``document_root``, 404 for anything else.

    Paste's ``cache_max_age`` is StaticFiles' ``max_age``; StaticFiles' own options work too.
    """
    if document_root is None:
        raise ConfigError(
            "static: option 'document_root' is required (the directory to serve)", key="document_root"
        )
    local_conf.setdefault("prefix", "/")
    layer = _static_app_factory.wsgistack_layer(global_conf, {"directory": document_root, **local_conf})
    try:
        return layer.build(_not_found)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"static: {exc}") from None


_static_app_factory = FilterFactory(
    "static", "wsgistack.static:StaticFiles", renames={"cache_max_age": "max_age"}
)


def demo_app(global_conf: Mapping[str, Any], **local_conf: Any) -> WSGIApplication:
    """The demo application of ``recipes/demo.ini`` (see :mod:`wsgistack.demo`)."""
    from .demo import make_app

    options = convert_options("demo", make_app, local_conf, skip=0)
    return make_app(**options)
