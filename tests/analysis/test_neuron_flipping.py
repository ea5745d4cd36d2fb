"""Neuron flipping: the batched engine against a naive reference, hand-checkable cases, end to end.

The naive reference (``naive_flip``) follows ALGORITHMS.md literally, one target at a time:
a deepcopy of the model whose conv filters / linear rows (and biases) are really zeroed, and
scores ``sum(w * dJ/dw)`` from autograd on the weights. The batched engine masks unit outputs
per target and differentiates the masks. They must agree exactly: same neurons-to-flip, same
(layer, unit) sequence, same collateral accuracies. The comparison runs in float64: the two
compute a unit's score with different summation orders (weights vs activations), so in
float32 two scores within ~1e-7 of each other could rank differently; in float64 such
near-ties do not occur on a model this size, and any disagreement is a real bug.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from memscope.analysis.flipping_engine import (
    FlipEngine,
    FlipSettings,
    UnitMasks,
    candidate_sites,
    draw_target,
    objective,
    robust_logits,
)
from memscope.analysis.neuron_flipping import NeuronFlipping, NeuronFlippingOptions, sample_eval, sample_targets
from memscope.config import load_config
from memscope.errors import ConfigError
from memscope.models.base import LayerGroup
from memscope.plugins import PluginHost
from memscope.seeding import stream_seed
from memscope.store.home import Home

FLIP = {
    "reference_batch": 24,
    "noise_copies": 2,
    "max_neurons": 10,
    "num_noisy": 6,
    "num_clean": 6,
    "eval_noisy": 30,
    "eval_clean": 60,
    "eval_test": 50,
    "batch_targets": 5,  # fewer than the targets: the pool refills
    "chunk_examples": 150,  # three targets (3 x 2 x 25 examples) per forward: chunking is exercised
}
RUN = [
    'data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.75", "noise.rate=0.2",
    "train.epochs=12", "train.batch_size=32", "train.lr=0.05", "train.checkpoint_every=12",
    "train.track_examples=false", 'device="cpu"', 'analyses=["neuron_flipping"]',
    *(f"analysis.neuron_flipping.{k}={v}" for k, v in FLIP.items()),
]


def generator_factory(seed: int):
    def make(name: str, *extra: int) -> torch.Generator:
        g = torch.Generator()
        g.manual_seed(stream_seed(seed, name, *extra))
        return g

    return make


# --------------------------------------------------------------------------- the naive reference


def naive_flip(model, groups, layers, x_train, y_train, position, example, make_generator, o, eval_sets):
    """One target, literally: zero weights in a deepcopy, score by autograd on the weights.

    Returns (neurons_to_flip or None, flipped, new_pred, [(layer_index, layer, unit, score)],
    {split: correct count}).
    """
    m = copy.deepcopy(model).eval()
    chosen = [(i, g) for i, g in enumerate(groups) if not layers or g.name in layers]
    modules = []  # (layer_index, layer, unit offset within the group, module)
    for i, g in chosen:
        offset = 0
        for path in g.neuron_modules:
            mod = m.get_submodule(path)
            modules.append((i, g.name, offset, mod))
            offset += mod.weight.shape[0]
    # the draws: R = randperm(N - 1)[:B] shifted past the target, then the noise, same generator
    n = x_train.shape[0]
    g = make_generator(o.reference_stream, example)
    b = min(o.reference_batch, n - 1)
    perm = torch.randperm(n - 1, generator=g)[:b]
    batch = torch.cat([torch.tensor([position]), torch.where(perm >= position, perm + 1, perm)]).to(x_train.device)
    x, y = x_train[batch], y_train[batch]
    if o.noise_copies:
        noise = torch.randn((o.noise_copies, *x.shape), generator=g, dtype=x.dtype).to(x.device)
        target_norm = o.noise_scale * torch.linalg.vector_norm(x)
        inputs = torch.stack([x + noise[c] * (target_norm / torch.linalg.vector_norm(noise[c])) for c in range(o.noise_copies)])
    else:
        inputs = x.unsqueeze(0)

    steps, zeroed = [], set()
    while True:
        logits = m(inputs.reshape(-1, *x.shape[1:])).view(inputs.shape[0], b + 1, -1).mean(0)
        pred = int(logits[0].argmax())
        if pred != int(y[0]):
            flipped = True
            break
        if len(steps) == o.max_neurons:
            flipped = False
            break
        loss = F.cross_entropy(logits, y, reduction="none")
        j = loss[1:].mean() - loss[0]
        params = [p for *_, mod in modules for p in (mod.weight, mod.bias) if p is not None]
        grads = dict(zip(params, torch.autograd.grad(j, params)))
        scores = []
        for *_, mod in modules:
            s = (mod.weight * grads[mod.weight]).flatten(1).sum(1)
            if mod.bias is not None:
                s = s + mod.bias * grads[mod.bias]
            scores.append(s.detach())
        scores = torch.cat(scores)
        for k in zeroed:
            scores[k] = -torch.inf
        best = float(scores.max())
        if not best > 0:
            flipped = False
            break
        k = int(torch.nonzero(scores == scores.max())[0])  # the lowest index among exact ties
        zeroed.add(k)
        start = 0
        for layer_index, layer, offset, mod in modules:
            if k < start + mod.weight.shape[0]:
                unit = k - start
                with torch.no_grad():
                    mod.weight[unit] = 0
                    if mod.bias is not None:
                        mod.bias[unit] = 0
                steps.append((layer_index, layer, offset + unit, best))
                break
            start += mod.weight.shape[0]
    correct = {}
    with torch.no_grad():
        for split, (ex, ey) in eval_sets.items():
            correct[split] = int((m(ex).argmax(-1) == ey).sum()) if len(ex) else 0
    return (len(steps) if flipped else None), flipped, pred, steps, correct


def batched(engine: FlipEngine, positions, examples):
    out = []
    for r in engine.run(positions, examples):
        steps = [(*engine.site_unit(s, u), score) for s, u, score in r.steps]
        out.append((r.neurons_to_flip, r.flipped, r.new_pred, steps, r.correct))
    return out


# --------------------------------------------------------------------------- a trained run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from memscope.train.runner import Run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tensors this small gain nothing from threads, and lose a lot on a busy machine
    try:
        run = Run(load_config(None, RUN), Home(tmp_path_factory.mktemp("flip") / "home"), PluginHost(None), progress=False)
        run_id = run.start()
        result = run.execute()
        assert result.status == "completed", result
        assert result.final["noisy_train_acc"] == 1.0  # the noisy labels are memorized
        yield run, run.home.run_dir(run_id)
    finally:
        torch.set_num_threads(threads)


def rows(run_dir, table):
    parts = sorted((run_dir / table).glob("*.parquet"))
    return pq.read_table(parts).to_pylist() if parts else []


def float64_setup(run, **changes):
    """A float64 copy of the trained model and data, the targets and eval sets the analysis uses."""
    ctx = run.ctx
    o = NeuronFlippingOptions(**{**FLIP, **changes})
    model = copy.deepcopy(ctx.model).double().eval()
    x_train, y_train = ctx.data.x_train.double(), ctx.data.y_train
    positions = sample_targets(ctx.prepared.is_noisy, o, ctx.rng(o.target_stream))
    evals = sample_eval(ctx.prepared.is_noisy, len(ctx.data.y_test), o, ctx.rng(o.eval_stream))
    eval_sets = {}
    for split, pos in evals.items():
        x, y = (ctx.data.x_test, ctx.data.y_test) if split == "test" else (ctx.data.x_train, ctx.data.y_train)
        eval_sets[split] = (x[torch.as_tensor(pos)].double(), y[torch.as_tensor(pos)])
    settings = FlipSettings(o.reference_batch, o.noise_copies, o.noise_scale, o.max_neurons, o.batch_targets, o.chunk_examples, o.reference_stream)
    return ctx, o, model, x_train, y_train, positions, eval_sets, settings


# --------------------------------------------------------------------------- batched == naive


def test_batched_equals_naive_exactly(trained):
    run, _ = trained
    ctx, o, model, x_train, y_train, positions, eval_sets, settings = float64_setup(run)
    make = generator_factory(ctx.seed)
    examples = ctx.example_ids(positions).tolist()
    engine = FlipEngine(model, candidate_sites(model, ctx.groups), x_train, y_train, settings, make, eval_sets)
    fast = batched(engine, positions.tolist(), examples)
    slow = [naive_flip(model, ctx.groups, (), x_train, y_train, p, e, make, o, eval_sets) for p, e in zip(positions.tolist(), examples)]
    for f, s, e in zip(fast, slow, examples):
        assert f[:3] == s[:3], e  # neurons_to_flip, flipped, new prediction
        assert [st[:3] for st in f[3]] == [st[:3] for st in s[3]], e  # (layer_index, layer, unit) sequence
        assert f[4] == s[4], e  # collateral damage: correct counts per split
        np.testing.assert_allclose([st[3] for st in f[3]], [st[3] for st in s[3]], rtol=1e-9)
    # the case is not trivial: several units per target somewhere, and both outcomes or many steps
    counts = [len(f[3]) for f in fast]
    assert max(counts) >= 2 and sum(counts) >= len(fast)


def test_layer_subset_and_no_noise_copies_agree_with_naive(trained):
    run, _ = trained
    ctx, o, model, x_train, y_train, positions, eval_sets, settings = float64_setup(
        run, noise_copies=0, layers=("conv1", "conv3"), num_noisy=3, num_clean=3
    )
    make = generator_factory(ctx.seed)
    examples = ctx.example_ids(positions).tolist()
    sites = candidate_sites(model, ctx.groups, o.layers)
    assert {s.layer for s in sites} == {"conv1", "conv3"}
    fast = batched(FlipEngine(model, sites, x_train, y_train, settings, make, eval_sets), positions.tolist(), examples)
    slow = [naive_flip(model, ctx.groups, o.layers, x_train, y_train, p, e, make, o, eval_sets) for p, e in zip(positions.tolist(), examples)]
    for f, s in zip(fast, slow):
        assert f[:3] == s[:3] and [st[:3] for st in f[3]] == [st[:3] for st in s[3]] and f[4] == s[4]
        assert all(layer in ("conv1", "conv3") for _, layer, _, _ in f[3])


def test_draws_match_the_documented_recipe(trained):
    run, _ = trained
    ctx = run.ctx
    x = ctx.data.x_train
    make = generator_factory(ctx.seed)
    position, example = 17, int(ctx.prepared.train_ids[17])
    batch, inputs = draw_target(make, "flip_reference", example, position, x, 40, 3, 0.01)
    again, same = draw_target(ctx.torch_generator, "flip_reference", example, position, x, 40, 3, 0.01)
    assert torch.equal(batch, again) and torch.equal(inputs, same)  # ctx.torch_generator is the same stream
    assert batch[0] == position and position not in batch[1:].tolist() and len(set(batch.tolist())) == 41
    assert inputs.shape == (3, 41, *x.shape[1:])
    clean = x[batch]
    for c in range(3):
        ratio = torch.linalg.vector_norm(inputs[c] - clean) / torch.linalg.vector_norm(clean)
        assert abs(float(ratio) - 0.01) < 1e-6
    other = draw_target(make, "flip_reference", example + 1, position, x, 40, 3, 0.01)[0]
    assert not torch.equal(batch, other)  # a fresh draw per target
    batch0, plain = draw_target(make, "flip_reference", example, position, x, 10_000, 0, 0.01)
    assert len(batch0) == x.shape[0] and torch.equal(plain[0], x[batch0])  # B capped at N - 1; 0 copies: no noise


# --------------------------------------------------------------------------- hand-checkable


@pytest.mark.parametrize("bias", [True, False])
def test_mask_gradient_is_sum_of_w_times_dw_on_a_linear_layer(bias):
    torch.manual_seed(0)
    layer = nn.Linear(6, 4, bias=bias).double()
    model = nn.Sequential(layer)
    model.layer_groups = lambda: [LayerGroup("fc", ("0",), ("0",), "0", "linear", 4)]
    x = torch.randn(9, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 1])
    sites = candidate_sites(model, model.layer_groups())
    with UnitMasks(sites) as masks:
        (m,) = masks.set(torch.zeros(1, 4, dtype=torch.bool), torch.float64, requires_grad=True)
        j = objective(robust_logits(model(x), 1, 0, 9), y.view(1, -1))
        (mask_grad,) = torch.autograd.grad(j.sum(), [m])
    # by hand: J = mean_{j>=1} CE_j - CE_0 on logits o = x W^T + b; dJ/do = weights * (softmax - onehot)
    o = (x @ layer.weight.T + (layer.bias if bias else 0)).detach()
    weights = torch.full((9, 1), 1 / 8, dtype=torch.float64)
    weights[0] = -1
    d_o = weights * (o.softmax(1) - F.one_hot(y, 4).double())
    by_hand = (o * d_o).sum(0)
    gw = d_o.T @ x  # dJ/dW
    w_dw = (layer.weight * gw).sum(1) + ((layer.bias * d_o.sum(0)) if bias else 0)
    torch.testing.assert_close(mask_grad[0], by_hand.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(mask_grad[0], w_dw.detach(), rtol=1e-12, atol=1e-14)
    # and autograd on the weights says the same
    params = [layer.weight] + ([layer.bias] if bias else [])
    grads = torch.autograd.grad(objective(model(x).view(1, 9, 4), y.view(1, -1)).sum(), params)
    auto = (layer.weight * grads[0]).sum(1) + (layer.bias * grads[1] if bias else 0)
    torch.testing.assert_close(mask_grad[0], auto.detach(), rtol=1e-12, atol=1e-14)


def test_mask_gradient_identity_on_a_conv_layer_and_masking_equals_zeroing():
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=True).double()
    model = nn.Sequential(conv, nn.Flatten(), nn.Linear(3 * 16, 5)).double()
    model.layer_groups = lambda: [LayerGroup("conv", ("0",), ("0",), "0", "conv", 3), LayerGroup("fc", ("2",), ("2",), "2", "linear", 5)]
    x = torch.randn(2 * 7, 2, 4, 4, dtype=torch.float64)
    y = torch.randint(0, 5, (2, 7))
    sites = candidate_sites(model, model.layer_groups())
    zeroed = torch.zeros(2, 8, dtype=torch.bool)
    zeroed[1, 1] = True  # target 1 has conv channel 1 zeroed
    with UnitMasks(sites) as masks:
        leaves = masks.set(zeroed, torch.float64, requires_grad=True)
        logits = model(x)
        grads = torch.autograd.grad(objective(logits.view(2, 7, 5), y).sum(), leaves)
    ref = copy.deepcopy(model)
    with torch.no_grad():
        ref[0].weight[1] = 0
        ref[0].bias[1] = 0
    torch.testing.assert_close(logits.view(2, 7, 5)[1], ref(x[7:]), rtol=0, atol=0)  # masking == zeroing, bitwise here
    torch.testing.assert_close(logits.view(2, 7, 5)[0], model(x[:7]), rtol=0, atol=0)  # the other target is untouched
    for t, net, xs in ((0, model, x[:7]), (1, ref, x[7:])):
        params = [net[0].weight, net[0].bias, net[2].weight, net[2].bias]
        gw, gb, lw, lb = torch.autograd.grad(objective(net(xs).view(1, 7, 5), y[t : t + 1]).sum(), params)
        conv_score = (net[0].weight * gw).sum((1, 2, 3)) + net[0].bias * gb  # sum over in-channels and kernel
        fc_score = (net[2].weight * lw).sum(1) + net[2].bias * lb
        live = torch.ones(3, dtype=torch.bool)
        live[1] = t == 0  # the identity holds at mask = 1; a zeroed unit's w * dJ/dw is 0 (never chosen)
        torch.testing.assert_close(grads[0][t][live], conv_score.detach()[live], rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(grads[1][t], fc_score.detach(), rtol=1e-12, atol=1e-14)
        assert t == 0 or conv_score[1] == 0


def test_exact_ties_go_to_the_lowest_unit_in_both_implementations():
    """Hidden units 0 and 1 are exact duplicates (same row, bias and outgoing column): equal scores."""
    from memscope.models.mlp import make_mlp

    torch.manual_seed(0)
    model = make_mlp(3, 1, 4, hidden=(6,)).double().eval()
    with torch.no_grad():
        h, fc = model.hidden[0][0], model.fc
        h.weight[1], h.bias[1], fc.weight[:, 1] = h.weight[0], h.bias[0], fc.weight[:, 0]
        h.weight[:2] *= 3
        fc.weight[:, :2] *= 3
    x = torch.randn(40, 1, 4, 4, dtype=torch.float64)
    y = model(x).argmax(-1)
    groups = model.layer_groups()
    o = NeuronFlippingOptions(reference_batch=10, noise_copies=2, max_neurons=5, layers=("hidden1",))
    make = generator_factory(3)
    settings = FlipSettings(10, 2, 0.01, 5, 8, 1000)
    sites = candidate_sites(model, groups, o.layers)
    positions = list(range(12))
    fast = batched(FlipEngine(model, sites, x, y, settings, make), positions, positions)
    slow = [naive_flip(model, groups, o.layers, x, y, p, p, make, o, {}) for p in positions]
    for f, s in zip(fast, slow):
        assert f[:3] == s[:3] and [st[:3] for st in f[3]] == [st[:3] for st in s[3]]
    first_of_pair = [next(st[2] for st in f[3] if st[2] in (0, 1)) for f in fast if any(st[2] in (0, 1) for st in f[3])]
    assert first_of_pair and set(first_of_pair) == {0}  # unit 1 is never taken while its twin 0 is left
    assert any(not f[1] and not f[3] for f in fast)  # no positive score at the start: stops, not flipped


def test_a_misclassified_target_needs_zero_neurons(trained):
    run, _ = trained
    ctx, o, model, x_train, y_train, positions, eval_sets, settings = float64_setup(run)
    pos = positions[:3].tolist()
    wrong = y_train.clone()
    for p in pos:  # label each target with a class the model does not predict for it
        wrong[p] = (int(model(x_train[p : p + 1]).argmax()) + 1) % ctx.data.num_classes
    engine = FlipEngine(model, candidate_sites(model, ctx.groups), x_train, wrong, FlipSettings(8, 0, 0.0, 5), generator_factory(0))
    for r in engine.run(pos, ctx.example_ids(pos).tolist()):
        assert (r.flipped, r.neurons_to_flip, r.steps, r.stop_reason) == (True, 0, [], "flipped")


def same_steps(got, want, rel=1e-9):
    """Steps are equal: the same units in the same order, scores equal up to rounding."""
    return len(got) == len(want) and all(
        g[:-1] == w[:-1] and g[-1] == pytest.approx(w[-1], rel=rel, abs=1e-12) for g, w in zip(got, want)
    )


def test_the_cap_is_respected_and_not_flipped_is_null(trained):
    run, _ = trained
    ctx, o, model, x_train, y_train, positions, eval_sets, settings = float64_setup(run)
    make = generator_factory(ctx.seed)
    examples = ctx.example_ids(positions).tolist()
    sites = candidate_sites(model, ctx.groups)
    free = FlipEngine(model, sites, x_train, y_train, settings, make).run(positions.tolist(), examples)
    needy = [(r.position, r.example) for r in free if not r.flipped or r.neurons_to_flip >= 2]
    assert needy, "the trained model should have a target needing 2+ units"
    capped_settings = FlipSettings(o.reference_batch, o.noise_copies, o.noise_scale, 1, o.batch_targets, o.chunk_examples)
    capped = FlipEngine(model, sites, x_train, y_train, capped_settings, make).run(*map(list, zip(*needy)))
    first = {r.example: r.steps[:1] for r in free}
    for r in capped:
        assert (r.flipped, r.neurons_to_flip, r.stop_reason) == (False, None, "cap")
        # exactly cap steps, the same first choice; the score is a float from two different
        # batch compositions, so its last bits may differ with BLAS and the thread count
        assert same_steps(r.steps, first[r.example])
        assert r.new_pred == int(y_train[r.position])
        p, e = r.position, r.example
        naive = naive_flip(model, ctx.groups, (), x_train, y_train, p, e, make, NeuronFlippingOptions(**{**FLIP, "max_neurons": 1}), {})
        assert naive[:2] == (None, False)


def test_the_shared_model_is_left_as_it_was(trained):
    run, _ = trained
    ctx, o, model, x_train, y_train, positions, eval_sets, settings = float64_setup(run, num_noisy=2, num_clean=2)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    engine = FlipEngine(model, candidate_sites(model, ctx.groups), x_train, y_train, settings, generator_factory(0), eval_sets)
    engine.run(positions.tolist(), ctx.example_ids(positions).tolist())
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks for m in model.modules())


# --------------------------------------------------------------------------- the analysis


def test_run_writes_rows_for_every_target(trained):
    run, run_dir = trained
    ctx = run.ctx
    o = NeuronFlippingOptions(**FLIP)
    expected = ctx.example_ids(sample_targets(ctx.prepared.is_noisy, o, ctx.rng(o.target_stream)))
    flips = rows(run_dir, "neuron_flips")
    assert sorted(r["example"] for r in flips) == sorted(expected.tolist())
    assert sum(r["is_noisy"] for r in flips) == FLIP["num_noisy"]
    noisy_ids = set(ctx.prepared.train_ids[ctx.prepared.is_noisy].tolist())
    steps = rows(run_dir, "neuron_flip_steps")
    names = [g.name for g in ctx.groups]
    for r in flips:
        assert r["is_noisy"] == (r["example"] in noisy_ids)
        assert (r["neurons_to_flip"] is not None) == r["flipped"]
        mine = sorted((s for s in steps if s["example"] == r["example"]), key=lambda s: s["step"])
        assert [s["step"] for s in mine] == list(range(1, len(mine) + 1))
        assert len(mine) == (r["neurons_to_flip"] if r["flipped"] else len(mine)) <= FLIP["max_neurons"]
        assert all(names[s["layer_index"]] == s["layer"] and s["score"] > 0 for s in mine)
        assert (r["new_pred"] != int(ctx.prepared.y_train_observed[list(ctx.prepared.train_ids).index(r["example"])])) == r["flipped"]
        for key, n in (("clean_acc_after", 60), ("noisy_acc_after", 30), ("test_acc_after", 50)):
            assert 0 <= r[key] <= 1 and abs(r[key] * n - round(r[key] * n)) < 1e-9
    scores = rows(run_dir, "example_scores")
    assert {(s["analysis"], s["metric"]) for s in scores} == {("neuron_flipping", "neurons_to_flip")}
    by_example = {r["example"]: r for r in flips}
    assert sorted(s["example"] for s in scores) == sorted(by_example)
    for s in scores:
        r = by_example[s["example"]]
        assert s["value"] == (r["neurons_to_flip"] if r["flipped"] else FLIP["max_neurons"] + 1)


def test_the_analysis_matches_the_engine_in_float32(trained):
    """The rows written by the run are the engine's results on the run's own (float32) model."""
    run, run_dir = trained
    ctx = run.ctx
    o = NeuronFlippingOptions(**FLIP)
    positions = sample_targets(ctx.prepared.is_noisy, o, ctx.rng(o.target_stream))
    settings = FlipSettings(o.reference_batch, o.noise_copies, o.noise_scale, o.max_neurons, 64, 100_000)  # other batching
    engine = FlipEngine(ctx.model, candidate_sites(ctx.model, ctx.groups), ctx.data.x_train, ctx.data.y_train, settings, ctx.torch_generator)
    results = {r.example: r for r in engine.run(positions.tolist(), ctx.example_ids(positions).tolist())}
    for row in rows(run_dir, "neuron_flips"):
        assert results[row["example"]].neurons_to_flip == row["neurons_to_flip"]


def test_analyze_reruns_on_the_final_checkpoint_and_replaces_the_rows(trained):
    from memscope.train.runner import analyze

    run, run_dir = trained
    before = sorted((r["example"], r["neurons_to_flip"]) for r in rows(run_dir, "neuron_flips"))
    out = analyze(run.home, PluginHost(None), run_dir.name, ["neuron_flipping"], [], progress=False)
    assert out["neuron_flipping"]["status"] == "completed"
    assert sorted((r["example"], r["neurons_to_flip"]) for r in rows(run_dir, "neuron_flips")) == before
    assert len(rows(run_dir, "example_scores")) == len(before)


def test_options_are_checked_before_any_work(trained, tmp_path):
    run, _ = trained
    from memscope.train.runner import Run

    with pytest.raises(ConfigError) as err:
        NeuronFlipping(NeuronFlippingOptions(layers=("conv9",))).validate(run.ctx)
    assert "conv9" in err.value.message and "conv1, conv2, conv3, fc" in err.value.message
    for bad in ("max_neurons=0", "reference_batch=0", "num_noisy=-1", "noise_copies=-2", "batch_targets=0"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            Run(load_config(None, [*RUN, f"analysis.neuron_flipping.{bad}"]), Home(tmp_path / "h"), PluginHost(None), progress=False)
    with pytest.raises(ConfigError, match="conv9"):
        Run(load_config(None, [*RUN, 'analysis.neuron_flipping.layers=["conv9"]']), Home(tmp_path / "h"), PluginHost(None), progress=False).start()


def test_declaring_the_analysis_does_not_import_torch():
    code = "import sys, memscope.analysis.neuron_flipping as m; m.NeuronFlipping; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- scores from tracked outputs


class _ScaleInPlace(nn.Module):
    """Changes its input in place (as an ``inplace=True`` activation would)."""

    def forward(self, x):
        return x.mul_(1.5).add_(0.25)


def _conv_linear_model(inplace: bool):
    torch.manual_seed(3)
    layers = [nn.Conv2d(2, 3, 3, padding=1, bias=True), _ScaleInPlace() if inplace else nn.Identity(), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 16, 5)]
    model = nn.Sequential(*layers).double().eval()
    model.layer_groups = lambda: [LayerGroup("conv", ("0",), ("0",), "0", "conv", 3), LayerGroup("fc", ("4",), ("4",), "4", "linear", 5)]
    return model


@pytest.mark.parametrize("inplace", [False, True])
def test_tracked_scores_equal_mask_gradients(inplace):
    """``UnitMasks.scores`` (sum of o * dJ/do) is dJ/dmask at every unit still on, an in-place
    module after a site included (the probe makes that site copy its output)."""
    model = _conv_linear_model(inplace)
    sites = candidate_sites(model, model.layer_groups())
    x = torch.randn(3 * 6, 2, 4, 4, dtype=torch.float64)
    y = torch.randint(0, 5, (3, 6))
    zeroed = torch.zeros(3, 8, dtype=torch.bool)
    zeroed[1, 2] = True  # target 1: conv channel 2 off
    zeroed[2, 3 + 4] = True  # target 2: logit 4 off
    with UnitMasks(sites) as masks:
        masks.probe(model, x[0])
        assert masks._copy == [inplace, False]
        leaves = masks.set(zeroed, torch.float64, requires_grad=True)
        want = torch.cat(torch.autograd.grad(objective(model(x.clone()).view(3, 6, 5), y).sum(), leaves), dim=1)
        masks.set(zeroed, torch.float64, track=True)
        got = masks.scores(objective(model(x.clone()).view(3, 6, 5), y).sum(), 3)
    live = ~zeroed
    torch.testing.assert_close(got[live], want[live], rtol=1e-12, atol=1e-14)
    assert (got[zeroed] == 0).all()  # a zeroed unit's output is 0: its score is 0 (and it is never chosen again)


def test_in_place_module_after_a_site_still_agrees_with_naive():
    model = _conv_linear_model(inplace=True)
    groups = model.layer_groups()
    g = torch.Generator().manual_seed(0)
    x_train = torch.randn(40, 2, 4, 4, dtype=torch.float64, generator=g)
    with torch.no_grad():
        y_train = model(x_train.clone()).argmax(1)  # every target starts correct: the search must run
    o = NeuronFlippingOptions(reference_batch=12, noise_copies=2, max_neurons=6, num_noisy=0, num_clean=6, batch_targets=4, chunk_examples=60)
    settings = FlipSettings(o.reference_batch, o.noise_copies, o.noise_scale, o.max_neurons, o.batch_targets, o.chunk_examples, o.reference_stream)
    make = generator_factory(0)
    positions = list(range(6))
    engine = FlipEngine(model, candidate_sites(model, groups), x_train, y_train, settings, make, {})
    fast = batched(engine, positions, positions)
    slow = [naive_flip(model, groups, (), x_train, y_train, p, p, make, o, {}) for p in positions]
    assert sum(len(f[3]) for f in fast) >= 6  # real searches, not immediate flips
    for f, s in zip(fast, slow):
        assert f[:3] == s[:3] and [st[:3] for st in f[3]] == [st[:3] for st in s[3]]


# --------------------------------------------------------------------------- the module of each step


def test_steps_name_the_module_of_each_unit(trained):
    run, run_dir = trained
    sites = {s.path: s for s in candidate_sites(run.ctx.model, run.ctx.groups)}
    steps = rows(run_dir, "neuron_flip_steps")
    assert steps
    for s in steps:
        site = sites[s["module"]]
        assert (site.layer_index, site.layer) == (s["layer_index"], s["layer"])
        assert site.group_offset <= s["unit"] < site.group_offset + site.units


def test_write_records_the_module_in_a_group_of_several_modules(tmp_path):
    """ResNet-50's groups hold several convs: ``unit`` counts across them, ``module`` says which one."""
    from types import SimpleNamespace

    from memscope.analysis.flipping_engine import FlipResult
    from memscope.store.writer import RunWriter

    model = nn.ModuleDict({"a": nn.Linear(4, 3), "b": nn.Linear(3, 5), "fc": nn.Linear(5, 2)})
    groups = [LayerGroup("block", ("a", "b"), ("a", "b"), "b", "linear", 5), LayerGroup("fc", ("fc",), ("fc",), "fc", "linear", 2)]
    engine = SimpleNamespace(sites=candidate_sites(model, groups))
    engine.site_unit = lambda site, unit: FlipEngine.site_unit(engine, site, unit)
    result = FlipResult(0, 10, flipped=True, neurons_to_flip=3, new_pred=1, steps=[(1, 4, 0.5), (0, 2, 0.25), (2, 0, 0.125)])
    writer = RunWriter(Home(tmp_path / "home").ensure(), "r1")
    ctx = SimpleNamespace(prepared=SimpleNamespace(is_noisy=np.array([True])), write=writer.write, progress=lambda _: None)
    NeuronFlipping(NeuronFlippingOptions())._write(ctx, engine, [result], {})
    got = [(s["step"], s["layer_index"], s["layer"], s["unit"], s["module"]) for s in rows(writer.run_dir, "neuron_flip_steps")]
    assert got == [(1, 0, "block", 3 + 4, "b"), (2, 0, "block", 2, "a"), (3, 1, "fc", 0, "fc")]


