"""The CLI and the app share one set of run rules (memscope.results.runs): the same runs
refused for deletion, the same ids resolved, the same statuses listed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.errors import MemscopeError
from memscope.results import runs
from tests.tui.fixture_home import RUN_A, RUN_B, RUN_C, RUN_D, RUN_E, make_home

ALL = (RUN_A, RUN_B, RUN_C, RUN_D, RUN_E)  # completed, completed, failed, running, crashed


@pytest.fixture
def five(tmp_path, monkeypatch):
    home = make_home(tmp_path / "home")
    monkeypatch.setenv("MEMSCOPE_HOME", str(home.root))
    return home


def _app_refuses_delete(home, run_id: str) -> bool:
    """What the Runs screen's d asks before its confirmation."""
    try:
        runs.refuse_running(home, [run_id], "delete", "cancel it first (x)")
    except MemscopeError:
        return True
    return False


@pytest.mark.parametrize("run_id", ALL)
def test_delete_is_refused_by_the_app_exactly_when_runs_rm_refuses(five, run_id):
    app_refuses = _app_refuses_delete(five, run_id)
    result = CliRunner().invoke(app, ["runs", "rm", run_id, "--yes"])
    assert (result.exit_code != 0) == app_refuses == (run_id == RUN_D), result.stderr
    assert five.run_dir(run_id).is_dir() == app_refuses


@pytest.mark.parametrize("name", ["latest", "2026010", "cccc", "20260103", "nope"])
def test_the_cli_and_the_results_layer_resolve_the_same_ids(five, name):
    try:
        expected = runs.resolve_run(five, name)
    except MemscopeError as exc:
        expected = None
        message = exc.message
    result = CliRunner().invoke(app, ["runs", "show", name, "--json"])
    if expected is None:
        assert result.exit_code == 2 and message in result.stderr
    else:
        assert result.exit_code == 0 and json.loads(result.stdout)["run"]["run_id"] == expected


def test_runs_list_shows_the_apps_statuses(five):
    result = CliRunner().invoke(app, ["runs", "list", "--json"])
    listed = {r["run_id"]: r["status"] for r in json.loads(result.stdout)}
    assert listed == {r.run_id: r.status for r in runs.list_runs(five)}
    assert listed[RUN_D] == "running" and listed[RUN_E] == "crashed"


def test_analyze_and_resume_refuse_a_running_run_with_the_same_words(five):
    for args in (["analyze", "dddd"], ["run", "--resume", "dddd"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and f"{RUN_D}: it is still running" in result.stderr, result.stderr
