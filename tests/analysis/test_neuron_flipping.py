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
from memscope.analysis.flipping_parameters import ParameterCandidates
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

NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def _chosen(groups, layers):
    return [(i, g) for i, g in enumerate(groups) if not layers or g.name in layers]


def _unit_candidates(m, groups, layers):
    """Units mode: blocks (layer_index, layer, first unit in the group, module path, module), in group order."""
    out = []
    for i, g in _chosen(groups, layers):
        offset = 0
        for path in g.neuron_modules:
            mod = m.get_submodule(path)
            out.append((i, g.name, offset, path, mod))
            offset += mod.weight.shape[0]
    return out


def _parameter_candidates(m, groups, layers):
    """Parameters mode, as in the authors' code: every named parameter of the chosen groups, in
    ``named_parameters`` order; blocks (layer_index, layer, name, module path, kind, parameter)."""
    chosen = _chosen(groups, layers)
    out = []
    for name, p in m.named_parameters():
        owner = next(((i, g) for i, g in chosen if name in g.parameters or any(name.startswith(x + ".") for x in g.modules)), None)
        if owner is None:
            continue
        path, _, attr = name.rpartition(".")
        mod = m.get_submodule(path)
        if isinstance(mod, NORMS):
            kind = f"norm_{attr}"
        elif isinstance(mod, nn.Conv2d) and attr == "weight":
            kind = "conv_filter"
        else:
            kind = attr
        out.append((owner[0], owner[1].name, name, path, kind, p))
    return out


def _block_scores(units, blocks, j):
    """Per block, its candidates' scores from autograd on the weights: a unit's (or a conv
    filter's) sum of w * dJ/dw (+ its bias), any other parameter's w * dJ/dw per element."""
    if units:
        params = [p for *_, mod in blocks for p in (mod.weight, mod.bias) if p is not None]
    else:
        params = [b[5] for b in blocks]
    grads = dict(zip(params, torch.autograd.grad(j, params)))
    out = []
    for block in blocks:
        if units:
            mod = block[4]
            s = (mod.weight * grads[mod.weight]).flatten(1).sum(1)
            if mod.bias is not None:
                s = s + mod.bias * grads[mod.bias]
        else:
            kind, p = block[4], block[5]
            s = (p * grads[p]).flatten(1).sum(1) if kind == "conv_filter" else (p * grads[p]).flatten()
        out.append(s.detach())
    return out


def naive_flip(model, groups, layers, x_train, y_train, position, example, make_generator, o, eval_sets, candidates="units"):
    """One target, literally: zero weights in a deepcopy, score by autograd on the weights.

    Returns (neurons_to_flip or None, flipped, new_pred, [(edit..., score)], {split: correct
    count}, stop reason); an edit is (layer_index, layer, module, unit, kind, parameter, coords)
    as ``FlipEngine.describe`` gives it.
    """
    m = copy.deepcopy(model).eval()
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

    units = candidates == "units"
    cands = _unit_candidates(m, groups, layers) if units else _parameter_candidates(m, groups, layers)
    steps, zeroed, first = [], set(), True
    while True:
        logits = m(inputs.reshape(-1, *x.shape[1:])).view(inputs.shape[0], b + 1, -1).mean(0)
        pred = int(logits[0].argmax())
        if pred != int(y[0]):
            if first:
                return None, False, pred, [], {}, "unfitted"  # never fitted: not searched
            flipped, reason = True, "flipped"
            break
        first = False
        if len(steps) == o.max_neurons:
            flipped, reason = False, "cap"
            break
        loss = F.cross_entropy(logits, y, reduction="none")
        j = loss[1:].mean() - loss[0]
        parts = _block_scores(units, cands, j)
        scores = torch.cat(parts)
        for k in zeroed:
            scores[k] = -torch.inf
        best = float(scores.max())
        if not best > 0:
            flipped, reason = False, "no_positive_score"
            break
        k = int(torch.nonzero(scores == scores.max())[0])  # the lowest index among exact ties
        zeroed.add(k)
        for block, part in zip(cands, parts):  # the block holding candidate k, and k's place in it
            if k < len(part):
                break
            k -= len(part)
        with torch.no_grad():
            if units:
                layer_index, layer, offset, path, mod = block
                mod.weight[k] = 0
                if mod.bias is not None:
                    mod.bias[k] = 0
                steps.append(((layer_index, layer, path, offset + k, "unit", None, None), best))
            else:
                layer_index, layer, name, path, kind, p = block
                if kind == "conv_filter":
                    p[k] = 0
                    coords = (k,)
                else:
                    p.view(-1)[k] = 0
                    coords = tuple(int(c) for c in np.unravel_index(k, tuple(p.shape)))
                steps.append(((layer_index, layer, path, k, kind, name, coords), best))
    correct = {}
    with torch.no_grad():
        for split, (ex, ey) in eval_sets.items():
            correct[split] = int((m(ex).argmax(-1) == ey).sum()) if len(ex) else 0
    return (len(steps) if flipped else None), flipped, pred, steps, correct, reason


