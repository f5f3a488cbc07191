"""Configuration files: PasteDeploy-format INI and TOML, loaded into a WSGI application.

:func:`load` reads

* an INI file in PasteDeploy's format (``[DEFAULT]``, ``[app:]``, ``[filter:]``, ``[pipeline:]``,
  ``[filter-app:]``, ``[composite:]``; ``use = egg:Dist#name | call:module:object | config:file#name``;
  ``%(here)s`` interpolation, ``set``/``get``), with PasteDeploy's precedence rules, through this
  module's own parser: neither PasteDeploy nor ``pkg_resources`` is needed;
* a TOML file (``wsgistack.toml``, or ``[tool.wsgistack]`` in ``pyproject.toml``): ``app = "module:object"``
  and an ordered array of ``[[layer]]`` tables, outermost first, built through :mod:`wsgistack.pipeline`.

Every mistake raises :class:`ConfigError` naming the file, the section and the key. Nothing heavy is
imported here at module level: ``import wsgistack`` stays fast and ``load()`` imports only what the
file names.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from .core import WSGIApplication
    from .pipeline import Layer

__all__ = ["ConfigError", "ConfigWarning", "describe", "load"]

#: PasteDeploy's section prefixes per object kind; each inner tuple is one group of synonyms.
_APP_PREFIXES = (("app", "application"), ("composite", "composit"), ("pipeline",), ("filter-app",))
_FILTER_PREFIXES = (("filter",),)
_APP_PROTOCOLS = (("paste.app_factory",), ("paste.composite_factory",), ("paste.composit_factory",))
#: In one group the first protocol found wins, as in PasteDeploy (filter_factory before filter_app_factory).
_FILTER_PROTOCOLS = (("paste.filter_factory", "paste.filter_app_factory"),)
_OUR_PREFIXES = frozenset(
    prefix for groups in (_APP_PREFIXES, _FILTER_PREFIXES) for group in groups for prefix in group
)
_MAX_INTERPOLATION_DEPTH = 10  # configparser's MAX_INTERPOLATION_DEPTH


class ConfigError(ValueError):
    """A mistake in a configuration file; the message names the file, the section and the key.

    The parts are also attributes (``file``, ``line``, ``section``, ``key``; any may be None) so tools can
    point at the place. ``message`` is the description without the location.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike[str] | None = None,
        section: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.file = os.fspath(file) if file is not None else None
        self.section = section
        self.key = key
        self.line = line
        super().__init__(str(self))

    def locate(
        self,
        *,
        file: str | os.PathLike[str] | None = None,
        section: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> ConfigError:
        """Fill in the parts of the location that are still unknown; returns ``self``."""
        if self.file is None and file is not None:
            self.file = os.fspath(file)
            if self.line is None:
                self.line = line
        if self.section is None:
            self.section = section
        if self.key is None:
            self.key = key
        self.args = (str(self),)
        return self

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.section is not None:
            where = f"{where} [{self.section}]" if where else f"[{self.section}]"
        if self.key is not None:
            where = f"{where} {self.key}" if where else self.key
        return f"{where}: {self.message}" if where else self.message


class ConfigWarning(UserWarning):
    """A configuration that loads but probably does not do what it says (see the message)."""


def _fail(message: str, where: _Where | None = None, *, key: str | None = None) -> NoReturn:
    if where is None:
        raise ConfigError(message, key=key)
    raise ConfigError(message, file=where.file, section=where.section, key=key or where.key, line=where.line)


class _Where:
    """A place in a configuration file, for messages."""

    __slots__ = ("file", "key", "line", "section")

    def __init__(
        self, file: str | None, section: str | None = None, key: str | None = None, line: int | None = None
    ) -> None:
        self.file, self.section, self.key, self.line = file, section, key, line

    def at(self, key: str, line: int | None) -> _Where:
        return _Where(self.file, self.section, key, line)


# --------------------------------------------------------------------------------------------------
# INI syntax: the dialect of configparser as PasteDeploy sets it up (no inline comments, "=" or ":",
# indented continuation lines, comment lines skipped inside values, case-sensitive keys), parsed here
# so that every key keeps its line number and only PasteDeploy's own sections are held to strictness.


class _Entry:
    __slots__ = ("key", "line", "value")

    def __init__(self, key: str, value: str, line: int) -> None:
        self.key, self.value, self.line = key, value, line


class _Section:
    __slots__ = ("entries", "line", "name")

    def __init__(self, name: str, line: int) -> None:
        self.name, self.line = name, line
        self.entries: dict[str, _Entry] = {}


class IniFile:
    """A parsed INI file: ``defaults`` (the ``[DEFAULT]`` section) and the other sections in file order.

    Sections whose prefix is PasteDeploy's (``app:``, ``filter:``, …) and ``[DEFAULT]`` must not repeat a
    key or a section; any other section (``[uwsgi]``, ``[server:main]``, logging) is kept as read, later
    keys replacing earlier ones, because other tools own their rules (uWSGI repeats keys on purpose).
    """

    __slots__ = ("defaults", "path", "sections")

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.defaults = _Section("DEFAULT", 0)
        self.sections: dict[str, _Section] = {}
        self._parse(text)

    @classmethod
    def read(cls, path: str, where: _Where | None = None) -> IniFile:
        try:
            with open(path, encoding="utf-8-sig") as stream:
                text = stream.read()
        except FileNotFoundError:
            _fail(f"configuration file {path!r} does not exist", where)
        except IsADirectoryError:
            _fail(f"configuration file {path!r} is a directory", where)
        except UnicodeDecodeError as exc:
            _fail(f"configuration file {path!r} is not UTF-8 text ({exc.reason} at byte {exc.start})", where)
        except OSError as exc:
            _fail(f"cannot read configuration file {path!r}: {exc.strerror or exc}", where)
        return cls(path, text)

    def _strict(self, section: _Section) -> bool:
        return section is self.defaults or section.name.split(":", 1)[0].strip() in _OUR_PREFIXES

    def _error(self, line: int, message: str, section: str | None = None) -> NoReturn:
        raise ConfigError(message, file=self.path, line=line, section=section)

    def _parse(self, text: str) -> None:
        section: _Section | None = None
        values: dict[str, list[str]] = {}  # the current section's values, line by line
        current: str | None = None  # the key whose value continuation lines extend
        indent = 0
        seen_sections: dict[str, int] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            stripped = raw.strip()
            is_comment = stripped.startswith(("#", ";"))
            if not stripped or is_comment:
                # configparser keeps blank lines inside a value (trimmed at the end) and drops comments.
                if not is_comment and section is not None and current is not None:
                    values[current].append("")
                continue
            line_indent = len(raw) - len(raw.lstrip())
            if section is not None and current is not None and line_indent > indent:
                values[current].append(stripped)
                continue
            indent = line_indent
            if stripped.startswith("[") and "]" in stripped[2:]:
                name = stripped[1 : stripped.rindex("]")]
                self._finish(section, values)
                current, values = None, {}
                if name == "DEFAULT":
                    section = self.defaults
                    values = {key: [entry.value] for key, entry in section.entries.items()}
                    continue
                if name in seen_sections:
                    existing = self.sections[name]
                    if self._strict(existing):
                        self._error(
                            number,
                            f"section [{name}] appears twice (lines {seen_sections[name]} and {number}); "
                            "merge them into one",
                            name,
                        )
                    section = existing
                    values = {key: [entry.value] for key, entry in section.entries.items()}
                    continue
                seen_sections[name] = number
                section = self.sections[name] = _Section(name, number)
                continue
            if section is None:
                self._error(number, f"line {number} comes before any [section] header: {_excerpt(stripped)}")
            key, separator, value = _split_option(stripped)
            if not separator or not key:
                if self._strict(section):
                    self._error(
                        number, f"line {number} is not 'key = value': {_excerpt(stripped)}", section.name
                    )
                current = None  # tolerated in sections other tools own
                continue
            previous = section.entries.get(key)
            if previous is not None and key in values and self._strict(section):
                raise ConfigError(
                    f"key {key!r} is set twice (lines {previous.line} and {number}); keep one",
                    file=self.path,
                    line=number,
                    section=section.name,
                    key=key,
                )
            section.entries[key] = _Entry(key, "", number)
            values[key] = [value]
            current = key
        self._finish(section, values)

    @staticmethod
    def _finish(section: _Section | None, values: dict[str, list[str]]) -> None:
        if section is None:
            return
        for key, lines in values.items():
            section.entries[key].value = "\n".join(lines).rstrip()


def _split_option(line: str) -> tuple[str, str, str]:
    """``key = value`` or ``key: value``: the first ``=`` or ``:`` separates, as configparser's OPTCRE."""
    for index, char in enumerate(line):
        if char in "=:":
            return line[:index].rstrip(), char, line[index + 1 :].strip()
    return line, "", ""


def _excerpt(text: str, limit: int = 60) -> str:
    # Only a short excerpt: a file named by mistake (config:/etc/shadow) is not echoed into logs.
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _interpolate(value: str, mapping: Mapping[str, Any], where: _Where, depth: int = 1) -> str:
    """configparser's BasicInterpolation: ``%(name)s`` from ``mapping``, ``%%`` for a literal ``%``."""
    if depth > _MAX_INTERPOLATION_DEPTH:
        _fail(
            f"interpolation nested deeper than {_MAX_INTERPOLATION_DEPTH} levels (a reference cycle?)", where
        )
    if "%" not in value:
        return value
    out: list[str] = []
    rest = value
    while rest:
        index = rest.find("%")
        if index < 0:
            out.append(rest)
            break
        out.append(rest[:index])
        rest = rest[index:]
        follower = rest[1:2]
        if follower == "%":
            out.append("%")
            rest = rest[2:]
        elif follower == "(":
            end = rest.find(")s")
            name = rest[2:end] if end > 2 else ""
            if not name or ")" in name:
                _fail(f"bad interpolation {_excerpt(rest)}: write %(name)s, or %% for a literal %", where)
            rest = rest[end + 2 :]
            try:
                replacement = mapping[name]
            except KeyError:
                known = ", ".join(sorted(str(key) for key in mapping))
                _fail(
                    f"%({name})s refers to an undefined name; defined here: {known} "
                    "(write %% for a literal %)",
                    where,
                )
            replacement = str(replacement)
            out.append(
                _interpolate(replacement, mapping, where, depth + 1) if "%" in replacement else replacement
            )
        else:
            _fail(f"'%' must be followed by '%' or '(' in {_excerpt(rest)}; write %% for a literal %", where)
    return "".join(out)


# --------------------------------------------------------------------------------------------------
# Distributions and entry points, read from the *.dist-info directories on sys.path. importlib.metadata
# costs ~40 ms to import (email, zipfile, csv); this covers the ordinary layout and falls back to it for
# anything else (zipped or custom-finder distributions).


def _normalize(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "_", name).lower()


def _directory_index(directory: str) -> dict[str, str] | None:
    """``{normalized name: metadata directory}`` in one sys.path entry; None for a file (a zip)."""
    try:
        names = os.listdir(directory)
    except NotADirectoryError:
        return None
    except OSError:
        return {}
    index: dict[str, str] = {}
    for name in names:
        if name.endswith((".dist-info", ".egg-info")):
            stem = name.rsplit(".", 1)[0]  # "name-1.0.dist-info", "name.egg-info"
            index.setdefault(_normalize(stem.partition("-")[0]), os.path.join(directory, name))
    return index


def _metadata_dirs(spec: str, cache: dict[str, Any] | None = None) -> list[str] | None:
    """The metadata directory of ``spec`` (first on sys.path wins); [] if absent, None if unsure."""
    wanted = _normalize(spec)
    cache = {} if cache is None else cache
    for entry in sys.path:
        directory = entry or "."
        if directory not in cache:
            cache[directory] = _directory_index(directory)
        index = cache[directory]
        if index is None:
            return None  # a zip on sys.path may hold distributions: let importlib.metadata decide
        if wanted in index:
            return [index[wanted]]
    return []


def _entry_points(
    spec: str, where: _Where | None, cache: dict[str, Any] | None = None
) -> dict[str, dict[str, str]]:
    """``{group: {name: "module:attr"}}`` of the installed distribution ``spec``.

    ``cache`` (one per load) keeps directory listings and parsed files: a pipeline names the same
    distribution several times.
    """
    cache = {} if cache is None else cache
    key = f"entry points of {_normalize(spec)}"
    if key not in cache:
        cache[key] = _read_entry_points(spec, where, cache)
    result: dict[str, dict[str, str]] = cache[key]
    return result


def _read_entry_points(spec: str, where: _Where | None, cache: dict[str, Any]) -> dict[str, dict[str, str]]:
    found = _metadata_dirs(spec, cache)
    if found:
        path = os.path.join(found[0], "entry_points.txt")
        if not os.path.isfile(path):
            return {}
        parsed = IniFile.read(path, where)
        return {name: {key: e.value for key, e in s.entries.items()} for name, s in parsed.sections.items()}
    if found is None:
        import importlib.metadata

        try:
            distribution = importlib.metadata.distribution(spec)
        except importlib.metadata.PackageNotFoundError:
            pass
        else:
            groups: dict[str, dict[str, str]] = {}
            for point in distribution.entry_points:
                groups.setdefault(point.group, {})[point.name] = point.value
            return groups
    hint = ""
    if _normalize(spec) == "paste":
        hint = (
            "; wsgistack provides Paste's middlewares under the same names: "
            "write egg:wsgistack#… instead of egg:Paste#…"
        )
    _fail(f"distribution {spec!r} is not installed{hint}", where)


def _import_object(spec: str, where: _Where | None, what: str = "object") -> Any:
    """``package.module:attr.attr`` (an entry point value; extras in brackets are ignored)."""
    import importlib

    text = spec.split("[", 1)[0].strip()
    module_name, _, attrs = text.partition(":")
    module_name, attrs = module_name.strip(), attrs.strip()
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        _fail(f"{what} {spec!r} is not 'module:object'", where)
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        _fail(f"cannot import module {module_name!r} for {what} {spec!r}: {exc}", where)
    except Exception as exc:
        _fail(
            f"importing module {module_name!r} for {what} {spec!r} failed: {type(exc).__name__}: {exc}", where
        )
    for attr in filter(None, attrs.split(".")):
        try:
            target = getattr(target, attr)
        except AttributeError:
            _fail(
                f"{what} {spec!r}: {getattr(target, '__name__', module_name)!r} has no attribute {attr!r}",
                where,
            )
    return target


# --------------------------------------------------------------------------------------------------
# The loader: PasteDeploy's object model (contexts created first, invoked afterwards) with every lookup
# failure turned into a ConfigError that says where.

_APP, _FILTER = "application", "filter"
_PIPELINE, _FILTER_APP, _FILTER_WITH = "pipeline", "filter-app", "filter-with"


class _Node:
    """One box of the diagram printed by ``wsgistack check``."""

    __slots__ = ("children", "label")

    def __init__(self, label: str, children: list[tuple[str, _Node]] | None = None) -> None:
        self.label = label
        self.children = children or []

    def render(self) -> str:
        lines = [self.label]
        self._render_children(lines, "")
        return "\n".join(lines)

    def _render_children(self, lines: list[str], prefix: str) -> None:
        for index, (mount, child) in enumerate(self.children):
            last = index == len(self.children) - 1
            label = f"{mount} → {child.label}" if mount else child.label
            lines.append(f"{prefix}{'└── ' if last else '├── '}{label}")
            child._render_children(lines, prefix + ("    " if last else "│   "))


_Filter = Callable[["WSGIApplication"], "WSGIApplication"]
_FilterChain = Callable[[Sequence[tuple[_Filter, str]], "WSGIApplication"], "WSGIApplication"]

#: How a pipeline's filters (with their diagram labels, outermost first) are put around its app; None:
#: each filter wraps the next. ``wsgistack.testing`` sets it while loading a stack for ``layer_lint``, to
#: put a validator between every two layers.
FILTER_CHAIN: ContextVar[_FilterChain | None] = ContextVar("wsgistack.config.FILTER_CHAIN", default=None)


class _Built:
    """What a context creates: an app with its diagram node, or a filter with its labels (outermost first)."""

    __slots__ = ("filters", "node", "value")

    def __init__(
        self, value: Any, node: _Node | None = None, filters: list[tuple[_Filter, str]] | None = None
    ):
        self.value = value
        self.node = node
        self.filters = filters or []

    def apply(self, app: _Built) -> _Built:
        result, node = app.value, app.node
        for _, label in reversed(self.filters):
            node = _Node(label, [("", node)] if node is not None else [])
        chain = FILTER_CHAIN.get()
        if chain is not None and self.filters:
            return _Built(chain(self.filters, result), node)
        for wrap, _ in reversed(self.filters):
            result = wrap(result)
        return _Built(result, node)


class _Context:
    __slots__ = (
        "app_context",
        "filter_context",
        "filter_contexts",
        "global_conf",
        "key_where",
        "kind",
        "label",
        "loader",
        "local_conf",
        "next_context",
        "object",
        "protocol",
        "session",
        "where",
    )

    def __init__(
        self,
        session: _Session,
        kind: str,
        obj: Any,
        protocol: str | None,
        global_conf: dict[str, Any],
        local_conf: dict[str, Any],
        loader: _BaseLoader,
        where: _Where,
        label: str,
    ) -> None:
        self.session, self.kind, self.object, self.protocol = session, kind, obj, protocol
        self.global_conf, self.local_conf, self.loader, self.where, self.label = (
            global_conf,
            local_conf,
            loader,
            where,
            label,
        )
        self.key_where: dict[str, _Where] = {}
        self.app_context: _Context | None = None
        self.next_context: _Context | None = None
        self.filter_context: _Context | None = None
        self.filter_contexts: list[_Context] = []

    @property
    def makes_app(self) -> bool:
        return self.kind != _FILTER and not (
            self.kind == _FILTER_WITH and self.next_context is not None and not self.next_context.makes_app
        )

    def create(self) -> _Built:
        if self.kind == _PIPELINE:
            assert self.app_context is not None
            app = self.app_context.create()
            built = [context.create() for context in self.filter_contexts]
            return _Built(None, filters=[f for b in built for f in b.filters]).apply(app)
        if self.kind == _FILTER_APP:
            assert self.next_context is not None
            assert self.filter_context is not None
            next_app = self.next_context.create()
            return self.filter_context.create().apply(next_app)
        if self.kind == _FILTER_WITH:
            assert self.next_context is not None
            assert self.filter_context is not None
            outer = self.filter_context.create()
            inner = self.next_context.create()
            if inner.filters or inner.node is None:
                return _Built(None, filters=outer.filters + inner.filters)
            return outer.apply(inner)
        return self._invoke()

    def _label(self, spec: str, options: bool = True) -> str:
        here = os.path.dirname(os.path.abspath(self.where.file)) if self.where.file else None
        shown = ", ".join(f"{key}={_short(value, here)}" for key, value in self.local_conf.items())
        source = f"  [{self.where.section}]" if self.where.section and self.where.key is None else ""
        return f"{spec}({shown}){source}" if options else f"{spec}{source}"

    def _invoke(self) -> _Built:
        factory, local = self.object, self.local_conf
        # call: gives an object without a protocol; the section kind (or the object kind) says how to call it.
        protocol = self.protocol or ("paste.app_factory" if self.kind == _APP else "paste.filter_factory")
        layer_from_config = getattr(factory, "wsgistack_layer", None)
        if protocol == "paste.filter_app_factory" and layer_from_config is not None:
            # A wsgistack middleware: build its Layer once to show its typed options in the diagram.
            layer: Layer[Any] = self._guard(layer_from_config, self.global_conf, local)
            source = f"[{self.where.section}]" if self.where.key is None else self.label
            apply_layer = factory.apply

            def build(app: WSGIApplication) -> WSGIApplication:
                result: WSGIApplication = apply_layer(layer, app, local)
                return result

            return _Built(None, filters=[(self._guarded(build), f"{layer!r}  {source}")])
        if protocol == "paste.app_factory":
            app = self._guard(factory, self.global_conf, **local)
            return _Built(app, _Node(self._label(self.label)))
        if protocol in ("paste.composite_factory", "paste.composit_factory"):
            api = CompositeLoader(self)
            with self.session.entering(self.where, "composite"):
                app = self._guard(factory, api, self.global_conf, **local)
            return _Built(app, _Node(self._label(self.label, options=False), api.children))
        if protocol == "paste.filter_factory":
            wrap = self._guard(factory, self.global_conf, **local)
            if not callable(wrap):
                _fail(
                    f"filter factory {self.label} returned {wrap!r}, not a callable taking the app",
                    self.where,
                )
            return _Built(None, filters=[(self._guarded(wrap), self._label(self.label))])
        if protocol == "paste.filter_app_factory":
            self._check_signature(factory, (None, self.global_conf), local)
            global_conf = self.global_conf

            def filter_app(app: WSGIApplication) -> WSGIApplication:
                result: WSGIApplication = self._guard(factory, app, global_conf, **local)
                return result

            return _Built(None, filters=[(filter_app, self._label(self.label))])
        _fail(
            f"{self.label} cannot be used as {'an app' if self.kind == _APP else 'a filter'} "
            f"(entry point group {protocol})",
            self.where,
        )

    def _guarded(self, wrap: Callable[[Any], Any]) -> _Filter:
        def apply(app: WSGIApplication) -> WSGIApplication:
            result: WSGIApplication = self._guard(wrap, app)
            return result

        return apply

    def _check_signature(self, factory: Any, args: tuple[Any, ...], local: Mapping[str, Any]) -> None:
        import inspect

        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):
            return
        try:
            signature.bind(*args, **local)
        except TypeError as exc:
            params = list(list(signature.parameters.values())[len(args) :])
            accepted = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
            unknown = [key for key in local if key not in signature.parameters]
            if unknown:
                key = unknown[0]
                where = self.key_where.get(key, self.where.at(key, None))
                _fail(
                    f"{self.label} does not accept option {key!r}; "
                    f"it accepts: {', '.join(accepted) or '(none)'}",
                    where,
                    key=key,
                )
            _fail(f"{self.label} cannot be called with these options: {exc}", self.where)

    def _guard(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Call a factory; any error becomes a ConfigError that says which section and key built it."""
        if kwargs:
            self._check_signature(function, args, kwargs)
        try:
            return function(*args, **kwargs)
        except ConfigError as exc:
            key_where = self.key_where.get(exc.key) if exc.key else None
            where = key_where or self.where
            raise exc.locate(file=where.file, section=where.section, key=exc.key, line=where.line) from None
        except Exception as exc:
            raise ConfigError(
                f"{self.label} failed: {type(exc).__name__}: {exc}",
                file=self.where.file,
                section=self.where.section,
                line=self.where.line,
            ) from exc


def _short(value: Any, here: str | None = None, limit: int = 40) -> str:
    """A short repr of an option value; a path under the file's directory is shown as ``%(here)s/…``."""
    if here and isinstance(value, str) and value.startswith(here + os.sep):
        value = "%(here)s" + value[len(here) :]
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 2] + "…" + text[-1]


