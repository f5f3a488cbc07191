"""The real-world PasteDeploy INI corpus, loaded by wsgistack's loader and by PasteDeploy side by side.

Each file (``../shared/corpus/paste_ini/``, read in place) names factories from other projects (nova,
swift, keystone, Pyramid apps…). Stub modules and stub distributions stand in for them: every factory
records what it was called with and returns an object that works both as an app and as a filter. For
every app, pipeline, composite and filter-app section, both loaders must make the same calls, in the same
order, with the same global and local configuration, and build the same nesting. ``egg:Paste#`` is
swapped for ``egg:wsgistack#`` first (the documented migration), so Paste's ``urlmap`` and
``translogger`` are wsgistack's.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import re
import sys
import types
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from paste.deploy import loadapp

import wsgistack
from wsgistack.config import ConfigError, ConfigWarning, IniFile
from wsgistack.urlmap import URLMap

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "paste_ini"
FILES = sorted(CORPUS.glob("*.ini"))
STUB_ROOTS = frozenset(
    {
        "nova",
        "cinder",
        "glance",
        "heat",
        "neutron",
        "oslo",
        "oslo_middleware",
        "keystonemiddleware",
        "osprofiler",
        "corpus_stubs",
    }
)
APP_PREFIXES = ("app", "application", "pipeline", "composite", "composit", "filter-app")

Call = tuple[str, str, dict[str, Any], dict[str, Any]]
CALLS: list[Call] = []


class Stub:
    """A factory, an app and a filter at once: what it is depends on how a loader calls it."""

    def __init__(self, label: str, inner: object = None) -> None:
        self.label = label
        self.inner = inner

    def __getattr__(self, name: str) -> Stub:
        if name.startswith("__"):
            raise AttributeError(name)
        return Stub(f"{self.label}.{name}")

    def __call__(self, *args: Any, **local_conf: Any) -> Any:
        if len(args) == 2 and isinstance(args[0], dict) and callable(args[1]) and "wsgi.version" in args[0]:
            args[1]("200 OK", [("Content-Type", "text/plain")])
            return [self.label.encode()]
        if len(args) == 1 and callable(args[0]) and not local_conf and not isinstance(args[0], dict):
            return Stub(f"{self.label}(filter)", args[0])  # a filter made by a filter_factory, applied
        if len(args) == 2 and hasattr(args[0], "get_app"):
            return self._composite(args[0], args[1], local_conf)
        (global_conf,) = args
        CALLS.append((self.label, "factory", dict(global_conf), dict(local_conf)))
        return Stub(f"{self.label}()")

    def _composite(self, loader: Any, global_conf: dict[str, Any], local_conf: dict[str, Any]) -> Stub:
        CALLS.append((self.label, "composite", dict(global_conf), dict(local_conf)))
        if "pipeline" in self.label:  # OpenStack's pipeline_factory: one pipeline per auth strategy
            key = next(k for k in ("keystone", "default", "noauth", *local_conf) if k in local_conf)
            names = local_conf[key].split()
            filters = [loader.get_filter(name) for name in names[:-1]]
            app = loader.get_app(names[-1])
            for wrap in reversed(filters):
                app = wrap(app)
            return Stub(f"{self.label}[{key}]", app)
        mounts = {path: loader.get_app(name) for path, name in local_conf.items() if path.startswith("/")}
        return Stub(f"{self.label}[map]", mounts)


def tree(app: object) -> object:
    """The nesting of what a loader built, comparable across loaders."""
    if isinstance(app, Stub):
        inner = app.inner
        if isinstance(inner, dict):
            return (app.label, {key: tree(value) for key, value in inner.items()})
        return (app.label, tree(inner) if inner is not None else None)
    if isinstance(app, URLMap):
        return (
            "URLMap",
            [
                (host, prefix, tree(mounted))
                for (host, prefix), (_, _, mounted) in zip(app.mounts, app._mounts, strict=True)
            ],
        )
    inner = getattr(app, "app", None)
    return (type(app).__name__, tree(inner) if inner is not None else None)


class StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes any module under STUB_ROOTS; its attributes are Stubs named after their full path."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] not in STUB_ROOTS:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        module.__path__ = []

        def module_getattr(name: str) -> Stub:
            if name.startswith("__"):
                raise AttributeError(name)
            return Stub(f"{spec.name}.{name}")

        module.__getattr__ = module_getattr  # type: ignore[method-assign]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


@pytest.fixture
def stubs(tmp_path: Path) -> Iterator[Path]:
    finder = StubFinder()
    sys.meta_path.insert(0, finder)
    site = tmp_path / "site"
    site.mkdir()
    sys.path.insert(0, str(site))
    wsgi_logger = logging.getLogger("wsgi")
    handlers, propagate = list(wsgi_logger.handlers), wsgi_logger.propagate
    CALLS.clear()
    try:
        yield site
    finally:
        sys.meta_path.remove(finder)
        sys.path.remove(str(site))
        for name in [name for name in sys.modules if name.split(".")[0] in STUB_ROOTS]:
            del sys.modules[name]
        wsgi_logger.handlers[:] = handlers  # translogger's console handler, as in Paste
        wsgi_logger.propagate = propagate
        CALLS.clear()


def add_distributions(site: Path, text: str) -> None:
    """A stub distribution for every ``egg:Dist#name`` the file uses (apps and filters)."""
    groups: dict[str, dict[str, set[str]]] = {}
    section = ""
    for line in text.splitlines():
        header = re.match(r"\[(.+)\]", line.strip())
        if header:
            section = header.group(1).split(":", 1)[0]
            continue
        match = re.match(r"\s*use\s*=\s*egg:([^#\s]+)(?:#(\S+))?", line)
        if match and match.group(1) not in ("wsgistack", "Paste"):
            group = "paste.filter_factory" if section in ("filter", "filter-app") else "paste.app_factory"
            groups.setdefault(match.group(1), {}).setdefault(group, set()).add(match.group(2) or "main")
    for dist, entry_groups in groups.items():
        normalized = re.sub(r"[-_.]+", "_", dist).lower()
        info = site / f"{normalized}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        lines = []
        for group, names in sorted(entry_groups.items()):
            lines.append(f"[{group}]")
            lines += [
                f"{name} = corpus_stubs.{normalized}:{name.replace('-', '_')}" for name in sorted(names)
            ]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def app_sections(path: Path) -> list[str]:
    ini = IniFile(str(path), path.read_text())
    return [name.split(":", 1)[1].strip() for name in ini.sections if name.split(":", 1)[0] in APP_PREFIXES]


