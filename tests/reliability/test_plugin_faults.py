"""Plugins that fail in every way a plugin can: at import, in a registration hook, in
``collect``, in ``run``, or by hanging past ``analysis_timeout``. Each is reported with its
name; the run and the other analyses go on."""

from __future__ import annotations

import json
import signal

from typer.testing import CliRunner

from memscope.cli.app import app

from .conftest import run_ids, tiny_toml

BAD_IMPORT = "raise RuntimeError('kaput at import')\n"

BAD_REGISTER = '''
from memscope import hookimpl


@hookimpl
def register_analyses(register):
    raise ValueError("kaput in register")
'''

FAULTY = '''
import time

from memscope import hookimpl
from memscope.analysis import Analysis


class CollectBoom(Analysis):
    name = "collect_boom"

    def collect(self, ctx, epoch):
        raise RuntimeError("kaput in collect")


class RunBoom(Analysis):
    name = "run_boom"

    def run(self, ctx):
        raise ValueError("kaput in run")


class Hangs(Analysis):
    name = "hangs"

    def run(self, ctx):
        while True:
            try:
                time.sleep(0.05)
            except Exception:  # a careless plugin cannot swallow the timeout
                pass


class Fine(Analysis):
    name = "fine"

    def run(self, ctx):
        ctx.write("example_scores", {"analysis": ["fine"], "example": [0], "metric": ["ok"], "value": [1.0]})


@hookimpl
def register_analyses(register):
    for cls in (CollectBoom, RunBoom, Hangs, Fine):
        register(cls)
'''


def test_failing_and_hanging_plugins_are_reported_and_the_run_goes_on(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "bad_import.py").write_text(BAD_IMPORT)
    (plugins / "bad_register.py").write_text(BAD_REGISTER)
    (plugins / "faulty.py").write_text(FAULTY)
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_toml(epochs=2, analyses=("collect_boom", "run_boom", "hangs", "fine", "rewinding"),
                                extra="analysis_timeout = 1.5"))
    home = tmp_path / "home"
    previous = signal.getsignal(signal.SIGALRM)

    result = CliRunner().invoke(app, ["run", str(config), "--home", str(home), "--plugins-dir", str(plugins)])

    assert result.exit_code == 4, result.output  # some analyses failed; the run itself completed
    err = result.stderr
    assert "Traceback" not in result.output
    assert "plugin bad_import failed" in err and "kaput at import" in err
    assert "plugin bad_register failed" in err and "kaput in register" in err
    (run_id,) = run_ids(home)
    info = json.loads((home / "runs" / run_id / "run.json").read_text())
    assert info["status"] == "completed"
    analyses = info["analyses"]
    assert analyses["collect_boom"]["status"] == "failed" and "kaput in collect" in analyses["collect_boom"]["error"]
    assert analyses["run_boom"]["status"] == "failed" and "kaput in run" in analyses["run_boom"]["error"]
    assert analyses["hangs"]["status"] == "failed" and "timed out after 1.5 s" in analyses["hangs"]["error"]
    assert 1.5 <= analyses["hangs"]["seconds"] < 10
    assert analyses["fine"]["status"] == "completed" and analyses["rewinding"]["status"] == "completed"
    assert any("bad_import" in e for e in info["plugin_errors"]) and any("bad_register" in e for e in info["plugin_errors"])
    for words in ("analysis hangs: failed (timed out after 1.5 s", "analysis run_boom: failed (ValueError: kaput in run)"):
        assert words in err
    # the alarm is disarmed and the previous handler is back
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) == previous


def test_a_timeout_does_not_touch_an_analysis_that_finishes_in_time(tmp_path):
    from memscope.config import load_config
    from memscope.plugins import PluginHost
    from memscope.store.home import Home
    from memscope.train.runner import Run

    config = tmp_path / "tiny.toml"
    config.write_text(tiny_toml(epochs=2, analyses=("rewinding",), extra="analysis_timeout = 60"))
    run = Run(load_config(config), Home(tmp_path / "home"), PluginHost(None), progress=False)
    run.start()
    result = run.execute()
    assert result.status == "completed" and result.analyses["rewinding"]["status"] == "completed"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# --------------------------------------------------------------------------- issue 12: namespaces and analyze

MINE = '''
import pyarrow as pa

from memscope import hookimpl
from memscope.analysis import Analysis
from memscope.store.schemas import CORE_TABLES


class Mine(Analysis):
    """Counts the training examples into its own table and example_scores."""

    name = "mine"
    tables = {"mine_counts": pa.schema([("n", pa.int64())]), "example_scores": CORE_TABLES["example_scores"]}

    def run(self, ctx):
        n = ctx.read_sql("SELECT count(*) AS n FROM examples WHERE split = 'train'").column("n")[0].as_py()
        ctx.write("mine_counts", {"n": [n]})
        ctx.write("example_scores", {"analysis": ["mine"], "example": [0], "metric": ["n"], "value": [float(n)]})


@hookimpl
def register_analyses(register):
    register(Mine)
'''