class _Session:
    """State of one load(): parsed files and the chain of sections being resolved (cycle detection)."""

    def __init__(self) -> None:
        self.files: dict[str, IniFile] = {}
        self.distributions: dict[str, Any] = {}
        self.stack: list[tuple[str, str | None, str | None]] = []
        self.stack_where: list[_Where] = []

    def parse(self, path: str, where: _Where | None) -> IniFile:
        parsed = self.files.get(path)
        if parsed is None:
            parsed = self.files[path] = IniFile.read(path, where)
        return parsed

    def entering(self, where: _Where, what: str) -> _Entering:
        return _Entering(self, where, what)


class _Entering:
    def __init__(self, session: _Session, where: _Where, what: str) -> None:
        self.session, self.where, self.what = session, where, what
        self.key = (where.file or "", where.section, what)

    def __enter__(self) -> None:
        stack = self.session.stack
        if self.key in stack:
            chain = [*self.session.stack_where[stack.index(self.key) :], self.where]
            path = " → ".join(f"{os.path.basename(w.file or '?')} [{w.section}]" for w in chain)
            _fail(f"configuration refers to itself: {path}", self.where)
        stack.append(self.key)
        self.session.stack_where.append(self.where)

    def __exit__(self, *exc: object) -> None:
        self.session.stack.pop()
        self.session.stack_where.pop()