def test_parts_written_before_the_module_column_still_query(tmp_path):
    """An older run's parts have no ``module`` column: the view (union_by_name) reads it as NULL."""
    import pyarrow as pa

    from memscope.store.home import write_parquet_atomic
    from memscope.store.query import open_connection
    from memscope.store.schemas import CORE_TABLES
    from memscope.store.writer import RunWriter

    home = Home(tmp_path / "home").ensure()
    row = {"example": 1, "step": 1, "layer_index": 0, "layer": "fc", "unit": 2, "score": 0.5}
    old_schema = pa.schema([f for f in CORE_TABLES["neuron_flip_steps"] if f.name != "module"])
    old_part = home.run_dir("a-old") / "neuron_flip_steps" / "part-000001.parquet"
    old_part.parent.mkdir(parents=True)
    write_parquet_atomic(pa.Table.from_pylist([{**row, "run_id": "a-old"}], schema=old_schema), old_part)
    query = "SELECT run_id, unit, module FROM neuron_flip_steps ORDER BY run_id"
    conn = open_connection(home)
    try:
        assert conn.execute(query).fetchall() == [("a-old", 2, None)]  # only old parts
    finally:
        conn.close()
    RunWriter(home, "b-new").write("neuron_flip_steps", {key: [value] for key, value in {**row, "module": "fc"}.items()})
    conn = open_connection(home)
    try:
        assert conn.execute(query).fetchall() == [("a-old", 2, None), ("b-new", 2, "fc")]
        assert conn.execute("SELECT count(*) FROM neuron_flip_steps WHERE module IS NULL").fetchone() == (1,)
    finally:
        conn.close()