def batched(engine: FlipEngine, positions, examples):
    """The engine's results in naive_flip's layout."""
    out = []
    for r in engine.run(positions, examples):
        steps = []
        for index, score in r.steps:
            e = engine.describe(index)
            steps.append(((e.layer_index, e.layer, e.module, e.unit, e.kind, e.parameter, e.coords), score))
        out.append((r.neurons_to_flip, r.flipped, r.new_pred, steps, r.correct, r.stop_reason))
    return out


def assert_same(fast, slow, label=""):
    """Identical outcomes and edits; scores equal to 1e-9 relative (float64)."""
    assert len(fast) == len(slow)
    for f, s in zip(fast, slow):
        assert f[:3] == s[:3] and f[5] == s[5], label  # neurons_to_flip, flipped, new prediction, stop reason
        assert [st[0] for st in f[3]] == [st[0] for st in s[3]], label  # the edit sequence
        assert f[4] == s[4], label  # collateral damage: correct counts per split
        np.testing.assert_allclose([st[1] for st in f[3]], [st[1] for st in s[3]], rtol=1e-9)


def engine_for(model, groups, candidates, layers=()):
    """The engine's candidate set for a mode."""
    if candidates == "units":
        return candidate_sites(model, groups, layers)
    return ParameterCandidates(model, groups, layers)


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


@pytest.mark.parametrize("mode", ["parameters", "units"])
def test_batched_equals_naive_exactly(trained, mode):
    run, _ = trained
    ctx, o, model, x_train, y_train, positions, eval_sets, settings = float64_setup(run)
    make = generator_factory(ctx.seed)
    examples = ctx.example_ids(positions).tolist()
    engine = FlipEngine(model, engine_for(model, ctx.groups, mode), x_train, y_train, settings, make, eval_sets)
    fast = batched(engine, positions.tolist(), examples)
    slow = [naive_flip(model, ctx.groups, (), x_train, y_train, p, e, make, o, eval_sets, mode) for p, e in zip(positions.tolist(), examples)]
    assert_same(fast, slow, mode)
    # the case is not trivial: several edits per target somewhere, and more steps than targets
    counts = [len(f[3]) for f in fast]
    assert max(counts) >= 2 and sum(counts) >= len(fast)
    if mode == "parameters":  # edits of more than one kind, outside the classifier too
        kinds = {st[0][4] for f in fast for st in f[3]}
        assert len(kinds) >= 2, kinds


