"""Benchmark: a training epoch with gradient accounting on vs off (target: at most 1.7x).

Times ``Trainer.train_epoch`` (plus the analysis's end-of-epoch ``collect``) for the same
model, data and seed, alternating off/on epoch by epoch, and prints the median of 5 repeats
(after a warm-up epoch) and the on/off ratio, in wall time and in this process's CPU time
(the steadier number on a shared machine). Not a unit test: run it by hand.

    .venv/bin/python bench/bench_gradient_accounting.py                # digits/cnn and mnist-5000/resnet9 x0.25
    .venv/bin/python bench/bench_gradient_accounting.py --case digits --threads 1
    .venv/bin/python bench/bench_gradient_accounting.py --device cuda
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from memscope.config import load_config
from memscope.plugins import PluginHost
from memscope.train.prepare import pick_device, prepare, to_device
from memscope.train.runner import model_factory
from memscope.train.trainer import Trainer

MNIST = Path(os.environ.get("MEMSCOPE_BENCH_MNIST", Path(__file__).resolve().parents[2] / "shared/data/mnist.npz"))  # ../shared beside the checkout
CASES = {
    "digits": ['data.dataset="digits"', 'model.name="cnn"', "model.width=1.0"],
    "mnist": ['data.dataset="mnist"', f'data.path="{MNIST}"', "data.train_subset=5000", "data.test_subset=500", 'model.name="resnet9"', "model.width=0.25"],
}


class _NullWriter:
    def write(self, table, rows):
        pass


def setup_case(case: str, extra: list[str] | None = None, device: str = "cpu"):
    config = load_config(None, [*CASES[case], "train.epochs=10", f'device="{device}"', *(extra or [])])
    host = PluginHost(None)
    prepared = prepare(config, host.registries, Path("/tmp/memscope-bench-data"))
    data = to_device(prepared, pick_device(config.device))
    return config, host, data


def make_trainer(config, host, data, analyses=(), etd=None, model=None):
    """A Trainer built like the runner builds it (fresh model from the run seed unless given)."""
    model = model if model is not None else model_factory(config, host, data)()
    groups = list(model.layer_groups())
    ctx = SimpleNamespace(model=model, groups=groups, data=data, write=_NullWriter().write)
    trainer = Trainer(model, data, config.train, config.seed, data.x_train.device, analyses=analyses, ctx=ctx, etd=etd)
    for a in analyses:
        a.setup(ctx)
    return trainer, ctx


def time_epochs(trainers: dict[str, tuple], repeats: int) -> dict[str, dict[str, list[float]]]:
    """Alternate the variants epoch by epoch (after one warm-up epoch each) so drift hits both.

    Records wall time and this process's CPU time; on a shared machine the CPU-time ratio is
    the steadier of the two.
    """
    times = {k: {"wall": [], "cpu": []} for k in trainers}
    for epoch in range(1, repeats + 2):
        for key, (trainer, ctx, analyses) in trainers.items():
            wall, cpu = time.perf_counter(), time.process_time()
            trainer.train_epoch(epoch)
            for a in analyses:
                a.collect(ctx, epoch)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if epoch > 1:
                times[key]["wall"].append(wall)
                times[key]["cpu"].append(cpu)
    return times


def report(label: str, times: dict[str, dict[str, list[float]]], target: float, repeats: int) -> None:
    med = {k: {m: statistics.median(v) for m, v in t.items()} for k, t in times.items()}
    off, on = med["off"], med["on"]
    print(
        f"{label}: wall off {off['wall']:.3f}s on {on['wall']:.3f}s ratio {on['wall'] / off['wall']:.2f}x | "
        f"cpu off {off['cpu']:.3f}s on {on['cpu']:.3f}s ratio {on['cpu'] / off['cpu']:.2f}x "
        f"(target <= {target:.2f}x; median of {repeats})"
    )


def bench_args(description: str) -> argparse.Namespace:
    """The options both training benches take; sets the thread count and prints the set-up."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "mps", "auto"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    return args


def bench_cases(args: argparse.Namespace) -> list[str]:
    """The cases to run; the MNIST one only when the shared file is there."""
    cases = []
    for case in CASES if args.case == "all" else [args.case]:
        if case == "mnist" and not MNIST.is_file():
            print(f"{case}: skipped ({MNIST} not found)")
            continue
        cases.append(case)
    return cases


def backward_floor(trainer, data, repeats: int = 15) -> float:
    """The ratio no split can beat: ``(F + 2B) / (F + B)`` from one batch's forward ``F`` and
    backward ``B`` (medians), since the split step is a forward and two backward
    passes. The optimizer and bookkeeping, the same in both steps, are left out, so a full
    step's floor lies a little lower still."""
    import torch.nn.functional as F

    model, x, y = trainer.model, data.x_train[: trainer.cfg.batch_size], data.y_train[: trainer.cfg.batch_size]
    def clock() -> float:  # CPU time on the CPU; wall time after a sync on a GPU
        if x.is_cuda:
            torch.cuda.synchronize()
            return time.perf_counter()
        return time.process_time()

    forward, backward = [], []
    for _ in range(repeats + 1):
        start = clock()
        loss = F.cross_entropy(model(x).float(), y)
        mid = clock()
        loss.backward()
        forward.append(mid - start)
        backward.append(clock() - mid)
    model.zero_grad(set_to_none=True)
    f, b = statistics.median(forward[1:]), statistics.median(backward[1:])
    return (f + 2 * b) / (f + b)


def main() -> None:
    from memscope.analysis.gradient_accounting import GradientAccounting

    args = bench_args(__doc__.splitlines()[0])
    for case in bench_cases(args):
        config, host, data = setup_case(case, device=args.device)
        off = make_trainer(config, host, data)
        ga = GradientAccounting()
        on = make_trainer(config, host, data, analyses=[ga])
        times = time_epochs({"off": (*off, []), "on": (*on, [ga])}, args.repeats)
        label = f"{case:6s} N={data.num_train} {config.model.name} x{config.model.width} batch {config.train.batch_size}"
        report(label, times, 1.7, args.repeats)
        print(f"{case:6s} floor of a forward and two backward passes, (F + 2B) / (F + B): {backward_floor(off[0], data):.2f}x")


if __name__ == "__main__":
    main()
