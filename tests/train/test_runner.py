"""A whole run in-process on tiny data: tables, checkpoints, status, resume."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from memscope.config import load_config
from memscope.errors import ConfigError, DataError, UnknownNameError
from memscope.plugins import PluginHost
from memscope.store.home import Home

TINY = ['data.dataset="synthetic"', 'model.name="mlp"', "model.options.hidden=[32]", "train.epochs=3", "train.batch_size=64", "train.lr=0.1", "noise.rate=0.2"]


def rows(run_dir, table):
    parts = sorted((run_dir / table).glob("*.parquet"))
    return pq.read_table(parts).to_pylist() if parts else []


@pytest.fixture
def host():
    return PluginHost(None)


def make_run(tmp_path, host, *extra):
    from memscope.train.runner import Run

    return Run(load_config(None, [*TINY, *extra]), Home(tmp_path / "home"), host, progress=False)


def test_run_writes_every_core_table(tmp_path, host):
    run = make_run(tmp_path, host)
    run_id = run.start()
    result = run.execute()
    run_dir = run.home.run_dir(run_id)
    assert result.status == "completed"
    examples = rows(run_dir, "examples")
    train = [r for r in examples if r["split"] == "train"]
    assert len(train) == 256 and sum(r["is_noisy"] for r in train) == 51  # floor(0.2 * 256)
    assert all((r["true_label"] != r["observed_label"]) == r["is_noisy"] for r in examples)
    epochs = rows(run_dir, "epochs")
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert len(rows(run_dir, "example_epochs")) == 3 * 256
    assert [r["layer"] for r in rows(run_dir, "layers")] == [g.name for g in run.groups]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "completed" and info["num_noisy"] == 51 and info["epoch"] == 3
    assert (run_dir / "checkpoints" / "epoch-0000.pt").is_file() and (run_dir / "checkpoints" / "epoch-0003.pt").is_file()
    assert "train_subset" in (run_dir / "config.toml").read_text()


def test_same_seed_same_noise_across_model_and_epochs(tmp_path, host):
    a = make_run(tmp_path / "a", host)
    b = make_run(tmp_path / "b", host, "train.epochs=1", 'model.name="cnn"', "model.options={}")
    a._build("x")
    b._build("y")
    assert (a.prepared.is_noisy == b.prepared.is_noisy).all()


def test_training_is_deterministic_on_cpu(tmp_path, host):
    first, second = make_run(tmp_path / "a", host), make_run(tmp_path / "b", host)
    first.start(), second.start()
    first.execute(), second.execute()
    for (name, p), (_, q) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert (p == q).all(), name


def test_resume_continues_to_the_same_final_state(tmp_path, host):
    from memscope.train.runner import Run

    full = make_run(tmp_path / "full", host)
    full.start(), full.execute()
    interrupted = make_run(tmp_path / "part", host)
    run_id = interrupted.start()
    calls = {"n": 0}

    def stop_in_epoch_two():
        calls["n"] += 1
        return calls["n"] > 6  # 4 steps per epoch: stop during epoch 2

    interrupted.stop.__call__ = None  # replaced below
    interrupted.stop = type("Stop", (), {"__call__": lambda self: stop_in_epoch_two(), "install": lambda self: None, "uninstall": lambda self: None})()
    from memscope.errors import RunCancelled

    with pytest.raises(RunCancelled, match="--resume"):
        interrupted.execute()
    run_dir = interrupted.home.run_dir(run_id)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "cancelled"
    assert [r["epoch"] for r in rows(run_dir, "epochs")] == [1]
    resumed = Run(load_config(run_dir / "config.toml"), interrupted.home, host, progress=False)
    resumed.resume(run_id)
    assert resumed.execute().status == "completed"
    assert [r["epoch"] for r in rows(run_dir, "epochs")] == [1, 2, 3]
    for (name, p), (_, q) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert (p == q).all(), name


def test_unknown_names_fail_before_any_work(tmp_path, host):
    with pytest.raises(UnknownNameError, match="installed: .*digits"):
        make_run(tmp_path, host, 'data.dataset="imagenet"')
    with pytest.raises(UnknownNameError, match="unknown model"):
        make_run(tmp_path, host, 'model.name="alexnet"')
    with pytest.raises(UnknownNameError, match="noise model"):
        make_run(tmp_path, host, 'noise.model="asymmetric"')
    with pytest.raises(UnknownNameError, match="analysis"):
        make_run(tmp_path, host, 'analyses=["nope"]')
    assert not (tmp_path / "home" / "runs").exists() or Home(tmp_path / "home").run_ids() == []


def test_missing_dataset_file_leaves_no_run(tmp_path, host):
    run = make_run(tmp_path, host, 'data.dataset="npz"', f'data.path="{tmp_path}/missing.npz"')
    with pytest.raises(DataError, match="file not found"):
        run.start()
    assert run.home.run_ids() == []


def test_bad_model_option_is_a_config_error(tmp_path, host):
    run = make_run(tmp_path, host, "model.options.depth=3")
    with pytest.raises(ConfigError, match="depth"):
        run.start()


def test_diverging_training_fails_with_the_epoch(tmp_path, host):
    from memscope.errors import RunFailed

    run = make_run(tmp_path, host, "train.lr=1e30", 'train.schedule="constant"', "train.epochs=2")
    run_id = run.start()
    with pytest.raises(RunFailed, match="diverged in epoch 1"):
        run.execute()
    info = json.loads((run.home.run_dir(run_id) / "run.json").read_text())
    assert info["status"] == "failed" and "diverged" in info["error"]


FAILING_PLUGIN = '''
from memscope import hookimpl
from memscope.analysis import Analysis


class Explodes(Analysis):
    name = "explodes"

    def after_batch(self, ctx, batch):
        raise RuntimeError("bad batch hook")


class ExplodesLater(Analysis):
    name = "explodes_later"

    def run(self, ctx):
        raise ValueError("bad post-training")


class Fine(Analysis):
    name = "fine"

    def collect(self, ctx, epoch):
        ctx.write("example_scores", {"analysis": ["fine"], "example": [0], "metric": ["epoch"], "value": [float(epoch)]})


@hookimpl
def register_analyses(register):
    register(Explodes)
    register(ExplodesLater)
    register(Fine)
'''


def test_failing_analyses_are_isolated(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "boom.py").write_text(FAILING_PLUGIN)
    run = make_run(tmp_path, PluginHost(plugins), 'analyses=["explodes", "explodes_later", "fine"]')
    run_id = run.start()
    result = run.execute()
    assert result.status == "completed"
    info = json.loads((run.home.run_dir(run_id) / "run.json").read_text())["analyses"]
    assert info["explodes"]["status"] == "failed" and "bad batch hook" in info["explodes"]["error"]
    assert info["explodes_later"]["status"] == "failed" and "bad post-training" in info["explodes_later"]["error"]
    assert info["fine"]["status"] == "completed"
    assert len(rows(run.home.run_dir(run_id), "example_scores")) == 3


LIFECYCLE_PLUGIN = '''
from memscope import hookimpl


@hookimpl
def after_epoch(run, epoch, metrics):
    raise RuntimeError("after_epoch broke")
'''


def test_lifecycle_hook_failure_is_reported_not_fatal(tmp_path, capsys):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "noisy_hook.py").write_text(LIFECYCLE_PLUGIN)
    run = make_run(tmp_path, PluginHost(plugins), "train.epochs=1")
    run_id = run.start()
    assert run.execute().status == "completed"
    assert "plugin noisy_hook failed in after_epoch" in capsys.readouterr().err
    info = json.loads((run.home.run_dir(run_id) / "run.json").read_text())
    assert any("after_epoch broke" in e for e in info["plugin_errors"])
