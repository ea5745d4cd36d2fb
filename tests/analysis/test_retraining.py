"""Layer retraining: only the reset layer trains (other parameters and BN statistics are
bitwise frozen), only clean examples are shown, early stop after ``patience``, the run's model
is untouched."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from memscope.analysis.retraining import LayerRetraining, RetrainingOptions
from memscope.config import build_dataclass, load_config
from memscope.errors import ConfigError, MemscopeError
from memscope.models.groups import group_parameters
from memscope.plugins import PluginHost
from memscope.store.home import Home
from memscope.train.runner import Run

BASE = ['data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.5", "train.epochs=3", "train.batch_size=64"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = load_config(None, BASE)
    run = Run(cfg, Home(tmp_path_factory.mktemp("home")).ensure(), PluginHost(None), progress=False)
    run.start()
    run.execute()
    return run


def snapshot(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def working_model(ctx, analysis):
    model, etd = analysis.working_copy(ctx)
    assert etd is None
    return model


def test_only_the_layer_trains_and_other_bn_statistics_stay_frozen(trained):
    ctx = trained.ctx
    analysis = LayerRetraining(RetrainingOptions(epochs=2, batch_size=32, patience=0))
    model = working_model(ctx, analysis)
    group = ctx.group("conv2")
    before = snapshot(model)
    init = ctx.load_state(0)
    rows = analysis.retrain_layer(ctx, model, 1, group, init)
    after = snapshot(model)
    own = {name for name, _ in group_parameters(model, group)}
    own_modules = tuple(p + "." for p in group.modules)
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    outside = {k for k in changed if not k.startswith(own_modules)}
    assert outside == set(), f"frozen tensors changed: {sorted(outside)}"
    assert own <= changed  # the layer's parameters were reset and trained
    for name in own:
        assert not torch.equal(after[name], init[name]), f"{name} did not train"
    assert "conv2.bn.running_mean" in changed  # the layer's own BN statistics adapt
    assert all(p.requires_grad for p in model.parameters())  # flags restored
    assert rows["retrain_epoch"] == [0, 1, 2]
    assert rows["layer"] == ["conv2"] * 3 and rows["layer_index"] == [1] * 3 and rows["reset_epoch"] == [0] * 3


def test_retraining_leaves_the_run_model_alone(trained, monkeypatch):
    ctx = trained.ctx
    written = []
    monkeypatch.setattr(ctx, "write", lambda table, rows: written.append((table, rows)))
    before = snapshot(ctx.model)
    LayerRetraining(RetrainingOptions(epochs=1, batch_size=64, layers=("conv1", "fc"))).run(ctx)
    after = snapshot(ctx.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [t for t, _ in written] == ["layer_retrains", "layer_retrains"]
    assert [rows["layer"][0] for _, rows in written] == ["conv1", "fc"]
    # epoch 0 is the reset: rewinding the layer to its initial weights
    from memscope.analysis.rewinding import LayerRewinding, RewindingOptions

    rewound = []
    monkeypatch.setattr(ctx, "write", lambda table, rows: rewound.append(rows))
    LayerRewinding(RewindingOptions(epochs=(0,), layers=("conv1", "fc"))).run(ctx)
    for (_, rows), (i, layer) in zip(written, enumerate(("conv1", "fc"))):
        assert rows["noisy_train_acc"][0] == rewound[0]["noisy_train_acc"][i], layer
        assert rows["clean_train_acc"][0] == rewound[0]["clean_train_acc"][i], layer


def poisoned(ctx, *, hide_noise: bool):
    """A context whose noisy examples' images are NaN: showing one to training poisons the layer."""
    data = ctx.data
    x = data.x_train.clone()
    x[data.is_noisy] = float("nan")
    is_noisy = torch.zeros_like(data.is_noisy) if hide_noise else data.is_noisy
    return dataclasses.replace(ctx, data=dataclasses.replace(data, x_train=x, is_noisy=is_noisy))


