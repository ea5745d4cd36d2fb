"""``memscope query``: formats, limits, input, refusals, errors and exit codes."""

from __future__ import annotations

import csv
import io
import json
import os

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from memscope.cli.app import app


@pytest.fixture
def runner():
    return CliRunner()


def run(runner, *args, input=None):
    return runner.invoke(app, ["query", *args], input=input)


def snapshot(home):
    """Every file under the home with its size and mtime."""
    found = {}
    for dirpath, _dirs, files in os.walk(home.root):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            found[os.path.relpath(path, home.root)] = (st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture
def populated(home, make_run):
    make_run("run-a", noise_rate=0.2)
    make_run("run-b", noise_rate=0.4, epochs=3)
    return home


SQL = "SELECT run_id, noise_rate, epochs, tags FROM runs ORDER BY run_id"


def test_table_is_the_default(runner, populated):
    result = run(runner, SQL)
    assert result.exit_code == 0, result.stderr
    assert "run-a" in result.stdout and "run-b" in result.stdout
    assert "noise_rate" in result.stdout and "double" in result.stdout
    assert result.stderr == ""


def test_csv(runner, populated):
    result = run(runner, "--csv", SQL)
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows == [
        ["run_id", "noise_rate", "epochs", "tags"],
        ["run-a", "0.2", "2", '{"purpose":"test"}'],
        ["run-b", "0.4", "3", '{"purpose":"test"}'],
    ]
    assert result.stderr == ""


def test_tsv(runner, populated):
    result = run(runner, "--format", "tsv", SQL)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].split("\t")[:3] == ["run-a", "0.2", "2"]


def test_json_embeds_json_columns(runner, populated):
    result = run(runner, "--json", SQL)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {"run_id": "run-a", "noise_rate": 0.2, "epochs": 2, "tags": {"purpose": "test"}},
        {"run_id": "run-b", "noise_rate": 0.4, "epochs": 3, "tags": {"purpose": "test"}},
    ]


def test_json_of_no_rows_is_an_empty_list(runner, home):
    result = run(runner, "--json", "SELECT * FROM runs")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_jsonl(runner, populated):
    result = run(runner, "--jsonl", SQL)
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["run_id"] for r in records] == ["run-a", "run-b"]


def test_json_values_of_awkward_types(runner, home):
    sql = (
        "SELECT TIMESTAMPTZ '2026-01-02 03:04:05+00' AS t, DATE '2026-01-02' AS d, 1.50::DECIMAL(4,2) AS dec, "
        "'nan'::DOUBLE AS n, [1, 2] AS l, {'a': 1} AS s, 'ab'::BLOB AS b, NULL AS z"
    )
    result = run(runner, "--json", sql)
    assert result.exit_code == 0, result.stderr
    (record,) = json.loads(result.stdout)
    assert record == {
        "t": "2026-01-02T03:04:05+00:00",
        "d": "2026-01-02",
        "dec": 1.5,
        "n": None,
        "l": [1, 2],
        "s": {"a": 1},
        "b": "\\x6162",
        "z": None,
    }


def test_markdown(runner, populated):
    result = run(runner, "--format", "markdown", "SELECT run_id, noise_rate, 'a|b' AS pipe FROM runs ORDER BY 1")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "| run_id | noise_rate | pipe |"
    assert lines[1] == "|---|---:|---|"
    assert lines[2] == "| run-a | 0.2 | a\\|b |"


def test_parquet_needs_an_output_file(runner, populated, tmp_path):
    result = run(runner, "--format", "parquet", SQL)
    assert result.exit_code == 2
    assert "-o" in result.stderr
    out = tmp_path / "out.parquet"
    result = run(runner, "--format", "parquet", "-o", str(out), SQL)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert pq.read_table(out).column("run_id").to_pylist() == ["run-a", "run-b"]


def test_output_file_format_from_its_suffix(runner, populated, tmp_path):
    out = tmp_path / "runs.csv"
    result = run(runner, "-o", str(out), SQL)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert out.read_text().splitlines()[0] == "run_id,noise_rate,epochs,tags"
    out = tmp_path / "runs.parquet"
    assert run(runner, "-o", str(out), SQL).exit_code == 0
    assert pq.read_table(out).num_rows == 2


def test_conflicting_formats_are_a_usage_error(runner, home):
    result = run(runner, "--csv", "--json", "SELECT 1")
    assert result.exit_code == 2
    assert "choose one output format" in result.stderr
    result = run(runner, "--format", "xml", "SELECT 1")
    assert result.exit_code == 2 and "unknown format" in result.stderr


# --------------------------------------------------------------------------- limits


def test_table_format_is_limited_to_500_rows_and_says_so(runner, home):
    result = run(runner, "SELECT * FROM range(1000)")
    assert result.exit_code == 0
    assert "│    499 │" in result.stdout and "│    500 │" not in result.stdout
    assert "showing the first 500 rows" in result.stderr and "--limit 0" in result.stderr


