"""kill -9 at any moment loses nothing that was finished, and --resume reaches the exact
state of a run that was never interrupted (bit-identical on CPU).

One run is killed five times in a row: while a Parquet part is being written (the fault
hook ``MEMSCOPE_FAULT``), at three seeded random moments, and during a post-training
analysis; each time the home is checked, then the run is resumed. bench/soak.py does the
same 20 times at purely random moments.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.store.runinfo import effective_status

from .conftest import assert_home_intact, read_info, run_cli, run_ids, start, table_rows, tiny_toml, wait_for

EPOCHS = 24
KILL_CONFIG = tiny_toml(
    name="kill", seed=3, epochs=EPOCHS, batch_size=8, hidden=(64, 64), analyses=("rewinding", "retraining"), checkpoint_every=4
) + "\n[analysis.retraining]\nepochs = 2\n"
COMPARED_TABLES = ("examples", "layers", "epochs", "example_epochs", "layer_rewinds", "layer_retrains")


def _seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def query_all_tables(home: Path) -> dict[str, int]:
    """``memscope query`` over every table of the home (CliRunner: same code, no start-up cost)."""
    from memscope.store.home import Home

    tables = [*Home(home).table_names(), "runs"]
    sql = " UNION ALL ".join(f"SELECT '{t}' AS t, count(*) AS n FROM \"{t}\"" for t in tables)
    result = CliRunner().invoke(app, ["query", "--home", str(home), "--json", sql])
    assert result.exit_code == 0, result.output
    return {row["t"]: row["n"] for row in json.loads(result.stdout)}


def assert_killed_state(home: Path, run_dir: Path) -> dict:
    """After a kill: nothing unreadable, catalog answers, run reads crashed, finished epochs kept."""
    info = read_info(run_dir)
    assert info["status"] == "running" and effective_status(info) == "crashed", info
    listed = CliRunner().invoke(app, ["runs", "list", "--json", "--home", str(home)])
    assert listed.exit_code == 0, listed.output
    assert {r["run_id"]: r["status"] for r in json.loads(listed.stdout)}[run_dir.name] == "crashed"
    counts = assert_home_intact(home)
    query_all_tables(home)
    epochs = sorted(r["epoch"] for r in table_rows(run_dir, "epochs"))
    done = info["epoch"]  # the last epoch whose checkpoint and resume state were written
    assert epochs[:done] == list(range(1, done + 1)), f"finished epochs missing: {epochs} (run.json epoch {done})"
    assert len(epochs) <= done + 1  # at most the epoch in flight beyond it (dropped on resume)
    assert counts["examples"].get(run_dir.name) == info["num_train"] + info["num_test"]
    return info


def assert_same_final_state(ref_dir: Path, run_dir: Path) -> None:
    ref_ckpt = sorted(p.name for p in (ref_dir / "checkpoints").glob("epoch-*.pt"))
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("epoch-*.pt")) == ref_ckpt
    for name in ref_ckpt:
        a = torch.load(ref_dir / "checkpoints" / name, weights_only=True)
        b = torch.load(run_dir / "checkpoints" / name, weights_only=True)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}:{key} differs"
    for table in COMPARED_TABLES:
        ref_rows = table_rows(ref_dir, table, drop=("seconds", "run_id"))
        assert ref_rows, table
        assert table_rows(run_dir, table, drop=("seconds", "run_id")) == ref_rows, f"{table} differs"
    ref_info, info = read_info(ref_dir), read_info(run_dir)
    for key in ("clean_train_acc", "noisy_train_acc", "test_acc", "epoch"):
        assert info[key] == ref_info[key], key
    assert not list(run_dir.glob("*/.part-*.tmp")), "resume left a stray temporary part"


@pytest.mark.slow
def test_kill_9_at_any_moment_then_resume_is_bit_identical(tmp_path, workdir):
    config = tmp_path / "kill.toml"
    config.write_text(KILL_CONFIG)
    ref_home, home = tmp_path / "ref", tmp_path / "home"

    ref = run_cli(ref_home, "run", "-q", str(config), cwd=workdir)
    assert ref.returncode == 0, ref.stderr
    ref_dir = ref_home / "runs" / ref.stdout.strip()
    ref_info = read_info(ref_dir)
    analysis_seconds = sum(entry["seconds"] for entry in ref_info["analyses"].values())
    train_seconds = _seconds(ref_info["started_at"], ref_info["finished_at"]) - analysis_seconds
    rng = random.Random(20230717)

    # 1. killed while the part of epoch 3's example_epochs is being written
    killed = run_cli(home, "run", "-q", str(config), cwd=workdir, MEMSCOPE_FAULT="kill_after_tmp_write:example_epochs:3")
    assert killed.returncode == -9, killed.stderr
    (run_id,) = run_ids(home)
    run_dir = home / "runs" / run_id
    assert list((run_dir / "example_epochs").glob(".part-000003.parquet.*.tmp")), "the fault did not hit the write"
    assert assert_killed_state(home, run_dir)["epoch"] == 2

    # 2-4. killed at seeded random moments of the resumed run
    for _ in range(3):
        last = read_info(run_dir)["epoch"]
        proc = start(home, "run", "-q", "--resume", run_id, cwd=workdir)
        wait_for(lambda: read_info(run_dir).get("pid") == proc.pid or proc.poll() is not None, 120, "the resumed run")
        remaining = (EPOCHS - last) / EPOCHS * train_seconds
        time.sleep(rng.uniform(0.1, 0.8) * remaining)
        proc.kill()
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == -9, f"the run ended before the kill (rc {proc.returncode}): {err[-500:]}"
        assert_killed_state(home, run_dir)

    # 5. killed during the second post-training analysis (the first one has finished)
    killed = run_cli(home, "run", "-q", "--resume", run_id, cwd=workdir, MEMSCOPE_FAULT="kill_after_tmp_write:layer_retrains:1")
    assert killed.returncode == -9, killed.stderr
    info = assert_killed_state(home, run_dir)
    assert info["epoch"] == EPOCHS and info["analyses"]["retraining"]["status"] == "running"
    assert info["analyses"]["rewinding"]["status"] == "completed" and table_rows(run_dir, "layer_rewinds")
    assert table_rows(run_dir, "layer_retrains") == []

    # resumed to the end: the same final state as the uninterrupted run
    done = run_cli(home, "run", "-q", "--resume", run_id, cwd=workdir)
    assert done.returncode == 0, done.stderr
    info = read_info(run_dir)
    assert info["status"] == "completed"
    assert {entry["status"] for entry in info["analyses"].values()} == {"completed"}
    assert_home_intact(home)
    assert_same_final_state(ref_dir, run_dir)


@pytest.mark.slow
def test_kill_during_start_up_can_be_resumed(tmp_path, workdir):
    """Killed after run.json exists but before the static tables and checkpoint 0 are written."""
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_toml(epochs=2))
    home = tmp_path / "home"
    killed = run_cli(home, "run", "-q", str(config), cwd=workdir, MEMSCOPE_FAULT="kill_after_tmp_write:layers:1")
    assert killed.returncode == -9
    (run_id,) = run_ids(home)
    run_dir = home / "runs" / run_id
    assert not list(run_dir.glob("checkpoints/epoch-*.pt"))  # not even the initial weights
    assert effective_status(read_info(run_dir)) == "crashed"
    assert_home_intact(home)
    done = run_cli(home, "run", "-q", "--resume", run_id, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert len(table_rows(run_dir, "examples")) == read_info(run_dir)["num_train"] + read_info(run_dir)["num_test"]
    assert len(table_rows(run_dir, "layers")) == 2
    assert sorted(r["epoch"] for r in table_rows(run_dir, "epochs")) == [1, 2]


def test_resume_refuses_a_run_that_is_still_running(tmp_path, workdir, make_run, home):
    import os

    make_run("live-run", status="running", pid=os.getpid())
    result = CliRunner().invoke(app, ["run", "--resume", "live-run", "--home", str(home.root)])
    assert result.exit_code == 2 and "still running" in result.stderr, result.output