class _BaseLoader:
    session: _Session

    def get_context(
        self, kind: str, name: str, global_conf: dict[str, Any] | None, where: _Where
    ) -> _Context:
        raise NotImplementedError


def _caller_level() -> int:
    """``stacklevel`` for a warning, so that it points at the code that called into wsgistack."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).startswith("wsgistack."):
        frame, level = frame.f_back, level + 1
    return level


def _kind_name(kind: str) -> str:
    return "app" if kind == _APP else "filter"


def _is_uri(name: str) -> bool:
    scheme, colon, _ = name.partition(":")
    return bool(colon) and scheme.isascii() and scheme.isalpha()


def _context_for_uri(
    session: _Session,
    kind: str,
    uri: str,
    global_conf: dict[str, Any] | None,
    where: _Where,
    relative_to: str,
) -> _Context:
    """``egg:``, ``call:`` and ``config:`` references (PasteDeploy's ``loadcontext``)."""
    target, _, fragment = uri.partition("#")
    name = fragment or "main"
    scheme, _, rest = target.partition(":")
    scheme = scheme.lower()
    if scheme == "config":
        from urllib.parse import unquote

        path = rest.strip().replace("\\", "/")
        if path.startswith("///"):
            path = path[2:]
        path = os.path.normpath(os.path.join(relative_to, unquote(path)))
        loader = FileLoader(session, path, global_conf, where)
        return loader.get_context(kind, name, global_conf, where)
    if scheme == "egg":
        return EggLoader(session, rest).get_context(kind, name, global_conf, where)
    if scheme == "call":
        if ":" not in rest:
            _fail(f"{uri!r} is not call:module:object", where)
        obj = _import_object(rest, where, "call:")
        return _Context(
            session,
            kind,
            obj,
            None,
            global_conf if global_conf is not None else {},
            {},
            CallLoader(session),
            where,
            f"call:{rest}",
        )
    _fail(f"unknown URI scheme {scheme!r} in {uri!r}; use config:, egg: or call:", where)


class EggLoader(_BaseLoader):
    """``egg:Dist#name``: an entry point of any installed distribution."""

    def __init__(self, session: _Session, spec: str) -> None:
        self.session, self.spec = session, spec.strip()

    def get_context(
        self, kind: str, name: str, global_conf: dict[str, Any] | None, where: _Where
    ) -> _Context:
        if _is_uri(name):
            return _context_for_uri(self.session, kind, name, global_conf, where, os.getcwd())
        groups = _entry_points(self.spec, where, self.session.distributions)
        possible: list[tuple[str, str]] = []
        for options in _APP_PROTOCOLS if kind == _APP else _FILTER_PROTOCOLS:
            for protocol in options:
                if name in groups.get(protocol, {}):
                    possible.append((protocol, groups[protocol][name]))
                    break
        label = f"egg:{self.spec}#{name}"
        if not possible:
            wanted = [
                p for options in (_APP_PROTOCOLS if kind == _APP else _FILTER_PROTOCOLS) for p in options
            ]
            offered = sorted({n for p in wanted for n in groups.get(p, {})})
            other = [p for p, names in groups.items() if name in names and p.startswith("paste.")]
            what = "an app" if kind == _APP else "a filter"
            extra = f"; {name!r} is in {', '.join(other)}, so it is not {what}" if other else ""
            _fail(
                f"{label}: distribution {self.spec!r} has no {_kind_name(kind)} entry point "
                f"{name!r}{extra}; it offers: {', '.join(offered) or '(none)'}",
                where,
            )
        if len(possible) > 1:
            _fail(f"{label} is ambiguous: found in {', '.join(p for p, _ in possible)}", where)
        protocol, value = possible[0]
        obj = _import_object(value, where, f"entry point {label}")
        return _Context(
            self.session,
            kind,
            obj,
            protocol,
            global_conf if global_conf is not None else {},
            {},
            self,
            where,
            label,
        )


class CallLoader(_BaseLoader):
    def __init__(self, session: _Session) -> None:
        self.session = session

    def get_context(
        self, kind: str, name: str, global_conf: dict[str, Any] | None, where: _Where
    ) -> _Context:
        if _is_uri(name):
            return _context_for_uri(self.session, kind, name, global_conf, where, os.getcwd())
        _fail(
            f"{name!r} is not a section: this object was not loaded from a file; use egg:, call: or config:",
            where,
        )


class FileLoader(_BaseLoader):
    """One INI file, with its defaults (``here``, ``__file__``, ``[DEFAULT]``, then ``global_conf``)."""

    def __init__(
        self, session: _Session, path: str, global_conf: Mapping[str, Any] | None, where: _Where | None
    ):
        self.session = session
        self.path = path = os.path.abspath(path)
        self.ini = session.parse(path, where)
        raw: dict[str, Any] = {"here": os.path.dirname(path), "__file__": path}
        self.default_lines: dict[str, int] = {}
        for key, entry in self.ini.defaults.entries.items():
            raw[key] = entry.value
            self.default_lines[key] = entry.line
        self.from_global: set[str] = set()
        for key, value in (global_conf or {}).items():
            # PasteDeploy adds global_conf without overwriting: the file's [DEFAULT] wins for interpolation.
            if key not in raw:
                raw[key] = value
                self.from_global.add(key)
        self.raw_defaults = raw
        self._defaults: dict[str, Any] | None = None

    def defaults(self) -> dict[str, Any]:
        if self._defaults is None:
            result: dict[str, Any] = {}
            for key, value in self.raw_defaults.items():
                if isinstance(value, str) and key not in self.from_global:
                    where = _Where(self.path, "DEFAULT", key, self.default_lines.get(key))
                    result[key] = _interpolate(value, self.raw_defaults, where) or value
                else:
                    result[key] = value
            self._defaults = result
        return dict(self._defaults)

    def find_section(self, kind: str, name: str, where: _Where) -> _Section:
        possible: list[_Section] = []
        groups = _APP_PREFIXES if kind == _APP else _FILTER_PREFIXES
        for group in groups:
            for prefix in group:
                found = [
                    section
                    for section_name, section in self.ini.sections.items()
                    if section_name.startswith(prefix + ":")
                    and section_name[len(prefix) + 1 :].strip() == name
                ]
                if found:
                    possible.extend(found)
                    break
        prefixes = ", ".join(f"[{p}:{name}]" for group in groups for p in group)
        if not possible:
            import difflib

            candidates = [
                s for s in self.ini.sections if s.split(":", 1)[0] in {p for g in groups for p in g}
            ]
            names = {s.split(":", 1)[1].strip(): s for s in candidates}
            close = [names[n] for n in difflib.get_close_matches(name, names, n=1)]
            close += [s for n, s in names.items() if n.lower() == name.lower() and s not in close]
            hint = f"; did you mean [{close[0]}]? (names are case-sensitive)" if close else ""
            available = ", ".join(f"[{s}]" for s in candidates) or "(none)"
            _fail(
                f"no {_kind_name(kind)} called {name!r} in {self.path} (looked for {prefixes})"
                f"{hint}; {'apps' if kind == _APP else 'filters'} there: {available}",
                where,
            )
        if len(possible) > 1:
            sections = " and ".join(f"[{s.name}] (line {s.line})" for s in possible)
            _fail(f"{name!r} is ambiguous in {self.path}: {sections}; rename one", where)
        return possible[0]

    def get_context(
        self, kind: str, name: str, global_conf: dict[str, Any] | None, where: _Where
    ) -> _Context:
        if _is_uri(name):
            return _context_for_uri(self.session, kind, name, global_conf, where, os.path.dirname(self.path))
        section = self.find_section(kind, name, where)
        here = _Where(self.path, section.name, None, section.line)
        with self.session.entering(here, kind):
            return self._section_context(kind, section, here, global_conf)

    def _section_context(
        self, kind: str, section: _Section, here: _Where, global_conf_in: dict[str, Any] | None
    ) -> _Context:
        defaults = self.defaults()
        global_conf = dict(defaults)
        if global_conf_in is not None:
            global_conf.update(global_conf_in)
        local_conf: dict[str, Any] = {}
        key_where: dict[str, _Where] = {}
        additions: dict[str, Any] = {}
        gets: dict[str, tuple[str, _Where]] = {}
        mapping: MutableMapping[str, Any] = _Chain(section, self.raw_defaults)
        entries = [
            *section.entries.values(),
            *(e for k, e in self.ini.defaults.entries.items() if k not in section.entries),
        ]
        for entry in entries:
            key = entry.key
            in_section = section.entries.get(key) is entry
            at = _Where(self.path, section.name if in_section else "DEFAULT", key, entry.line)
            if key.startswith("set "):
                name = key[4:].strip()
                additions[name] = global_conf[name] = _interpolate(entry.value, mapping, at)
            elif key.startswith("get "):
                gets[key[4:].strip()] = (_interpolate(entry.value, mapping, at), at)
            elif key in defaults:
                if in_section:
                    self._warn_shadowed(key, at)
            else:
                local_conf[key] = _interpolate(entry.value, mapping, at)
                key_where[key] = at
        for local_name, (global_name, at) in gets.items():
            if global_name not in global_conf:
                _fail(
                    f"'get {local_name} = {global_name}': there is no global {global_name!r} "
                    f"(defined globals: {', '.join(sorted(global_conf))})",
                    at,
                )
            local_conf[local_name] = global_conf[global_name]
            key_where[local_name] = at
        filter_with = None
        if kind in (_APP, _FILTER) and "filter-with" in local_conf:
            filter_with = local_conf.pop("filter-with")
        if "require" in local_conf:
            for spec in str(local_conf.pop("require")).split():
                # Fails naming the missing distribution.
                _entry_points(spec, key_where["require"], self.session.distributions)
        prefix = section.name.split(":", 1)[0]
        if prefix == "filter-app":
            context = self._filter_app(section, here, global_conf, local_conf, key_where, additions)
        elif prefix == "pipeline":
            context = self._pipeline(section, here, global_conf, local_conf, key_where)
        elif "use" in local_conf:
            context = self._from_use(kind, section, local_conf, global_conf, additions, key_where)
        else:
            context = self._explicit(kind, section, here, local_conf, global_conf, key_where)
        if filter_with is None:
            return context
        wrapper = _Context(
            self.session,
            _FILTER_WITH,
            None,
            None,
            global_conf,
            local_conf,
            self,
            here,
            f"filter-with {filter_with}",
        )
        with_where = key_where.get("filter-with", here)
        wrapper.filter_context = self.get_context(_FILTER, str(filter_with), global_conf, with_where)
        wrapper.next_context = context
        return wrapper

    def _warn_shadowed(self, key: str, at: _Where) -> None:
        import warnings

        source = (
            "[DEFAULT]"
            if key in self.default_lines
            else (
                "the global configuration passed to the loader"
                if key in self.from_global
                else "the loader's defaults"
            )
        )
        warnings.warn(
            f"{at.file}:{at.line} [{at.section}] {key} is ignored because {source} also defines {key!r} "
            f"(PasteDeploy's rule: the global value wins). Write 'set {key} = …' to override it for this "
            "section, or rename one of them",
            ConfigWarning,
            stacklevel=_caller_level(),
        )

    def _from_use(
        self,
        kind: str,
        section: _Section,
        local_conf: dict[str, Any],
        global_conf: dict[str, Any],
        additions: dict[str, Any],
        key_where: dict[str, _Where],
    ) -> _Context:
        use = str(local_conf.pop("use")).strip()
        at = key_where.pop("use")
        context = self.get_context(kind, use, global_conf, at)
        context.global_conf.update(additions)
        context.local_conf.update(local_conf)
        context.key_where.update(key_where)
        if "__file__" in global_conf:
            context.global_conf["__file__"] = global_conf["__file__"]  # as PasteDeploy: the using file
        context.loader = self
        context.where = _Where(self.path, section.name, None, section.line)
        if context.protocol is None:  # call: gives an object; the section says how to call it
            prefix = section.name.split(":", 1)[0]
            context.protocol = {
                "app": "paste.app_factory",
                "application": "paste.app_factory",
                "composite": "paste.composite_factory",
                "composit": "paste.composite_factory",
            }.get(prefix, "paste.filter_factory")
        return context

    def _explicit(
        self,
        kind: str,
        section: _Section,
        here: _Where,
        local_conf: dict[str, Any],
        global_conf: dict[str, Any],
        key_where: dict[str, _Where],
    ) -> _Context:
        groups = _APP_PROTOCOLS if kind == _APP else _FILTER_PROTOCOLS
        possible = []
        for options in groups:
            for protocol in options:
                if protocol in local_conf:
                    possible.append(protocol)
                    break
        if len(possible) > 1:
            _fail(f"more than one factory given: {', '.join(possible)}; keep one", here)
        if not possible:
            keys = ", ".join(p for options in groups for p in options)
            _fail(f"nothing to load: give 'use = egg:…|call:…|config:…|<section>' or one of {keys}", here)
        protocol = possible[0]
        spec = str(local_conf.pop(protocol))
        obj = _import_object(spec, key_where.pop(protocol), protocol)
        context = _Context(
            self.session, kind, obj, protocol, global_conf, local_conf, self, here, spec.strip()
        )
        context.key_where.update(key_where)
        return context

    def _filter_app(
        self,
        section: _Section,
        here: _Where,
        global_conf: dict[str, Any],
        local_conf: dict[str, Any],
        key_where: dict[str, _Where],
        additions: dict[str, Any],
    ) -> _Context:
        if "next" not in local_conf:
            _fail("a [filter-app:] section needs 'next = <app name>'", here, key="next")
        next_name = str(local_conf.pop("next")).strip()
        context = _Context(
            self.session, _FILTER_APP, None, None, global_conf, local_conf, self, here, section.name
        )
        context.next_context = self.get_context(_APP, next_name, global_conf, key_where.pop("next"))
        if "use" in local_conf:
            context.filter_context = self._from_use(
                _FILTER, section, local_conf, global_conf, additions, key_where
            )
        else:
            context.filter_context = self._explicit(
                _FILTER, section, here, local_conf, global_conf, key_where
            )
        return context

    def _pipeline(
        self,
        section: _Section,
        here: _Where,
        global_conf: dict[str, Any],
        local_conf: dict[str, Any],
        key_where: dict[str, _Where],
    ) -> _Context:
        if "pipeline" not in local_conf:
            _fail("a [pipeline:] section needs 'pipeline = filter1 filter2 … app'", here, key="pipeline")
        at = key_where.pop("pipeline")
        names = str(local_conf.pop("pipeline")).split()
        if local_conf:
            extra = ", ".join(f"{key} (line {key_where[key].line})" for key in local_conf)
            _fail(
                f"a [pipeline:] section takes only 'pipeline' (options go in the filters' own sections); "
                f"remove: {extra}",
                here,
                key=next(iter(local_conf)),
            )
        if not names:
            _fail("the pipeline is empty: list the filters, outermost first, and the app last", at)
        context = _Context(
            self.session, _PIPELINE, None, None, global_conf, local_conf, self, here, section.name
        )
        context.app_context = self.get_context(_APP, names[-1], global_conf, at)
        context.filter_contexts = [self.get_context(_FILTER, name, global_conf, at) for name in names[:-1]]
        return context


class _Chain(MutableMapping[str, Any]):
    """Interpolation names of a section: its own raw values, then the raw defaults (as configparser)."""

    def __init__(self, section: _Section, defaults: Mapping[str, Any]) -> None:
        self.section, self.defaults = section, defaults

    def __getitem__(self, key: str) -> Any:
        entry = self.section.entries.get(key)
        return entry.value if entry is not None else self.defaults[key]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self.section.entries), **dict.fromkeys(self.defaults)})

    def __len__(self) -> int:
        return len(set(self.section.entries) | set(self.defaults))

    def __setitem__(self, key: str, value: Any) -> None:  # pragma: no cover - never written
        raise TypeError("read-only")

    def __delitem__(self, key: str) -> None:  # pragma: no cover - never written
        raise TypeError("read-only")


