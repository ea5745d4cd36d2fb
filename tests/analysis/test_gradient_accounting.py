"""Gradient accounting: the split gradients, their epoch sums, and the layer_epochs rows."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from memscope.analysis.gradient_accounting import GradientAccounting, layer_rows
from memscope.config import TrainConfig, load_config
from memscope.models.base import LayerGroup
from memscope.plugins import PluginHost
from memscope.store.home import Home
from memscope.train.prepare import prepare, to_device
from memscope.train.runner import Run, model_factory
from memscope.train.trainer import Trainer

CPU = torch.device("cpu")



@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one intra-op thread is as fast, and far faster on a shared, loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

class Recorder:
    """A stand-in for RunContext.write."""

    def __init__(self):
        self.tables: dict[str, list[dict]] = {}

    def __call__(self, table, rows):
        self.tables.setdefault(table, []).append(rows)


def fake_data(x: torch.Tensor, y: torch.Tensor, noisy: torch.Tensor) -> SimpleNamespace:
    return SimpleNamespace(
        x_train=x, y_train=y, is_noisy=noisy, train_ids=torch.arange(len(y)), num_train=len(y), num_classes=int(y.max()) + 1
    )


class Linear(nn.Module):
    def __init__(self, d: int, k: int):
        super().__init__()
        self.fc = nn.Linear(d, k)

    def forward(self, x):
        return self.fc(x)


class TwoLayer(nn.Module):
    def __init__(self, d: int, h: int, k: int):
        super().__init__()
        self.hidden = nn.Linear(d, h)
        self.fc = nn.Linear(h, k)

    def forward(self, x):
        return self.fc(torch.tanh(self.hidden(x)))


def run_one_epoch(model, groups, data, batch_size):
    ga = GradientAccounting()
    rec = Recorder()
    ctx = SimpleNamespace(model=model, groups=groups, data=data, write=rec)
    cfg = TrainConfig(epochs=1, batch_size=batch_size, lr=0.1, schedule="constant", weight_decay=0.0, momentum=0.0)
    trainer = Trainer(model, data, cfg, seed=0, device=CPU, analyses=[ga], ctx=ctx)
    ga.setup(ctx)
    trainer.train_epoch(1)
    sums = ([t.clone() for t in ga._sum_clean], [t.clone() for t in ga._sum_noisy])
    ga.collect(ctx, 1)
    return sums, rec.tables["layer_epochs"][0]


def test_linear_model_sums_match_the_analytic_subset_gradients():
    # 4 examples, 3 features, 3 classes, fixed weights; example 2 is mislabeled.
    model = Linear(3, 3)
    with torch.no_grad():
        model.fc.weight.copy_(torch.tensor([[0.5, -0.2, 0.1], [0.0, 0.3, -0.4], [-0.1, 0.2, 0.2]]))
        model.fc.bias.copy_(torch.tensor([0.1, -0.1, 0.0]))
    w0, b0 = model.fc.weight.detach().numpy().copy(), model.fc.bias.detach().numpy().copy()
    x = torch.tensor([[1.0, 0.0, 2.0], [0.5, -1.0, 0.0], [0.0, 1.0, 1.0], [-1.0, 0.5, 0.5]])
    y = torch.tensor([0, 1, 0, 2])
    noisy = torch.tensor([False, False, True, False])
    (clean, noisy_sum), rows = run_one_epoch(model, [LayerGroup("fc", ("fc",), ("fc",), "fc", "linear", 3)], fake_data(x, y, noisy), 4)

    # softmax regression: dL_i/dW = (p_i - e_{y_i}) x_i^T, dL_i/db = p_i - e_{y_i}; each subset over B = 4.
    xn, yn = x.numpy().astype(np.float64), y.numpy()
    z = xn @ w0.T + b0
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    r = p - np.eye(3)[yn]
    m = noisy.numpy()
    gw_c, gb_c = r[~m].T @ xn[~m] / 4, r[~m].sum(0) / 4
    gw_m, gb_m = r[m].T @ xn[m] / 4, r[m].sum(0) / 4
    np.testing.assert_allclose(clean[0].numpy(), gw_c, atol=1e-6)
    np.testing.assert_allclose(clean[1].numpy(), gb_c, atol=1e-6)
    np.testing.assert_allclose(noisy_sum[0].numpy(), gw_m, atol=1e-6)
    np.testing.assert_allclose(noisy_sum[1].numpy(), gb_m, atol=1e-6)

    # The row: norms, the paper's variant, per-example means and cosines.
    cn = math.sqrt((gw_c**2).sum() + (gb_c**2).sum())
    mn = math.sqrt((gw_m**2).sum() + (gb_m**2).sum())
    tn = math.sqrt(((gw_c + gw_m) ** 2).sum() + ((gb_c + gb_m) ** 2).sum())
    cos = ((gw_c * gw_m).sum() + (gb_c * gb_m).sum()) / (cn * mn)
    cos_w = (gw_c * gw_m).sum() / (np.linalg.norm(gw_c) * np.linalg.norm(gw_m))
    cos_b = (gb_c * gb_m).sum() / (np.linalg.norm(gb_c) * np.linalg.norm(gb_m))
    expect = {
        "clean_norm": cn,
        "noisy_norm": mn,
        "total_norm": tn,
        "clean_norm_paper": np.linalg.norm(gw_c) / 3 + np.linalg.norm(gb_c) / math.sqrt(3),
        "noisy_norm_paper": np.linalg.norm(gw_m) / 3 + np.linalg.norm(gb_m) / math.sqrt(3),
        "total_norm_paper": np.linalg.norm(gw_c + gw_m) / 3 + np.linalg.norm(gb_c + gb_m) / math.sqrt(3),
        "clean_norm_per_example": cn / 3,
        "noisy_norm_per_example": mn / 1,
        "cosine": cos,
        "cosine_paper": (cos_w + cos_b) / 2,
    }
    assert list(rows["epoch"]) == [1] and list(rows["layer_index"]) == [0] and rows["layer"] == ["fc"]
    for key, value in expect.items():
        assert rows[key][0] == pytest.approx(value, rel=1e-5, abs=1e-7), key


def test_sums_over_several_batches_match_per_example_autograd():
    torch.manual_seed(0)
    model = TwoLayer(5, 6, 4)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    n = 12
    x, y = torch.randn(n, 5), torch.randint(0, 4, (n,))
    noisy = torch.zeros(n, dtype=torch.bool)
    noisy[[1, 6, 7]] = True
    groups = [
        LayerGroup("hidden", ("hidden",), ("hidden",), "hidden", "linear", 6),
        LayerGroup("fc", ("fc",), ("fc",), "fc", "linear", 4),
    ]
    # lr -> 0 keeps every step at the initial weights, so per-example gradients at init are the reference.
    ga = GradientAccounting()
    ctx = SimpleNamespace(model=model, groups=groups, data=fake_data(x, y, noisy), write=Recorder())
    cfg = TrainConfig(epochs=1, batch_size=4, lr=1e-30, schedule="constant", weight_decay=0.0, momentum=0.0)
    trainer = Trainer(model, ctx.data, cfg, seed=3, device=CPU, analyses=[ga], ctx=ctx)
    ga.setup(ctx)
    trainer.train_epoch(1)

    ref = TwoLayer(5, 6, 4)
    ref.load_state_dict(init)
    params = list(ref.parameters())
    want_c = [torch.zeros_like(p) for p in params]
    want_m = [torch.zeros_like(p) for p in params]
    for i in range(n):  # one example at a time: independent of the batching
        g = torch.autograd.grad(F.cross_entropy(ref(x[i : i + 1]), y[i : i + 1]), params)
        for acc, gi in zip(want_m if noisy[i] else want_c, g):
            acc += gi / 4  # each example's batch has B = 4
    for got, want in zip(ga._sum_clean + ga._sum_noisy, want_c + want_m):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert ga._group_tensors == [[0, 1], [2, 3]]

    ga.collect(ctx, 1)
    rows = ctx.write.tables["layer_epochs"][0]
    assert rows["layer"] == ["hidden", "fc"]
    for k, idx in enumerate(([0, 1], [2, 3])):
        cn = math.sqrt(sum(float(want_c[i].pow(2).sum()) for i in idx))
        assert rows["clean_norm"][k] == pytest.approx(cn, rel=1e-5)
        assert rows["clean_norm_per_example"][k] == pytest.approx(cn / 9, rel=1e-5)
    # the accumulators restart at zero for the next epoch
    assert all(float(t.abs().sum()) == 0.0 for t in ga._sum_clean + ga._sum_noisy)


def _pipeline(tmp_path, extra=()):
    config = load_config(
        None,
        ['data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.25", "train.epochs=3", "train.batch_size=64",
         "train.lr=0.05", "noise.rate=0.2", 'device="cpu"', *extra],
    )
    host = PluginHost(None)
    prepared = prepare(config, host.registries, tmp_path)
    return config, host, to_device(prepared, CPU)


def test_training_is_unchanged_by_the_split(tmp_path):
    config, host, data = _pipeline(tmp_path)
    build = model_factory(config, host, data)
    final = {}
    stats = {}
    for on in (False, True):
        model = build()
        groups = model.layer_groups()
        analyses = [GradientAccounting()] if on else []
        ctx = SimpleNamespace(model=model, groups=groups, data=data, write=Recorder())
        trainer = Trainer(model, data, config.train, config.seed, CPU, analyses=analyses, ctx=ctx)
        assert trainer.split_gradients is on
        for a in analyses:
            a.setup(ctx)
        for epoch in (1, 2, 3):
            s = trainer.train_epoch(epoch)
            for a in analyses:
                a.collect(ctx, epoch)
        final[on] = {k: v.clone() for k, v in model.state_dict().items()}
        stats[on] = s
    for key, value in final[False].items():
        torch.testing.assert_close(final[True][key], value, atol=1e-6, rtol=0, msg=key)
    np.testing.assert_allclose(stats[True].losses, stats[False].losses, atol=1e-5)


def test_unused_parameter_is_skipped_like_a_plain_step():
    """A parameter no loss reaches keeps grad None (no weight decay), and reads as zeros."""

    class WithSpare(Linear):
        def __init__(self):
            super().__init__(3, 2)
            self.spare = nn.Linear(2, 2)  # never called

    torch.manual_seed(1)
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    noisy = torch.tensor([False, True] * 4)
    cfg = TrainConfig(epochs=2, batch_size=4, lr=0.1, schedule="constant", weight_decay=0.1, momentum=0.9)
    groups = [LayerGroup("fc", ("fc",), ("fc",), "fc", "linear", 2), LayerGroup("spare", ("spare",), ("spare",), "spare", "linear", 2)]
    final = {}
    for on in (False, True):
        torch.manual_seed(2)
        model = WithSpare()
        spare0 = model.spare.weight.detach().clone()
        ga = GradientAccounting()
        ctx = SimpleNamespace(model=model, groups=groups, data=fake_data(x, y, noisy), write=Recorder())
        trainer = Trainer(model, ctx.data, cfg, seed=0, device=CPU, analyses=[ga] if on else [], ctx=ctx)
        ga.setup(ctx)
        for epoch in (1, 2):
            trainer.train_epoch(epoch)
            if on:
                assert float(ga._sum_clean[2].abs().sum()) == 0.0 and float(ga._sum_noisy[3].abs().sum()) == 0.0
                ga.collect(ctx, epoch)
        assert model.spare.weight.grad is None
        assert torch.equal(model.spare.weight, spare0)
        final[on] = {k: v.clone() for k, v in model.state_dict().items()}
    for key, value in final[False].items():
        torch.testing.assert_close(final[True][key], value, atol=1e-6, rtol=0, msg=key)
    rows = ctx.write.tables["layer_epochs"][-1]
    assert rows["layer"] == ["fc", "spare"] and rows["clean_norm"][1] == 0.0 and math.isnan(rows["cosine"][1])


def test_sum_of_split_gradients_is_the_mean_loss_gradient(tmp_path):
    """The trainer's step gradient (clean + noisy halves) equals autograd of the plain mean loss."""
    config, host, data = _pipeline(tmp_path)
    model = model_factory(config, host, data)()
    seen = {}

    class Grab(GradientAccounting):
        def after_batch(self, ctx, batch):
            if "clean" not in seen:
                seen["clean"], seen["noisy"] = batch.clean_grads, batch.noisy_grads
                seen["pos"] = batch.indices
                seen["grad"] = [p.grad.clone() for p in ctx.model.parameters()]

    ref = model_factory(config, host, data)()  # same seed: same initial weights
    ga = Grab()
    ctx = SimpleNamespace(model=model, groups=model.layer_groups(), data=data, write=Recorder())
    trainer = Trainer(model, data, config.train, config.seed, CPU, analyses=[ga], ctx=ctx)
    ga.setup(ctx)
    trainer.train_epoch(1)
    ids = seen["pos"]  # train_ids are the positions for this dataset
    assert torch.equal(data.train_ids, torch.arange(data.num_train))
    ref.train()
    loss = F.cross_entropy(ref(data.x_train[ids]), data.y_train[ids])
    want = torch.autograd.grad(loss, list(ref.parameters()))
    for c, m, g, w in zip(seen["clean"], seen["noisy"], seen["grad"], want):
        torch.testing.assert_close(c + m, w, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)


