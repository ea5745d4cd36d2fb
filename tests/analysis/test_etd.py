"""Example-tied dropout: the per-example masks, the evaluation modes and the etd analysis."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

from memscope.analysis.etd import ExampleTiedDropout as EtdAnalysis
from memscope.config import load_config
from memscope.errors import ConfigError
from memscope.models.base import LayerGroup
from memscope.plugins import PluginHost
from memscope.store.home import Home
from memscope.models import example_tied_dropout as etd_masks
from memscope.models.example_tied_dropout import ExampleTiedDropout, default_etd_groups, keep_uniforms
from memscope.train.runner import Run


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one intra-op thread is as fast, and far faster on a shared, loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


P_GEN, P_MEM = 0.4, 0.1


class Probe(nn.Module):
    """Its output is its input, so a forward of ones returns the ETD multiplier itself."""

    def __init__(self):
        super().__init__()
        self.block = nn.Identity()

    def forward(self, x):
        return self.block(x)


def probe(kind: str, channels: int, p_gen: float = P_GEN, p_mem: float = P_MEM, seed: int = 0, dropped_scale: float = 0.0):
    model = Probe()
    group = LayerGroup("block", ("block",), (), "block", kind, channels)
    return model, ExampleTiedDropout(model, [group], seed, p_gen, p_mem, dropped_scale)


def train_masks(model, etd, ids: torch.Tensor, shape_tail=(), kind="conv", channels=None) -> torch.Tensor:
    """(B, C) train-mode multipliers for ``ids`` read off the hooked forward."""
    c = channels or etd.groups[0].num_neurons
    b = len(ids)
    x = torch.ones(b, c, *shape_tail) if kind == "conv" else torch.ones(b, *shape_tail, c)
    with etd.batch(ids):
        out = model(x)
    if kind == "conv":
        flat = out.reshape(b, c, -1)
        assert torch.equal(flat, flat[..., :1].expand_as(flat))  # whole channels
        return flat[..., 0]
    flat = out.reshape(b, -1, c)
    assert torch.equal(flat, flat[:, :1].expand_as(flat))  # the same mask on every token
    return flat[:, 0]


# --------------------------------------------------------------------------- the masks


def test_masks_are_a_pure_function_of_seed_and_example_id():
    model, etd = probe("conv", 20)
    ids = torch.tensor([5, 9, 2, 1000, 77])
    a = train_masks(model, etd, ids, (3, 3))
    assert torch.equal(a, train_masks(model, etd, ids, (3, 3)))  # deterministic
    # independent of batch composition and order
    b = train_masks(model, etd, torch.tensor([2, 31, 5]), (3, 3))
    assert torch.equal(b[0], a[2]) and torch.equal(b[2], a[0])
    single = train_masks(model, etd, torch.tensor([1000]), (3, 3))
    assert torch.equal(single[0], a[3])
    # a fresh instance with the same seed agrees (a resumed run draws the same masks)
    model2, etd2 = probe("conv", 20)
    assert torch.equal(train_masks(model2, etd2, ids, (3, 3)), a)
    # another seed draws other masks
    u0 = keep_uniforms(0, torch.arange(200), 50)
    u1 = keep_uniforms(1, torch.arange(200), 50)
    assert (u0 != u1).float().mean() > 0.99
    # different ids draw different masks (compare the memorization channels of many ids)
    masks = train_masks(*probe("conv", 100), torch.arange(500), (1, 1))
    assert len({tuple(m.tolist()) for m in masks}) > 490


def test_keep_rate_and_generalization_channels():
    c, n = 100, 4000
    model, etd = probe("conv", c)
    n_gen = math.floor(P_GEN * c)
    masks = train_masks(model, etd, torch.arange(n) * 7 + 3, (1, 1))
    assert set(masks.unique().tolist()) <= {0.0, 1.0}  # no rescaling in training
    assert torch.all(masks[:, :n_gen] == 1)  # generalization channels always on
    mem = masks[:, n_gen:]
    rate = float(mem.mean())
    sd = math.sqrt(P_MEM * (1 - P_MEM) / mem.numel())
    assert abs(rate - P_MEM) < 5 * sd
    # every channel and every example near p_mem on average (no stuck channel)
    per_channel = mem.mean(0)
    assert float((per_channel - P_MEM).abs().max()) < 6 * math.sqrt(P_MEM * (1 - P_MEM) / n)
    # two layers (salts) draw independent masks for the same example
    u = keep_uniforms(0, torch.arange(n), 60, salt=0) < P_MEM
    v = keep_uniforms(0, torch.arange(n), 60, salt=1) < P_MEM
    both = float((u & v).float().mean())
    assert abs(both - P_MEM**2) < 5 * math.sqrt(P_MEM**2 * (1 - P_MEM**2) / u.numel())
    # uniforms look uniform
    q = keep_uniforms(3, torch.arange(n), 60).flatten()
    assert float(q.min()) >= 0 and float(q.max()) < 1
    assert abs(float((q < 0.5).double().mean()) - 0.5) < 0.01


def test_p_mem_one_keeps_everything():
    model, etd = probe("conv", 10, p_gen=0.3, p_mem=0.7)
    masks = train_masks(model, etd, torch.arange(300), (1, 1))
    assert float(masks[:, 3:].mean()) == pytest.approx(0.7, abs=0.05)
    model, etd = probe("conv", 10, p_gen=0.5, p_mem=0.5)
    etd.p_mem = 1.0
    assert torch.all(train_masks(model, etd, torch.arange(50), (1, 1)) == 1)


@pytest.mark.parametrize("kind,tail", [("conv", (4, 3)), ("linear", ()), ("linear", (5,))])
def test_eval_modes(kind, tail):
    c = 10
    n_gen = math.floor(P_GEN * c)
    model, etd = probe(kind, c)
    x = torch.ones(3, c, *tail) if kind == "conv" else torch.ones(3, *tail, c)

    def channels(out):
        return out.movedim(1, -1).reshape(-1, c) if kind == "conv" else out.reshape(-1, c)

    with etd.use_mode("kept"):
        kept = channels(model(x))  # no example ids needed at evaluation
    assert torch.all(kept[:, :n_gen] == 1)
    torch.testing.assert_close(kept[:, n_gen:], torch.full_like(kept[:, n_gen:], P_MEM))
    with etd.use_mode("dropped"):
        dropped = channels(model(x))
    torch.testing.assert_close(dropped[:, :n_gen], torch.full_like(dropped[:, :n_gen], (P_GEN + P_MEM) / P_GEN))
    assert torch.all(dropped[:, n_gen:] == 0)
    with etd.use_mode("off"):
        assert torch.equal(model(x), x)
    assert etd.mode == "train"  # use_mode restores the mode
    # train mode on this shape: whole channels (conv) or the same mask on every token (linear)
    masks = train_masks(model, etd, torch.tensor([4, 8, 15]), tail, kind=kind)
    assert torch.all(masks[:, :n_gen] == 1)
    with pytest.raises(RuntimeError, match="example ids"):
        model(x)  # train mode without the batch's ids
    with pytest.raises(ValueError, match="mode"):
        with etd.use_mode("sideways"):
            pass


def test_dropped_scale_option_and_removal():
    model, etd = probe("linear", 10, dropped_scale=2.0)
    with etd.use_mode("dropped"):
        out = model(torch.ones(2, 10))
    assert torch.all(out[:, :4] == 2.0) and torch.all(out[:, 4:] == 0)
    etd.remove()
    assert torch.equal(model(torch.ones(2, 10)), torch.ones(2, 10))


def test_masks_use_batch_ids_only_and_no_table(tmp_path, monkeypatch):
    """Each training forward hashes just the batch's ids; nothing of size N x C is kept."""
    config = load_config(
        None,
        ['data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.25", "train.epochs=1", "train.batch_size=64",
         'device="cpu"', "etd.enabled=true", "train.track_examples=false"],
    )
    calls = []
    real = etd_masks.keep_hashes

    def spy(seed, example_ids, num_channels, salt=0):
        calls.append((example_ids.clone(), num_channels))
        return real(seed, example_ids, num_channels, salt)

    monkeypatch.setattr(etd_masks, "keep_hashes", spy)
    run = Run(config, Home(tmp_path / "home"), PluginHost(None), progress=False)
    run.start()
    run.execute()
    n = run.data.num_train
    assert calls
    seen = []
    for ids, c in calls:
        assert ids.dim() == 1 and len(ids) <= config.train.batch_size
        assert c in {g.num_neurons for g in run.etd.groups}
        seen.append(ids)
    # one call per masked layer per step; across the epoch every example exactly once per layer
    seen = torch.cat(seen).sort().values
    assert torch.equal(seen, run.data.train_ids.repeat_interleave(len(run.etd.groups)).sort().values)
    big = [k for k, v in vars(run.etd).items() if isinstance(v, torch.Tensor) and v.numel() >= n]
    assert not big


