"""The tiny run: a real training run small enough for a plugin's test suite (seconds on a CPU)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from memscope.errors import RunFailed
from memscope.plugins import PluginHost
from memscope.store.home import Home
from memscope.testing.plugin_host import host_with, resolve_plugin, strict_plugins, unique_plugins

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


def tiny_config(analyses: Sequence[str] = (), overrides: Sequence[str] = ()):
    """The tiny run's ``RunConfig`` with ``analyses`` and ``--set``-style ``overrides`` applied."""
    import copy

    from memscope.config import apply_overrides, config_from_dict

    data = copy.deepcopy(TINY_CONFIG)
    data["analyses"] = list(analyses)
    return config_from_dict(apply_overrides(data, list(overrides)), source="memscope.testing")


def as_home(home: Any) -> Home:
    if isinstance(home, TinyRun):
        return home.home
    return home if isinstance(home, Home) else Home(home)


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
        return host_with(*unique_plugins([*self.plugins, *more_plugins]))

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
        from memscope.train.reanalyze import analyze

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
                obj = resolve_plugin(item)[2]
                names.extend(_analysis_names(obj))
        self.plugins = unique_plugins([*self.plugins, *new_plugins])
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

    home = as_home(home)
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
            return TinyRun(home, run_id, unique_plugins(plugins), dict(run.info.data.get("analyses", {})))
    return TinyRun(home, run_id, unique_plugins(plugins), dict(result.analyses))
