"""Starting ``memscope run`` as the app does, finding its log, the sample configs."""

from __future__ import annotations

import os
import subprocess

from memscope.results import launch
from memscope.results.runs import read_run
from tests.tui.fixture_home import RUN_D


def test_find_log_matches_pid_and_age(runs_home):
    run = read_run(runs_home, RUN_D)  # its pid is this process
    log = runs_home.root / "logs" / f"x.pid{os.getpid()}.log"
    log.write_text("epoch 1/10\rtick\nepoch 2/10 [##--] loss 1.0\n", encoding="utf-8")
    assert launch.find_log(runs_home, run) == log
    assert launch.tail(log)[-1] == "epoch 2/10 [##--] loss 1.0"
    assert launch.tail(log)[0] == "tick"  # a carriage-return redraw keeps its last state
    os.utime(log, (0, 0))  # older than the run: another process that had the same pid
    assert launch.find_log(runs_home, run) is None


def test_run_command_is_memscope_run(runs_home, tmp_path):
    cmd = launch.run_command(tmp_path / "c.toml", runs_home, "plugins")
    assert cmd[-6:] == ["run", str(tmp_path / "c.toml"), "--home", str(runs_home.root), "--plugins-dir", "plugins"]


def test_run_command_works_beside_a_folder_named_memscope(runs_home, tmp_path):
    """Started from a checkout's parent directory, the child must import the installed
    package, not the checkout folder (found by a newcomer: the app's launch died on import)."""
    (tmp_path / "memscope").mkdir()  # a clone, seen from its parent: no __init__.py at its top
    cmd = launch.run_command(tmp_path / "missing.toml", runs_home, None)
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "ImportError" not in done.stderr and "Traceback" not in done.stderr
    assert done.returncode == 2 and "missing.toml" in done.stderr  # memscope's own error for a missing config


def test_save_launch_config_keeps_the_text(runs_home):
    path = launch.save_launch_config(runs_home, 'seed = 3\n', "digits cnn")
    assert path.parent == runs_home.root / "configs" and "-digits-cnn-" in path.name
    assert path.read_text(encoding="utf-8") == "seed = 3\n"


def test_the_app_offers_the_samples_the_cli_knows():
    from memscope.config import sample_configs

    paths = launch.sample_configs()
    assert "digits.toml" in [p.name for p in paths]
    assert paths == list(sample_configs().values())  # what 'memscope run NAME' and 'memscope samples' take