def test_default_groups_are_two_middle_groups():
    groups = [LayerGroup(f"g{i}", (f"g{i}",), (), f"g{i}", "conv", 4) for i in range(9)]
    assert [g.name for g in default_etd_groups(groups)] == ["g3", "g4"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # the authors' ResNet9_dropout: dropout after every conv block (models.py)
        ("resnet9", ["conv1", "conv2", "res1_b", "conv3", "res2_b", "conv4"]),
        # the authors' ResNet (models/resnet18_custom.py): after layer2 and layer3
        ("resnet50", ["layer2", "layer3"]),
        # no example-tied dropout in the authors' code for these: the two middle groups
        ("cnn", ["conv1", "conv2"]),
        ("mlp", ["hidden1", "hidden2"]),
    ],
)
def test_default_groups_per_model_as_in_the_authors_code(name, expected):
    from memscope.models import BUILTIN_MODELS, load_factory

    model = load_factory(BUILTIN_MODELS[name][0])(10, 3, 32)
    groups = list(model.layer_groups())
    assert [g.name for g in default_etd_groups(groups, model)] == expected


def test_a_run_masks_the_models_default_layers(tmp_path):
    cfg = load_config(None, ['data.dataset="synthetic"', 'model.name="resnet9"', "model.width=0.125", "model.options.final_padding=1", "train.epochs=1", "etd.enabled=true"])
    run = Run(cfg, Home(tmp_path).ensure(), PluginHost(None), progress=False)
    run.start()
    assert [g.name for g in run.etd.groups] == ["conv1", "conv2", "res1_b", "conv3", "res2_b", "conv4"]


