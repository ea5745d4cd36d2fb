"""Layer rewinding: only the chosen layer's parameters move, BN statistics stay final, the
live model is restored, default checkpoints, validation before training, end to end + analyze."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch

from memscope.analysis.rewinding import LayerRewinding, RewindingOptions, nearest_epochs, planned_checkpoints
from memscope.config import load_config
from memscope.errors import ConfigError, MemscopeError
from memscope.models.groups import group_parameters
from memscope.plugins import PluginHost
from memscope.store.home import Home
from memscope.train.runner import Run

BASE = ['data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.5", "train.epochs=3", "train.batch_size=64"]


def make_run(root, *extra: str) -> Run:
    cfg = load_config(None, [*BASE, *extra])
    run = Run(cfg, Home(root).ensure(), PluginHost(None), progress=False)
    run.start()
    return run


def table_rows(run_dir, table) -> list[dict]:
    parts = sorted((run_dir / table).glob("*.parquet"))
    return [row for p in parts for row in pq.read_table(p).to_pylist()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 3-epoch run (no analyses) whose context the tests drive by hand."""
    run = make_run(tmp_path_factory.mktemp("home"))
    run.execute()
    return run


def collect_writes(monkeypatch, ctx) -> list[dict]:
    written: list[dict] = []
    monkeypatch.setattr(ctx, "write", lambda table, rows: written.append({"table": table, **rows}))
    return written


def snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_rewinding_to_the_final_epoch_changes_nothing(trained, monkeypatch):
    ctx = trained.ctx
    written = collect_writes(monkeypatch, ctx)
    final = ctx.evaluate_splits(ctx.model)
    before = snapshot(ctx.model)
    LayerRewinding(RewindingOptions(epochs=(3,))).run(ctx)
    assert len(written) == 1 and written[0]["table"] == "layer_rewinds"
    rows = written[0]
    assert rows["layer"] == [g.name for g in ctx.groups]
    assert rows["checkpoint_epoch"] == [3] * len(ctx.groups)
    for key in ("clean_train_acc", "noisy_train_acc", "test_acc"):
        assert rows[key] == [final[key]] * len(ctx.groups)
    assert_same_state(before, snapshot(ctx.model))


def test_rewinding_swaps_only_the_layer_and_keeps_bn_statistics_final(trained, monkeypatch):
    ctx = trained.ctx
    collect_writes(monkeypatch, ctx)
    final = snapshot(ctx.model)
    init = ctx.load_state(0)
    seen: list[dict] = []
    real = ctx.evaluate_splits

    def spy(model=None):
        seen.append(snapshot(model))
        return real(model)

    monkeypatch.setattr(ctx, "evaluate_splits", spy)
    LayerRewinding(RewindingOptions(epochs=(0,), layers=("conv2",))).run(ctx)
    assert len(seen) == 1
    during = seen[0]
    own = {name for name, _ in group_parameters(ctx.model, ctx.group("conv2"))}
    params = {name for name, _ in ctx.model.named_parameters()}
    assert own == {"conv2.conv.weight", "conv2.bn.weight", "conv2.bn.bias"}
    for key, value in during.items():
        if key in own:
            assert torch.equal(value, init[key]), key
            assert not torch.equal(value, final[key]), f"{key} did not move in training"
        else:  # other layers' parameters and every buffer (conv2's running stats too) stay final
            assert torch.equal(value, final[key]), key
    assert "conv2.bn.running_mean" not in params and not torch.equal(final["conv2.bn.running_mean"], init["conv2.bn.running_mean"])
    assert_same_state(final, snapshot(ctx.model))  # restored afterwards


def test_the_live_model_is_restored_when_evaluation_fails(trained, monkeypatch):
    ctx = trained.ctx
    collect_writes(monkeypatch, ctx)
    final = snapshot(ctx.model)

    def boom(model=None):
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr(ctx, "evaluate_splits", boom)
    with pytest.raises(RuntimeError, match="evaluation failed"):
        LayerRewinding(RewindingOptions(epochs=(0,))).run(ctx)
    assert_same_state(final, snapshot(ctx.model))


def test_both_analyses_follow_the_contract():
    from memscope.analysis.retraining import LayerRetraining
    from memscope.testing import check_analysis

    check_analysis(LayerRewinding)
    check_analysis(LayerRetraining)


def test_default_epochs_are_init_and_every_tenth_among_saved():
    assert nearest_epochs(list(range(51)), 50) == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]
    assert nearest_epochs([0, 1, 2, 3], 3) == [0, 1, 2, 3]  # 90% of 3 is nearest the last epoch
    assert nearest_epochs([0, 5, 10, 12], 12) == [0, 5, 10]  # checkpoint_every = 5
    assert nearest_epochs([0, 20], 20) == [0, 20]
    assert nearest_epochs([0, 1, 2, 3, 4], 4) == [0, 1, 2, 3, 4]  # ties go to the earlier epoch
    assert nearest_epochs([], 5) == []


def test_default_epochs_of_a_run(trained):
    assert trained.ctx.checkpoint_epochs() == [0, 1, 2, 3]
    assert LayerRewinding().checkpoint_epochs(trained.ctx) == [0, 1, 2, 3]


