"""Config errors that help: did-you-mean for keys and names, the config file named, data.path checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.config import load_config
from memscope.errors import ConfigError, ExitCode, UnknownNameError
from memscope.plugins import get_host
from memscope.suggest import closest, did_you_mean

DIGITS = Path(__file__).resolve().parents[2] / "memscope" / "sample_configs" / "digits.toml"


@pytest.mark.parametrize(
    "override, key, suggestion",
    [
        ("train.epocs=3", "train.epocs", "train.epochs"),
        ("epochs=3", "epochs", "train.epochs"),  # a key of another table
        ("data.datset='x'", "data.datset", "data.dataset"),
    ],
)
def test_unknown_keys_suggest_the_nearest_key(override, key, suggestion):
    with pytest.raises(ConfigError) as info:
        load_config(DIGITS, [override])
    assert f"unknown key '{key}' (did you mean '{suggestion}'?)" in info.value.message


def test_a_key_far_from_every_key_gets_no_guess():
    with pytest.raises(ConfigError) as info:
        load_config(DIGITS, ["frobnicate=1"])
    assert "did you mean" not in info.value.message and "allowed in the top level" in info.value.message


@pytest.mark.parametrize(
    "override, expected",
    [
        ('analyses=["neuron_fliping"]', "unknown analysis 'neuron_fliping' (did you mean 'neuron_flipping'?)"),
        ("model.name='cnnn'", "unknown model 'cnnn' (did you mean 'cnn'?)"),
        ("noise.model='symetric'", "unknown noise model 'symetric' (did you mean 'symmetric'?)"),
        ("data.dataset='digit'", "unknown dataset 'digit' (did you mean 'digits'?)"),
    ],
)
def test_unknown_names_name_the_file_and_the_nearest_name(override, expected):
    with pytest.raises(UnknownNameError) as info:
        get_host(None).check_names(load_config(DIGITS, [override]), str(DIGITS))
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.message.startswith(f"{DIGITS}: {expected}; installed: ")


def test_data_path_for_a_dataset_that_does_not_read_it_is_an_error():
    config = load_config(DIGITS, ["data.path='arrays.npz'"])
    with pytest.raises(ConfigError) as info:
        get_host(None).check_names(config, "x.toml")
    message = info.value.message
    assert message.startswith("x.toml: dataset 'digits' does not read data.path ('arrays.npz')")
    assert "npz" in message.split("reads it:")[1] and "mnist" in message.split("reads it:")[1]


@pytest.mark.parametrize("dataset", ["npz", "mnist", "cifar10", "svhn"])
def test_data_path_is_accepted_by_datasets_that_read_it(dataset):
    get_host(None).check_names(load_config(DIGITS, [f"data.dataset='{dataset}'", "data.path='a.npz'"]), "x.toml")


def test_run_with_a_misspelt_analysis_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["run", str(DIGITS), "--set", 'analyses=["neuron_fliping"]', "--home", str(tmp_path)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"memscope: error: {DIGITS}: unknown analysis 'neuron_fliping' (did you mean 'neuron_flipping'?)")


def test_the_data_path_help_names_real_datasets():
    from memscope.config import DataConfig, describe_fields

    (comment,) = [c for name, _, _, c in describe_fields(DataConfig) if name == "path"]
    registered = set(get_host(None).registries.datasets.names())
    for word in ("npz", "mnist", "cifar10", "svhn"):
        assert word in comment and word in registered
    assert "mnist_npz" not in comment and "cifar10_npz" not in comment


def test_closest_needs_a_likely_typo():
    assert closest("epocs", ["epochs", "lr"]) == "epochs"
    assert closest("zzz", ["epochs", "lr"]) is None
    assert did_you_mean("zzz", ["epochs"]) == ""