@pytest.mark.parametrize("analysis", ["rewinding", "retraining", "neuron_flipping"])
def test_etd_training_refuses_the_localizing_analyses(analysis):
    """Their model would be the kept-mode network, where noisy-train accuracy is near chance:
    a config error names the conflict and the fix, before any training."""
    with pytest.raises(ConfigError) as info:
        load_config(None, ["etd.enabled=true", f'analyses=["etd", "{analysis}"]'])
    message = info.value.message
    assert f"'{analysis}' cannot run on a model trained with example-tied dropout" in message
    assert "[etd] enabled = true" in message and "separate run without [etd]" in message
    assert load_config(None, ["etd.enabled=true", 'analyses=["gradient_accounting", "etd"]']).etd.enabled
    assert load_config(None, [f'analyses=["{analysis}"]']).analyses == (analysis,)


def test_the_samples_split_localization_and_etd():
    digits, etd = load_config("digits", []), load_config("digits_etd", [])
    assert not digits.etd.enabled and {"rewinding", "retraining", "neuron_flipping"} <= set(digits.analyses)
    assert etd.etd.enabled and "etd" in etd.analyses


# --------------------------------------------------------------------------- the analysis


def test_validate_requires_etd_training():
    cfg = load_config(None, [])
    ctx = SimpleNamespace(etd=None, config=cfg)
    with pytest.raises(ConfigError, match="enabled = true"):
        EtdAnalysis().validate(ctx)
    # the config validator already refuses the analysis without [etd] enabled
    with pytest.raises(ConfigError, match="etd"):
        load_config(None, ['analyses=["etd"]'])