@pytest.mark.parametrize("mode", ["parameters", "units"])
def test_layer_subset_and_no_noise_copies_agree_with_naive(trained, mode):
    run, _ = trained
    ctx, o, model, x_train, y_train, positions, eval_sets, settings = float64_setup(
        run, noise_copies=0, layers=("conv1", "conv3"), num_noisy=3, num_clean=3
    )
    make = generator_factory(ctx.seed)
    examples = ctx.example_ids(positions).tolist()
    candidates = engine_for(model, ctx.groups, mode, o.layers)
    fast = batched(FlipEngine(model, candidates, x_train, y_train, settings, make, eval_sets), positions.tolist(), examples)
    slow = [naive_flip(model, ctx.groups, o.layers, x_train, y_train, p, e, make, o, eval_sets, mode) for p, e in zip(positions.tolist(), examples)]
    assert_same(fast, slow, mode)
    assert all(st[0][1] in ("conv1", "conv3") for f in fast for st in f[3])
    assert sum(len(f[3]) for f in fast) >= 1


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
    positions = list(range(12))
    for mode in ("units", "parameters"):
        candidates = engine_for(model, groups, mode, o.layers)
        fast = batched(FlipEngine(model, candidates, x, y, settings, make), positions, positions)
        slow = [naive_flip(model, groups, o.layers, x, y, p, p, make, o, {}, mode) for p in positions]
        assert_same(fast, slow, mode)
        if mode == "units":
            units = [[st[0][3] for st in f[3]] for f in fast]
            first_of_pair = [next(u for u in us if u in (0, 1)) for us in units if {0, 1} & set(us)]
            assert first_of_pair and set(first_of_pair) == {0}  # unit 1 is never taken while its twin 0 is left
            assert any(not f[1] and not f[3] for f in fast)  # no positive score at the start: stops, not flipped
        else:  # twin rows: entry (1, k) is never taken while its twin (0, k) is left
            for f in fast:
                taken = [st[0][6] for st in f[3] if st[0][5] == "hidden.0.0.weight"]
                assert all((0, c[1]) in taken[: taken.index(c)] for c in taken if c[0] == 1)


@pytest.mark.parametrize("mode", ["parameters", "units"])
def test_a_target_not_fitted_at_the_start_is_skipped_without_flipping_work(trained, mode):
    run, _ = trained
    ctx, o, model, x_train, y_train, positions, eval_sets, settings = float64_setup(run)
    pos = positions[:3].tolist()
    wrong = y_train.clone()
    for p in pos:  # label each target with a class the model does not predict for it
        wrong[p] = (int(model(x_train[p : p + 1]).argmax()) + 1) % ctx.data.num_classes
    engine = FlipEngine(model, engine_for(model, ctx.groups, mode), x_train, wrong, FlipSettings(8, 0, 0.0, 5), generator_factory(0), eval_sets)
    results = engine.run(pos, ctx.example_ids(pos).tolist())
    for r in results:
        assert (r.flipped, r.neurons_to_flip, r.steps, r.stop_reason, r.correct, r.searched) == (False, None, [], "unfitted", {}, False)
        assert r.new_pred != int(wrong[r.position])
    assert engine.forwards == 0  # no reference batch was forwarded: skipped targets cost no search
    assert set(engine.before) == {"clean", "noisy", "test"}  # the unedited model's accuracies, for every row
    with torch.no_grad():
        for split, (x, y) in eval_sets.items():
            assert engine.before[split] == int((model.eval()(x).argmax(-1) == y).sum())


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
    sites = ParameterCandidates(model, ctx.groups)
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
        naive = naive_flip(model, ctx.groups, (), x_train, y_train, p, e, make, NeuronFlippingOptions(**{**FLIP, "max_neurons": 1}), {}, "parameters")
        assert naive[:2] == (None, False) and naive[5] == "cap"


