"""A local sweep with 2 workers against the same runs one after another.

    python bench/bench_sweep.py [--runs 6] [--workers 2] [--epochs 3]

Sequential: ``memscope run CONFIG --set seed=S`` for each seed, one after another, each with
torch's default threads. Sweep: ``memscope sweep CONFIG --grid seed=... --workers 2`` (the
local executor gives each run ``cores / workers`` threads). Both use the same tiny config
(synthetic data, an MLP, batch 64) and a throw-away home, and both include every process's
start-up (torch import), which is most of a tiny run's time. Target: sweep time <= 0.6x the
sequential time. Measured once each (a run is seconds; medians would take minutes).

The ratio means something only on an otherwise idle machine: Linux gives each terminal
session (autogroup) a fair share of the CPUs, so while other sessions keep the cores busy,
two runs in this session get no more CPU than one. The load average is printed alongside.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 0.6
CONFIG = """\
name = "bench-sweep"
device = "cpu"

[data]
dataset = "synthetic"

[noise]
rate = 0.2

[model]
name = "mlp"

[train]
epochs = {epochs}
batch_size = 64
track_examples = true
"""
CLI = (
    "from memscope.cli.app import app, main\n"
    "from memscope.cli import sweep\n"
    "if not any(g.name == 'sweeps' for g in app.registered_groups):\n"
    "    sweep.register(app)\n"
    "main()\n"
)


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"failed: {' '.join(cmd[:6])} ... (exit {proc.returncode})")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)

    python = sys.executable
    load_before = os.getloadavg()[0]
    seeds = [str(s) for s in range(1, args.runs + 1)]
    with tempfile.TemporaryDirectory(prefix="memscope-bench-sweep-") as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(CONFIG.format(epochs=args.epochs), encoding="utf-8")
        cli = Path(tmp) / "cli.py"
        cli.write_text(CLI, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMSCOPE_", "OMP_", "MKL_"))}
        env["MEMSCOPE_HOME"] = str(Path(tmp) / "home")
        # warm-up: create the home and its catalog, fill the OS file cache for both sides
        _timed([python, str(cli), "run", str(config), "--quiet", "--set", "seed=0"], env)

        sequential = 0.0
        for seed in seeds:
            sequential += _timed([python, str(cli), "run", str(config), "--quiet", "--set", f"seed={seed}"], env)
        swept = _timed(
            [python, str(cli), "sweep", str(config), "--grid", "seed=" + ",".join(seeds), "--workers", str(args.workers)],
            env,
        )
    ratio = swept / sequential
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.runs} runs one after another:       {sequential:6.1f} s")
    print(f"memscope sweep --workers {args.workers} ({cores} cores): {swept:6.1f} s")
    print(f"ratio: {ratio:.2f}x (target <= {TARGET_RATIO}x) {'OK' if ratio <= TARGET_RATIO else 'TOO SLOW'}")
    load = max(load_before, os.getloadavg()[0])
    if load > 0.5 * cores:
        print(f"note: load average {load:.1f} on {cores} cores from other processes: the ratio is not meaningful")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