def _count_rows(run_dir, table):
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(p).num_rows for p in (run_dir / table).glob("*.parquet"))


def test_analyze_with_a_plugin_keeps_core_tables_and_config_toml(tmp_path):
    from memscope.plugins import reset_hosts

    reset_hosts()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "mine.py").write_text(MINE)
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_toml(epochs=2, analyses=("rewinding",)))
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(app, ["run", "-q", str(config), "--home", str(home)]).exit_code == 0
    (run_id,) = run_ids(home)
    run_dir = home / "runs" / run_id
    before = {t: _count_rows(run_dir, t) for t in ("examples", "layers", "layer_rewinds", "epochs")}
    assert before["layer_rewinds"] > 0 and before["layers"] > 0
    config_before = (run_dir / "config.toml").read_bytes()

    done = runner.invoke(app, ["analyze", run_id, "-a", "mine", "-q", "--home", str(home), "--plugins-dir", str(plugins)])

    assert done.exit_code == 0, done.output
    assert {t: _count_rows(run_dir, t) for t in before} == before  # no core table cleared
    assert _count_rows(run_dir, "mine_counts") == 1
    assert (run_dir / "config.toml").read_bytes() == config_before  # the plugin is not the run's for good
    info = json.loads((run_dir / "run.json").read_text())
    assert info["analyses"]["mine"]["status"] == "completed"
    assert "mine" in info["analyzed"][-1]["analyses"]
    # without the plugin, the run's own analyses still analyse (no "unknown analysis 'mine'")
    again = runner.invoke(app, ["analyze", run_id, "-q", "--home", str(home)])
    assert again.exit_code == 0, again.output
    assert [list(a["analyses"]) for a in json.loads((run_dir / "run.json").read_text())["analyzed"]] == [["mine"], ["rewinding"]]
    # re-running the plugin replaces its rows and nothing else
    assert runner.invoke(app, ["analyze", run_id, "-a", "mine", "-q", "--home", str(home), "--plugins-dir", str(plugins)]).exit_code == 0
    assert _count_rows(run_dir, "mine_counts") == 1
    assert {t: _count_rows(run_dir, t) for t in before} == before


def test_a_core_table_declared_by_a_plugin_is_refused_and_never_written(tmp_path):
    import pyarrow as pa
    import pytest

    from memscope.analysis import Analysis
    from memscope.errors import StoreError, UnknownNameError
    from memscope.plugins import PluginHost
    from memscope.store.home import Home
    from memscope.store.schemas import CORE_TABLES
    from memscope.store.writer import RunWriter

    class Wipe(Analysis):
        """Declares layer_rewinds, a paper analysis's table."""

        name = "wipe"
        tables = {"layer_rewinds": CORE_TABLES["layer_rewinds"]}

        def run(self, ctx):
            pass

    class Plugin:
        from memscope import hookimpl

        @hookimpl
        def register_analyses(self, register):
            register(Wipe)

    host = PluginHost(None)
    host.add_plugin(Plugin(), name="wiper")
    assert "rewinding" in host.registries.analyses  # the built-in paper analyses keep their core tables
    with pytest.raises(UnknownNameError, match="analysis 'wipe' was refused: analysis 'wipe' declares the core table 'layer_rewinds'"):
        host.registries.analyses.entry("wipe")
    assert any("core table 'layer_rewinds'" in error for _, error in host.errors())
    # the writer never retypes a core column, whoever declares it
    writer = RunWriter(Home(tmp_path / "home").ensure(), "r1")
    with pytest.raises(StoreError, match="core table 'examples' column 'example' cannot be declared string"):
        writer.declare_table("examples", pa.schema([("example", pa.string())]))
    writer.declare_table("example_scores", CORE_TABLES["example_scores"])  # the shared one, with its own types


def test_a_table_two_analyses_declare_is_refused_for_the_second():
    import pyarrow as pa

    from memscope import hookimpl
    from memscope.analysis import Analysis
    from memscope.plugins import PluginHost

    class A(Analysis):
        """Owns a_b_rows."""

        name = "a"
        tables = {"a_b_rows": pa.schema([("x", pa.int64())])}

        def run(self, ctx):
            pass

    class AB(A):
        """Claims the same table through its longer name."""

        name = "a_b"

    class Plugin:
        @hookimpl
        def register_analyses(self, register):
            register(A)
            register(AB)

    host = PluginHost(None)
    host.add_plugin(Plugin(), name="both")
    assert "a" in host.registries.analyses and "a_b" not in host.registries.analyses
    assert any("which analysis 'a' declares already" in error for _, error in host.errors())
