"""Sample configs ship inside the package: ``memscope samples``, ``memscope run NAME``, derived labels."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import memscope
from memscope.cli.app import app
from memscope.config import SAMPLES_DIR, load_config, resolve_config_path, sample_configs
from memscope.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_samples_live_in_the_package_and_are_package_data():
    assert SAMPLES_DIR.parent == Path(memscope.__file__).resolve().parent
    assert "digits" in sample_configs()
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["memscope"]
    assert "sample_configs/*.toml" in package_data


def test_a_sample_name_resolves_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("digits") == SAMPLES_DIR / "digits.toml"
    assert load_config("digits").data.dataset == "digits"


def test_a_file_in_the_working_folder_wins_over_a_sample(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").write_text("seed = 7\n")
    assert load_config("digits").seed == 7


def test_an_unknown_sample_name_suggests_and_lists():
    with pytest.raises(ConfigError) as info:
        resolve_config_path("digitz")
    assert "(did you mean 'digits'?)" in info.value.message and "memscope samples" in info.value.message


@pytest.mark.parametrize("name", sorted(sample_configs()))
def test_sample_runs_are_labelled_by_their_dataset_and_model(name):
    """A fixed name in a sample would mislabel a run whose model or dataset is overridden."""
    config = load_config(name, ["model.name='mlp'"])
    assert config.name == "" and config.label == f"{config.data.dataset}-mlp"


def test_a_name_the_user_sets_is_kept():
    assert load_config("digits", ["name='mine'", "model.name='mlp'"]).label == "mine"


def test_samples_command_lists_and_prints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["samples", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["digits"]["dataset"] == "digits" and rows["digits"]["model"] == "cnn"
    assert rows["digits_etd"]["etd"] is True
    result = runner.invoke(app, ["samples", "digits"])
    assert result.exit_code == 0 and result.stdout == (SAMPLES_DIR / "digits.toml").read_text()


def test_a_sweep_takes_a_sample_name(tmp_path, monkeypatch):
    from memscope.store.home import Home
    from memscope.sweep import driver
    from memscope.sweep.grid import build_grid
    from memscope.sweep.store import load_sweep

    monkeypatch.chdir(tmp_path)
    home = Home(tmp_path / "home")
    sweep_id = driver.create_sweep(home, config=Path("digits"), axes=build_grid(["seed=1,2"]), overrides=["train.epochs=1"])
    assert load_sweep(home, sweep_id)["config"] == str(SAMPLES_DIR / "digits.toml")
