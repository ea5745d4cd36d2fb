"""Per-example tracking must be nearly free, and bulk writes cheap.

1. A memscope epoch (per-example loss/correct/margin/pred from the forward pass, written as
   a Parquet part, plus the epochs row) vs a plain PyTorch loop over the same tensors,
   model and optimizer. Target: <= 1.05x (median of 5), digits CNN and an MNIST subset.
   On a busy CPU the two epochs' medians wander by more than 5%, so each case also times
   the tracking work alone (the per-step copies, the epoch's one reduction and transfer,
   the epochs row and the Parquet part) and prints it as a share of the plain epoch: the
   overhead the ratio would show on a quiet machine.
2. Writing one epoch's per-example rows for 50,000 examples vs one ResNet-9 epoch
   (50,000 CIFAR-sized examples, batch 512; on a CPU the epoch is timed over a few steps
   and extrapolated). Target: < 1%.

Run: python bench/bench_tracking.py [--mnist PATH]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved_medians, verdict  # noqa: E402

from memscope.config import load_config  # noqa: E402
from memscope.plugins import PluginHost  # noqa: E402
from memscope.store.home import Home  # noqa: E402
from memscope.train.runner import Run  # noqa: E402


def setup(overrides: list[str], home: Home):
    run = Run(load_config(None, overrides), home, PluginHost(None), progress=False)
    run.start()
    return run


def plain_epoch_fn(run):
    model, data, cfg = run.model, run.data, run.config.train
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(0)

    def epoch():
        model.train()
        perm = torch.randperm(data.num_train, generator=gen)
        for start in range(0, data.num_train, cfg.batch_size):
            pos = perm[start : start + cfg.batch_size]
            loss = F.cross_entropy(model(data.x_train[pos]), data.y_train[pos])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()  # the same test pass memscope does each epoch
        with torch.no_grad():
            for start in range(0, len(data.x_test), cfg.eval_batch_size):
                model(data.x_test[start : start + cfg.eval_batch_size])

    return epoch


def memscope_epoch_fn(run, trainer):
    """One epoch as the runner does it: train, test, the epochs row and the example rows."""
    from memscope.models.evaluation import test_loss_acc
    from memscope.train.run_tables import epoch_metrics, write_example_epoch

    counter = {"epoch": 0}

    def epoch():
        counter["epoch"] += 1
        stats = trainer.train_epoch(counter["epoch"])
        test = test_loss_acc(run.model, run.data, run.config.train.eval_batch_size)
        metrics = epoch_metrics(stats, run.prepared, test)
        write_example_epoch(run.writer, run.prepared, stats)
        run.writer.write("epochs", {k: [v] for k, v in metrics.items()})

    return epoch


def tracking_work_fns(run, trainer) -> dict:
    """The tracking work of one epoch, each part alone: the per-step copies of the losses and
    logits, the epoch's reduction and host transfer, and the rows written."""
    from memscope.train.run_tables import epoch_metrics, write_example_epoch

    data, batch_size = run.data, run.config.train.batch_size
    positions = torch.randperm(data.num_train).split(batch_size)
    logits = torch.randn(batch_size, int(data.y_train.max()) + 1)
    losses = torch.rand(batch_size)
    stats = trainer.train_epoch(0)

    def per_step():
        for pos in positions:
            trainer._track(pos, losses[: len(pos)], logits[: len(pos)], data.y_train[pos])

    def rows():
        write_example_epoch(run.writer, run.prepared, stats)
        run.writer.write("epochs", {k: [v] for k, v in epoch_metrics(stats, run.prepared, (0.0, 1.0)).items()})

    return {"per-step copies": per_step, "epoch reduction": trainer._epoch_arrays, "rows written": rows}


def tracking_case(name: str, overrides: list[str], home: Home) -> float:
    from memscope.train.trainer import Trainer

    run = setup(overrides, home)
    trainer = Trainer(run.model, run.data, run.config.train, run.config.seed, run.device)
    times = interleaved_medians({"plain": plain_epoch_fn(run), "memscope": memscope_epoch_fn(run, trainer)}, repeats=5)
    ratio = times["memscope"] / times["plain"]
    print(f"{name:<28} plain {times['plain'] * 1000:8.1f} ms  memscope {times['memscope'] * 1000:8.1f} ms  ratio {ratio:.3f}x  {verdict(ratio, 1.05)}")
    parts = interleaved_medians(tracking_work_fns(run, trainer), repeats=15)
    share = sum(parts.values()) / times["plain"]
    detail = ", ".join(f"{part} {seconds * 1000:.1f} ms" for part, seconds in parts.items())
    print(f"{'':<28} tracking work alone {sum(parts.values()) * 1000:.1f} ms = {share * 100:.2f}% of the plain epoch ({detail})")
    return ratio


def write_case(home: Home) -> None:
    from memscope.models.resnet9 import make_resnet9
    from memscope.store.writer import RunWriter

    n = 50_000
    rng = np.random.default_rng(0)
    writer = RunWriter(home, "bench-write")
    rows = {
        "epoch": np.full(n, 1, dtype=np.int32),
        "example": np.arange(n),
        "loss": rng.random(n, dtype=np.float32),
        "correct": rng.random(n) < 0.5,
        "margin": rng.standard_normal(n).astype(np.float32),
        "pred": rng.integers(0, 10, n).astype(np.int32),
    }
    write_s = interleaved_medians({"write": lambda: writer.write("example_epochs", rows)}, repeats=5)["write"]
    model = make_resnet9(10, 3, 32)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(512, 3, 32, 32), torch.randint(0, 10, (512,))
    steps = 3
    for _ in range(1):  # warm-up
        F.cross_entropy(model(x), y).backward()
    start = time.perf_counter()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    epoch_s = (time.perf_counter() - start) / steps * (n / 512)
    share = write_s / epoch_s
    print(f"{'50k-row write vs ResNet-9':<28} write {write_s * 1000:8.1f} ms  epoch (this CPU, extrapolated) {epoch_s:8.1f} s  share {share * 100:.3f}%  {verdict(share * 100, 1.0)}")
    gpu_epoch = 4.0  # a ResNet-9 CIFAR-10 epoch at batch 512 on one modern GPU takes a few seconds
    print(f"{'':<28} vs a {gpu_epoch:.0f} s GPU epoch: {write_s / gpu_epoch * 100:.2f}%")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mnist", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnist.npz"))
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(tmp).ensure()
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        tracking_case("digits cnn", ['data.dataset="digits"', 'model.name="cnn"', "train.batch_size=128"], home)
        if Path(args.mnist).is_file():
            tracking_case(
                "mnist 10k cnn",
                ['data.dataset="mnist"', f'data.path="{args.mnist}"', "data.train_subset=10000", "data.test_subset=1000", 'model.name="cnn"', "model.width=0.5", "train.batch_size=256"],
                home,
            )
        else:
            print(f"mnist case skipped: {args.mnist} not found")
        write_case(home)


if __name__ == "__main__":
    main()
