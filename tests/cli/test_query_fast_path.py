"""``memscope query`` without typer: the composition root's parser must read exactly what
the typer command reads, and leave everything else (help, usage errors, completion) to typer."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.cli.query_argv import COMPLETION_ENV, _parser, parse_query_argv
from memscope.cli.query_run import QueryRequest


def _typer_query_command():
    import typer.main

    return typer.main.get_command(app).commands["query"]


def test_the_fast_parser_has_every_option_of_the_typer_command():
    typer_opts = {opt for param in _typer_query_command().params for opt in param.opts if opt.startswith("-")}
    fast_opts = {opt for action in _parser()._actions for opt in action.option_strings}
    assert fast_opts == typer_opts


ARGVS = [
    ["query", "SELECT 1"],
    ["query", "--csv", "-o", "out.csv", "SELECT 1"],
    ["query", "--format=markdown", "--limit", "7", "SELECT 1"],
    ["query", "-f", "-", "--jsonl"],
    ["query", "--json", "--home", "/some/home", "--plugins-dir", "/some/plugins", "FROM runs"],
    ["query", "--format", "parquet", "--output=x.parquet", "--limit=0", "SELECT 1"],
    ["--home", "/root/home", "query", "SELECT 2"],
    ["--plugins-dir=/p", "--home=/h", "query", "--", "SELECT 3"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=[" ".join(a) for a in ARGVS])
def test_the_fast_parser_reads_what_the_typer_command_reads(argv, monkeypatch):
    seen: list[QueryRequest] = []
    monkeypatch.setattr("memscope.cli.query.run_query", seen.append)
    result = CliRunner().invoke(app, argv, input="SELECT 4")
    assert result.exit_code == 0, result.output
    assert parse_query_argv(argv) == seen[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["query", "--help"],
        ["query", "-h"],
        ["--help"],
        ["--version"],
        ["runs", "list"],
        [],
        ["query", "--limit", "-1", "SELECT 1"],
        ["query", "--limit", "many", "SELECT 1"],
        ["query", "--bogus", "SELECT 1"],
        ["query", "SELECT 1", "SELECT 2"],
        ["query", "--csv=yes", "SELECT 1"],
        ["query", "--form", "csv", "SELECT 1"],  # an abbreviation: click refuses it, so must we
        ["--home"],
        ["--bogus", "query", "SELECT 1"],
    ],
)
def test_help_usage_errors_and_other_commands_go_to_typer(argv):
    assert parse_query_argv(argv) is None


def test_shell_completion_goes_to_typer(monkeypatch):
    monkeypatch.setenv(COMPLETION_ENV, "complete_bash")
    assert parse_query_argv(["query", "SELECT 1"]) is None


def _memscope(*args: str, input: str | None = None, home) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "memscope", *args], input=input, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "MEMSCOPE_HOME": str(home.root)},
    )


def test_the_fast_path_writes_what_the_typer_command_writes(home, make_run):
    make_run("run-a")
    make_run("run-b", noise_rate=0.4)
    sql = "SELECT run_id, noise_rate, epochs, tags, status FROM runs ORDER BY run_id"
    for fmt in ("table", "csv", "tsv", "json", "jsonl", "markdown"):
        fast = _memscope("query", "--format", fmt, sql, home=home)
        slow = CliRunner().invoke(app, ["query", "--format", fmt, sql])
        assert fast.returncode == slow.exit_code == 0, fast.stderr
        assert fast.stdout == slow.stdout, fmt
        assert "run-a" in fast.stdout and "run-b" in fast.stdout


def test_the_fast_path_has_the_documented_errors_and_exit_codes(home):
    sql_error = _memscope("query", "SELEC 1", home=home)
    assert sql_error.returncode == 1
    assert sql_error.stderr.startswith("memscope: error: Parser Error") and "Traceback" not in sql_error.stderr
    refused = _memscope("query", "CREATE TABLE t AS SELECT 1", home=home)
    assert refused.returncode == 1 and "refused" in refused.stderr
    no_sql = _memscope("query", home=home)
    assert no_sql.returncode == 2 and no_sql.stderr.startswith("memscope: error: no SQL given")
    usage = _memscope("query", "--limit", "-1", "SELECT 1", home=home)  # typer's message
    assert usage.returncode == 2 and "--limit" in usage.stderr
    stdin = _memscope("query", "-f", "-", "--csv", input="SELECT 42 AS answer", home=home)
    assert stdin.returncode == 0 and stdin.stdout == "answer\n42\n"


def test_the_truncation_note_follows_the_rows(home):
    result = _memscope("query", "--csv", "--limit", "3", "SELECT * FROM range(10) t(x)", home=home)
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["x", "0", "1", "2"]
    assert result.stderr.strip() == "memscope: showing the first 3 rows; use --limit 0 for all (or a larger --limit)"


def test_the_live_runs_status_is_installed_where_runs_can_be_read(tmp_path):
    """The live status costs numpy (a Python UDF): skipped only where `runs` cannot be read."""
    from memscope.cli.query_run import reads_runs
    from memscope.plugins import PluginHost

    plain = PluginHost(None)
    assert not reads_runs("SELECT count(*) FROM epochs", plain)
    assert reads_runs('SELECT * FROM "RUNS"', plain) and reads_runs("from main.runs", plain)
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "macros.py").write_text(
        "from memscope import hookimpl\n\n@hookimpl\ndef prepare_connection(conn, home):\n"
        "    conn.execute('CREATE MACRO live() AS TABLE SELECT status FROM runs')\n",
        encoding="utf-8",
    )
    assert reads_runs("FROM live()", PluginHost(folder))  # a plugin's macro may read runs