def test_trains_on_clean_examples_only(trained):
    ctx = poisoned(trained.ctx, hide_noise=False)
    assert int(ctx.data.is_noisy.sum()) > 0
    analysis = LayerRetraining(RetrainingOptions(epochs=1, batch_size=32, patience=0))
    model = working_model(ctx, analysis)
    group = ctx.group("conv1")
    analysis.retrain_layer(ctx, model, 0, group, ctx.load_state(0))
    for name, p in group_parameters(model, group):
        assert torch.isfinite(p).all(), name
    for name, buf in model.named_buffers():
        assert torch.isfinite(buf.float()).all(), name


def test_showing_a_noisy_example_would_be_caught(trained):
    # the control for the test above: the same poisoned images, labelled clean, reach training
    ctx = poisoned(trained.ctx, hide_noise=True)
    analysis = LayerRetraining(RetrainingOptions(epochs=1, batch_size=32, patience=0))
    model = working_model(ctx, analysis)
    with pytest.raises(MemscopeError, match="diverged"):
        analysis.retrain_layer(ctx, model, 0, ctx.group("conv1"), ctx.load_state(0))


def scripted_clean_acc(monkeypatch, ctx, values):
    calls = iter(values)

    def fake(model=None):
        return {"clean_train_acc": next(calls), "noisy_train_acc": 0.5, "noisy_train_true_acc": 0.5, "test_acc": 0.5}

    monkeypatch.setattr(ctx, "evaluate_splits", fake)


@pytest.mark.parametrize(
    ("patience", "clean", "epochs_run"),
    [
        (2, [1.0, 1.0, 1.0] + [0.5] * 10, 2),  # epoch 0 does not count
        (2, [0.5, 1.0, 0.9, 1.0, 1.0] + [0.5] * 10, 4),  # consecutive epochs only
        (3, [0.5, 1.0, 1.0, 0.5, 1.0, 1.0] + [0.5] * 10, 5),  # never 3 in a row: every epoch runs
        (0, [1.0] * 11, 5),  # 0 = no early stop
    ],
)
def test_early_stop_after_patience(trained, monkeypatch, patience, clean, epochs_run):
    ctx = trained.ctx
    scripted_clean_acc(monkeypatch, ctx, clean)
    analysis = LayerRetraining(RetrainingOptions(epochs=5, batch_size=128, patience=patience))
    model = working_model(ctx, analysis)
    rows = analysis.retrain_layer(ctx, model, 3, ctx.group("fc"), ctx.load_state(0))
    assert rows["retrain_epoch"] == list(range(epochs_run + 1))


def test_batch_order_is_seeded(trained):
    ctx = trained.ctx
    analysis = LayerRetraining(RetrainingOptions(epochs=1, batch_size=32, patience=0))
    results = []
    for _ in range(2):
        model = working_model(ctx, analysis)
        analysis.retrain_layer(ctx, model, 3, ctx.group("fc"), ctx.load_state(0))
        results.append(snapshot(model))
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"patience": -1}, "patience"),
        ({"momentum": 1.0}, "momentum"),
        ({"epochs": -2}, "epochs"),
        ({"reset_epoch": -1}, "reset_epoch"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        build_dataclass(RetrainingOptions, options, prefix="analysis.retraining")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["analysis.retraining.reset_epoch=1"], "reset_epoch: no checkpoint will exist for epoch 1"),
        (['analysis.retraining.layers=["nope"]'], "layer 'nope' does not exist"),
    ],
)
def test_validation_before_training(tmp_path, extra, message):
    cfg = load_config(None, [*BASE, "train.checkpoint_every=2", 'analyses=["retraining"]', *extra])
    home = Home(tmp_path).ensure()
    with pytest.raises(ConfigError, match=message):
        Run(cfg, home, PluginHost(None), progress=False).start()
    assert home.run_ids() == []