class CompositeLoader:
    """What a ``paste.composite_factory`` receives as ``loader``: resolves names in the composite's file."""

    def __init__(self, context: _Context) -> None:
        self._context = context
        self.children: list[tuple[str, _Node]] = []

    def _where(self, name: str) -> _Where:
        where = self._context.where
        for key, key_where in self._context.key_where.items():
            if str(self._context.local_conf.get(key, "")).strip() == name:
                return key_where
        return where

    def _create(self, kind: str, name: str, global_conf: dict[str, Any] | None, mount: str | None) -> Any:
        where = self._where(name)
        context = self._context.loader.get_context(kind, name, global_conf, where)
        built = context.create()
        if kind == _APP:
            if built.node is None:
                _fail(f"{name!r} is a filter, not an app", where)
            self.children.append((mount if mount is not None else name, built.node))
            return built.value
        if not built.filters:
            _fail(f"{name!r} is an app, not a filter", where)

        def apply(app: WSGIApplication) -> WSGIApplication:
            result: WSGIApplication = built.apply(_Built(app)).value
            return result

        return apply

    def get_app(self, name: str, global_conf: dict[str, Any] | None = None) -> WSGIApplication:
        result: WSGIApplication = self._create(_APP, name, global_conf, None)
        return result

    def get_app_at(self, mount: str, name: str, global_conf: dict[str, Any] | None = None) -> WSGIApplication:
        """:meth:`get_app`, shown in the diagram under ``mount`` (used by :mod:`wsgistack.urlmap`)."""
        result: WSGIApplication = self._create(_APP, name, global_conf, mount)
        return result

    def get_filter(self, name: str, global_conf: dict[str, Any] | None = None) -> _Filter:
        result: _Filter = self._create(_FILTER, name, global_conf, None)
        return result