def test_the_shared_model_is_left_as_it_was(trained):
    run, _ = trained
    ctx, o, model, x_train, y_train, positions, eval_sets, settings = float64_setup(run, num_noisy=2, num_clean=2)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for mode in ("parameters", "units"):
        engine = FlipEngine(model, engine_for(model, ctx.groups, mode), x_train, y_train, settings, generator_factory(0), eval_sets)
        assert sum(len(r.steps) for r in engine.run(positions.tolist(), ctx.example_ids(positions).tolist()))
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
    params = dict(ctx.model.named_parameters())
    owner = {name: g.name for g in ctx.groups for name in params if any(name.startswith(m + ".") for m in g.modules)}
    assert {r["candidates"] for r in flips} == {"parameters"}
    assert len({(r["clean_acc_before"], r["noisy_acc_before"], r["test_acc_before"]) for r in flips}) == 1  # one unedited model
    for r in flips:
        assert r["is_noisy"] == (r["example"] in noisy_ids)
        assert (r["neurons_to_flip"] is not None) == r["flipped"] == (r["status"] == "flipped")
        assert r["status"] in ("flipped", "not_flipped")  # the trained model fits every target here
        mine = sorted((s for s in steps if s["example"] == r["example"]), key=lambda s: s["step"])
        assert [s["step"] for s in mine] == list(range(1, len(mine) + 1))
        assert 1 <= len(mine) == (r["neurons_to_flip"] if r["flipped"] else len(mine)) <= FLIP["max_neurons"]
        assert all(names[s["layer_index"]] == s["layer"] and s["score"] > 0 for s in mine)
        for s in mine:  # the step names a real element of a real parameter of its layer group
            shape = tuple(params[s["parameter"]].shape)
            assert owner[s["parameter"]] == s["layer"] and s["parameter"].rpartition(".")[0] == s["module"]
            if s["kind"] == "conv_filter":
                assert len(shape) == 4 and s["coords"] == [s["unit"]] and s["unit"] < shape[0]
            else:
                assert len(s["coords"]) == len(shape) and int(np.ravel_multi_index(s["coords"], shape)) == s["unit"]
            kind = s["parameter"].rpartition(".")[2]
            assert s["kind"] in ({"weight": ("conv_filter", "weight", "norm_weight"), "bias": ("bias", "norm_bias")}[kind])
            assert s["kind"].startswith("norm") == (".bn." in s["parameter"])
        assert (r["new_pred"] != int(ctx.prepared.y_train_observed[list(ctx.prepared.train_ids).index(r["example"])])) == r["flipped"]
        for key, n in (("clean_acc", 60), ("noisy_acc", 30), ("test_acc", 50)):
            for when in ("after", "before"):
                value = r[f"{key}_{when}"]
                assert 0 <= value <= 1 and abs(value * n - round(value * n)) < 1e-9
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
    engine = FlipEngine(ctx.model, ParameterCandidates(ctx.model, ctx.groups), ctx.data.x_train, ctx.data.y_train, settings, ctx.torch_generator)
    results = {r.example: r for r in engine.run(positions.tolist(), ctx.example_ids(positions).tolist())}
    for row in rows(run_dir, "neuron_flips"):
        assert results[row["example"]].neurons_to_flip == row["neurons_to_flip"]


def test_analyze_reruns_on_the_final_checkpoint_and_replaces_the_rows(trained):
    from memscope.train.reanalyze import analyze

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
    for bad in ("max_neurons=0", "reference_batch=0", "num_noisy=-1", "noise_copies=-2", "batch_targets=0", 'candidates="filters"'):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            Run(load_config(None, [*RUN, f"analysis.neuron_flipping.{bad}"]), Home(tmp_path / "h"), PluginHost(None), progress=False)
    with pytest.raises(ConfigError, match="conv9"):
        Run(load_config(None, [*RUN, 'analysis.neuron_flipping.layers=["conv9"]']), Home(tmp_path / "h"), PluginHost(None), progress=False).start()


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
    for mode in ("units", "parameters"):
        engine = FlipEngine(model, engine_for(model, groups, mode), x_train, y_train, settings, make, {})
        fast = batched(engine, positions, positions)
        slow = [naive_flip(model, groups, (), x_train, y_train, p, p, make, o, {}, mode) for p in positions]
        assert sum(len(f[3]) for f in fast) >= 6  # real searches, not immediate flips
        assert_same(fast, slow, mode)