def test_planned_checkpoints():
    cfg = load_config(None, ["train.epochs=12", "train.checkpoint_every=5"])
    assert planned_checkpoints(cfg) == [0, 5, 10, 12]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["analysis.rewinding.epochs=[1]"], "checkpoint_every = 2"),
        (["analysis.rewinding.epochs=[0, 9]"], "past the end of training"),
        (['analysis.rewinding.layers=["conv9"]'], "layer 'conv9' does not exist"),
    ],
)
def test_unavailable_epochs_or_unknown_layers_fail_before_training(tmp_path, extra, message):
    cfg = load_config(None, [*BASE, "train.epochs=4", "train.checkpoint_every=2", 'analyses=["rewinding"]', *extra])
    home = Home(tmp_path).ensure()
    run = Run(cfg, home, PluginHost(None), progress=False)
    with pytest.raises(ConfigError, match=message):
        run.start()
    assert home.run_ids() == []  # nothing was created


def test_epochs_on_the_checkpoint_grid_are_accepted(tmp_path):
    cfg = load_config(None, [*BASE, "train.epochs=4", "train.checkpoint_every=2", 'analyses=["rewinding"]', "analysis.rewinding.epochs=[0, 2, 4]"])
    run = Run(cfg, Home(tmp_path).ensure(), PluginHost(None), progress=False)
    run.start()  # validates


def test_negative_epoch_is_a_config_error():
    from memscope.config import build_dataclass

    with pytest.raises(ConfigError, match="negative"):
        build_dataclass(RewindingOptions, {"epochs": [-1]}, prefix="analysis.rewinding")


def test_missing_checkpoint_on_disk_is_a_clear_error(trained, monkeypatch):
    ctx = trained.ctx
    monkeypatch.setattr(ctx, "checkpoint_epochs", lambda: [0, 3])
    with pytest.raises(MemscopeError, match=r"no checkpoint for epoch 2 .*saved epochs: 0, 3"):
        LayerRewinding(RewindingOptions(epochs=(2,))).checkpoint_epochs(ctx)


def test_end_to_end_and_analyze_replaces_rows(tmp_path):
    from typer.testing import CliRunner

    from memscope.cli.app import app

    run = make_run(tmp_path, 'analyses=["rewinding", "retraining"]', "analysis.retraining.epochs=2", 'analysis.retraining.layers=["fc"]')
    result = run.execute()
    assert result.analyses["rewinding"]["status"] == "completed", result.analyses
    assert result.analyses["retraining"]["status"] == "completed", result.analyses
    run_dir = result.run_dir
    rewinds = table_rows(run_dir, "layer_rewinds")
    assert len(rewinds) == 4 * 4  # 4 layer groups x checkpoints 0, 1, 2, 3
    assert {(r["layer"], r["checkpoint_epoch"]) for r in rewinds} == {(g, e) for g in ("conv1", "conv2", "conv3", "fc") for e in range(4)}
    assert all(r["run_id"] == result.run_id for r in rewinds)
    from memscope.analysis.retraining import LayerRetraining
    from memscope.testing import check_tables_in_catalog

    assert check_tables_in_catalog(Home(tmp_path), LayerRewinding, result.run_id, require_rows=True) == {"layer_rewinds": 16}
    assert check_tables_in_catalog(Home(tmp_path), LayerRetraining, result.run_id, require_rows=True) == {"layer_retrains": 3}
    retrains = table_rows(run_dir, "layer_retrains")
    assert [r["retrain_epoch"] for r in retrains] == [0, 1, 2]  # clean acc never reaches 100% in 3 epochs
    assert {r["layer"] for r in retrains} == {"fc"}
    # retraining's epoch 0 is rewinding the layer to its reset epoch
    fc_init = next(r for r in rewinds if r["layer"] == "fc" and r["checkpoint_epoch"] == 0)
    assert {k: retrains[0][k] for k in ("clean_train_acc", "noisy_train_acc", "test_acc")} == {
        k: fc_init[k] for k in ("clean_train_acc", "noisy_train_acc", "test_acc")
    }
    old_parts = sorted(p.name for p in (run_dir / "layer_rewinds").glob("*.parquet"))

    out = CliRunner().invoke(app, ["analyze", result.run_id, "-a", "rewinding", "--home", str(tmp_path), "-q"])
    assert out.exit_code == 0, out.output
    again = table_rows(run_dir, "layer_rewinds")
    assert len(again) == len(rewinds)  # replaced, not appended
    key = lambda r: (r["layer_index"], r["checkpoint_epoch"])  # noqa: E731
    assert sorted(again, key=key) == sorted(rewinds, key=key)  # same checkpoints, same numbers
    assert len(sorted((run_dir / "layer_rewinds").glob("*.parquet"))) == len(old_parts)
    assert len(table_rows(run_dir, "layer_retrains")) == 3  # untouched


def test_etd_runs_refuse_the_localizing_analyses(tmp_path):
    """A model trained with example-tied dropout memorizes through per-example masks that
    rewinding and retraining would not apply: the run is refused before training, naming the fix."""
    with pytest.raises(ConfigError) as info:
        make_run(tmp_path, "train.epochs=2", "etd.enabled=true", 'analyses=["rewinding", "retraining"]')
    message = info.value.message
    assert "'rewinding', 'retraining' cannot run on a model trained with example-tied dropout" in message
    assert "without [etd]" in message and "memscope run digits" in message
