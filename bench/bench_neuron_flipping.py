"""Benchmark: batched neuron flipping vs the naive one-target-at-a-time reference (target >= 10x).

Trains a digits CNN briefly through memscope's own ``Run`` (into a temporary home), then runs
the same targets through ``FlipEngine`` (per-target masks, many targets per forward, scores
from activation gradients) and through the naive reference from
``tests/analysis/test_neuron_flipping.py`` (a deepcopy per target with really-zeroed weights,
scores from autograd on the weights). Asserts identical results (neurons to flip, the
(layer, unit) sequence, collateral accuracies), prints both times and the ratio, and then the
neurons-to-flip of noisy vs clean targets (the paper: noisy examples need fewer).

Not a unit test: run it by hand.

    .venv/bin/python bench/bench_neuron_flipping.py                     # 32 targets, B = 512, 5 copies
    .venv/bin/python bench/bench_neuron_flipping.py --reference-batch 64 --copies 1
    .venv/bin/python bench/bench_neuron_flipping.py --dtype float64 --summary-targets 200

Measured (2-core CPU, quiet, digits CNN x1.0, 40 epochs, 10% noise, 32 targets, defaults
B = 512, 5 copies, cap 200, float32; identical results, 32/32 targets):

    naive 34.3 s, batched 18.4 s: 1.9x   (wall and CPU time; the first engine, before the
                                          stop test and tracked-output scores: 1.2x)

Where the 1.9x comes from: the stop test forwards only the target's own copies (the step that
finds the flip costs no reference batch), the scores come from activation gradients (no
weight gradients), and passes are sized to the cache (96 MiB of activations). On a CPU both
implementations are compute-bound with the same forward and backward FLOPs per unit step, so
batching targets cannot buy 10x there; its gain is fewer, larger passes where one target's
pass underfills the device (a GPU: run ``bash bench/gpu_checks.sh`` there).

The comparison is exact in float64. In float32 the two implementations sum a unit's score in
different orders (weights vs activations), so a near-tie can, rarely, rank differently:
``--dtype float32`` reports such disagreements instead of asserting.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from memscope.analysis.flipping_engine import FlipEngine, FlipSettings, candidate_sites
from memscope.analysis.neuron_flipping import NeuronFlippingOptions, sample_eval, sample_targets
from memscope.config import load_config
from memscope.plugins import PluginHost
from memscope.store.home import Home
from memscope.train.runner import Run

ROOT = Path(__file__).resolve().parent.parent


def load_naive():
    path = ROOT / "tests" / "analysis" / "test_neuron_flipping.py"
    spec = importlib.util.spec_from_file_location("flip_reference_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.naive_flip


def train(args) -> Run:
    overrides = [
        'data.dataset="digits"', 'model.name="cnn"', f"model.width={args.width}", f"noise.rate={args.noise}",
        f"train.epochs={args.epochs}", "train.batch_size=128", "train.lr=0.05", f"train.checkpoint_every={args.epochs}",
        "train.track_examples=false", f'device="{args.device}"', f"seed={args.seed}",
    ]
    run = Run(load_config(None, overrides), Home(Path(tempfile.mkdtemp(prefix="memscope-bench-")) / "home"), PluginHost(None), progress=False)
    run.start()
    result = run.execute()
    print(f"trained digits cnn x{args.width} for {args.epochs} epochs on {run.device}: " + ", ".join(f"{k} {v:.3f}" for k, v in result.final.items()))
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=32, help="targets timed in both implementations (half noisy)")
    parser.add_argument("--reference-batch", type=int, default=512)
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--cap", type=int, default=200)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-targets", type=int, default=64)
    parser.add_argument("--chunk-examples", type=int, default=0, help="0 = automatic")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    parser.add_argument("--summary-targets", type=int, default=0, help="also flip this many noisy and clean targets (batched only) for the noisy-vs-clean summary")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.dtype}")

    run = train(args)
    ctx = run.ctx
    dtype = getattr(torch, args.dtype)
    model = run.model.to(dtype).eval()
    x_train, y_train = ctx.data.x_train.to(dtype), ctx.data.y_train
    half = args.targets // 2
    o = NeuronFlippingOptions(
        reference_batch=args.reference_batch, noise_copies=args.copies, max_neurons=args.cap,
        num_noisy=half, num_clean=args.targets - half, batch_targets=args.batch_targets, chunk_examples=args.chunk_examples,
    )
    settings = FlipSettings(o.reference_batch, o.noise_copies, o.noise_scale, o.max_neurons, o.batch_targets, o.chunk_examples, o.reference_stream)
    positions = sample_targets(ctx.prepared.is_noisy, o, ctx.rng(o.target_stream))
    examples = ctx.example_ids(positions).tolist()
    eval_sets = {}
    for split, pos in sample_eval(ctx.prepared.is_noisy, len(ctx.data.y_test), o, ctx.rng(o.eval_stream)).items():
        x, y = (ctx.data.x_test, ctx.data.y_test) if split == "test" else (ctx.data.x_train, ctx.data.y_train)
        eval_sets[split] = (x[torch.as_tensor(pos)].to(dtype), y[torch.as_tensor(pos)])
    sites = candidate_sites(model, ctx.groups)
    print(
        f"{len(positions)} targets, B={o.reference_batch}, copies={o.noise_copies}, cap={o.max_neurons}, "
        f"{sum(s.units for s in sites)} candidate units, eval {', '.join(f'{k}={len(v[0])}' for k, v in eval_sets.items())}"
    )

    engine = FlipEngine(model, sites, x_train, y_train, settings, ctx.torch_generator, eval_sets)
    start, cpu = time.perf_counter(), time.process_time()
    fast = engine.run(positions.tolist(), examples)
    t_fast, c_fast = time.perf_counter() - start, time.process_time() - cpu

    naive_flip = load_naive()
    start, cpu = time.perf_counter(), time.process_time()
    slow = [naive_flip(model, ctx.groups, (), x_train, y_train, p, e, ctx.torch_generator, o, eval_sets) for p, e in zip(positions.tolist(), examples)]
    t_slow, c_slow = time.perf_counter() - start, time.process_time() - cpu

    mismatches = 0
    for f, s in zip(fast, slow):
        steps = [engine.site_unit(site, unit) for site, unit, _ in f.steps]
        same = (f.neurons_to_flip, f.flipped, f.new_pred) == s[:3] and steps == [st[:3] for st in s[3]] and f.correct == s[4]
        if not same:
            mismatches += 1
            print(f"  example {f.example}: batched {f.neurons_to_flip} {steps[:6]} vs naive {s[0]} {[st[:3] for st in s[3]][:6]}")
    total_steps = sum(len(f.steps) for f in fast)
    print(f"naive   {t_slow:8.2f}s wall {c_slow:8.2f}s CPU  ({total_steps} unit steps, {total_steps + len(fast)} forward+backward passes)")
    print(f"batched {t_fast:8.2f}s wall {c_fast:8.2f}s CPU  ({engine.forwards} batched forward passes of up to {engine.chunk_examples} examples)")
    print(
        f"speed ratio {t_slow / t_fast:.1f}x wall, {c_slow / max(c_fast, 1e-9):.1f}x CPU time (target >= 10x); "
        f"identical results: {mismatches == 0} ({len(fast) - mismatches}/{len(fast)} targets)"
    )
    if args.dtype == "float64":
        assert mismatches == 0, f"{mismatches} targets differ between the batched and the naive implementation"

    results = fast
    if args.summary_targets:
        o2 = NeuronFlippingOptions(num_noisy=args.summary_targets, num_clean=args.summary_targets, **{k: getattr(o, k) for k in ("reference_batch", "noise_copies", "max_neurons")})
        positions = sample_targets(ctx.prepared.is_noisy, o2, ctx.rng(o2.target_stream))
        start = time.perf_counter()
        results = FlipEngine(model, sites, x_train, y_train, settings, ctx.torch_generator).run(positions.tolist(), ctx.example_ids(positions).tolist())
        print(f"summary run: {len(results)} targets in {time.perf_counter() - start:.1f}s (batched)")
    for label, want in (("noisy", True), ("clean", False)):
        group = [r for r in results if bool(ctx.prepared.is_noisy[r.position]) == want]
        counts = [r.neurons_to_flip for r in group if r.flipped]
        if counts:
            q = np.percentile(counts, [25, 50, 75])
            print(
                f"{label}: {len(counts)}/{len(group)} flipped within {o.max_neurons}; neurons to flip "
                f"median {q[1]:g} (IQR {q[0]:g}-{q[2]:g}), mean {statistics.mean(counts):.1f}"
            )
        else:
            print(f"{label}: 0/{len(group)} flipped")


if __name__ == "__main__":
    sys.exit(main())