# --------------------------------------------------------------------------- parameter candidates by hand


class _Mixed(nn.Module):
    """Every parameter kind the authors' candidates cover: conv filters and biases, BatchNorm,
    GroupNorm and LayerNorm gamma and beta, linear entries and biases; plus a raw parameter."""

    def __init__(self, extra: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.gn = nn.GroupNorm(2, 4)
        self.lin = nn.Linear(4 * 16, 6)
        self.ln = nn.LayerNorm(6)
        self.fc = nn.Linear(6, 5)
        self.shift = nn.Parameter(torch.zeros(6)) if extra else None

    def forward(self, x):
        h = self.gn(self.conv2(torch.relu(self.bn(self.conv(x)))))
        h = self.lin(torch.tanh(h).flatten(1))
        if self.shift is not None:
            h = h + self.shift
        return self.fc(torch.tanh(self.ln(h)))

    def layer_groups(self):
        return [
            LayerGroup("a", ("conv", "bn"), ("conv",), "bn", "conv", 3),
            LayerGroup("b", ("conv2", "gn"), ("conv2",), "gn", "conv", 4),
            LayerGroup("c", ("lin", "ln"), ("lin",), "ln", "linear", 6, ("shift",) if self.shift is not None else ()),
            LayerGroup("fc", ("fc",), ("fc",), "fc", "linear", 5),
        ]


def _mixed_model(extra: bool = False):
    torch.manual_seed(5)
    model = _Mixed(extra).double().eval()
    with torch.no_grad():  # non-trivial affine parameters and running statistics
        for norm in (model.bn, model.gn, model.ln):
            norm.weight.normal_(1.0, 0.3)
            norm.bias.normal_(0.0, 0.3)
        model.bn.running_mean.normal_(0.0, 0.2)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model


def test_parameter_edits_equal_zeroing_and_scores_equal_w_times_dw():
    model = _mixed_model()
    groups = model.layer_groups()
    cands = ParameterCandidates(model, groups)
    names = [b.name for b in cands.blocks]
    assert names == [n for n, _ in model.named_parameters()] and not cands.skipped  # model order, all of them
    assert [b.kind for b in cands.blocks] == [
        "conv_filter", "bias", "norm_weight", "norm_bias", "conv_filter", "norm_weight", "norm_bias", "weight", "bias", "norm_weight", "norm_bias", "weight", "bias",
    ]
    assert cands.size == 3 + 3 + 3 + 3 + 4 + 4 + 4 + 6 * 64 + 6 + 6 + 6 + 5 * 6 + 5
    t, n = 4, 5
    g = torch.Generator().manual_seed(0)
    x = torch.randn(t * n, 2, 4, 4, dtype=torch.float64, generator=g)
    y = torch.randint(0, 5, (t, n), generator=g)
    zeroed = torch.zeros(t, cands.size, dtype=torch.bool)
    zeroed[1] = torch.rand(cands.size, generator=g) < 0.2  # target 1: a fifth of everything
    zeroed[2, [0, 4, 6, 12 + 2, 16 + 5]] = True  # target 2: a filter and its bias, BN beta, conv2's filter, GN beta
    zeroed[3, [22, 22 + 64 * 5 + 3, 22 + 384 + 1, 22 + 390 + 2, 22 + 396 + 4, 22 + 402 + 29, cands.size - 1]] = True  # linear entries, biases, LN
    with cands.masks() as masks:
        masks.probe(model, x[0])
        masks.set(zeroed, torch.float64, track=True)
        logits = model(x)
        got = masks.scores(objective(logits.view(t, n, 5), y).sum(), t)
    assert torch.equal(logits[:n], model(x[:n]))  # an unedited target: bitwise the model's own output
    for k in range(t):
        ref = copy.deepcopy(model)
        params = [p for _, p in ref.named_parameters()]
        with torch.no_grad():
            for index in torch.nonzero(zeroed[k]).flatten().tolist():
                e = cands.describe(index)
                p = dict(ref.named_parameters())[e.parameter]
                if e.kind == "conv_filter":
                    p[e.coords[0]] = 0
                else:
                    p[e.coords] = 0
        out = ref(x[k * n : (k + 1) * n])
        torch.testing.assert_close(logits[k * n : (k + 1) * n], out, rtol=1e-12, atol=1e-13)  # masking == zeroing
        grads = torch.autograd.grad(objective(out.view(1, n, 5), y[k : k + 1]).sum(), params)
        want = torch.cat([(p * gr).flatten(1).sum(1) if p.dim() == 4 else (p * gr).flatten() for p, gr in zip(params, grads)])
        live = ~zeroed[k]
        torch.testing.assert_close(got[k][live], want.detach()[live], rtol=1e-10, atol=1e-13)


def test_parameter_candidates_describe_each_element_and_skip_what_they_cannot_edit():
    model = _mixed_model(extra=True)
    cands = ParameterCandidates(model, model.layer_groups())
    assert cands.skipped == ["shift"]  # a raw parameter: no module hook can edit it per target
    lin = next(b for b in cands.blocks if b.name == "lin.weight")
    e = cands.describe(lin.offset + 64 * 5 + 3)
    assert (e.layer_index, e.layer, e.module, e.parameter, e.kind, e.unit, e.coords) == (2, "c", "lin", "lin.weight", "weight", 64 * 5 + 3, (5, 3))
    e = cands.describe(1)
    assert (e.layer, e.module, e.parameter, e.kind, e.unit, e.coords) == ("a", "conv", "conv.weight", "conv_filter", 1, (1,))
    only_fc = ParameterCandidates(model, model.layer_groups(), ("fc",))
    assert [b.name for b in only_fc.blocks] == ["fc.weight", "fc.bias"] and only_fc.layers() == {"fc"}


def test_mixed_model_agrees_with_naive_in_both_modes():
    model = _mixed_model()
    groups = model.layer_groups()
    g = torch.Generator().manual_seed(1)
    x_train = torch.randn(40, 2, 4, 4, dtype=torch.float64, generator=g)
    with torch.no_grad():
        y_train = model(x_train).argmax(1)
    y_train[[3, 7]] = (y_train[[3, 7]] + 1) % 5  # two targets the model does not fit: skipped
    o = NeuronFlippingOptions(reference_batch=12, noise_copies=2, max_neurons=8, batch_targets=3, chunk_examples=52)
    settings = FlipSettings(o.reference_batch, o.noise_copies, o.noise_scale, o.max_neurons, o.batch_targets, o.chunk_examples, o.reference_stream)
    make = generator_factory(2)
    positions = list(range(10))
    evals = {"clean": (x_train[20:], y_train[20:])}
    for mode in ("parameters", "units"):
        fast = batched(FlipEngine(model, engine_for(model, groups, mode), x_train, y_train, settings, make, evals), positions, positions)
        slow = [naive_flip(model, groups, (), x_train, y_train, p, p, make, o, evals, mode) for p in positions]
        assert_same(fast, slow, mode)
        assert [f[5] for f in fast].count("unfitted") == 2
        assert sum(len(f[3]) for f in fast) >= 8


# --------------------------------------------------------------------------- the module of each step


def test_write_records_the_module_in_a_group_of_several_modules_and_skipped_targets(tmp_path):
    """ResNet-50's groups hold several convs: in units mode ``unit`` counts across them and
    ``module`` says which one. Skipped targets get a row with their reason and no steps."""
    from types import SimpleNamespace

    from memscope.analysis.flipping_engine import FlipResult, UnitCandidates
    from memscope.store.writer import RunWriter

    model = nn.ModuleDict({"a": nn.Linear(4, 3), "b": nn.Linear(3, 5), "fc": nn.Linear(5, 2)})
    groups = [LayerGroup("block", ("a", "b"), ("a", "b"), "b", "linear", 5), LayerGroup("fc", ("fc",), ("fc",), "fc", "linear", 2)]
    engine = SimpleNamespace(describe=UnitCandidates(candidate_sites(model, groups)).describe, before={"clean": 9, "noisy": 3})
    results = [  # flat candidates: a 0-2, b 3-7, fc 8-9
        FlipResult(0, 10, flipped=True, neurons_to_flip=3, new_pred=1, steps=[(7, 0.5), (2, 0.25), (8, 0.125)], stop_reason="flipped", correct={"clean": 7, "noisy": 1}),
        FlipResult(1, 11, new_pred=0, stop_reason="unfitted"),
        FlipResult(2, 12, new_pred=1, stop_reason="unfitted"),
        FlipResult(3, 13, new_pred=1, steps=[(9, 0.5)], stop_reason="cap", correct={"clean": 8, "noisy": 2}),
    ]
    writer = RunWriter(Home(tmp_path / "home").ensure(), "r1")
    ctx = SimpleNamespace(prepared=SimpleNamespace(is_noisy=np.array([True, True, False, False])), write=writer.write, progress=lambda _: None)
    NeuronFlipping(NeuronFlippingOptions(candidates="units", max_neurons=1))._write(ctx, engine, results, {"clean": 10, "noisy": 4, "test": 0})
    got = [(s["example"], s["step"], s["layer_index"], s["layer"], s["unit"], s["module"], s["kind"], s["parameter"], s["coords"]) for s in rows(writer.run_dir, "neuron_flip_steps")]
    assert got == [
        (10, 1, 0, "block", 3 + 4, "b", "unit", None, None),
        (10, 2, 0, "block", 2, "a", "unit", None, None),
        (10, 3, 1, "fc", 0, "fc", "unit", None, None),
        (13, 1, 1, "fc", 1, "fc", "unit", None, None),
    ]
    flips = {r["example"]: r for r in rows(writer.run_dir, "neuron_flips")}
    assert [flips[e]["status"] for e in (10, 11, 12, 13)] == ["flipped", "not_memorized", "not_fitted", "not_flipped"]
    assert {r["candidates"] for r in flips.values()} == {"units"}
    assert [flips[e]["neurons_to_flip"] for e in (10, 11, 12, 13)] == [3, None, None, None]
    assert [flips[e]["clean_acc_after"] for e in (10, 11, 12, 13)] == [pytest.approx(0.7), None, None, pytest.approx(0.8)]
    assert all(r["test_acc_after"] is None and r["test_acc_before"] is None for r in flips.values())  # empty sample
    assert all(r["clean_acc_before"] == pytest.approx(0.9) and r["noisy_acc_before"] == pytest.approx(0.75) for r in flips.values())
    scores = {s["example"]: s["value"] for s in rows(writer.run_dir, "example_scores")}
    assert scores == {10: 3.0, 13: 2.0}  # skipped targets are not ranked; not flipped: cap + 1


def test_parts_written_before_the_module_column_still_query(tmp_path):
    """An older run's parts have no ``module`` column: the view (union_by_name) reads it as NULL."""
    import pyarrow as pa

    from memscope.store.home import write_parquet_atomic
    from memscope.store.connection import open_connection
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
    engine = FlipEngine(model, ParameterCandidates(model, ctx.groups), x_train, y_train, settings, make, eval_sets)
    fast = batched(engine, positions.tolist(), examples)
    assert engine.columns == 7  # 14 examples = 2 copies x 7 batch examples per pass
    slow = [naive_flip(model, ctx.groups, (), x_train, y_train, p, e, make, o, eval_sets, "parameters") for p, e in zip(positions.tolist(), examples)]
    assert_same(fast, slow)


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
    edits = {tuple(sorted(index for index, _ in r.steps)) for r in results}
    assert evaluated[0] == (False,) * engine.num_units  # the unedited model first (the *_before accuracies)
    assert len(evaluated) == len(set(evaluated)) == len(edits) + 1 and len(edits) < len(results)  # some targets share an edit
