"""The local executor end to end: real ``memscope run`` processes on tiny runs.

Each run process pays torch's import (seconds on a small box), so this file starts four in
all: two cells (one fails once and is retried) and one cancelled.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from memscope.store.home import Home
from memscope.store.runinfo import pid_alive, read_run_info
from memscope.sweep.store import load_sweep

pytestmark = pytest.mark.slow


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_local_sweep_end_to_end_with_a_retry(cli, tiny_config, plugins_dir):
    start = time.monotonic()
    result = cli(
        "sweep", tiny_config, "--grid", "data.dataset=synthetic,flaky", "--set", "noise.rate=0.2",
        "--workers", "2", "--retries", "1", "--plugins-dir", plugins_dir,
    )
    elapsed = time.monotonic() - start
    assert result.exit_code == 0, result.output
    sweep_id = result.stdout.strip()
    home = Home(cli.home)
    data = load_sweep(home, sweep_id)
    assert data["status"] == "completed"
    synthetic, flaky = data["runs"]
    assert (synthetic["status"], synthetic["attempts"]) == ("completed", 1)
    assert (flaky["status"], flaky["attempts"], flaky["error"]) == ("completed", 2, None)
    # the first attempt's log says why it failed
    first_log = (home.root / "sweeps" / sweep_id / "logs" / "1-1.log").read_text()
    assert "the first load fails on purpose" in first_log
    assert "retrying" in result.stderr and "completed: 2 completed" in result.stderr

    # each run is an ordinary run directory, tagged with the sweep and its grid values
    for entry, dataset in ((synthetic, "synthetic"), (flaky, "flaky")):
        info = read_run_info(home.run_dir(entry["run_id"]))
        assert info["status"] == "completed"
        assert info["sweep_id"] == sweep_id
        assert info["tags"] == {"sweep_id": sweep_id, "data.dataset": dataset}
        assert info["dataset"] == dataset and info["noise_rate"] == 0.2
    assert not (home.runs_dir / "sweeps").exists() and (home.root / "sweeps" / sweep_id / "sweep.json").is_file()

    shown = json.loads(cli("sweeps", "show", sweep_id, "--json").stdout)
    assert [r["run_status"] for r in shown["runs"]] == ["completed", "completed"]
    assert all(isinstance(r["test_acc"], float) for r in shown["runs"])
    report = cli("sweeps", "report", sweep_id)
    assert report.exit_code == 0 and "data.dataset" in report.stdout and "flaky" in report.stdout

    from memscope.report.sweep import sweep_curves

    curves = sweep_curves(home, sweep_id)
    assert sorted(curves.column("data.dataset").to_pylist()) == ["flaky", "synthetic"]
    print(f"local sweep of 2 runs (3 attempts, 2 workers): {elapsed:.1f}s")


def test_cancel_a_detached_sweep(cli, tiny_config, plugins_dir):
    try:
        result = cli(
            "sweep", tiny_config, "--grid", "data.dataset=slow,synthetic", "--workers", "1",
            "--plugins-dir", plugins_dir, "--detach",
        )
        assert result.exit_code == 0, result.output
        sweep_id = result.stdout.strip()
        assert "runs in the background" in result.stderr
        home = Home(cli.home)
        data = load_sweep(home, sweep_id)
        pid = data["pid"]
        assert data["status"] == "running" and pid != os.getpid()
        assert os.getsid(pid) != os.getsid(0)  # its own session: closing the terminal does not stop it
        # wait until the run process is inside the (slow) dataset loader
        _wait_for(lambda: list(plugins_dir.glob("slow.started.*")), 120, "the run to start loading")
        assert [e["status"] for e in load_sweep(home, sweep_id)["runs"]] == ["running", "pending"]

        cancelled = cli("sweeps", "cancel", sweep_id)
        assert cancelled.exit_code == 0, cancelled.output
        assert f"sweep {sweep_id} cancelled" in cancelled.stderr
        data = load_sweep(home, sweep_id)
        assert data["status"] == "cancelled"
        first, second = data["runs"]
        assert (first["status"], first["attempts"]) == ("cancelled", 1)
        # the run itself got SIGTERM and recorded its cancellation in its own run.json
        assert read_run_info(home.run_dir(first["run_id"]))["status"] == "cancelled"
        assert (second["status"], second["attempts"], second["error"]) == ("cancelled", 0, "cancelled before it started")
        _wait_for(lambda: not pid_alive(pid), 10, "the sweep process to exit")
        run_pid = int(next(plugins_dir.glob("slow.started.*")).name.rsplit(".", 1)[1])
        _wait_for(lambda: not pid_alive(run_pid), 10, "the run process to exit")
        assert "cancelled" in (home.root / "sweeps" / sweep_id / "sweep.log").read_text()
    finally:
        (plugins_dir / "slow.release").write_text("x")  # never leave a run waiting