def test_run_writes_a_row_per_epoch_and_layer(tmp_path):
    config = load_config(
        None,
        ['data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.25", "train.epochs=2", "train.batch_size=64",
         "train.lr=0.05", "noise.rate=0.2", 'device="cpu"', 'analyses=["gradient_accounting"]'],
    )
    run = Run(config, Home(tmp_path / "home"), PluginHost(None), progress=False)
    run_id = run.start()
    result = run.execute()
    assert result.status == "completed"
    table = pq.read_table(run.home.run_dir(run_id) / "layer_epochs").to_pandas()
    groups = [g.name for g in run.groups]
    assert len(table) == 2 * len(groups)
    assert sorted(zip(table.epoch, table.layer_index)) == [(e, i) for e in (1, 2) for i in range(len(groups))]
    assert (table.sort_values(["epoch", "layer_index"]).layer.tolist()) == groups * 2
    values = table.drop(columns=["run_id", "layer"]).to_numpy(dtype=float)
    assert np.isfinite(values).all()
    assert table.cosine.between(-1, 1).all() and table.cosine_paper.between(-1, 1).all()
    assert (table.clean_norm > 0).all() and (table.noisy_norm > 0).all()
    # |c + m|^2 = |c|^2 + |m|^2 + 2 cos |c| |m|
    lhs = table.total_norm**2
    rhs = table.clean_norm**2 + table.noisy_norm**2 + 2 * table.cosine * table.clean_norm * table.noisy_norm
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4)
    num_noisy = int(run.prepared.is_noisy.sum())
    np.testing.assert_allclose(table.noisy_norm_per_example, table.noisy_norm / num_noisy)
    np.testing.assert_allclose(table.clean_norm_per_example, table.clean_norm / (len(run.prepared.is_noisy) - num_noisy))


