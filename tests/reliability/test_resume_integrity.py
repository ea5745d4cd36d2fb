"""``run --resume`` and ``analyze`` never lose or double rows (issue 12, items 1, 2, 4, 11):

- a damaged part is moved aside and named, never unlinked; its rows are rebuilt when they
  can be (static tables, the unfinished epoch) and the resume stops (exit 3) when not;
- one writer per run directory: many resumes started at once, exactly one runs;
- ``--resume`` refuses every override that changes what was trained, records the safe ones;
- a damaged ``example_scores`` part or a read-only home gives one line, not a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from memscope.cli.app import app

from .conftest import assert_home_intact, fork_cli, read_info, run_cli, run_ids, table_rows, tiny_toml, wait_child

EPOCHS = 3


def cli(home: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--home", str(home)])


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, str]:
    """One tiny finished run with a post-training analysis (copied by ``fresh``)."""
    root = tmp_path_factory.mktemp("finished")
    config = root / "tiny.toml"
    config.write_text(tiny_toml(name="integrity", epochs=EPOCHS, analyses=("rewinding",)))
    home = root / "home"
    result = cli(home, "run", "-q", str(config))
    assert result.exit_code == 0, result.output
    return home, run_ids(home)[0]


@pytest.fixture
def fresh(finished, tmp_path) -> tuple[Path, Path]:
    """A private copy of the finished run's home: (home, run directory)."""
    src, run_id = finished
    home = tmp_path / "home"
    shutil.copytree(src, home)
    return home, home / "runs" / run_id


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def test_a_damaged_examples_part_is_moved_aside_and_rebuilt(fresh):
    home, run_dir = fresh
    part = run_dir / "examples" / "part-000001.parquet"
    before = table_rows(run_dir, "examples")
    truncate(part)
    result = cli(home, "run", "-q", "--resume", run_dir.name)
    assert result.exit_code == 0, result.output
    moved = run_dir / ".quarantine" / "examples" / "part-000001.parquet"
    assert moved.is_file() and str(moved) in result.stderr  # kept and named, never unlinked
    assert table_rows(run_dir, "examples") == before  # rebuilt from the config and data
    info = read_info(run_dir)
    assert info["quarantined"][0]["moved_to"] == str(moved) and info["status"] == "completed"
    assert cli(home, "runs", "check").exit_code == 0
    assert_home_intact(home)


def test_a_damaged_part_of_a_finished_epoch_stops_the_resume(fresh):
    home, run_dir = fresh
    part = sorted((run_dir / "example_epochs").glob("part-*.parquet"))[1]  # epoch 2
    truncate(part)
    size = part.stat().st_size
    result = cli(home, "run", "-q", "--resume", run_dir.name)
    assert result.exit_code == 3, result.output
    assert "cannot be rebuilt" in result.stderr and "memscope run" in result.stderr
    assert "Traceback" not in result.output
    moved = run_dir / ".quarantine" / "example_epochs" / part.name
    assert moved.is_file() and moved.stat().st_size == size  # moved, not deleted
    assert read_info(run_dir)["status"] == "completed"  # nothing else was touched


def test_a_damaged_part_of_the_unfinished_epoch_is_moved_aside_and_the_resume_goes_on(fresh):
    home, run_dir = fresh
    ref = table_rows(run_dir, "epochs")
    stray = run_dir / "epochs" / "part-000099.parquet"  # what a killed run left of epoch 4
    shutil.copy(sorted((run_dir / "epochs").glob("part-*.parquet"))[0], stray)
    truncate(stray)
    result = cli(home, "run", "-q", "--resume", run_dir.name)
    assert result.exit_code == 0, result.output
    assert (run_dir / ".quarantine" / "epochs" / stray.name).is_file() and str(stray) in result.stderr
    assert table_rows(run_dir, "epochs") == ref


