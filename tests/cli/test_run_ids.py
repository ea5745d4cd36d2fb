"""Run ids given on the command line: one check (Home.require_run) and one-line errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.errors import ExitCode, MemscopeError
from memscope.store.home import Home


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def home(tmp_path):
    return Home(tmp_path / "home").ensure()


def invoke(runner, home, *args):
    return runner.invoke(app, [*args, "--home", str(home.root)], catch_exceptions=False)


def _one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("memscope: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("run_id", ["", "_schema", ".trash", "../x", "a/b", "a\\b", "nope"])
def test_require_run_refuses_what_is_not_a_run(home, run_id):
    with pytest.raises(MemscopeError, match="memscope runs list") as info:
        home.require_run(run_id)
    assert info.value.exit_code == ExitCode.USAGE


def test_require_run_returns_the_run_dir(home):
    home.run_dir("r1").mkdir()
    assert home.require_run("r1") == home.run_dir("r1")


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "_schema"],
        ["report", "../x"],
        ["report", "_schema"],
        ["run", "--resume", "_schema"],
        ["runs", "show", "_schema"],
        ["export", "--to", "OUT.duckdb", "--run", "_schema"],
    ],
)
def test_commands_refuse_non_run_ids_in_one_line(runner, home, tmp_path, args):
    args = [str(tmp_path / a) if a == "OUT.duckdb" else a for a in args]
    result = invoke(runner, home, *args)
    assert result.exit_code == 2, result.output
    line = _one_line(result)
    assert "no run '" in line and "memscope runs list" in line


@pytest.fixture
def list_run_json(home):
    run_dir = home.run_dir("bad-run")
    run_dir.mkdir()
    (run_dir / "run.json").write_text("[1]\n")
    (run_dir / "config.toml").write_text("")
    return run_dir


@pytest.mark.parametrize("args", [["analyze", "bad-run"], ["run", "--resume", "bad-run"]])
def test_run_json_not_an_object_is_a_store_error(runner, home, list_run_json, args):
    result = invoke(runner, home, *args)
    assert result.exit_code == int(ExitCode.STORE_UNAVAILABLE), result.output
    line = _one_line(result)
    assert str(list_run_json / "run.json") in line and "not a JSON object" in line


def test_run_json_not_an_object_lists_as_crashed(runner, home, list_run_json):
    import json

    result = invoke(runner, home, "runs", "list", "--json")
    assert result.exit_code == 0, result.output
    (info,) = json.loads(result.stdout)
    assert info["run_id"] == "bad-run" and info["status"] == "crashed" and "not a JSON object" in info["error"]


def test_report_sweep_passes_width(runner, home, monkeypatch):
    import memscope.report.sweep as sweep_report

    seen = {}
    monkeypatch.setattr(sweep_report, "print_sweep_report", lambda h, sweep_id, width=None, **_: seen.update(id=sweep_id, width=width))
    result = invoke(runner, home, "report", "--sweep", "s1", "--width", "77")
    assert result.exit_code == 0, result.output
    assert seen == {"id": "s1", "width": 77}