# --------------------------------------------------------------------------------------------------
# TOML


def _toml_layer_line(text: str, index: int, key: str | None) -> int | None:
    """Line of the ``index``-th ``[[layer]]`` table (or of ``key`` in it): tomllib keeps no positions."""
    import re

    header = re.compile(r"^\s*\[\[\s*(?:tool\s*\.\s*wsgistack\s*\.\s*)?layer\s*\]\]")
    count, found = -1, None
    for number, line in enumerate(text.splitlines(), 1):
        if header.match(line):
            count += 1
            if count == index:
                found = number
                if key is None:
                    return number
            elif found is not None:
                return found
        elif found is not None and key is not None and re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
            return number
        elif found is not None and line.lstrip().startswith("["):
            return found
    return found


def _load_toml(path: str, name: str, where: _Where | None) -> tuple[WSGIApplication, str]:
    import tomllib

    from .pipeline import REGISTRY, Layer, LayerError, Pipeline

    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except OSError as exc:
        _fail(f"cannot read configuration file {path!r}: {exc.strerror or exc}", where)
    text = raw.decode("utf-8", errors="replace")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=path) from None
    table_name = "tool.wsgistack" if os.path.basename(path) == "pyproject.toml" else None
    config: Any = document
    if table_name is not None:
        config = document.get("tool", {}).get("wsgistack")
        if config is None:
            raise ConfigError("has no [tool.wsgistack] table", file=path)
    section = table_name or "top level"
    if name != "main":
        raise ConfigError(f"a TOML configuration defines one application; cannot load {name!r}", file=path)
    unknown = sorted(set(config) - {"app", "layer"})
    if unknown:
        raise ConfigError(
            "unknown key; expected 'app' and [[layer]] tables", file=path, section=section, key=unknown[0]
        )
    app_ref = config.get("app")
    if not isinstance(app_ref, str):
        raise ConfigError(
            'needs app = "module:object" (the WSGI application)', file=path, section=section, key="app"
        )
    top = _Where(path, section, "app")
    app = _import_object(app_ref, top, "app")
    if not callable(app):
        _fail(f"{app_ref!r} is {type(app).__name__}, not a WSGI application", top)
    layers_raw = config.get("layer", [])
    if not isinstance(layers_raw, list) or not all(isinstance(item, dict) for item in layers_raw):
        raise ConfigError(
            "'layer' must be an array of tables: [[layer]]", file=path, section=section, key="layer"
        )
    from .paste import convert_options

    layers: list[Layer[Any]] = []
    here = os.path.dirname(path)
    for index, table in enumerate(layers_raw):
        options = dict(table)
        layer_section = f"[layer] #{index + 1}"
        use = options.pop("use", None)
        if not isinstance(use, str) or not use.strip():
            raise ConfigError(
                'each [[layer]] needs use = "<name>" (one of: '
                f'{", ".join(sorted(REGISTRY)) or "none registered"}) or use = "module:factory"',
                file=path,
                section=layer_section,
                key="use",
                line=_toml_layer_line(text, index, None),
            )
        layer_section = f"[layer] #{index + 1} ({use})"
        use_where = _Where(path, layer_section, "use", _toml_layer_line(text, index, "use"))
        if ":" in use:
            factory = _import_object(use, use_where, "layer factory")
            display = use
        elif use in REGISTRY:
            factory, display = REGISTRY[use].factory, use
        else:
            import difflib

            hint = difflib.get_close_matches(use, list(REGISTRY), n=1)
            _fail(
                f"unknown layer {use!r}{f' (did you mean {hint[0]!r}?)' if hint else ''}; registered layers: "
                f"{', '.join(sorted(REGISTRY)) or '(none)'}; or give 'module:factory'",
                use_where,
            )
        try:
            typed = convert_options(display, factory, options, here=here, strings_only=True)
            layers.append(Layer(factory, **typed))
        except ConfigError as exc:
            raise exc.locate(
                file=path, section=layer_section, line=_toml_layer_line(text, index, exc.key)
            ) from None
        except LayerError as exc:
            key = next((k for k in options if repr(k) in str(exc)), None)
            raise ConfigError(
                str(exc), file=path, section=layer_section, key=key, line=_toml_layer_line(text, index, key)
            ) from None
    pipeline = Pipeline(*layers)
    chain = FILTER_CHAIN.get()
    try:
        wrapped = (
            chain([(layer.build, repr(layer)) for layer in layers], app)
            if chain and layers
            else pipeline.wrap(app)
        )
    except Exception as exc:
        raise ConfigError(
            f"building the pipeline failed: {type(exc).__name__}: {exc}", file=path, section=section
        ) from exc
    return wrapped, pipeline.describe(app_ref)


