"""The README's first run, phase by phase: is `memscope run digits` done in 30 s on 2 quiet cores?

Runs the digits sample config end to end in this process, as `memscope run digits` does
(same Run object, same plugins, same analyses), into a temporary home, and prints the wall
and CPU seconds of each phase: importing memscope and torch, loading the data and building
the model (run start), training (with its in-training analyses), and each post-training
analysis. On a shared machine compare phases and CPU seconds, not wall totals.

Run: python bench/bench_first_run.py [--set KEY=VALUE ...] [--repeat N] [--home DIR]
"""

from __future__ import annotations

import time

T0, CPU0 = time.perf_counter(), time.process_time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

TARGET_S = 30.0


class Clock:
    """Wall and CPU seconds of this process (CPU time shows the work on a shared machine:
    with one torch thread it is close to the wall time the phase takes on a quiet core)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def load_average() -> str:
    """The machine's 1-minute load: a wall time means little without it on a shared machine."""
    try:
        return f"load average {os.getloadavg()[0]:.2f}"
    except OSError:  # not on this platform
        return "load average unknown"


def one_run(overrides: list[str], keep_home: Path | None = None) -> dict[str, tuple[float, float]]:
    import memscope.train.runner as runner
    from memscope.config import load_config
    from memscope.plugins import get_host
    from memscope.store.home import Home
    from memscope.train.runner import Run

    phases: dict[str, tuple[float, float]] = {}
    analyses: dict[str, tuple[float, float]] = {}
    plain_run_analysis = runner.run_analysis

    def timed_run_analysis(ctx, analysis, info, progress):  # each post-training analysis, timed
        clock = Clock()
        try:
            return plain_run_analysis(ctx, analysis, info, progress)
        finally:
            analyses[analysis.name] = clock.lap()

    runner.run_analysis = timed_run_analysis
    try:
        with tempfile.TemporaryDirectory() as tmp:
            clock = Clock()
            home = Home(keep_home or Path(tmp) / "home").ensure()
            config = load_config("digits", overrides)
            run = Run(config, home, get_host(None), progress=False, source="bench")
            phases["config, plugins, home"] = clock.lap()
            run_id = run.start()
            phases["data, model, run start"] = clock.lap()
            result = run.execute()
            wall, cpu = clock.lap()
            in_training = [n for n in config.analyses if n not in analyses]
            label = f"train {config.train.epochs} epochs" + (f" (+ {', '.join(in_training)})" if in_training else "")
            phases[label] = (wall - sum(w for w, _ in analyses.values()), cpu - sum(c for _, c in analyses.values()))
            phases.update({f"analysis {name}": seconds for name, seconds in analyses.items()})
            if result.status != "completed":
                raise SystemExit(f"the run ended {result.status}")
            final = result.final
            print(f"run {run_id}: clean {final.get('clean_train_acc', float('nan')):.3f}  noisy {final.get('noisy_train_acc', float('nan')):.3f}  "
                  f"test {final.get('test_acc', float('nan')):.3f}")
    finally:
        runner.run_analysis = plain_run_analysis
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="a config override, as for memscope run")
    parser.add_argument("--repeat", type=int, default=0, help="more runs after the first (imports counted once)")
    parser.add_argument("--json", action="store_true", help="print the phases as JSON too")
    parser.add_argument("--home", type=Path, default=None,
                        help="results home to keep the runs in (for `memscope --home DIR report RUN_ID`); default: a temporary one")
    args = parser.parse_args()
    import torch

    import memscope.cli.app  # noqa: F401  (what the CLI imports before a run)
    import memscope.train.runner  # noqa: F401

    imports = (time.perf_counter() - T0, time.process_time() - CPU0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available, python {sys.version.split()[0]}, {load_average()}")
    for attempt in range(1 + args.repeat):
        phases = {"import memscope and torch": imports if attempt == 0 else (0.0, 0.0), **one_run(args.overrides, args.home)}
        width = max(len(k) for k in phases)
        print(f"  {'phase':<{width}}  {'wall':>7}  {'cpu':>7}")
        for name, (wall, cpu) in phases.items():
            print(f"  {name:<{width}}  {wall:6.1f}s  {cpu:6.1f}s")
        wall, cpu = (sum(v[i] for v in phases.values()) for i in (0, 1))
        print(f"  {'total':<{width}}  {wall:6.1f}s  {cpu:6.1f}s   (target: {TARGET_S:.0f} s wall on 2 quiet cores; {load_average()})")
        if args.json:
            print(json.dumps({k: {"wall": w, "cpu": c} for k, (w, c) in phases.items()}))


if __name__ == "__main__":
    main()