def normalized(calls: Iterable[Call]) -> list[Call]:
    # PasteDeploy's call: loader imports with __import__ and walks attributes; labels are dotted paths.
    return [(label.replace(":", "."), kind, glob, local) for label, kind, glob, local in calls]


def load_both(
    path: Path, name: str
) -> tuple[tuple[object, list[Call]], tuple[object, list[Call]], list[str]]:
    CALLS.clear()
    theirs = tree(loadapp(f"config:{path}", name=name))
    their_calls = normalized(CALLS)
    CALLS.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        ours = tree(wsgistack.load(path, name))
    our_calls = normalized(CALLS)
    return (theirs, their_calls), (ours, our_calls), [str(w.message) for w in caught]


def test_the_corpus_is_there() -> None:
    assert len(FILES) == 13


@pytest.mark.parametrize("source", FILES, ids=[path.stem for path in FILES])
def test_every_app_section_loads_as_pastedeploy_loads_it(source: Path, stubs: Path, tmp_path: Path) -> None:
    text = source.read_text().replace("egg:Paste#", "egg:wsgistack#")
    path = tmp_path / source.name
    path.write_text(text)
    add_distributions(stubs, text)
    names = app_sections(path)
    assert names, "every corpus file has at least one app section"
    for name in names:
        (theirs, their_calls), (ours, our_calls), warned = load_both(path, name)
        assert our_calls == their_calls, name
        assert ours == theirs, name
        assert their_calls, f"{name}: at least one factory ran"
        assert warned == [], name


def test_stub_factories_saw_the_files_values(stubs: Path, tmp_path: Path) -> None:
    """Spot checks that the comparison above compares something: values as the files give them."""
    source = CORPUS / "kotti__app.ini"
    path = tmp_path / source.name
    path.write_text(source.read_text())
    add_distributions(stubs, source.read_text())
    wsgistack.load(path, "kotti")
    ((label, _, global_conf, local_conf),) = normalized(CALLS)
    assert label == "corpus_stubs.kotti.main"
    assert global_conf == {"here": str(tmp_path), "__file__": str(path)}
    assert local_conf["kotti.configurators"] == ""  # a value made only of comment lines is empty
    assert local_conf["pyramid.includes"] == "\npyramid_tm"
    assert local_conf["sqlalchemy.url"] == f"sqlite:///{tmp_path}/Kotti.db"


def test_reddit_defaults_interpolate_and_foreign_sections_are_ignored(stubs: Path, tmp_path: Path) -> None:
    source = CORPUS / "reddit-archive-reddit__example.ini"
    path = tmp_path / source.name
    path.write_text(source.read_text())
    add_distributions(stubs, source.read_text())
    wsgistack.load(path)  # [server:main] port = %(http_port)s is undefined and never read
    ((label, _, global_conf, local_conf),) = normalized(CALLS)
    assert label == "corpus_stubs.r2.main"
    assert global_conf["media_domain"] == global_conf["domain"]  # %(domain)s from [DEFAULT]
    assert local_conf == {"cache_dir": f"{tmp_path}/data"}
    assert "employees" not in global_conf  # [live_config] is not PasteDeploy's


def test_without_the_swap_the_error_names_paste_and_the_fix(
    stubs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = CORPUS / "openstack-keystone__keystone-paste.ini"
    path = tmp_path / source.name
    path.write_text(source.read_text())
    add_distributions(stubs, source.read_text())
    # As on a machine without Paste: only the stub distributions are on the path.
    monkeypatch.setattr(sys, "path", [str(stubs)])
    with pytest.raises(ConfigError) as caught:
        wsgistack.load(path, "main")
    error = caught.value
    assert (error.file, error.section, error.key) == (str(path), "composite:main", "use")
    assert error.line == 86
    assert "distribution 'Paste' is not installed" in str(error)
    assert "write egg:wsgistack#… instead of egg:Paste#…" in str(error)


def test_missing_distribution_is_named(tmp_path: Path) -> None:
    source = CORPUS / "pylons-pyramid__myproject-1.1-production.ini"
    path = tmp_path / source.name
    path.write_text(source.read_text())
    with pytest.raises(ConfigError) as caught:
        wsgistack.load(path)
    error = caught.value
    assert (error.file, error.section, error.key, error.line) == (str(path), "app:MyProject", "use", 3)
    assert str(error).startswith(f"{path}:3 [app:MyProject] use: distribution 'MyProject' is not installed")