def test_a_damaged_analysis_table_makes_its_analysis_run_again(fresh):
    home, run_dir = fresh
    ref = table_rows(run_dir, "layer_rewinds", drop=("seconds",))
    part = sorted((run_dir / "layer_rewinds").glob("part-*.parquet"))[0]
    part.write_bytes(b"garbage")
    result = cli(home, "run", "-q", "--resume", run_dir.name)
    assert result.exit_code == 0, result.output
    assert (run_dir / ".quarantine" / "layer_rewinds" / part.name).read_bytes() == b"garbage"
    assert table_rows(run_dir, "layer_rewinds", drop=("seconds",)) == ref
    assert read_info(run_dir)["analyses"]["rewinding"]["status"] == "completed"


def test_many_resumes_started_at_once_one_runs_no_epoch_doubled(tmp_path):
    """Six resume processes forked at the same moment: one trains, the others are refused while
    it holds the lock (exit 2); one that starts only after it finished finds nothing left to do
    (exit 0, and no epoch written twice)."""
    import torch

    torch.set_num_threads(1)
    config = tmp_path / "c.toml"
    config.write_text(tiny_toml(name="race", epochs=5, batch_size=16, hidden=(32,)))
    home = tmp_path / "home"
    assert wait_child(fork_cli(home, "run", "-q", str(config), fault="kill_after_tmp_write:epochs:2")) == -9
    (run_id,) = run_ids(home)
    codes = sorted(wait_child(pid) for pid in [fork_cli(home, "run", "-q", "--resume", run_id) for _ in range(6)])
    assert set(codes) <= {0, 2} and codes.count(0) >= 1 and codes.count(2) >= 1, codes
    run_dir = home / "runs" / run_id
    assert sorted(r["epoch"] for r in table_rows(run_dir, "epochs")) == list(range(1, 6))
    info = read_info(run_dir)
    assert len(table_rows(run_dir, "example_epochs")) == 5 * info["num_train"]
    assert info["status"] == "completed"
    assert_home_intact(home)


@pytest.mark.slow
def test_a_second_resume_process_gets_one_line_naming_the_holder(tmp_path, workdir, fresh):
    """A real second interpreter (not a fork) while this process holds the run's lock."""
    from memscope.store.lock import RunLock

    home, run_dir = fresh
    with RunLock(run_dir):
        result = run_cli(home, "run", "-q", "--resume", run_dir.name, cwd=workdir)
    assert result.returncode == 2 and "is still running" in result.stderr, result.stderr
    assert f"pid {os.getpid()} holds its writer lock" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_the_writer_lock_names_its_holder_and_is_released_at_the_end(fresh):
    from memscope.store.lock import RunBusy, RunLock, writer_alive

    home, run_dir = fresh
    assert writer_alive(run_dir) is False  # the finished run let go of it
    with RunLock(run_dir):
        assert writer_alive(run_dir) is True
        with pytest.raises(RunBusy, match=f"pid {os.getpid()} holds its writer lock"):
            RunLock(run_dir).acquire()
        result = cli(home, "analyze", run_dir.name, "-a", "rewinding", "-q")
        assert result.exit_code == 2 and "is still running" in result.stderr, result.output
    assert writer_alive(run_dir) is False


@pytest.mark.parametrize(
    "override, words",
    [
        ("noise.rate=0.5", "cannot change noise.rate"),
        ("seed=7", "cannot change seed"),
        ("data.dataset=digits", "cannot change data.dataset"),
        ("train.lr=0.5", "cannot change train.lr"),
        ("train.epochs=4", "train.schedule = 'warmup_cosine'"),
    ],
)
def test_resume_refuses_overrides_that_change_what_was_trained(fresh, override, words):
    home, run_dir = fresh
    config_before = (run_dir / "config.toml").read_text()
    rows_before = table_rows(run_dir, "epochs")
    result = cli(home, "run", "-q", "--resume", run_dir.name, "--set", override)
    assert result.exit_code == 2, result.output
    assert words in result.stderr and "start a new run" in result.stderr
    assert (run_dir / "config.toml").read_text() == config_before
    assert table_rows(run_dir, "epochs") == rows_before