def test_layer_rows_edge_cases():
    # one group of two tensors; no noisy examples: noisy sums are zero
    rows = layer_rows([[0, 1]], [4, 1], [4.0, 1.0], [0.0, 0.0], [4.0, 1.0], [0.0, 0.0], num_clean=5, num_noisy=0)
    (row,) = rows
    assert row["clean_norm"] == pytest.approx(math.sqrt(5))
    assert row["clean_norm_paper"] == pytest.approx(2 / 2 + 1 / 1)
    assert row["noisy_norm"] == 0.0
    assert math.isnan(row["noisy_norm_per_example"])
    assert math.isnan(row["cosine"]) and math.isnan(row["cosine_paper"])
    # opposed gradients: cosine -1 (clamped against rounding)
    (row,) = layer_rows([[0]], [2], [1.0], [1.0], [0.0], [-1.0000001], num_clean=1, num_noisy=1)
    assert row["cosine"] == -1.0 and row["cosine_paper"] == -1.0
    # a group without trainable tensors
    (row,) = layer_rows([[]], [], [], [], [], [], num_clean=1, num_noisy=1)
    assert row["clean_norm"] == 0.0 and math.isnan(row["cosine"]) and math.isnan(row["cosine_paper"])


def test_after_batch_without_split_gradients_is_an_error():
    from memscope.analysis.base import BatchInfo
    from memscope.errors import MemscopeError

    ga = GradientAccounting()
    with pytest.raises(MemscopeError, match="split gradients"):
        ga.after_batch(None, BatchInfo(0, 1, None, None, None))
