"""Start-up cost of ``memscope query "SELECT 1"`` against bare DuckDB in Python.

    python bench/bench_query.py [--runs 5]

Runs each command ``--runs`` times in a fresh subprocess, after one warm-up (page cache,
bytecode, the home and its catalog), and prints the medians and their ratio. Target: the
wall-time ratio is at most 2.

- The two commands' runs are interleaved, so background load hits both alike; CPU time
  (user + system, from ``getrusage``) is printed too, as it is steadier than wall time on
  a busy machine.
- Bytecode is cached in a temporary folder, as an installed package would have it, even
  when PYTHONDONTWRITEBYTECODE is set (it would make every run recompile memscope).
- Both run in a scratch folder (no ``./plugins`` to pick up) with a throw-away
  ``MEMSCOPE_HOME``, so the timed runs measure the steady state: load the CLI and the
  plugins, open and check the catalog, run, draw the table.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 2.0


def _once(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _measure(commands: list[list[str]], env: dict[str, str], cwd: str, runs: int) -> list[tuple[list[float], list[float]]]:
    for cmd in commands:  # warm-up: page cache, .pyc files, the home and its catalog
        subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=cwd)
    results: list[tuple[list[float], list[float]]] = [([], []) for _ in commands]
    for _ in range(runs):
        for cmd, (walls, cpus) in zip(commands, results):
            wall, cpu = _once(cmd, env, cwd)
            walls.append(wall)
            cpus.append(cpu)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    python = sys.executable
    baseline_cmd = [python, "-c", "import duckdb; duckdb.sql('select 1')"]
    memscope_cmd = [python, "-c", "from memscope.main import main; main()", "query", "SELECT 1"]
    with tempfile.TemporaryDirectory(prefix="memscope-bench-") as tmp:
        env = dict(os.environ, MEMSCOPE_HOME=str(Path(tmp) / "home"))
        env.pop("MEMSCOPE_PLUGINS_DIR", None)
        # An installed memscope has .pyc files; PYTHONDONTWRITEBYTECODE (set in some dev
        # shells) would make every run recompile memscope's sources. Cache bytecode in the
        # temporary folder instead, for both commands alike.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        (base_wall, base_cpu), (ours_wall, ours_cpu) = _measure([baseline_cmd, memscope_cmd], env, tmp, args.runs)
    base, ours = statistics.median(base_wall), statistics.median(ours_wall)
    ratio = ours / base
    cpu_ratio = statistics.median(ours_cpu) / statistics.median(base_cpu)
    print(f"python -c 'import duckdb; duckdb.sql(...)': median {base * 1000:.0f} ms wall, "
          f"{statistics.median(base_cpu) * 1000:.0f} ms CPU over {args.runs} runs")
    print(f"memscope query \"SELECT 1\":                 median {ours * 1000:.0f} ms wall, "
          f"{statistics.median(ours_cpu) * 1000:.0f} ms CPU over {args.runs} runs")
    print(f"ratio: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (target <= {TARGET_RATIO:.0f}x) "
          f"{'OK' if ratio <= TARGET_RATIO else 'TOO SLOW'}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
