"""``memscope runs list | show | rm``."""

from __future__ import annotations

import json
import tomllib

import pytest
from typer.testing import CliRunner

from memscope.cli.app import app


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def populated(home, make_run):
    make_run("20260101-000000-a", status="completed")
    make_run("20260102-000000-b", status="failed", error="boom")
    make_run("20260103-000000-c", status="running")  # this process's pid: alive
    make_run("20260104-000000-d", status="running", pid=2**22 + 12345)  # no such pid: crashed
    return home


def test_list_json_newest_first_with_effective_status(runner, populated):
    result = runner.invoke(app, ["runs", "list", "--json"])
    assert result.exit_code == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [(r["run_id"], r["status"]) for r in runs] == [
        ("20260104-000000-d", "crashed"),
        ("20260103-000000-c", "running"),
        ("20260102-000000-b", "failed"),
        ("20260101-000000-a", "completed"),
    ]
    assert runs[0]["recorded_status"] == "running"


def test_list_table(runner, populated):
    result = runner.invoke(app, ["runs", "list"])
    assert result.exit_code == 0
    assert "20260101-000000-a" in result.stdout and "completed" in result.stdout
    assert result.stderr == ""


def test_list_filters_by_status(runner, populated):
    result = runner.invoke(app, ["runs", "list", "--json", "--status", "crashed"])
    assert [r["run_id"] for r in json.loads(result.stdout)] == ["20260104-000000-d"]


def test_list_rejects_an_unknown_status(runner, populated):
    result = runner.invoke(app, ["runs", "list", "--status", "sleeping"])
    assert result.exit_code == 2
    assert "unknown status 'sleeping'" in result.stderr


def test_list_of_an_empty_home(runner, home):
    result = runner.invoke(app, ["runs", "list"])
    assert result.exit_code == 0 and result.stdout == ""
    assert "no runs" in result.stderr
    assert json.loads(runner.invoke(app, ["runs", "list", "--json"]).stdout) == []


def test_show_json_has_run_config_and_row_counts(runner, populated):
    result = runner.invoke(app, ["runs", "show", "20260101-000000-a", "--json"])
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["run"]["status"] == "completed"
    config_toml = (populated.run_dir("20260101-000000-a") / "config.toml").read_text(encoding="utf-8")
    assert shown["config"] == tomllib.loads(config_toml)
    assert shown["tables"] == {"epochs": 2, "example_epochs": 20, "examples": 14, "layers": 4}


def test_show_text(runner, populated):
    result = runner.invoke(app, ["runs", "show", "20260102-000000-b"])
    assert result.exit_code == 0
    assert "boom" in result.stdout and "example_epochs" in result.stdout and "[train]" in result.stdout


@pytest.mark.parametrize("run_id", ["nope", "_schema", "../home", ".trash"])
def test_unknown_run_id_is_exit_2_with_a_hint(runner, populated, run_id):
    result = runner.invoke(app, ["runs", "show", run_id])
    assert result.exit_code == 2
    assert f"no run '{run_id}'" in result.stderr and "memscope runs list" in result.stderr


def test_rm_with_yes(runner, populated):
    result = runner.invoke(app, ["runs", "rm", "20260101-000000-a", "20260102-000000-b", "--yes"])
    assert result.exit_code == 0, result.stderr
    assert populated.run_ids() == ["20260103-000000-c", "20260104-000000-d"]
    assert "deleted 20260101-000000-a" in result.stderr
    assert not (populated.root / ".trash").exists()


def test_rm_removes_the_rows_from_queries(runner, populated):
    from memscope.store.query import execute

    runner.invoke(app, ["runs", "rm", "20260101-000000-a", "--yes"])
    ids = execute(populated, "SELECT DISTINCT run_id FROM examples ORDER BY 1").table.column(0).to_pylist()
    assert "20260101-000000-a" not in ids


def test_rm_asks_first(runner, populated):
    result = runner.invoke(app, ["runs", "rm", "20260101-000000-a"], input="n\n")
    assert result.exit_code == 0
    assert "Delete 1 run(s)" in result.stderr and "nothing deleted" in result.stderr
    assert "20260101-000000-a" in populated.run_ids()
    result = runner.invoke(app, ["runs", "rm", "20260101-000000-a"], input="y\n")
    assert result.exit_code == 0
    assert "20260101-000000-a" not in populated.run_ids()


def test_rm_refuses_a_running_run_unless_forced(runner, populated):
    result = runner.invoke(app, ["runs", "rm", "20260103-000000-c", "--yes"])
    assert result.exit_code == 2
    assert "still running" in result.stderr and "--force" in result.stderr
    assert "20260103-000000-c" in populated.run_ids()
    result = runner.invoke(app, ["runs", "rm", "20260103-000000-c", "--yes", "--force"])
    assert result.exit_code == 0
    assert "20260103-000000-c" not in populated.run_ids()


def test_rm_crashed_run_needs_no_force(runner, populated):
    result = runner.invoke(app, ["runs", "rm", "20260104-000000-d", "--yes"])
    assert result.exit_code == 0


def test_rm_unknown_id_deletes_nothing(runner, populated):
    result = runner.invoke(app, ["runs", "rm", "20260101-000000-a", "nope", "--yes"])
    assert result.exit_code == 2
    assert "no run 'nope'" in result.stderr
    assert "20260101-000000-a" in populated.run_ids()


def test_list_writes_accuracies_like_the_app(runner, home, make_run):
    """Three decimals for every accuracy ('1.000' beside '0.961', never '1'), '—' when missing."""
    make_run("20260101-000000-a", status="completed", test_acc=1.0, noisy_train_acc=0.9025)
    make_run("20260102-000000-b", status="completed", test_acc=None, noisy_train_acc=0.96)
    result = runner.invoke(app, ["runs", "list"])
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip().startswith("2026")}
    assert "1.000" in rows["20260101-000000-a"] and "0.902" in rows["20260101-000000-a"]
    assert "0.960" in rows["20260102-000000-b"] and "—" in rows["20260102-000000-b"]
