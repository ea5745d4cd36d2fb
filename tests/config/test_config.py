"""The strict config loader: unknown keys, wrong types, ranges, overrides, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from memscope.config import RunConfig, config_to_toml, load_config, parse_override
from memscope.errors import ConfigError, ExitCode


def write(tmp_path, text: str):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file():
    cfg = load_config(None)
    assert cfg == RunConfig()
    assert cfg.train.batch_size == 512 and cfg.train.momentum == 0.9 and cfg.train.weight_decay == 5e-4
    assert cfg.train.schedule == "warmup_cosine" and cfg.train.epochs == 50


def test_sample_configs_all_load():
    from memscope.config import sample_configs

    assert sample_configs()
    for path in sample_configs().values():  # the package's folder: no symlink needed
        load_config(path)


def test_unknown_key_names_key_file_and_allowed(tmp_path):
    path = write(tmp_path, "[train]\nepoch = 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = err.value.message
    assert "train.epoch" in message and str(path) in message and "epochs" in message
    assert err.value.exit_code == ExitCode.USAGE


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        load_config(write(tmp_path, 'colour = "red"\n'))


def test_wrong_type(tmp_path):
    with pytest.raises(ConfigError, match="'train.epochs' must be an integer"):
        load_config(write(tmp_path, '[train]\nepochs = "ten"\n'))
    with pytest.raises(ConfigError, match="true or false"):
        load_config(write(tmp_path, "[data]\naugment = 1\n"))


def test_int_is_accepted_for_float():
    assert load_config(None, ["train.lr=1"]).train.lr == 1.0


@pytest.mark.parametrize("rate", ["1.0", "-0.1", "1.5"])
def test_noise_rate_outside_unit_interval(rate):
    with pytest.raises(ConfigError, match=r"noise.rate.*\[0, 1\)"):
        load_config(None, [f"noise.rate={rate}"])


def test_choice_lists_allowed_values():
    with pytest.raises(ConfigError, match="warmup_cosine, one_cycle, constant"):
        load_config(None, ["train.schedule=linear"])


def test_invalid_toml_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[train\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_overrides_parse_toml_values_and_bare_words():
    assert parse_override("train.epochs=3") == (["train", "epochs"], 3)
    assert parse_override("model.name=cnn") == (["model", "name"], "cnn")
    assert parse_override('analyses=["rewinding"]') == (["analyses"], ["rewinding"])
    cfg = load_config(None, ["analyses=rewinding,retraining", "data.dataset=synthetic"])
    assert cfg.analyses == ("rewinding", "retraining")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("train.epochs")


def test_etd_fractions_checked():
    with pytest.raises(ConfigError, match="at most 1"):
        load_config(None, ["etd.p_gen=0.8", "etd.p_mem=0.5"])


def test_etd_analysis_needs_etd_training():
    with pytest.raises(ConfigError, match="enabled = true"):
        load_config(None, ["analyses=etd"])


def test_analysis_section_without_listing_is_kept():
    # toggling analyses with --set must not invalidate a file's [analysis.x] sections
    cfg = load_config(None, ["analysis.rewinding.layers=[\"fc\"]"])
    assert cfg.analysis == {"rewinding": {"layers": ["fc"]}} and cfg.analyses == ()


def test_analysis_options_for_an_unknown_analysis(tmp_path):
    from memscope.plugins import PluginHost
    from memscope.store.home import Home
    from memscope.train.runner import Run

    with pytest.raises(ConfigError, match="unknown analysis 'rewindin'"):
        Run(load_config(None, ["analysis.rewindin.layers=[]"]), Home(tmp_path), PluginHost(None), progress=False)


def test_round_trip_through_toml(tmp_path):
    cfg = load_config(None, ["analyses=rewinding", "analysis.rewinding.layers=[\"fc\"]", "tags.sweep_id=abc", "model.options.channels=[8,8,8]"])
    path = write(tmp_path, config_to_toml(cfg))
    assert load_config(path) == cfg


# --------------------------------------------------------------------------- issue 12: bounds and odd files


@pytest.mark.parametrize(
    "override,words",
    [
        ("model.width=1e6", "'model.width' = 1e+06 is out of range; allowed: more than 0, at most 64"),
        ("threads=100000", "'threads' = 100000 is out of range; allowed: 0 (auto) to 1024"),
        ("analysis_timeout=1e300", "'analysis_timeout' = 1e+300 is out of range; allowed: 0 (no limit) to 2592000"),
        ("train.epochs=100000000000000000000000000", "'train.epochs' = 100000000000000000000000000 is out of range"),
        ("train.batch_size=2000000000", "'train.batch_size' = 2000000000 is out of range; allowed: 1 to 1048576"),
        ("seed=-1", "'seed' = -1 is out of range; allowed: 0 to 2**63 - 1"),
        ("data.train_subset=99999999999", "'data.train_subset' = 99999999999 is out of range"),
    ],
)
def test_numbers_beyond_their_bounds_name_the_key_and_the_range(override, words):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert words in info.value.message
    assert "\n" not in info.value.message


def test_the_bounds_admit_the_largest_allowed_values():
    from memscope.config import BOUNDS

    overrides = [f"{key}={high!r}" for key, (_, high, _) in BOUNDS.items()]
    cfg = load_config(None, overrides)
    assert cfg.train.epochs == 100_000 and cfg.model.width == 64 and cfg.analysis_timeout == 30 * 24 * 3600


def test_an_empty_config_file_is_an_error_not_the_defaults(tmp_path):
    for text in ("", "# just a comment\n\n"):
        path = tmp_path / "empty.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match="the config file sets nothing"):
            load_config(path)


def test_a_fifo_or_a_device_is_refused_without_reading(tmp_path):
    import os
    import time

    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    started = time.monotonic()
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ConfigError, match="not a regular file"):
            load_config(path)
    assert time.monotonic() - started < 5


def test_a_huge_config_file_is_refused(tmp_path):
    from memscope.config import MAX_CONFIG_BYTES

    path = tmp_path / "huge.toml"
    path.write_text("# " + "x" * MAX_CONFIG_BYTES + "\nseed = 1\n")
    with pytest.raises(ConfigError, match=f"more than the {MAX_CONFIG_BYTES} a config may have"):
        load_config(path)


def test_deep_nesting_is_a_config_error_not_a_recursion_error(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("tags = " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(deep)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(None, ["model.options={a={b={c={d={e={f={g={h={i=1}}}}}}}}}"])
