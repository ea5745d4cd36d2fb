"""The Ray executor against a local Ray instance this module starts (skipped without Ray)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray", reason='Ray is not installed; pip install "memscope[ray]" to run these tests')

from memscope.store.home import Home  # noqa: E402
from memscope.store.runinfo import read_run_info  # noqa: E402
from memscope.sweep.store import load_sweep  # noqa: E402

from tests.sweep.conftest import run_env  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster():
    """A 2-CPU Ray instance owned by this test process; sweeps connect with --ray-address."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _sweep(cli_script, home, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(cli_script), "sweep", *args, "--home", str(home)],
        capture_output=True, text=True, env=run_env(home), timeout=timeout,
    )


def test_ray_sweep_with_a_retry(ray_cluster, tmp_path, tiny_config, plugins_dir, cli_script):
    home = tmp_path / "home"
    start = time.monotonic()
    proc = _sweep(
        cli_script, home, str(tiny_config), "--grid", "data.dataset=synthetic,flaky", "--executor", "ray",
        "--ray-address", ray_cluster, "--cpus-per-run", "1", "--retries", "1", "--plugins-dir", str(plugins_dir),
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    sweep_id = proc.stdout.strip()
    data = load_sweep(Home(home), sweep_id)
    assert data["status"] == "completed"
    assert data["executor"] == "ray" and data["executor_detail"].startswith("ray executor (2 CPU, 0 GPU), 2 at a time")
    assert [(e["status"], e["attempts"]) for e in data["runs"]] == [("completed", 1), ("completed", 2)]
    for entry in data["runs"]:
        info = read_run_info(Home(home).run_dir(entry["run_id"]))
        assert info["status"] == "completed"
        assert info["tags"]["sweep_id"] == sweep_id
        assert info["tags"]["data.dataset"] == info["dataset"]
    print(f"ray sweep of 2 runs (3 attempts): {elapsed:.1f}s")


def test_ray_sweep_cancel(ray_cluster, tmp_path, tiny_config, plugins_dir, cli_script):
    home = tmp_path / "home"
    proc = _sweep(
        cli_script, home, str(tiny_config), "--grid", "data.dataset=slow,synthetic", "--executor", "ray",
        "--ray-address", ray_cluster, "--workers", "1", "--plugins-dir", str(plugins_dir), "--detach",
    )
    assert proc.returncode == 0, proc.stderr
    sweep_id = proc.stdout.strip()
    deadline = time.monotonic() + 120
    while not list(plugins_dir.glob("slow.started.*")):
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.1)
    cancel = subprocess.run(
        [sys.executable, str(cli_script), "sweeps", "cancel", sweep_id, "--home", str(home)],
        capture_output=True, text=True, env=run_env(home), timeout=120,
    )
    assert cancel.returncode == 0, cancel.stderr
    data = load_sweep(Home(home), sweep_id)
    assert data["status"] == "cancelled"
    first, second = data["runs"]
    assert (first["status"], second["status"], second["attempts"]) == ("cancelled", "cancelled", 0)
    # ray.cancel reached the task, which sent SIGTERM to the run: the run recorded it
    assert read_run_info(Home(home).run_dir(first["run_id"]))["status"] == "cancelled"
