"""An unknown key names where it came from: a ``--set`` override, or the config file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.config import load_config
from memscope.errors import ConfigError, ExitCode

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "sample_configs" / "digits.toml"


def error_of(path, overrides) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides)
    assert err.value.exit_code == ExitCode.USAGE
    return err.value.message


def test_a_bad_key_from_set_names_the_override(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("[train]\nepochs = 2\n", encoding="utf-8")
    message = error_of(good, ["train.epochs=3", "train.epoch=3"])
    assert message.startswith(f"{good}: unknown key 'train.epoch' (did you mean 'train.epochs'?); allowed in [train]: ")
    assert "epochs" in message
    assert message.endswith(f"; it comes from --set 'train.epoch=3', not from {good}")


@pytest.mark.parametrize(
    "override,key",
    [
        ("optimizer.lr=1", "optimizer"),  # an unknown table the override created
        ("train={epoch=3}", "train.epoch"),  # a whole table set on the command line
        ("analysis.neuron_flipping=3", None),  # not an unknown key: no override is named
    ],
)
def test_the_override_that_brought_the_key_is_found(override, key):
    message = error_of(None, [override])
    if key is None:
        assert "--set" not in message
    else:
        assert f"unknown key '{key}'" in message and f"it comes from --set {override!r}" in message


def test_a_bad_key_in_the_file_still_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepoch = 3\n", encoding="utf-8")
    for overrides in ([], ["train.epochs=4", "noise.rate=0.2"]):
        message = error_of(bad, overrides)
        assert message.startswith(f"{bad}: unknown key 'train.epoch' (did you mean 'train.epochs'?); allowed in [train]: ")
        assert "--set" not in message and "comes from" not in message


# --------------------------------------------------------------------------- through the CLI


@pytest.fixture
def invoke(monkeypatch, tmp_path):
    monkeypatch.setenv("MEMSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEMSCOPE_PLUGINS_DIR", raising=False)

    def run(*args: str):
        from memscope.plugins import reset_hosts

        reset_hosts()
        return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


def assert_usage_error(result, *words: str) -> str:
    assert result.exit_code == ExitCode.USAGE == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("memscope: error: ") and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr
    return result.stderr


def test_run_with_a_bad_set_key_exits_2_naming_the_override(invoke):
    result = invoke("run", DIGITS, "--set", "train.epoch=3")
    stderr = assert_usage_error(result, f"{DIGITS}: unknown key 'train.epoch' (did you mean 'train.epochs'?); allowed in [train]:", "epochs")
    assert f"it comes from --set 'train.epoch=3', not from {DIGITS}" in stderr


def test_run_with_a_bad_file_key_exits_2_naming_the_file(invoke, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepoch = 3\n", encoding="utf-8")
    stderr = assert_usage_error(invoke("run", bad, "--set", "train.epochs=1"), f"{bad}: unknown key 'train.epoch'")
    assert "--set" not in stderr


def test_sweep_with_a_bad_set_key_exits_2_naming_the_override(invoke, tmp_path):
    result = invoke("sweep", DIGITS, "--grid", "seed=1,2", "--set", "train.epoch=3")
    assert_usage_error(result, "unknown key 'train.epoch'", "it comes from --set 'train.epoch=3'")
    assert not (tmp_path / "home" / "sweeps").exists()


def test_analyze_with_a_bad_set_key_exits_2(invoke, home):
    from memscope.testing import write_fake_run

    run_dir = write_fake_run(home, "r1")
    (run_dir / "config.toml").write_text('[data]\ndataset = "digits"\n\n[train]\nepochs = 2\n', encoding="utf-8")
    result = invoke("analyze", "r1", "--home", home.root, "--set", "train.epoch=3")
    assert_usage_error(result, "unknown key 'train.epoch'", "epochs")
