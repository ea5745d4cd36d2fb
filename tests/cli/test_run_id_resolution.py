"""RUN_ID arguments take a full id, a unique prefix, the short random suffix or 'latest'."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.cli.common import complete_run_id, default_home_text
from memscope.errors import ExitCode, MemscopeError
from memscope.store.home import Home

OLD = "20261128-111502-digits-cnn-3fa2"
NEW = "20261129-090000-digits-mlp-1b2c"


@pytest.fixture
def home(tmp_path):
    home = Home(tmp_path / "home").ensure()
    for run_id in (OLD, NEW):
        home.run_dir(run_id).mkdir()
        (home.run_dir(run_id) / "run.json").write_text(json.dumps({"run_id": run_id, "status": "completed"}))
    return home


@pytest.mark.parametrize(
    "given, expected",
    [(OLD, OLD), ("20261128", OLD), ("20261129-09", NEW), ("3fa2", OLD), ("1b2c", NEW), ("latest", NEW)],
)
def test_require_run_resolves_prefix_suffix_and_latest(home, given, expected):
    assert home.require_run(given).name == expected


def test_an_ambiguous_prefix_lists_the_matches(home):
    with pytest.raises(MemscopeError) as info:
        home.require_run("2026112")
    assert info.value.exit_code == ExitCode.USAGE
    assert "ambiguous" in info.value.message and OLD in info.value.message and NEW in info.value.message


def test_latest_in_an_empty_home_says_how_to_start(tmp_path):
    with pytest.raises(MemscopeError, match="no runs yet"):
        Home(tmp_path / "empty").ensure().require_run("latest")


def test_a_part_of_the_middle_is_not_a_match(home):
    with pytest.raises(MemscopeError, match="no run 'digits'"):
        home.require_run("digits")


def test_cli_commands_take_the_suffix_and_latest(home):
    runner = CliRunner()
    result = runner.invoke(app, ["runs", "show", "3fa2", "--json", "--home", str(home.root)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run"]["run_id"] == OLD
    result = runner.invoke(app, ["runs", "rm", "latest", "--yes", "--home", str(home.root)])
    assert result.exit_code == 0, result.output
    assert home.run_ids() == [OLD]


def test_cli_ambiguous_prefix_is_one_line_exit_2(home):
    result = CliRunner().invoke(app, ["runs", "show", "2026", "--home", str(home.root)])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("memscope: error: run id '2026' is ambiguous") and OLD in line and NEW in line


def test_completion_lists_matching_ids_from_the_given_home(home):
    command = typer.main.get_command(app)
    ctx = command.make_context("memscope", ["--home", str(home.root), "runs"], resilient_parsing=True)
    assert complete_run_id(ctx, "2026112") == [NEW, OLD]
    assert complete_run_id(ctx, "lat") == ["latest"]


def test_help_names_the_default_results_folder(monkeypatch):
    from memscope.store.home import default_home

    monkeypatch.delenv("MEMSCOPE_HOME", raising=False)
    assert default_home_text() == str(default_home())
    monkeypatch.setenv("MEMSCOPE_HOME", "/tmp/x")
    assert default_home_text() == str(default_home())