def test_validate_checks_layer_names(tmp_path):
    config = load_config(
        None,
        ['data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.25", 'device="cpu"', "etd.enabled=true",
         'etd.layers=["conv9"]', 'analyses=["etd"]'],
    )
    with pytest.raises(ConfigError, match="conv9"):
        Run(config, Home(tmp_path / "home"), PluginHost(None), progress=False).start()


def test_run_with_etd_writes_every_mode_and_example_scores(tmp_path):
    config = load_config(
        None,
        ['data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.5", "train.epochs=3", "train.batch_size=64",
         "train.lr=0.05", "noise.rate=0.2", 'device="cpu"', "etd.enabled=true", 'etd.layers=["conv2"]',
         'analyses=["etd"]', "train.track_examples=false"],
    )
    run = Run(config, Home(tmp_path / "home"), PluginHost(None), progress=False)
    run_id = run.start()
    result = run.execute()
    assert result.status == "completed", result.analyses
    assert result.analyses["etd"]["status"] == "completed"
    run_dir = run.home.run_dir(run_id)
    evals = pq.read_table(run_dir / "etd_evals").to_pandas().set_index("mode")
    assert sorted(evals.index) == ["dropped", "example", "kept"]
    cols = ["clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc"]
    values = evals[cols].to_numpy()
    assert np.isfinite(values).all() and ((values >= 0) & (values <= 1)).all()
    # the rows are what evaluating the final model in each mode gives
    for mode in ("kept", "dropped"):
        with run.etd.use_mode(mode):
            want = run.ctx.evaluate_splits()
        for col in cols:
            assert evals.loc[mode, col] == pytest.approx(want[col])

    scores = pq.read_table(run_dir / "example_scores").to_pandas()
    assert set(scores.analysis) == {"etd"}
    n = len(run.prepared.train_ids)
    for metric in ("dropped_correct", "dropped_margin"):
        part = scores[scores.metric == metric].sort_values("example")
        assert len(part) == n and part.example.tolist() == sorted(run.prepared.train_ids.tolist())
    correct = scores[scores.metric == "dropped_correct"].set_index("example").value
    margin = scores[scores.metric == "dropped_margin"].set_index("example").value
    assert set(correct.unique()) <= {0.0, 1.0}
    assert ((margin > 0) == (correct == 1)).mean() > 0.95  # ties aside, correct <=> positive margin
    # "example" mode runs each training example through its own training mask
    assert evals.loc["example", "test_acc"] == pytest.approx(evals.loc["kept", "test_acc"])
    noisy_ids = run.prepared.train_ids[run.prepared.is_noisy]
    assert correct.loc[noisy_ids].mean() == pytest.approx(evals.loc["dropped", "noisy_train_acc"])


def test_analyze_refuses_a_localizing_analysis_on_an_etd_run(tmp_path):
    """``memscope analyze RUN -a rewinding`` on an ETD-trained run: exit 2, one line, the fix."""
    from typer.testing import CliRunner

    from memscope.cli.app import app

    home = Home(tmp_path / "home").ensure()
    cfg = load_config(None, ['data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.25", "train.epochs=1",
                             "etd.enabled=true", 'analyses=["etd"]'])
    run = Run(cfg, home, PluginHost(None), progress=False)
    run_id = run.start()
    assert run.execute().status == "completed"
    result = CliRunner().invoke(app, ["analyze", run_id, "-a", "rewinding", "--home", str(home.root)])
    assert result.exit_code == 2, result.output
    assert "'rewinding' cannot run on a model trained with example-tied dropout" in result.stderr
    assert "without [etd]" in result.stderr and "Traceback" not in result.stderr
    assert not (home.run_dir(run_id) / "layer_rewinds").exists()