# --------------------------------------------------------------------------------------------------
# Public entry points


def _split_target(path_or_uri: str | os.PathLike[str], name: str) -> tuple[str, str, str]:
    """(scheme or None for a file, path or spec, section name)."""
    if isinstance(path_or_uri, os.PathLike):
        return "config", os.fspath(path_or_uri), name
    if not isinstance(path_or_uri, str):
        raise ConfigError(f"expected a path or a URI, got {type(path_or_uri).__name__}")
    target = path_or_uri.strip()
    scheme = None
    if _is_uri(target) and len(target.partition(":")[0]) > 1:  # not a Windows drive letter
        scheme, _, target = target.partition(":")
        scheme = scheme.lower()
    target, _, fragment = target.partition("#")
    if fragment and name not in ("main", fragment):
        raise ConfigError(f"{path_or_uri!r} names {fragment!r} and name={name!r} asks for another; give one")
    return scheme or "config", target, fragment or name


def _load(
    path_or_uri: str | os.PathLike[str], name: str, global_conf: Mapping[str, Any] | None
) -> tuple[WSGIApplication, str]:
    scheme, target, name = _split_target(path_or_uri, name)
    session = _Session()
    where = _Where(None)
    conf = dict(global_conf) if global_conf is not None else None
    if scheme == "config" and target.endswith(".toml"):
        return _load_toml(os.path.abspath(target), name, where)
    if scheme == "config":
        if not os.path.exists(target):
            raise ConfigError(f"configuration file {target!r} does not exist")
        loader: _BaseLoader = FileLoader(session, target, conf, where)
        context = loader.get_context(_APP, name, conf, _Where(os.path.abspath(target)))
    elif scheme in ("egg", "call"):
        context = _context_for_uri(session, _APP, f"{scheme}:{target}#{name}", conf, where, os.getcwd())
    else:
        raise ConfigError(f"unknown URI scheme {scheme!r} in {path_or_uri!r}; use config:, egg: or call:")
    if not context.makes_app:
        _fail(f"{name!r} is a filter, not an app", context.where)
    built = context.create()
    if built.node is None:
        _fail(f"{name!r} is a filter, not an app", context.where)
    return built.value, built.node.render()


