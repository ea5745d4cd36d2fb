"""A run's config and the keys runs differ in."""

from __future__ import annotations

from memscope.results.configs import config_diff, flatten, read_config, read_config_text
from tests.tui.fixture_home import RUN_A, RUN_B


def test_config_diff_shows_only_differences(runs_home):
    diff = dict(config_diff(runs_home, [RUN_A, RUN_B]))
    assert diff["model.name"] == ["cnn", "mlp"]
    assert diff["noise.rate"] == ["0.1", "0.2"]
    assert diff["seed"] == ["0", "1"]
    assert "train.epochs" not in diff and "data.dataset" not in diff


def test_missing_or_broken_config_reads_empty(runs_home):
    path = runs_home.run_dir(RUN_B) / "config.toml"
    path.write_text("seed = ", encoding="utf-8")
    assert read_config(runs_home, RUN_B) == {} and read_config_text(runs_home, RUN_B) == "seed = "
    path.unlink()
    assert read_config(runs_home, RUN_B) == {} and read_config_text(runs_home, RUN_B) is None


def test_flatten_keeps_tags_and_options_whole():
    assert flatten({"train": {"lr": 0.1}, "tags": {"a": "b"}, "model": {"options": {"depth": 4}}}) == {
        "train.lr": 0.1, "tags": {"a": "b"}, "model.options": {"depth": 4}}
