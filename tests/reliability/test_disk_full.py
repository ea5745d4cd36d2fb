"""A full disk: a clear error, the run ``failed``, no half-written part visible, everything
written before intact (and queryable), and the run can be resumed once there is room.

Two ways: a writer that fails with ENOSPC on a chosen part (always), and a real, tiny tmpfs
(when this process may mount one: root on Linux; skipped otherwise).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.store.runinfo import effective_status

from .conftest import assert_home_intact, read_info, run_cli, run_ids, table_rows, tiny_toml


def test_enospc_on_a_part_fails_the_run_cleanly_and_resume_finishes_it(tmp_path, monkeypatch):
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_toml(epochs=3))
    home = tmp_path / "home"
    real_write = pq.write_table
    calls = {"example_epochs": 0}

    def full_disk(table, where, *args, **kwargs):
        if "/example_epochs/" in str(where) and "/_schema/" not in str(where):
            calls["example_epochs"] += 1
            if calls["example_epochs"] == 2:  # the part of epoch 2
                with open(where, "wb") as f:  # half a file reaches the disk, then no space
                    f.write(b"PAR1" + b"\0" * 100)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))
        return real_write(table, where, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", full_disk)
    result = CliRunner().invoke(app, ["run", "-q", str(config), "--home", str(home)])
    assert result.exit_code == 4, result.output
    assert "No space left on device" in result.stderr and "--resume" in result.stderr
    assert "Traceback" not in result.output
    (run_id,) = run_ids(home)
    run_dir = home / "runs" / run_id
    info = read_info(run_dir)
    assert info["status"] == "failed" and "No space left on device" in info["error"]
    assert not list(run_dir.rglob("*.tmp")), "the half-written part is still there"
    assert sorted(p.name for p in (run_dir / "example_epochs").iterdir()) == ["part-000001.parquet"]
    assert {r["epoch"] for r in table_rows(run_dir, "example_epochs")} == {1}
    assert_home_intact(home)

    monkeypatch.setattr(pq, "write_table", real_write)  # room again
    resumed = CliRunner().invoke(app, ["run", "-q", "--resume", run_id, "--home", str(home)])
    assert resumed.exit_code == 0, resumed.output
    assert read_info(run_dir)["status"] == "completed"
    assert sorted({r["epoch"] for r in table_rows(run_dir, "example_epochs")}) == [1, 2, 3]
    assert_home_intact(home)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1.5 MiB tmpfs, or a skip when this process cannot mount one."""
    mount = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_real_full_disk(small_tmpfs, tmp_path, workdir):
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_toml(epochs=500, hidden=(64,)))
    home = small_tmpfs / "home"
    result = run_cli(home, "run", "-q", str(config), cwd=workdir)
    assert result.returncode == 4, result.stderr
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
    (run_id,) = run_ids(home)
    run_dir = home / "runs" / run_id
    info = read_info(run_dir)
    assert info["status"] == "failed" and effective_status(info) == "failed", info
    assert "No space left on device" in info["error"]
    assert 1 <= info["epoch"] < 500
    assert_home_intact(home)  # every visible part complete, the catalog answers on the full disk
    epochs = sorted(r["epoch"] for r in table_rows(run_dir, "epochs"))
    assert epochs[: info["epoch"]] == list(range(1, info["epoch"] + 1))
    query = CliRunner().invoke(app, ["query", "--home", str(home), "--csv", "SELECT count(*) AS n FROM epochs"])
    assert query.exit_code == 0 and int(query.stdout.split()[-1]) == len(epochs)
