"""A plugin manager for tests: the built-ins plus the plugins a test names, and nothing else."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Iterator, Sequence

from memscope import hookimpl
from memscope.analysis.base import Analysis
from memscope.plugins import PluginHost, PluginInfo, import_file

_FILE_MODULES: dict[Path, ModuleType] = {}


def load_plugin_file(path: str | Path) -> ModuleType:
    """Import a plugin ``.py`` file as the plugins directory does (``memscope_plugins.<stem>``).

    The module is cached by path, so two calls give the same module (and the same classes).
    """
    path = Path(path).resolve()
    if path in _FILE_MODULES:
        return _FILE_MODULES[path]
    if not path.is_file():
        raise FileNotFoundError(f"plugin file not found: {path}")
    module = import_file(path, f"memscope_plugins.{path.stem}")
    _FILE_MODULES[path] = module
    return module


class _AnalysesPlugin:
    """A plugin object that registers analysis classes (for ``host_with(MyAnalysis)``)."""

    def __init__(self, classes: Sequence[type]):
        self.classes = list(classes)

    @hookimpl
    def register_analyses(self, register):
        for cls in self.classes:
            register(cls)


_CLASS_PLUGINS: dict[type, _AnalysesPlugin] = {}


def resolve_plugin(plugin: Any) -> tuple[str, str, Any]:
    """(name, location, object to register) for a module, module name, path or Analysis class."""
    if isinstance(plugin, (str, Path)) and str(plugin).endswith(".py"):
        module = load_plugin_file(plugin)
        return Path(plugin).stem, str(Path(plugin).resolve()), module
    if isinstance(plugin, str):
        module = importlib.import_module(plugin)
        return plugin, plugin, module
    if isinstance(plugin, type) and issubclass(plugin, Analysis):
        obj = _CLASS_PLUGINS.setdefault(plugin, _AnalysesPlugin([plugin]))
        return f"test:{plugin.name or plugin.__name__}", f"{plugin.__module__}.{plugin.__qualname__}", obj
    if isinstance(plugin, ModuleType):
        name = plugin.__name__
        if name.startswith("memscope_plugins."):
            name = name.split(".", 1)[1]
        return name, getattr(plugin, "__file__", None) or plugin.__name__, plugin
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    return str(name), repr(plugin), plugin


def unique_plugins(plugins: Iterable[Any]) -> list[Any]:
    """``plugins`` without repeats (two names for one module count once), in order."""
    out: list[Any] = []
    seen: set[int] = set()
    for plugin in plugins:
        key = id(resolve_plugin(plugin)[2])
        if key not in seen:
            seen.add(key)
            out.append(plugin)
    return out


class _TestHost(PluginHost):
    """A PluginHost that loads the built-ins and, on request only, entry points and a directory.

    PluginHost has no public switch for this yet; the two overrides below are the only
    places that touch its internals.
    """

    def __init__(self, *, entry_points: bool, plugins_dir: str | Path | None):
        self._want_entry_points = entry_points
        self._want_directory = plugins_dir is not None
        super().__init__(plugins_dir if plugins_dir is not None else ".")

    def _load_entry_points(self) -> None:
        if self._want_entry_points:
            super()._load_entry_points()

    def _load_directory(self, directory: Path) -> None:
        if self._want_directory:
            super()._load_directory(directory)
        else:
            self.plugins_dir = None

    def add_plugin(self, plugin: Any) -> PluginInfo:
        """Register one more plugin (a module, a ``.py`` path, a module name or an Analysis class)."""
        name, location, obj = resolve_plugin(plugin)
        if self.pm.is_registered(obj):
            return self.infos[self.pm.get_name(obj)]
        version = str(getattr(obj, "__version__", "") or "")
        info = PluginInfo(name, "test", location, version)
        self._add(info, obj)
        self._registries = None  # refill with the new plugin's registrations
        return info


def host_with(
    *plugins: Any,
    entry_points: bool = False,
    plugins_dir: str | Path | None = None,
    strict: bool = True,
) -> PluginHost:
    """A plugin manager with the built-ins and ``plugins`` registered, and nothing else.

    Each plugin may be a module (``import my_plugin; host_with(my_plugin)``), a module name,
    the path of a plugin ``.py`` file, or an ``Analysis`` subclass (wrapped in a plugin that
    registers it). Installed entry points and the ``./plugins`` folder are *not* loaded unless
    you ask (``entry_points=True``, ``plugins_dir=...``), so tests do not depend on what else
    is installed. ``strict=True`` (the default) re-raises a plugin's error with its traceback
    instead of recording it, like ``MEMSCOPE_STRICT_PLUGINS=1``.
    """
    host = _TestHost(entry_points=entry_points, plugins_dir=plugins_dir)
    host.strict = strict
    for plugin in plugins:
        host.add_plugin(plugin)
    if strict:
        host.registries  # registration errors surface here, with their traceback
    return host


@contextlib.contextmanager
def strict_plugins(enabled: bool = True) -> Iterator[None]:
    """Set ``MEMSCOPE_STRICT_PLUGINS`` for the block: an analysis that raises fails loudly."""
    old = os.environ.get("MEMSCOPE_STRICT_PLUGINS")
    if enabled:
        os.environ["MEMSCOPE_STRICT_PLUGINS"] = "1"
    else:
        os.environ.pop("MEMSCOPE_STRICT_PLUGINS", None)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MEMSCOPE_STRICT_PLUGINS", None)
        else:
            os.environ["MEMSCOPE_STRICT_PLUGINS"] = old
