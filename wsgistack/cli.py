"""The ``wsgistack`` command: ``serve`` a configuration, ``check`` it, ``compress`` static files.

``wsgistack serve CONFIG`` loads CONFIG with :func:`wsgistack.load` and serves it with waitress (the
default, from the ``serve`` extra), gunicorn (through its application API) or, for development only,
wsgiref: ``--server``, else the one an INI file's ``[server:main]`` names with ``use`` (as for pserve),
whose ``host``, ``port`` and ``threads``/``workers`` are the defaults of the flags. Logging comes from the
INI file's ``[loggers]``/``[handlers]``/``[formatters]`` sections when there are some (with ``here`` and
``__file__`` defined, existing loggers kept; other sections, such as ``[uwsgi]``, may repeat keys), else
from a basic console configuration. SIGTERM and SIGINT stop the server after the requests in progress.
``--reload`` runs the server, whichever it is, in a child process that a parent restarts when a watched
file changes; the parent passes SIGTERM/SIGINT on to it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import subprocess

    from .core import WSGIApplication

__all__ = ["main"]

SERVERS = ("waitress", "gunicorn", "wsgiref")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
_RELOAD_EXIT = 3  # the child's exit status that asks the reloading parent for a restart
_CHILD_ENV = "WSGISTACK_RELOADER_CHILD"
GRACE = 10.0  # seconds that requests in progress get to finish after SIGTERM/SIGINT
_STOP_MARGIN = 5.0  # seconds the reloading parent waits for its child beyond GRACE before killing it
_POLL = 0.1  # how often the reloading parent looks for signals to pass on while its child runs


class _Stop(BaseException):
    """Raised by the SIGTERM/SIGINT handler to leave the server loop (not an error)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsgistack", description="Serve, check and prepare wsgistack configurations."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the app a configuration file describes")
    serve.add_argument("config", help="INI (PasteDeploy format) or TOML file, or a config:/egg:/call: URI")
    serve.add_argument(
        "-n", "--name", default="main", help="the app, pipeline or composite to serve (default: main)"
    )
    serve.add_argument(
        "--host", help=f"interface to listen on (default: [server:main] host, else {DEFAULT_HOST})"
    )
    serve.add_argument("--port", type=int, help=f"port (default: [server:main] port, else {DEFAULT_PORT})")
    serve.add_argument(
        "--server", choices=SERVERS, help="WSGI server (default: the one [server:main] uses, else waitress)"
    )
    serve.add_argument(
        "--threads",
        type=int,
        help="worker threads (waitress) or workers (gunicorn) (default: [server:main] threads or workers)",
    )
    serve.add_argument(
        "--reload", action="store_true", help="restart when a loaded Python file or the config changes"
    )
    serve.add_argument("variables", nargs="*", metavar="KEY=VALUE", help="global configuration values")

    check = commands.add_parser("check", help="load a configuration without serving it and print the stack")
    check.add_argument("config", help="INI or TOML file, or a config:/egg:/call: URI")
    check.add_argument(
        "-n", "--name", default="main", help="the app, pipeline or composite to check (default: main)"
    )
    check.add_argument("variables", nargs="*", metavar="KEY=VALUE", help="global configuration values")

    compress = commands.add_parser(
        "compress", help="precompress static files (gzip, br, zstd) next to them", add_help=False
    )
    compress.add_argument(
        "arguments", nargs=argparse.REMAINDER, help="DIR and options; see 'wsgistack compress --help'"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["compress"]:
        # Everything after "compress" (--help included) belongs to wsgistack.precompress's own parser.
        return _compress(arguments[1:])
    args = _parser().parse_args(arguments)
    args.argv = arguments
    if args.command == "compress":
        return _compress(args.arguments)
    from .config import ConfigError

    try:
        variables = _variables(args.variables)
        if args.command == "check":
            return _check(args.config, args.name, variables)
        return _serve(args, variables)
    except ConfigError as exc:
        print(f"wsgistack {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _variables(items: Sequence[str]) -> dict[str, str]:
    from .config import ConfigError

    result = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"{item!r} is not KEY=VALUE")
        result[key.strip()] = value
    return result


def _compress(arguments: Sequence[str]) -> int:
    import importlib

    try:
        precompress = importlib.import_module("wsgistack.precompress")
    except ModuleNotFoundError as exc:
        if exc.name != "wsgistack.precompress":
            raise
        print(
            "wsgistack compress: error: this installation has no wsgistack.precompress module",
            file=sys.stderr,
        )
        return 2
    status: int | None = precompress.main(list(arguments))
    return int(status or 0)


def _check(config: str, name: str, variables: dict[str, str]) -> int:
    import warnings

    from .config import ConfigError, ConfigWarning, describe

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        diagram = describe(config, name, variables or None)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    try:  # what serve would refuse in [server:main]; pserve and the other servers do not read it alike
        _server_section(config, variables)
    except ConfigError as exc:
        print(f"warning: wsgistack serve: {exc}", file=sys.stderr)
    print(diagram)
    print(f"ok: {config} [{name}] loads", file=sys.stderr)
    return 0


def _is_ini(config: str) -> bool:
    path = config.partition("#")[0]
    if path.startswith("config:"):
        path = path[len("config:") :]
    return os.path.isfile(path) and not path.endswith(".toml")


def _ini_path(config: str) -> str:
    path = config.partition("#")[0]
    return path[len("config:") :] if path.startswith("config:") else path


def setup_logging(config: str) -> None:
    """The INI file's logging sections (fileConfig with ``here``/``__file__``), else a console default.

    As pserve and ``gunicorn --paste`` do: existing loggers stay enabled (``disable_existing_loggers``
    false), so loggers created while the app was imported keep working. fileConfig gets a parser that
    is not strict: as the loader, it lets sections that other tools own repeat keys (``[uwsgi]``'s
    ``env = …`` lines) and sections repeat, later keys replacing earlier ones; values are interpolated
    as fileConfig's own parser does (``%(here)s``, ``%(__file__)s``, ``[DEFAULT]``).
    """
    import logging

    if _is_ini(config):
        from .config import ConfigError, IniFile

        path = os.path.abspath(_ini_path(config))
        if "loggers" in IniFile.read(path).sections:
            import configparser
            import logging.config

            defaults = {"here": os.path.dirname(path), "__file__": path}
            try:
                parser = configparser.ConfigParser(
                    defaults, strict=False, interpolation=configparser.BasicInterpolation()
                )
                with open(path, encoding="utf-8-sig") as stream:  # as IniFile.read
                    parser.read_file(stream, source=path)
                logging.config.fileConfig(parser, disable_existing_loggers=False)
            except Exception as exc:
                raise ConfigError(f"logging sections: {type(exc).__name__}: {exc}", file=path) from None
            return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")


# ``[server:main] use = …`` values that name a server ``wsgistack serve`` runs: PasteDeploy's ``egg:``
# form, the distribution's name compared as pip does (case, ``-``/``_``/``.``), entry point "main" if none.
_SERVER_ENTRY_POINTS = {
    ("waitress", "main"): "waitress",
    ("gunicorn", "main"): "gunicorn",
    ("pyramid", "wsgiref"): "wsgiref",
}


class _ServerSection(NamedTuple):
    """What ``[server:main]`` says that ``wsgistack serve`` uses; None where it says nothing usable."""

    host: str | None = None
    port: int | None = None
    server: str | None = None
    threads: int | None = None  # waitress' ``threads``
    workers: int | None = None  # gunicorn's ``workers``


def _server_section(config: str, variables: dict[str, str], *, choose_server: bool = True) -> _ServerSection:
    """``[server:main]``'s ``host``/``port`` (or waitress' ``listen``, gunicorn's ``bind``), the server
    its ``use`` names, and its thread or worker counts, interpolated as the loader does (``%(here)s``,
    ``[DEFAULT]``, KEY=VALUE). A ``use`` naming a server ``serve`` does not run is a ConfigError when
    ``choose_server`` (no ``--server`` was given): serving with another server than the file names would
    be a surprise."""
    if not _is_ini(config):
        return _ServerSection()
    from .config import server_settings

    path = os.path.abspath(_ini_path(config))
    settings = server_settings(path, variables)
    if settings is None:
        return _ServerSection()
    values = {key: value.strip() for key, (value, _) in settings.items()}
    server = None
    if choose_server and "use" in values:
        server = _server_named(values["use"], path, settings["use"][1])
    host, port = values.get("host") or None, values.get("port")
    address = (values.get("listen") or values.get("bind") or "").split()
    if address and (host is None or port is None):
        address_host, _, address_port = address[0].rpartition(":")
        address_host = "0.0.0.0" if address_host == "*" else address_host.strip("[]")  # waitress' "*:8080"
        host, port = host or address_host or None, port or address_port
    return _ServerSection(
        host, _count(port), server, _count(values.get("threads")), _count(values.get("workers"))
    )


def _count(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _server_named(use: str, path: str, line: int) -> str:
    from .config import ConfigError

    scheme, _, reference = use.partition(":")
    distribution, _, entry_point = reference.partition("#")
    name = re.sub(r"[-_.]+", "-", distribution.strip()).lower()
    server = _SERVER_ENTRY_POINTS.get((name, entry_point.strip() or "main"))
    if scheme.strip() != "egg" or server is None:
        known = ", ".join(
            f"{runs} (egg:{dist}#{entry})" for (dist, entry), runs in _SERVER_ENTRY_POINTS.items()
        )
        raise ConfigError(
            f"{use!r} names a server that wsgistack serve does not run; it runs {known}: "
            "change use, or pass --server",
            file=path,
            section="server:main",
            key="use",
            line=line,
        )
    return server


def _serve(args: argparse.Namespace, variables: dict[str, str]) -> int:
    from .config import load

    if args.reload and os.environ.get(_CHILD_ENV) != "1":
        return _reloading_parent(args.argv)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as gunicorn and python -m: the project's modules are importable
    setup_logging(args.config)
    section = _server_section(args.config, variables, choose_server=args.server is None)
    args.server = args.server or section.server or "waitress"
    host = args.host or section.host or DEFAULT_HOST
    port = args.port if args.port is not None else section.port if section.port is not None else DEFAULT_PORT
    if args.threads is None:
        args.threads = section.workers if args.server == "gunicorn" else section.threads
    app = load(args.config, args.name, variables or None)
    if args.server == "gunicorn":
        return _gunicorn(app, args, host, port, variables)
    if args.reload:
        _watch_files(args.config)
    if args.server == "wsgiref":
        return _wsgiref(app, args.config, host, port)
    return _waitress(app, args.config, host, port, args.threads)


def _announce(config: str, server: str, host: str, port: int) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    print(
        f"wsgistack: serving {config} with {server} on http://{shown}:{port}/  (Ctrl+C to stop)", flush=True
    )


def _on_signals(first: Callable[[], object]) -> None:
    """SIGTERM/SIGINT: the first calls ``first`` (stop accepting, finish what is in progress); a second
    one stops at once. Nothing is raised from the handler on the first signal: an exception raised at
    an arbitrary point could land inside a request and be taken for the app's error."""
    import signal

    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) > 1:
            raise _Stop(signum)
        first()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _waitress(app: WSGIApplication, config: str, host: str, port: int, threads: int | None) -> int:
    import threading
    import time

    try:
        from waitress.server import BaseWSGIServer, create_server
    except ImportError:
        print(
            "wsgistack serve: error: waitress is not installed; pip install 'wsgistack[serve]' "
            "or use --server gunicorn|wsgiref",
            file=sys.stderr,
        )
        return 1
    options: dict[str, Any] = {"host": host, "port": port}
    if threads:
        options["threads"] = threads
    server: Any = create_server(app, **options)
    _announce(config, "waitress", host, int(getattr(server, "effective_port", port)))
    stopping = threading.Event()

    def request_stop() -> None:
        stopping.set()
        server.trigger.pull_trigger()  # wake the loop now rather than at its next timeout

    _on_signals(request_stop)
    loop, adj, socket_map = server.asyncore.loop, server.adj, server._map
    try:
        while not stopping.is_set():
            loop(timeout=adj.asyncore_loop_timeout, map=socket_map, use_poll=adj.asyncore_use_poll, count=1)
        # Graceful: no new connections; requests in progress (and their output) finish, for GRACE s at most.
        for listener in [d for d in list(socket_map.values()) if isinstance(d, BaseWSGIServer)]:
            listener.accepting = False
            listener.del_channel()
            if listener.socket is not None:
                listener.socket.close()
        deadline = time.monotonic() + GRACE
        while _waitress_busy(server) and time.monotonic() < deadline:
            loop(timeout=0.05, map=socket_map, use_poll=adj.asyncore_use_poll, count=1)
    except _Stop:
        pass
    finally:
        server.close()
    return 0


def _waitress_busy(server: Any) -> bool:
    dispatcher = server.task_dispatcher
    if dispatcher.active_count or dispatcher.queue:
        return True
    return any(
        getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0)
        for channel in list(server._map.values())
    )


