"""Test helpers and pytest fixtures for memscope plugin authors.

Use them from your plugin's own test suite. In the ``conftest.py`` at the root of your
project::

    pytest_plugins = ["memscope.testing"]

and then, in a test::

    from memscope.testing import check_analysis, check_tables_in_catalog

    import my_plugin


    def test_conforms():
        check_analysis(my_plugin.MyAnalysis)


    def test_on_a_real_run(tiny_run_copy):
        status = tiny_run_copy.analyze(my_plugin)          # like `memscope analyze RUN -a ...`
        assert status["my_analysis"]["status"] == "completed"
        check_tables_in_catalog(tiny_run_copy, my_plugin.MyAnalysis, require_rows=True)
        rows = tiny_run_copy.table("my_analysis_examples")  # this run's rows, as Arrow

Fixtures (all work without a GPU; the tiny run takes a few seconds on a laptop CPU):

- ``memscope_home``: an empty results home in a temporary folder, with ``MEMSCOPE_HOME``
  pointing at it for the duration of the test.
- ``tiny_run`` (session scope): one finished :class:`TinyRun` (the ``synthetic`` dataset,
  256 training examples with 20% symmetric label noise, a narrow ``cnn``, 3 epochs, a
  checkpoint every epoch). Shared by every test of the session: ``analyze`` on it replaces
  the rows of the analyses it runs; use ``tiny_run_copy`` to change anything else.
- ``tiny_run_copy``: a private copy of ``tiny_run`` in the test's own temporary home.
- ``tiny_run_factory`` (session scope): ``tiny_run_factory(analyses=[...], plugins=[...],
  overrides=[...])`` trains a tiny run with your analyses in the analyses list (as
  ``memscope run`` would) and caches it for the session by its arguments.

Helpers: :func:`host_with` (a plugin manager with your plugin registered, and no other
third-party plugin), :func:`run_tiny` (train a tiny run in-process), :func:`load_plugin_file`
(import a plugin ``.py`` file the way the plugins directory does), :func:`check_analysis`
(the analysis contract) and :func:`check_tables_in_catalog` (its tables are queryable).

Importing this module does not import torch (training imports it when it starts).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import os
import shutil
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Iterator, Sequence

import pyarrow as pa

from memscope import hookimpl
from memscope.analysis.base import SHARED_TABLES, Analysis
from memscope.errors import RunFailed
from memscope.plugins import PluginHost, PluginInfo
from memscope.registry import NAME_RE
from memscope.store.home import Home
from memscope.store.schemas import CORE_TABLES

__all__ = [
    "TINY_CONFIG",
    "TinyRun",
    "analysis_problems",
    "check_analysis",
    "check_tables_in_catalog",
    "host_with",
    "load_plugin_file",
    "memscope_home",
    "run_tiny",
    "strict_plugins",
    "tiny_config",
    "tiny_run",
    "tiny_run_copy",
    "tiny_run_factory",
]

#: The tiny run: a few seconds on a laptop CPU, and still a run with noisy labels, per-example
#: statistics every epoch and a checkpoint every epoch (what most analyses need).
TINY_CONFIG: dict[str, Any] = {
    "name": "tiny",
    "seed": 0,
    "device": "cpu",
    "analyses": [],
    "data": {"dataset": "synthetic"},
    "noise": {"model": "symmetric", "rate": 0.2},
    "model": {"name": "cnn", "width": 0.5},
    "train": {"epochs": 3, "batch_size": 64, "lr": 0.05, "checkpoint_every": 1, "eval_batch_size": 512},
}

# Reserved view names of the catalog: a table cannot take them.
_RESERVED_TABLES = ("runs", "memscope_meta")


# --------------------------------------------------------------------------- plugins


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
    module_name = f"memscope_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
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


def _resolve_plugin(plugin: Any) -> tuple[str, str, Any]:
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
        name, location, obj = _resolve_plugin(plugin)
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


# --------------------------------------------------------------------------- runs


def tiny_config(analyses: Sequence[str] = (), overrides: Sequence[str] = ()):
    """The tiny run's ``RunConfig`` with ``analyses`` and ``--set``-style ``overrides`` applied."""
    import copy

    from memscope.config import apply_overrides, config_from_dict

    data = copy.deepcopy(TINY_CONFIG)
    data["analyses"] = list(analyses)
    return config_from_dict(apply_overrides(data, list(overrides)), source="memscope.testing")


