"""``memscope runs tag`` / ``runs note``, and what the runs view shows of them and of the config."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.store.lock import RunLock
from memscope.store.connection import open_connection
from memscope.store.runinfo import read_run_info
from memscope.testing import run_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return run_tiny(tmp_path_factory.mktemp("tag-home"), overrides=["train.lr=0.05", "train.batch_size=64", "model.width=0.5"])


def invoke(tiny, *args):
    return CliRunner().invoke(app, [*args, "--home", str(tiny.home.root)])


def _runs_row(tiny, columns: str):
    conn = open_connection(tiny.home, None)
    try:
        return conn.execute(f"SELECT {columns} FROM runs WHERE run_id = ?", [tiny.run_id]).fetchone()
    finally:
        conn.close()


def test_the_runs_view_has_the_hyperparameters_and_the_config(tiny):
    lr, batch, width, schedule, precision, etd, epochs, config = _runs_row(
        tiny, "lr, batch_size, width, schedule, precision, etd_enabled, epochs, config")
    assert lr == pytest.approx(0.05) and batch == 64 and width == pytest.approx(0.5)
    assert schedule == "warmup_cosine" and precision == "fp32" and etd is False
    config = json.loads(config)
    assert config["train"]["epochs"] == epochs and config["data"]["dataset"] == "synthetic"


def test_tag_sets_and_removes_and_the_view_shows_it(tiny):
    result = invoke(tiny, "runs", "tag", tiny.run_id[-4:], "arch=wide", "goal=baseline")
    assert result.exit_code == 0, result.output
    assert read_run_info(tiny.run_dir)["tags"] == {"arch": "wide", "goal": "baseline"}
    assert invoke(tiny, "runs", "tag", "latest", "goal=").exit_code == 0
    (tags,) = _runs_row(tiny, "tags")
    assert json.loads(tags) == {"arch": "wide"}
    (arch,) = _runs_row(tiny, "tags->>'arch'")
    assert arch == "wide"


def test_note_replaces_appends_and_clears(tiny):
    assert invoke(tiny, "runs", "note", "latest", "first try").exit_code == 0
    assert invoke(tiny, "runs", "note", "latest", "--append", "lr too high").exit_code == 0
    assert _runs_row(tiny, "notes") == ("first try\nlr too high",)
    assert invoke(tiny, "runs", "note", "latest", "").exit_code == 0
    assert _runs_row(tiny, "notes") == (None,)


def test_a_bad_tag_is_one_line_exit_2(tiny):
    result = invoke(tiny, "runs", "tag", "latest", "novalue")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("memscope: error: tag 'novalue': expected KEY=VALUE")


def test_a_run_being_written_is_not_edited(tiny):
    before = read_run_info(tiny.run_dir)
    with RunLock(tiny.run_dir):
        result = invoke(tiny, "runs", "note", "latest", "while running")
    assert result.exit_code != 0, result.output  # the lock's own error (store.lock) says who holds it
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("memscope: error: ") and tiny.run_id in line
    assert read_run_info(tiny.run_dir) == before


def test_show_prints_the_config_once(tiny):
    result = invoke(tiny, "runs", "show", "latest")
    assert result.exit_code == 0, result.output
    assert "batch_size = 64" in result.stdout and '"batch_size"' not in result.stdout  # config.toml, not run.json's JSON copy too
    shown = json.loads(invoke(tiny, "runs", "show", "latest", "--json").stdout)
    assert shown["run"]["config"]["train"]["batch_size"] == 64