def _wsgiref(app: WSGIApplication, config: str, host: str, port: int) -> int:
    import threading
    import wsgiref.simple_server

    print(
        "wsgistack serve: warning: wsgiref is for development only (one request at a time, HTTP/1.0)",
        file=sys.stderr,
    )
    server = wsgiref.simple_server.make_server(host, port, app)
    _announce(config, "wsgiref", host, server.server_port)
    # shutdown() waits for serve_forever to return, so it runs in a thread; the request in progress ends.
    _on_signals(lambda: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except _Stop:
        pass
    finally:
        server.server_close()
    return 0


def _gunicorn(
    app: WSGIApplication, args: argparse.Namespace, host: str, port: int, variables: dict[str, str]
) -> int:
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        print("wsgistack serve: error: gunicorn is not installed; pip install gunicorn", file=sys.stderr)
        return 1

    import signal
    import threading

    reloading = threading.Event()
    master = os.getpid()  # Application().run() also returns, by SystemExit, in each forked worker

    def request_reload() -> None:
        # A quick shutdown (SIGINT: the workers exit at once, as the process does with the other servers),
        # which gunicorn's main loop handles; the reloading parent then starts a fresh process.
        reloading.set()
        os.kill(os.getpid(), signal.SIGINT)

    def when_ready(arbiter: object) -> None:
        # The app was loaded here, in the master, before the workers fork: its modules are in sys.modules.
        _watch_files(args.config, request_reload)

    class Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
            self.cfg.set("workers", args.threads or 2)
            self.cfg.set("graceful_timeout", 10)
            if args.reload:  # not gunicorn's reloader: its workers would get the master's app again
                self.cfg.set("when_ready", when_ready)

        def load(self) -> WSGIApplication:
            return app

    _announce(args.config, "gunicorn", host, port)
    try:
        Application().run()  # gunicorn handles SIGTERM (graceful) and SIGINT itself
    except SystemExit as exc:  # gunicorn's master ends with sys.exit()
        if os.getpid() != master:
            raise  # a worker's exit status is for the master to read, unchanged
        if reloading.is_set():
            return _RELOAD_EXIT
        if args.reload and exc.code == _RELOAD_EXIT:
            return 1  # gunicorn's "worker failed to boot" status is the reload status: not a restart
        raise
    return 0


def _reloading_parent(argv: Sequence[str]) -> int:
    """Run the server in a child process, start a new one whenever it exits asking for a reload.

    SIGTERM and SIGINT are passed on to the child (each one: a second one stops it at once, as it would
    stop the server itself); the parent then waits for the child to exit, at most ``GRACE`` seconds plus
    ``_STOP_MARGIN``, kills it if it has not, and exits. A Ctrl+C in a terminal reaches the child
    directly as well, so the child gets two signals and stops at once.
    """
    import signal
    import subprocess

    env = {**os.environ, _CHILD_ENV: "1"}
    command = [sys.executable, "-m", "wsgistack", *argv]
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)  # the loop below passes it on: Popen is not safe to use from a handler

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    status = 0
    while not received:
        child = subprocess.Popen(command, env=env)
        status = _supervise(child, received)
        if status != _RELOAD_EXIT or received:
            break
        print("wsgistack: a file changed; restarting", file=sys.stderr, flush=True)
    if status == _RELOAD_EXIT:
        return 0  # stopped while the child was exiting for a reload
    return status if status >= 0 else 128 - status  # killed by signal N: 128 + N, as a shell shows it