def test_resume_accepts_safe_overrides_and_records_them(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(tiny_toml(name="more", epochs=2, analyses=("rewinding",)).replace("lr = 0.05", 'lr = 0.05\nschedule = "constant"'))
    home = tmp_path / "home"
    assert cli(home, "run", "-q", str(config)).exit_code == 0
    (run_id,) = run_ids(home)
    run_dir = home / "runs" / run_id
    assert cli(home, "run", "-q", "--resume", run_id, "--set", "train.epochs=1").exit_code == 2  # fewer: refused
    result = cli(home, "run", "-q", "--resume", run_id, "--set", "train.epochs=4", "--set", "threads=1")
    assert result.exit_code == 0, result.output
    info = read_info(run_dir)
    assert info["resume_overrides"][0]["set"] == ["train.epochs=4", "threads=1"]
    assert info["epochs"] == 4 and "epochs = 4" in (run_dir / "config.toml").read_text()
    assert sorted(r["epoch"] for r in table_rows(run_dir, "epochs")) == [1, 2, 3, 4]
    assert info["analyses"]["rewinding"]["status"] == "completed"  # ran again on the new final model
    rewinds = [(r["layer"], r["checkpoint_epoch"]) for r in table_rows(run_dir, "layer_rewinds")]
    assert rewinds and len(rewinds) == len(set(rewinds))  # replaced, not appended


def test_analyze_with_a_damaged_example_scores_part_is_one_line_and_keeps_it(fresh):
    home, run_dir = fresh
    folder = run_dir / "example_scores"
    folder.mkdir(exist_ok=True)
    part = folder / "part-000050.parquet"
    pq.write_table(pa.table({"run_id": [run_dir.name], "analysis": ["other"], "example": [1], "score": [0.5]}), part)
    truncate(part)
    size = part.stat().st_size
    result = cli(home, "analyze", run_dir.name, "-a", "rewinding", "-q")
    assert result.exit_code == 3, result.output
    assert "is damaged" in result.stderr and "runs check --repair" in result.stderr
    assert "Traceback" not in result.output and part.stat().st_size == size


def test_a_read_only_home_gives_one_line_errors(fresh, monkeypatch):
    """EROFS on every write (also on the clean-up of a temporary file)."""
    from memscope.store import lock, runinfo

    home, run_dir = fresh

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    real_open = os.open
    monkeypatch.setattr(lock.os, "open", lambda path, flags, *a: read_only() if flags & os.O_CREAT else real_open(path, flags, *a))
    for args in (["run", "-q", "--resume", run_dir.name], ["analyze", run_dir.name, "-a", "rewinding", "-q"]):
        result = cli(home, *args)
        assert result.exit_code == 3, result.output
        assert "Read-only file system" in result.stderr and "Traceback" not in result.output
    monkeypatch.setattr(runinfo.os, "replace", read_only)
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: read_only())
    with pytest.raises(runinfo.StoreError, match="Read-only file system"):
        runinfo.write_json_atomic(run_dir / "run.json", {"status": "completed"})
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


def test_analyze_refuses_a_run_that_did_not_finish_training(fresh):
    """It would analyse a half-trained model, mark the analysis completed, and the resume
    that finishes training would then skip it: rows of the wrong model, silently."""
    from memscope.store.runinfo import write_run_info

    home, run_dir = fresh
    info = read_info(run_dir)
    write_run_info(run_dir, {**info, "status": "running", "epoch": 1})  # as after a kill -9 in epoch 2
    rows_before = table_rows(run_dir, "layer_rewinds")
    result = cli(home, "analyze", run_dir.name, "-a", "rewinding", "-q")
    assert result.exit_code == 2, result.output
    assert "trained 1 of 3 epochs" in result.stderr and "memscope run --resume" in result.stderr
    assert table_rows(run_dir, "layer_rewinds") == rows_before
