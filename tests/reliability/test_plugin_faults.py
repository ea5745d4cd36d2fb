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