def test_a_target_larger_than_a_pass_is_scored_in_slices_and_agrees_with_naive(trained):
    """chunk_examples below one target's copies x (B + 1): J's gradient is summed over slices."""
    run, _ = trained
    ctx, o, model, x_train, y_train, positions, eval_sets, settings = float64_setup(run, num_noisy=3, num_clean=3, chunk_examples=14)
    make = generator_factory(ctx.seed)
    examples = ctx.example_ids(positions).tolist()
    engine = FlipEngine(model, candidate_sites(model, ctx.groups), x_train, y_train, settings, make, eval_sets)
    fast = batched(engine, positions.tolist(), examples)
    assert engine.columns == 7  # 14 examples = 2 copies x 7 batch examples per pass
    slow = [naive_flip(model, ctx.groups, (), x_train, y_train, p, e, make, o, eval_sets) for p, e in zip(positions.tolist(), examples)]
    for f, s in zip(fast, slow):
        assert f[:3] == s[:3] and [st[:3] for st in f[3]] == [st[:3] for st in s[3]] and f[4] == s[4]
        np.testing.assert_allclose([st[3] for st in f[3]], [st[3] for st in s[3]], rtol=1e-9)


def test_each_distinct_edit_is_evaluated_once(trained, monkeypatch):
    """Collateral counts depend on the edit alone: targets ending with the same zeroed units
    share one evaluation (and agree with evaluating each alone, which the naive tests pin)."""
    run, _ = trained
    ctx, o, model, x_train, y_train, positions, eval_sets, settings = float64_setup(run)
    engine = FlipEngine(model, candidate_sites(model, ctx.groups), x_train, y_train, settings, generator_factory(ctx.seed), eval_sets)
    evaluated = []
    real = engine._correct_counts
    monkeypatch.setattr(engine, "_correct_counts", lambda masks, zeroed: evaluated.extend(map(tuple, zeroed.tolist())) or real(masks, zeroed))
    results = engine.run(positions.tolist(), ctx.example_ids(positions).tolist())
    edits = {tuple(sorted((site, unit) for site, unit, _ in r.steps)) for r in results}
    assert len(evaluated) == len(set(evaluated)) == len(edits) < len(results)  # some targets share an edit