def _supervise(child: subprocess.Popen[bytes], received: list[int]) -> int:
    """Wait for ``child`` to exit, passing on the signals that arrive in ``received``; its status."""
    import subprocess
    import time

    passed = 0
    deadline: float | None = None
    while True:
        try:
            return child.wait(_POLL)
        except subprocess.TimeoutExpired:
            pass
        for signum in received[passed:]:
            child.send_signal(signum)
        passed = len(received)
        if passed and deadline is None:
            deadline = time.monotonic() + GRACE + _STOP_MARGIN
        if deadline is not None and time.monotonic() > deadline:
            print("wsgistack: the server did not stop in time; killing it", file=sys.stderr, flush=True)
            child.kill()
            return child.wait()


def _watch_files(config: str, changed: Callable[[], object] | None = None) -> None:
    """In the child: a thread that checks every second the modification times of the configuration file
    and of the files of the modules imported so far; when one changes it calls ``changed`` once
    (default: exit the process at once with the reload status, which the reloading parent awaits)."""
    import threading
    import time

    def files() -> set[str]:
        found = {os.path.abspath(_ini_path(config))} if os.path.exists(_ini_path(config)) else set()
        for module in list(sys.modules.values()):
            name = getattr(module, "__file__", None)
            if name and os.path.exists(name):
                found.add(name)
        return found

    def mtimes() -> dict[str, float]:
        result = {}
        for name in files():
            try:
                result[name] = os.stat(name).st_mtime
            except OSError:
                continue
        return result

    def reload_now() -> None:
        os._exit(_RELOAD_EXIT)  # the parent starts a fresh process; nothing here to clean up

    def watch(before: dict[str, float]) -> None:
        while True:
            time.sleep(1)
            now = mtimes()
            if any(before.get(name, mtime) != mtime for name, mtime in now.items()):
                (changed or reload_now)()
                return
            before.update(now)

    # The first times are taken now: a change made while the server starts is not missed.
    threading.Thread(target=watch, args=(mtimes(),), name="wsgistack-reloader", daemon=True).start()
