"""SIGTERM (the TUI's cancel) and Ctrl-C end a run as ``cancelled`` within seconds, with every
finished epoch's parts written and no temporary file left, also in the middle of a long
epoch and in the middle of a post-training analysis."""

from __future__ import annotations

import random
import signal
import time

import pytest

from .conftest import assert_home_intact, read_info, run_ids, start, table_rows, tiny_toml, wait_for

#: A few thousand steps per epoch on one thread: an epoch takes seconds, not milliseconds.
LONG_EPOCHS = tiny_toml(name="long-epochs", dataset="digits", epochs=50, batch_size=2, hidden=(256, 256))

HANGING_PLUGIN = '''
import time

from memscope import hookimpl
from memscope.analysis import Analysis


class Sleeper(Analysis):
    name = "sleeper"

    def run(self, ctx):
        while True:  # an analysis with no end in sight
            time.sleep(0.05)


@hookimpl
def register_analyses(register):
    register(Sleeper)
'''


#: run.json must say 'cancelled' this soon after the signal (the run stops at the next step);
#: the process then needs a moment more to exit (Python tears down torch: ~2s on a busy CI box).
STATUS_SECONDS = 3.0
EXIT_SECONDS = 15.0


def _stop_and_time(proc, sig, run_dir) -> tuple[float, float, str]:
    """Send ``sig``; seconds until run.json leaves 'running', seconds until the process exits."""
    sent = time.monotonic()
    proc.send_signal(sig)
    wait_for(lambda: read_info(run_dir).get("status") not in (None, "running") or proc.poll() is not None, 60, "the status")
    marked = time.monotonic() - sent
    _, err = proc.communicate(timeout=60)
    return marked, time.monotonic() - sent, err


def _assert_cancelled_cleanly(home, err: str) -> dict:
    (run_id,) = run_ids(home)
    run_dir = home / "runs" / run_id
    info = read_info(run_dir)
    assert info["status"] == "cancelled", info
    assert "--resume" in err and "Traceback" not in err
    assert not list(run_dir.rglob("*.tmp")), "a temporary file was left behind"
    assert_home_intact(home)
    epochs = sorted(r["epoch"] for r in table_rows(run_dir, "epochs"))
    assert epochs == list(range(1, info["epoch"] + 1)), (epochs, info["epoch"])
    return info


@pytest.mark.slow
def test_sigterm_in_a_long_epoch_cancels_within_seconds(tmp_path, workdir):
    """tests/cli/test_run_cli.py covers both signals at an epoch's end; this one lands mid-epoch."""
    sig = signal.SIGTERM
    config = tmp_path / "long.toml"
    config.write_text(LONG_EPOCHS)
    home = tmp_path / "home"
    proc = start(home, "run", "-q", str(config), cwd=workdir)
    run_dir = wait_for(lambda: next(iter(home.glob("runs/2*")), None) or proc.poll(), 120, "the run directory")
    first = wait_for(lambda: read_info(run_dir).get("epoch", 0) >= 1 or proc.poll() is not None, 120, "epoch 1")
    assert first is True and proc.poll() is None
    epoch_seconds = table_rows(run_dir, "epochs", drop=())[0]["seconds"]
    time.sleep(random.Random(7).uniform(0.2, 0.6) * epoch_seconds)  # in the middle of an epoch
    marked, exited, err = _stop_and_time(proc, sig, run_dir)
    assert proc.returncode == 130, err
    assert marked < STATUS_SECONDS, f"took {marked:.1f}s to say cancelled (an epoch takes {epoch_seconds:.1f}s)"
    assert exited < EXIT_SECONDS, f"took {exited:.1f}s to exit"
    info = _assert_cancelled_cleanly(home, err)
    assert info["epoch"] < 50


@pytest.mark.slow
def test_ctrl_c_during_a_post_training_analysis_cancels_within_seconds(tmp_path, workdir):
    """An analysis has no step boundary: the first Ctrl-C/SIGTERM stops it at once."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "sleeper.py").write_text(HANGING_PLUGIN)
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_toml(epochs=2, analyses=("sleeper",)))
    home = tmp_path / "home"
    proc = start(home, "run", "-q", str(config), "--plugins-dir", str(plugins), cwd=workdir)

    def analysis_running():
        for run_dir in home.glob("runs/2*"):
            if read_info(run_dir).get("analyses", {}).get("sleeper", {}).get("status") == "running":
                return run_dir
        return proc.poll() is not None

    run_dir = wait_for(analysis_running, 120, "the analysis to start")
    assert run_dir is not True, proc.communicate()[1]
    marked, exited, err = _stop_and_time(proc, signal.SIGINT, run_dir)
    assert proc.returncode == 130, err
    assert marked < STATUS_SECONDS and exited < EXIT_SECONDS, (marked, exited)
    info = read_info(run_dir)
    assert info["status"] == "cancelled" and info["analyses"]["sleeper"]["status"] == "cancelled"
    assert info["epoch"] == 2
    assert_home_intact(home)