def load(
    path_or_uri: str | os.PathLike[str], name: str = "main", global_conf: Mapping[str, Any] | None = None
) -> WSGIApplication:
    """The WSGI application that a configuration file describes.

    ``path_or_uri`` is a path to an INI file (PasteDeploy format) or a TOML file (``*.toml``; in
    ``pyproject.toml`` the ``[tool.wsgistack]`` table), or a URI: ``config:path.ini#name``,
    ``egg:Dist#name``, ``call:module:factory``. ``name`` picks the INI section (``[app:NAME]``,
    ``[pipeline:NAME]``, ``[composite:NAME]``, ``[filter-app:NAME]``); a ``#name`` fragment does the same.
    ``global_conf`` adds global values, as PasteDeploy's ``global_conf`` (the file's ``[DEFAULT]`` still
    wins for ``%(name)s`` interpolation).

    Raises :class:`ConfigError` for any mistake, naming the file, the section and the key.
    """
    return _load(path_or_uri, name, global_conf)[0]


def server_settings(
    path: str | os.PathLike[str], global_conf: Mapping[str, Any] | None = None
) -> dict[str, tuple[str, int]] | None:
    """An INI file's ``[server:main]``: each key's value, interpolated as the loader interpolates values
    (``here``, ``__file__``, ``[DEFAULT]``, then ``global_conf``), and its line; None without the section.

    The loader itself never reads ``[server:…]`` sections; ``wsgistack serve`` takes its defaults here.
    """
    loader = FileLoader(_Session(), os.fspath(path), global_conf, None)
    section = loader.ini.sections.get("server:main")
    if section is None:
        return None
    defaults = loader.defaults()
    return {
        key: (
            _interpolate(entry.value, defaults, _Where(loader.path, section.name, key, entry.line)),
            entry.line,
        )
        for key, entry in section.entries.items()
    }


def describe(
    path_or_uri: str | os.PathLike[str], name: str = "main", global_conf: Mapping[str, Any] | None = None
) -> str:
    """Load like :func:`load` and return the nesting diagram, outermost first, with each layer's options."""
    return _load(path_or_uri, name, global_conf)[1]
