"""Helpers for the fault tests: tiny run configs, ``memscope`` subprocesses, and the checks
every home must pass whatever happened to it (see docs/data-safety.md).

Subprocesses run with one CPU thread (tiny models train ~50x faster than with threads
fighting over 2 cores) and from a temporary working directory (no ./plugins picked up).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def tiny_toml(*, name: str = "tiny", seed: int = 0, epochs: int = 3, batch_size: int = 64, hidden=(16,),
              analyses=(), checkpoint_every: int = 1, dataset: str = "synthetic", extra: str = "") -> str:
    """A run config that trains in well under a second on one CPU thread."""
    analyses_list = ", ".join(f'"{a}"' for a in analyses)
    hidden_list = ", ".join(str(h) for h in hidden)
    return (
        f'name = "{name}"\nseed = {seed}\ndevice = "cpu"\nanalyses = [{analyses_list}]\n{extra}\n'
        f'[data]\ndataset = "{dataset}"\n\n[noise]\nrate = 0.2\n\n'
        f'[model]\nname = "mlp"\noptions = {{ hidden = [{hidden_list}] }}\n\n'
        f"[train]\nepochs = {epochs}\nbatch_size = {batch_size}\nlr = 0.05\ncheckpoint_every = {checkpoint_every}\n"
    )


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMSCOPE_")}
    env.update(
        MEMSCOPE_HOME=str(home),
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    env.update(extra)
    return env


def memscope_cmd(*args: str) -> list[str]:
    return [PY, "-m", "memscope", *args]


def start(home: Path, *args: str, cwd: Path, **env: str) -> subprocess.Popen:
    """``python -m memscope ARGS`` in the background (stdout/stderr captured as text)."""
    return subprocess.Popen(memscope_cmd(*args), env=cli_env(home, **env), cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_cli(home: Path, *args: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(memscope_cmd(*args), env=cli_env(home, **env), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def fork_cli(home: Path, *args: str, fault: str = "") -> int:
    """``memscope ARGS`` in a forked child of this process; returns its pid.

    A real process (its own pid, its own locks, killable with SIGKILL) that starts in
    milliseconds, where a new interpreter spends seconds importing torch: children forked
    together reach the run's lock together. ``fault``: ``MEMSCOPE_FAULT`` in the child."""
    from typer.testing import CliRunner

    from memscope.cli.app import app

    pid = os.fork()
    if pid == 0:  # the child: run the command, then leave without pytest's clean-up
        code = 1
        try:
            os.environ["MEMSCOPE_FAULT"] = fault
            code = CliRunner().invoke(app, [*args, "--home", str(home)]).exit_code
        finally:
            os._exit(code)
    return pid


def wait_child(pid: int) -> int:
    """The exit code of a forked child (``-signal`` when a signal ended it)."""
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def run_ids(home: Path) -> list[str]:
    runs = home / "runs"
    return sorted(p.name for p in runs.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))) if runs.is_dir() else []


def read_info(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def table_rows(run_dir: Path, table: str, drop=("seconds",)) -> list[dict]:
    """A table's rows for one run, straight from its parts, in a stable order."""
    import pyarrow.parquet as pq

    parts = sorted((run_dir / table).glob("*.parquet"))
    if not parts:
        return []
    rows = pq.read_table(parts).to_pylist()
    for row in rows:
        for key in drop:
            row.pop(key, None)
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def assert_home_intact(home_root: Path) -> dict[str, dict[str, int]]:
    """What must hold after any fault. Returns {table: {run_id: rows}} as the catalog sees it.

    - every visible part (``runs/*/<table>/*.parquet``) is a complete Parquet file;
    - a visible part is always a real part name, never a temporary file;
    - the catalog answers a count over every table and the runs view;
    - per run: example_epochs is whole epochs of num_train rows, and epochs are contiguous from 1.
    """
    import pyarrow.parquet as pq

    from memscope.store.home import Home
    from memscope.store.query import execute
    from memscope.store.writer import PART_RE

    home = Home(home_root)
    for part in sorted(home.runs_dir.glob("*/*/*.parquet")):
        assert PART_RE.match(part.name) or part.name == "part-schema.parquet", f"unexpected visible file {part}"
        pq.read_table(part)  # raises on a half-written file
    counts: dict[str, dict[str, int]] = {}
    for table in [*home.table_names(), "runs"]:
        result = execute(home, f'SELECT run_id, count(*) AS n FROM "{table}" GROUP BY run_id', limit=None)
        counts[table] = {r["run_id"]: r["n"] for r in result.table.to_pylist()}
    per_run = execute(
        home,
        "SELECT run_id, count(*) AS n, count(DISTINCT epoch) AS e, min(epoch) AS lo, max(epoch) AS hi "
        "FROM example_epochs GROUP BY run_id",
    ).table.to_pylist()
    for row in per_run:
        info = read_info(home.run_dir(row["run_id"]))
        num_train = info.get("num_train")
        assert num_train and row["n"] == row["e"] * num_train, f"example_epochs of {row['run_id']} is not whole epochs: {row}"
        assert row["lo"] == 1 and row["hi"] == row["e"], f"example_epochs epochs of {row['run_id']} are not contiguous: {row}"
    for row in execute(home, "SELECT run_id, list(epoch ORDER BY epoch) AS es FROM epochs GROUP BY run_id").table.to_pylist():
        assert row["es"] == list(range(1, len(row["es"]) + 1)), f"epochs of {row['run_id']} are not contiguous: {row['es']}"
    return counts


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory for subprocesses (no ./plugins folder)."""
    path = tmp_path / "cwd"
    path.mkdir()
    return path