def test_other_formats_are_not_limited_by_default(runner, home):
    result = run(runner, "--csv", "SELECT * FROM range(1000)")
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1001
    assert result.stderr == ""


def test_explicit_limit_truncates_and_says_so_on_stderr_only(runner, home):
    result = run(runner, "--csv", "--limit", "10", "SELECT * FROM range(1000)")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["range", *map(str, range(10))]
    assert "showing the first 10 rows" in result.stderr


def test_limit_zero_means_all(runner, home):
    result = run(runner, "--limit", "0", "SELECT * FROM range(1000)")
    assert result.exit_code == 0
    assert "│    999 │" in result.stdout and result.stderr == ""


def test_no_note_when_the_limit_is_not_reached(runner, home):
    result = run(runner, "--csv", "--limit", "10", "SELECT * FROM range(10)")
    assert result.exit_code == 0 and result.stderr == ""


# --------------------------------------------------------------------------- input


def test_sql_from_a_file(runner, populated, tmp_path):
    sql_file = tmp_path / "q.sql"
    sql_file.write_text("-- count the runs\nSELECT count(*) AS n FROM runs;\n")
    result = run(runner, "--csv", "-f", str(sql_file))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["n", "2"]


def test_sql_from_stdin(runner, populated):
    result = run(runner, "--csv", "-f", "-", input="SELECT count(*) AS n FROM runs")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["n", "2"]


def test_missing_sql_is_a_usage_error(runner, home):
    result = run(runner)
    assert result.exit_code == 2 and "no SQL given" in result.stderr
    result = run(runner, "-f", "nope.sql")
    assert result.exit_code == 2 and "cannot read SQL file" in result.stderr
    result = run(runner, "-f", "-", "SELECT 1")
    assert result.exit_code == 2 and "not both" in result.stderr


# --------------------------------------------------------------------------- refusals and errors


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO examples (run_id) VALUES ('x')",
        "COPY (SELECT 1) TO '{home}/leak.csv'",
        "ATTACH '{home}/other.duckdb' AS other",
        "INSTALL httpfs",
        "SET threads = 1",
        "EXPORT DATABASE '{home}/dump'",
    ],
)
def test_writing_statements_are_refused_and_change_nothing(runner, populated, sql):
    before = snapshot(populated)
    result = run(runner, sql.format(home=populated.root))
    assert result.exit_code == 1
    assert "refused" in result.stderr and "read-only" in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert snapshot(populated) == before


def test_bad_sql_prints_duckdbs_caret_and_no_traceback(runner, home):
    result = run(runner, "SELECT * FORM runs")
    assert result.exit_code == 1
    assert "Parser Error" in result.stderr
    assert "LINE 1: SELECT * FORM runs" in result.stderr
    caret_line = result.stderr.rstrip().splitlines()[-1]
    assert set(caret_line.strip()) == {"^"}
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_unknown_column_prints_the_caret(runner, home):
    result = run(runner, "SELECT nope FROM runs")
    assert result.exit_code == 1
    assert "Binder Error" in result.stderr and "^^^^" in result.stderr


def test_reading_outside_the_home_is_refused(runner, home):
    result = run(runner, "SELECT * FROM read_csv('/etc/passwd')")
    assert result.exit_code == 1
    assert "Permission Error" in result.stderr
    assert "root:" not in result.output


def test_unwritable_home_is_exit_3(runner, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run(runner, "--home", str(blocker / "home"), "SELECT 1")
    assert result.exit_code == 3
    assert "cannot write the memscope home" in result.stderr
    assert "Traceback" not in result.output


def test_home_from_the_root_option(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("MEMSCOPE_HOME", raising=False)
    target = tmp_path / "explicit"
    result = runner.invoke(app, ["--home", str(target), "query", "--csv", "SELECT home FROM memscope_meta"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1] == target.as_posix()


# --------------------------------------------------------------------------- issue 12: -o never writes into the home


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_output_inside_the_home_is_refused(runner, populated, tmp_path, fmt):
    part = next((populated.root / "runs" / "run-a" / "epochs").glob("part-*.parquet"))
    before = part.read_bytes()
    link = tmp_path / "innocent"
    link.symlink_to(populated.root / "runs")  # a way in through a symlink outside the home
    for target in (part, link / "run-a" / "epochs" / part.name, populated.root / f"new.{fmt}"):
        result = run(runner, "--format", fmt, "-o", str(target), "SELECT 1 AS one")
        assert result.exit_code == 2, result.output
        assert "inside the results home" in result.stderr and "choose a path outside it" in result.stderr
    assert part.read_bytes() == before
    assert not (populated.root / f"new.{fmt}").exists()
    outside = tmp_path / f"out.{fmt}"
    assert run(runner, "--format", fmt, "-o", str(outside), "SELECT 1 AS one").exit_code == 0
    assert outside.stat().st_size > 0
