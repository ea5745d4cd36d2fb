"""The plugin manager: built-ins, entry points (group ``memscope``), and a plugins directory.

Discovery order: the built-in plugins (``memscope.builtin.BUILTIN_PLUGINS``), then the
``memscope`` entry points of installed packages, then ``*.py`` files in one plugins
directory, first match wins: ``--plugins-dir``, ``MEMSCOPE_PLUGINS_DIR``, ``<home>/plugins``
when it exists (:mod:`memscope.plugin_dirs`; never the folder a command starts in).

Environment switches (datasette style):

- ``MEMSCOPE_LOAD_PLUGINS=a,b`` loads only those non-built-in plugins (empty = none); a name
  that matches no plugin is warned about with the names available;
- ``MEMSCOPE_TRACE_PLUGINS=1`` traces every hook call on stderr;
- ``MEMSCOPE_STRICT_PLUGINS=1`` re-raises a plugin's error instead of reporting it;
- ``MEMSCOPE_PLUGIN_TIMEOUT=S`` how long one plugin may take to import (default 20 s).

A plugin that fails to import, takes too long to import, or raises in a hook is recorded in
``PluginHost.errors`` (shown by ``memscope plugins``, the TUI and the run's status) and
everything else keeps working (llm issue #1280 is the cautionary tale). What a plugin prints
while it imports or runs a hook goes to stderr: stdout carries a command's data only.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pluggy

from memscope import hookspecs
from memscope.errors import MemscopeError
from memscope.plugin_dirs import default_plugins_dir
from memscope.registry import Registries, Registry

ENTRY_POINT_GROUP = "memscope"
REGISTER_HOOKS = {
    "register_datasets": "datasets",
    "register_noise_models": "noise_models",
    "register_models": "models",
    "register_analyses": "analyses",
}


@dataclass
class PluginInfo:
    name: str
    source: str  # builtin, entrypoint, file
    location: str  # module name, distribution, or file path
    version: str = ""
    hooks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "location": self.location,
            "hooks": self.hooks,
            "errors": self.errors,
        }


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


DEFAULT_IMPORT_TIMEOUT = 20.0  # seconds one plugin may take to import (MEMSCOPE_PLUGIN_TIMEOUT)


def import_timeout() -> float:
    text = os.environ.get("MEMSCOPE_PLUGIN_TIMEOUT", "").strip()
    if not text:
        return DEFAULT_IMPORT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise MemscopeError(f"MEMSCOPE_PLUGIN_TIMEOUT={text!r} must be a number of seconds in (0, 3600]")
    return seconds


@contextlib.contextmanager
def plugin_output():
    """Send what plugin code prints to stderr, so that stdout carries only a command's data
    (``query --csv``, the run id that ``memscope run`` prints). Only in the main thread:
    sys.stdout is one for the process, and two threads swapping it could leave it swapped
    (the terminal app, which calls plugins from workers, captures their output itself)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def import_file(path: Path, module_name: str) -> Any:
    """Import the plugin file ``path`` as ``module_name``; a file that fails leaves no
    half-imported module behind in ``sys.modules``."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


class PluginHost:
    """A pluggy manager plus the registries its ``register_*`` hooks fill."""

    def __init__(self, plugins_dir: str | Path | None = None, *, load_builtins: bool = True, home: str | Path | None = None):
        self.pm = pluggy.PluginManager("memscope")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.strict = env_flag("MEMSCOPE_STRICT_PLUGINS")
        self.tracing = env_flag("MEMSCOPE_TRACE_PLUGINS")
        self._registries: Registries | None = None
        if self.tracing:  # hooks called through pm.hook are traced by pluggy; call_each traces itself
            self.pm.trace.root.setwriter(lambda text: sys.stderr.write(text))
            self.pm.enable_tracing()
        allow = os.environ.get("MEMSCOPE_LOAD_PLUGINS")
        self.allowlist = None if allow is None else {a.strip() for a in allow.split(",") if a.strip()}
        self.import_timeout = import_timeout()
        self._seen: set[str] = set()  # every non-built-in plugin found, loaded or not
        if load_builtins:
            self._load_builtins()
        self._load_entry_points()
        directory = Path(plugins_dir) if plugins_dir is not None else default_plugins_dir(home)
        self.plugins_dir: Path | None = directory
        if directory is not None:
            self._load_directory(directory)
        self._warn_unmatched_allowlist()

    # ------------------------------------------------------------------ loading

    def _allowed(self, name: str) -> bool:
        self._seen.add(name)
        return self.allowlist is None or name in self.allowlist

    def _warn_unmatched_allowlist(self) -> None:
        unmatched = sorted((self.allowlist or set()) - self._seen)
        if unmatched:
            available = ", ".join(sorted(self._seen)) or "(none found)"
            sys.stderr.write(
                f"memscope: warning: MEMSCOPE_LOAD_PLUGINS names no plugin {', '.join(map(repr, unmatched))}; "
                f"available: {available}\n"
            )

    def _import(self, info: PluginInfo, load: Callable[[], Any]) -> Any | None:
        """``load()`` in a worker thread, for at most ``import_timeout`` seconds, its output on
        stderr. A plugin that hangs at import is reported and skipped (its thread is left to
        the interpreter's exit); None when it failed."""
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["module"] = load()
            except BaseException as exc:  # SystemExit in a plugin must not end memscope
                box["error"] = exc
            finally:
                done.set()

        with plugin_output():
            threading.Thread(target=work, name=f"memscope-plugin-{info.name}", daemon=True).start()
            finished = done.wait(self.import_timeout)
        if not finished:
            message = (
                f"import: did not finish within {self.import_timeout:g} s, skipped "
                "(a plugin that hangs at import; MEMSCOPE_PLUGIN_TIMEOUT sets the limit)"
            )
            if self.strict:
                raise MemscopeError(f"plugin {info.name}: {message}")
            info.errors.append(message)
            return None
        if "error" in box:
            self._fail(info, "import", box["error"])
            return None
        return box["module"]

    def _fail(self, info: PluginInfo, what: str, exc: BaseException) -> None:
        if self.strict:
            raise exc
        last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last else ""
        info.errors.append(f"{what}: {exc.__class__.__name__}: {exc}{where}")

    def _add(self, info: PluginInfo, module: Any) -> None:
        self.infos[info.name] = info
        try:
            self.pm.register(module, name=info.name)
        except Exception as exc:  # pluggy validation errors (unknown hook, bad signature)
            self._fail(info, "register", exc)
            return
        callers = self.pm.get_hookcallers(module) or []
        info.hooks = sorted(hook.name for hook in callers if hook.name != "__dummy__")
        for hook in callers:  # a misspelt hook would otherwise be accepted and never called
            if not hook.has_spec():
                import difflib

                close = difflib.get_close_matches(hook.name, [n for n in dir(hookspecs) if not n.startswith("_")], n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                self._fail(info, "register", MemscopeError(f"unknown hook '{hook.name}'{hint}"))

    def _load_builtins(self) -> None:
        from memscope.builtin import BUILTIN_PLUGINS
        from memscope import __version__

        for module_name in BUILTIN_PLUGINS:
            short = module_name.rsplit(".", 1)[-1]
            info = PluginInfo(f"memscope.{short}", "builtin", module_name, __version__)
            module = importlib.import_module(module_name)
            self._add(info, module)

    def _load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if not self._allowed(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                ep.name,
                "entrypoint",
                f"{dist.name if dist else '?'} ({ep.value})",
                dist.version if dist else "",
            )
            self.infos[ep.name] = info
            module = self._import(info, ep.load)
            if module is not None:
                self._add(info, module)

    def _load_directory(self, directory: Path) -> None:
        if not directory.is_dir():
            raise MemscopeError(f"plugins directory not found: {directory} (check --plugins-dir / MEMSCOPE_PLUGINS_DIR)")
        for path in sorted(directory.glob("*.py")):
            name = path.stem
            if name.startswith("_") or name.startswith("test_") or not self._allowed(name):
                continue
            info = PluginInfo(name, "file", str(path))
            self.infos[name] = info
            module_name = f"memscope_plugins.{name}"

            module = self._import(info, functools.partial(import_file, path, module_name))
            if module is None:
                continue
            info.version = str(getattr(module, "__version__", ""))
            self._add(info, module)

    # ------------------------------------------------------------------ calling

    def add_plugin(self, plugin: Any, name: str | None = None, source: str = "test", location: str = "") -> PluginInfo:
        """Register an extra plugin object (a module or any object with hookimpls), e.g. in tests."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        info = PluginInfo(name, source, location or name, str(getattr(plugin, "__version__", "")))
        self._add(info, plugin)
        self._registries = None  # registrations are collected again on next use
        return info

    def _trace(self, plugin: str, hook_name: str, args: dict[str, Any]) -> None:
        if self.tracing:
            shown = ", ".join(f"{k}={type(v).__name__}" for k, v in args.items())
            sys.stderr.write(f"memscope trace: {plugin}.{hook_name}({shown})\n")

    def _impls(self, hook_name: str):
        caller = getattr(self.pm.hook, hook_name)
        # pluggy calls the last registered first; keep registration order instead.
        return list(caller.get_hookimpls())

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, str]]:
        """Call every implementation of a hook, isolating failures; return (plugin, error) pairs."""
        failures = []
        for impl in self._impls(hook_name):
            accepted = {k: v for k, v in kwargs.items() if k in impl.argnames}
            self._trace(impl.plugin_name, hook_name, accepted)
            try:
                with plugin_output():
                    impl.function(**accepted)
            except Exception as exc:
                info = self.infos.get(impl.plugin_name)
                if info is None or self.strict:
                    raise
                self._fail(info, hook_name, exc)
                failures.append((impl.plugin_name, info.errors[-1]))
        return failures

    @property
    def registries(self) -> Registries:
        """The registries, filled on first use (each plugin's failure isolated)."""
        if self._registries is None:
            registries = Registries()
            table_owners: dict[str, str] = {}  # table -> the analysis that declared it
            for hook_name, attr in REGISTER_HOOKS.items():
                registry: Registry = getattr(registries, attr)
                for impl in self._impls(hook_name):
                    plugin = impl.plugin_name

                    def register(name_or_obj: Any, obj: Any = None, description: str = "", **extra: Any) -> None:
                        if hook_name == "register_analyses":  # register(AnalysisClass)
                            cls = name_or_obj
                            if self._refuse_tables(registry, cls, plugin, table_owners):
                                return
                            registry.add(
                                getattr(cls, "name", ""), cls, description=description or (cls.__doc__ or "").strip().split("\n")[0], plugin=plugin, **extra
                            )
                        else:
                            registry.add(name_or_obj, obj, description=description, plugin=plugin, **extra)

                    self._trace(plugin, hook_name, {"register": register})
                    try:
                        with plugin_output():
                            impl.function(register)
                    except Exception as exc:
                        info = self.infos.get(plugin)
                        if info is None:
                            raise
                        self._fail(info, hook_name, exc)
            self._registries = registries
        return self._registries

    def _refuse_tables(self, registry: Registry, cls: Any, plugin: str, owners: dict[str, str]) -> bool:
        """Refuse (and report) an analysis whose tables leave its namespace: True when refused.
        Only memscope's built-in plugin may register analyses that write core tables."""
        from memscope.analysis.base import SHARED_TABLES, table_problems

        info = self.infos.get(plugin)
        name = getattr(cls, "name", "")
        problems = table_problems(cls, core=info is not None and info.source == "builtin")
        if not problems and isinstance(getattr(cls, "tables", None), dict):
            for table in cls.tables:
                if table not in SHARED_TABLES and owners.get(table, name) != name:
                    problems.append(f"analysis '{name}' declares table '{table}', which analysis '{owners[table]}' declares already")
        if not problems:
            for table in cls.tables:
                owners.setdefault(table, name)
            return False
        if isinstance(name, str):
            registry.refuse(name, problems[0])
        error = MemscopeError(problems[0])
        if info is None:
            raise error
        self._fail(info, "register_analyses", error)
        return True

    def errors(self) -> list[tuple[str, str]]:
        self.registries  # registration errors are part of the picture
        return [(name, err) for name, info in self.infos.items() for err in info.errors]

    def check_names(self, config: Any, source: str = "config") -> None:
        """Every name a run config refers to (dataset, noise model, model, analyses) is
        registered: an error naming ``source`` (the config file), the nearest name and the
        installed ones otherwise. Torch-free, so a sweep checks every cell before it starts one."""
        from memscope.errors import UnknownNameError

        regs = self.registries
        try:
            dataset = regs.datasets.entry(config.data.dataset)
            regs.noise_models.entry(config.noise.model)
            if not config.model.name.startswith("timm:"):  # any timm name: checked when timm builds it
                regs.models.entry(config.model.name)
            for name in config.analyses:
                regs.analyses.entry(name)
        except UnknownNameError as exc:
            raise UnknownNameError(f"{source}: {exc.message}") from None
        if config.data.path and not (dataset.extra.get("reads_path") or dataset.extra.get("needs_path")):
            from memscope.errors import ConfigError

            readers = ", ".join(e.name for e in regs.datasets if e.extra.get("reads_path") or e.extra.get("needs_path"))
            raise ConfigError(f"{source}: dataset '{dataset.name}' does not read data.path ({config.data.path!r}); "
                              f"remove data.path, or choose a dataset that reads it: {readers}")

    def register_commands(self, cli: Any) -> list[tuple[str, str]]:
        """Let plugins add commands to ``cli``; returns the (plugin, error) pairs that failed."""
        return self.call_each("register_commands", cli=cli)

    def prepare_connection(self, conn: Any, home: str) -> None:
        self.call_each("prepare_connection", conn=conn, home=home)


_HOSTS: dict[tuple[str, str], PluginHost] = {}


def get_host(plugins_dir: str | Path | None = None, home: str | Path | None = None) -> PluginHost:
    """A process-wide host per plugins directory and environment (plugins load once).
    ``home``: whose ``<home>/plugins`` is the default folder (None: the default home)."""
    directory = plugins_dir or default_plugins_dir(home)
    key = (str(directory or ""), os.environ.get("MEMSCOPE_LOAD_PLUGINS", "\0"))
    if key not in _HOSTS:
        _HOSTS[key] = PluginHost(directory, home=home)
    return _HOSTS[key]


def reset_hosts() -> None:
    """Forget cached hosts (tests that change plugins or env switches)."""
    _HOSTS.clear()
