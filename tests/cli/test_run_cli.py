"""`memscope run` from the command line: stdout/stderr, exit codes, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.config import SAMPLES_DIR

TINY = ["--set", "analyses=[]", "--set", 'data.dataset="synthetic"', "--set", 'model.name="mlp"', "--set", "model.options.hidden=[16]", "--set", "train.epochs=2", "--set", "train.batch_size=64"]


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_run_prints_id_on_stdout_and_summary_on_stderr(runner, tmp_path):
    home = tmp_path / "home"
    result = invoke(runner, "run", str(SAMPLES_DIR / "digits.toml"), "--home", str(home), *TINY)
    assert result.exit_code == 0, result.stderr
    run_id = result.stdout.strip()
    assert (home / "runs" / run_id / "run.json").is_file()
    assert "completed" in result.stderr and "memscope query" in result.stderr and "noisy-train acc" in result.stderr
    assert "epoch   2/2" in result.stderr


def test_unknown_config_key(runner, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[train]\nepoch = 3\n")
    result = invoke(runner, "run", str(cfg), "--home", str(tmp_path / "h"))
    assert result.exit_code == 2
    assert "unknown key 'train.epoch'" in result.stderr and "epochs" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "override,words",
    [
        ('data.dataset="imagenet"', "installed: cifar10, digits"),
        ('model.name="alexnet"', "unknown model 'alexnet'"),
        ('noise.model="asym"', "unknown noise model"),
        ("noise.rate=1.5", "must be in [0, 1)"),
        ("train.epochs=zero", "must be an integer"),
        ('data.dataset="npz"', "needs data.path"),
    ],
)
def test_bad_input_is_one_line_with_exit_2(runner, tmp_path, override, words):
    result = invoke(runner, "run", str(SAMPLES_DIR / "digits.toml"), "--home", str(tmp_path / "h"), "--set", override)
    assert result.exit_code == 2, result.stderr
    assert words in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_missing_config_file(runner, tmp_path):
    result = invoke(runner, "run", str(tmp_path / "none.toml"), "--home", str(tmp_path / "h"))
    assert result.exit_code == 2 and "config file not found" in result.stderr


def test_unwritable_home_is_exit_3(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = invoke(runner, "run", str(SAMPLES_DIR / "digits.toml"), "--home", str(blocker / "home"))
    assert result.exit_code == 3 and "cannot write the memscope home" in result.stderr


def test_plugin_that_raises_on_import_is_reported_and_run_goes_on(runner, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text("raise RuntimeError('kaput')\n")
    result = invoke(runner, "run", str(SAMPLES_DIR / "digits.toml"), "--home", str(tmp_path / "h"), "--plugins-dir", str(plugins), *TINY)
    assert result.exit_code == 0, result.stderr
    assert "plugin broken failed" in result.stderr and "kaput" in result.stderr


def test_resume_unknown_run(runner, tmp_path):
    result = invoke(runner, "run", "--resume", "nope", "--home", str(tmp_path / "h"))
    assert result.exit_code == 2 and "no run 'nope'" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_marks_run_cancelled_with_exit_130(tmp_path, sig):
    home = tmp_path / "home"
    env = {**os.environ, "MEMSCOPE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "memscope", "run", str(SAMPLES_DIR / "digits.toml"), "--set", "train.epochs=400"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    run_json = None
    while time.time() < deadline:
        found = list(home.glob("runs/2*/epochs/*.parquet"))  # not the _schema part
        if found:
            run_json = found[0].parents[1] / "run.json"
            break
        time.sleep(0.2)
    assert run_json is not None, proc.stderr.read() if proc.poll() is not None else "no epoch within 60 s"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "cancelled" in err and "--resume" in err and "Traceback" not in err
    info = json.loads(run_json.read_text())
    assert info["status"] == "cancelled"
    assert out.strip() == info["run_id"]


def test_root_level_home_applies_to_the_command_and_does_not_leak(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMSCOPE_HOME", str(tmp_path / "default"))
    result = invoke(runner, "--home", str(tmp_path / "chosen"), "run", str(SAMPLES_DIR / "digits.toml"), *TINY, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "chosen" / "runs" / result.stdout.strip()).is_dir()
    listed = invoke(runner, "runs", "list", "--json")
    assert result.stdout.strip() not in listed.stdout  # the next call is back on MEMSCOPE_HOME