def _as_home(home: Any) -> Home:
    if isinstance(home, TinyRun):
        return home.home
    return home if isinstance(home, Home) else Home(home)


def _unique(plugins: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    seen: set[int] = set()
    for plugin in plugins:
        key = id(_resolve_plugin(plugin)[2])
        if key not in seen:
            seen.add(key)
            out.append(plugin)
    return out


def _with_traceback(exc: RunFailed, run_dir: Path) -> RunFailed:
    log = run_dir / "error.log"
    if log.is_file():
        return RunFailed(f"{exc.message}\n\n{log.read_text(encoding='utf-8')}")
    return exc


@dataclass
class TinyRun:
    """A finished run in a results home, and ways to look at it and analyse it again."""

    home: Home
    run_id: str
    plugins: list[Any] = field(default_factory=list)  # what host_with() needs to re-create its host
    analyses: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {status, error, seconds}

    @property
    def run_dir(self) -> Path:
        return self.home.run_dir(self.run_id)

    def host(self, *more_plugins: Any) -> PluginHost:
        return host_with(*_unique([*self.plugins, *more_plugins]))

    def sql(self, sql: str) -> pa.Table:
        """Read-only SQL over the home's catalog (every run, every table), like ``memscope query``."""
        from memscope.store.query import execute

        return execute(self.home, sql, host=self.host()).table

    def table(self, name: str, where: str = "") -> pa.Table:
        """This run's rows of table ``name`` (plus an optional SQL condition)."""
        from memscope.store.catalog import sql_identifier, sql_string

        extra = f" AND ({where})" if where else ""
        return self.sql(f"SELECT * FROM {sql_identifier(name)} WHERE run_id = {sql_string(self.run_id)}{extra}")

    def scores(self, analysis: str) -> dict[str, dict[int, float]]:
        """This run's ``example_scores`` of one analysis: ``{metric: {example: value}}``."""
        rows = self.table("example_scores", f"analysis = '{analysis}'").to_pydict()
        out: dict[str, dict[int, float]] = {}
        for metric, example, value in zip(rows["metric"], rows["example"], rows["value"]):
            out.setdefault(metric, {})[example] = value
        return out

    def analyze(self, *analyses: Any, overrides: Sequence[str] = (), strict: bool = True) -> dict[str, dict[str, Any]]:
        """Run post-training analyses on this run, like ``memscope analyze RUN -a NAME``.

        Each item is an analysis name, an ``Analysis`` subclass, or a plugin (module or ``.py``
        path) whose analyses should all run. Returns ``{name: {status, error, seconds}}``.
        With ``strict`` (the default) an analysis that raises fails the call with its traceback.
        """
        from memscope.train.runner import analyze

        names: list[str] = []
        new_plugins: list[Any] = []
        for item in analyses:
            if isinstance(item, str) and not item.endswith(".py"):
                names.append(item)
                continue
            new_plugins.append(item)
            if isinstance(item, type):
                names.append(item.name)
            else:
                obj = _resolve_plugin(item)[2]
                names.extend(_analysis_names(obj))
        self.plugins = _unique([*self.plugins, *new_plugins])
        host = self.host()
        with strict_plugins(strict):
            result = analyze(self.home, host, self.run_id, names, list(overrides), progress=False)
        self.analyses.update(result)
        return result

    def copy(self, destination: str | Path) -> "TinyRun":
        """Copy the whole home to ``destination`` (a new folder) and return the run there."""
        destination = Path(destination)
        shutil.copytree(self.home.root, destination, ignore=shutil.ignore_patterns("memscope.duckdb*", ".*.tmp"))
        home = Home(destination)
        from memscope.store.catalog import refresh_catalog

        refresh_catalog(home)
        return TinyRun(home, self.run_id, list(self.plugins), dict(self.analyses))


def _analysis_names(plugin: Any) -> list[str]:
    """The analysis names a plugin object registers (calls its register_analyses hook)."""
    hook = getattr(plugin, "register_analyses", None)
    names: list[str] = []
    if hook is None:
        return names
    hook(lambda cls, *a, **k: names.append(cls.name))
    return names


def run_tiny(
    home: str | Path | Home,
    *,
    analyses: Sequence[str] = (),
    plugins: Sequence[Any] = (),
    overrides: Sequence[str] = (),
    strict: bool = True,
) -> TinyRun:
    """Train the tiny run in this process (a few seconds) and run its analyses.

    ``analyses`` are names in run order (as in the config's ``analyses`` list); ``plugins`` are
    registered with :func:`host_with` first; ``overrides`` are ``--set`` strings such as
    ``"train.epochs=5"``. With ``strict`` (the default) a failing analysis raises
    :class:`memscope.errors.RunFailed` with the traceback; otherwise the returned run's
    ``analyses`` tells each analysis's status.
    """
    from memscope.train.runner import Run

    home = _as_home(home)
    config = tiny_config(analyses, overrides)
    host = host_with(*plugins)
    with strict_plugins(strict):
        run = Run(config, home, host, progress=False, source="memscope.testing")
        try:
            run_id = run.start()
        except BaseException:
            run.stop.uninstall()  # start() installs the SIGTERM/Ctrl-C handlers; give them back
            raise
        try:
            result = run.execute()
        except RunFailed as exc:
            if strict:
                raise _with_traceback(exc, home.run_dir(run_id)) from None
            return TinyRun(home, run_id, _unique(plugins), dict(run.info.data.get("analyses", {})))
    return TinyRun(home, run_id, _unique(plugins), dict(result.analyses))


# --------------------------------------------------------------------------- conformance


def _field_type_ok(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp in (str, int, float, bool, Any):
        return True
    if origin in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return all(_field_type_ok(a) for a in args)
    if origin is dict or tp is dict:
        return True
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        return all(a is type(None) or _field_type_ok(a) for a in typing.get_args(tp))
    return False


def _check_options(cls: type) -> list[str]:
    options = getattr(cls, "Options", None)
    if options is None or not dataclasses.is_dataclass(options) or not isinstance(options, type):
        return [f"Options must be a dataclass (filled from [analysis.{cls.name}]), got {options!r}"]
    problems = []
    try:
        hints = typing.get_type_hints(options)
    except Exception as exc:  # an annotation that cannot be resolved
        return [f"Options annotations cannot be resolved: {exc.__class__.__name__}: {exc}"]
    for f in dataclasses.fields(options):
        if not f.init:
            continue
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            problems.append(f"Options.{f.name} has no default (every option needs one: a config may omit it)")
        if not _field_type_ok(hints.get(f.name)):
            problems.append(
                f"Options.{f.name}: type {hints.get(f.name)!r} cannot come from TOML "
                "(use str, int, float, bool, list/tuple of those, dict, or X | None)"
            )
        if not NAME_RE.match(f.name):
            problems.append(f"Options.{f.name}: option names are snake_case")
    if problems:
        return problems
    try:
        from memscope.config import build_dataclass

        build_dataclass(options, {}, source="check_analysis", prefix=f"analysis.{cls.name}")
    except Exception as exc:
        problems.append(f"Options() with every default fails: {exc.__class__.__name__}: {exc}")
    return problems


def _check_tables(cls: type) -> list[str]:
    tables = getattr(cls, "tables", None)
    if not isinstance(tables, dict):
        return [f"tables must be a dict of table name -> pyarrow.Schema, got {type(tables).__name__}"]
    problems = []
    for table, schema in tables.items():
        if not isinstance(table, str) or not NAME_RE.match(table):
            problems.append(f"table name {table!r} must be snake_case (lowercase letters, digits, _)")
            continue
        if not isinstance(schema, pa.Schema):
            problems.append(f"tables[{table!r}] must be a pyarrow.Schema, got {type(schema).__name__}")
            continue
        if table in _RESERVED_TABLES:
            problems.append(f"table name {table!r} is reserved by the catalog")
            continue
        names = [n for n in schema.names if n != "run_id"]
        if len(set(schema.names)) != len(schema.names):
            problems.append(f"table {table!r} names a column twice: {schema.names}")
        bad = [n for n in schema.names if not NAME_RE.match(n)]
        if bad:
            problems.append(f"table {table!r}: column names must be snake_case: {', '.join(bad)}")
        if "run_id" in schema.names and schema.field("run_id").type != pa.string():
            problems.append(f"table {table!r}: run_id must be a string column (the writer fills it)")
        if not names:
            problems.append(f"table {table!r} has no columns besides run_id")
        if table in CORE_TABLES and table not in SHARED_TABLES and not cls.__module__.startswith("memscope.analysis."):
            problems.append(  # memscope refuses to register it (only the paper's analyses write core tables)
                f"table {table!r} is a core table; a plugin's analysis declares '{cls.name}_<table>' tables "
                "and, if it likes, the shared 'example_scores'"
            )
        elif table in CORE_TABLES:
            core = CORE_TABLES[table]
            for f in schema:
                if f.name not in core.names:
                    problems.append(f"core table {table!r} has no column {f.name!r}")
                elif core.field(f.name).type != f.type:
                    problems.append(f"core table {table!r}: column {f.name!r} is {core.field(f.name).type}, declared {f.type}")
        elif not table.startswith(f"{cls.name}_"):
            problems.append(
                f"table {table!r} must be named '{cls.name}_<table>' (a plugin's tables carry its name), "
                "or be the shared core table 'example_scores'"
            )
    return problems


def analysis_problems(cls: Any) -> list[str]:
    """Every way ``cls`` breaks the analysis contract (an empty list when it conforms)."""
    if not isinstance(cls, type) or not issubclass(cls, Analysis):
        return [f"{cls!r} is not a subclass of memscope.analysis.Analysis"]
    problems = []
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append(f"name {name!r} must be snake_case: lowercase letters, digits and _, starting with a letter")
    elif name in _RESERVED_TABLES:
        problems.append(f"name {name!r} is reserved")
    version = getattr(cls, "version", "")
    if not isinstance(version, str) or not version.strip():
        problems.append(f"version must be a non-empty string, got {version!r}")
    if not (cls.__doc__ or "").strip():
        problems.append("the class needs a docstring: its first line is the description `memscope plugins` shows")
    problems += _check_options(cls)
    problems += _check_tables(cls)
    if not isinstance(getattr(cls, "needs_split_gradients", False), bool):
        problems.append("needs_split_gradients must be True or False")
    if not (cls.collects() or cls.runs_after_training()):
        problems.append("implements neither collect()/after_batch() (during training) nor run() (after training)")
    if not problems:
        try:
            cls()
        except Exception as exc:
            problems.append(f"{cls.__name__}() with default options fails: {exc.__class__.__name__}: {exc}")
    return problems


def check_analysis(cls: Any) -> None:
    """Assert that ``cls`` follows the analysis contract; the message lists every problem.

    Checks: a subclass of ``Analysis`` with a docstring; ``name`` snake_case; ``version`` a
    non-empty string; ``Options`` a dataclass whose every field has a default and a type TOML
    can fill; ``tables`` maps snake_case names to ``pyarrow.Schema``\\ s, each a core table
    with matching column types or named ``<name>_<table>``; it implements ``collect``,
    ``after_batch`` or ``run``; and it can be built with its default options.
    """
    problems = analysis_problems(cls)
    if problems:
        label = getattr(cls, "__name__", repr(cls))
        raise AssertionError(f"{label} breaks the analysis contract:\n- " + "\n- ".join(problems))


def check_tables_in_catalog(
    home: "str | Path | Home | TinyRun",
    cls: type,
    run_id: str | None = None,
    *,
    require_rows: bool = False,
) -> dict[str, int]:
    """Assert that every table ``cls`` declares is a view in the home's DuckDB catalog, with
    its columns, and return ``{table: rows}`` (rows of ``run_id``, or of every run).

    ``home`` may be a :class:`TinyRun` (its run id is then the default). With
    ``require_rows`` each table must hold at least one row for the run (for
    ``example_scores``: one row of this analysis).
    """
    from memscope.store.catalog import sql_identifier, sql_string
    from memscope.store.query import execute

    if isinstance(home, TinyRun) and run_id is None:
        run_id = home.run_id
    store = _as_home(home)
    problems = []
    counts: dict[str, int] = {}
    known = set(execute(store, "SELECT table_name FROM information_schema.tables").table.column("table_name").to_pylist())
    for table, schema in cls.tables.items():
        if table not in known:
            problems.append(f"table {table!r} is not in the catalog of {store.root} (tables: {', '.join(sorted(known))})")
            continue
        described = execute(store, f"DESCRIBE {sql_identifier(table)}").table.to_pydict()
        columns = set(described["column_name"])
        missing = [n for n in schema.names if n not in columns]
        if missing:
            problems.append(f"table {table!r} in the catalog lacks column(s): {', '.join(missing)}")
            continue
        conditions = []
        if run_id is not None:
            conditions.append(f"run_id = {sql_string(run_id)}")
        if table == "example_scores":
            conditions.append(f"analysis = {sql_string(cls.name)}")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        count = execute(store, f"SELECT count(*) AS n FROM {sql_identifier(table)}{where}").table.column("n")[0].as_py()
        counts[table] = int(count)
        if require_rows and not count:
            problems.append(f"table {table!r} has no rows" + (f" for run {run_id}" if run_id else ""))
    if problems:
        raise AssertionError(f"{cls.__name__}'s tables in the catalog:\n- " + "\n- ".join(problems))
    return counts


# --------------------------------------------------------------------------- pytest fixtures

try:
    import pytest
except ImportError:  # pragma: no cover - the helpers above work without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def memscope_home(tmp_path: Path, monkeypatch: "pytest.MonkeyPatch") -> Home:
        """An empty results home in a temporary folder; ``MEMSCOPE_HOME`` points at it."""
        home = Home(tmp_path / "memscope-home").ensure()
        monkeypatch.setenv("MEMSCOPE_HOME", str(home.root))
        return home

    @pytest.fixture(scope="session")
    def tiny_run(tmp_path_factory: "pytest.TempPathFactory") -> TinyRun:
        """One finished tiny run (built-ins only), shared by the whole test session."""
        return run_tiny(tmp_path_factory.mktemp("memscope-tiny-run"))

    @pytest.fixture
    def tiny_run_copy(tiny_run: TinyRun, tmp_path: Path) -> TinyRun:
        """A private copy of ``tiny_run`` in this test's own home (change it freely)."""
        return tiny_run.copy(tmp_path / "memscope-home")

    @pytest.fixture(scope="session")
    def tiny_run_factory(tmp_path_factory: "pytest.TempPathFactory"):
        """``tiny_run_factory(analyses=[...], plugins=[...], overrides=[...])`` -> a cached TinyRun.

        Trains once per distinct set of arguments per session, with the analyses in the run's
        analyses list (they see training as ``memscope run`` would). Treat the result as
        read-only, or ``.copy()`` it.
        """
        cache: dict[tuple, TinyRun] = {}

        def make(analyses: Sequence[str] = (), plugins: Sequence[Any] = (), overrides: Sequence[str] = ()) -> TinyRun:
            key = (tuple(analyses), tuple(id(_resolve_plugin(p)[2]) for p in plugins), tuple(overrides))
            if key not in cache:
                home = tmp_path_factory.mktemp("memscope-tiny-runs")
                cache[key] = run_tiny(home, analyses=analyses, plugins=plugins, overrides=overrides)
            return cache[key]

        return make
