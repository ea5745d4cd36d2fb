"""A part file broken by something else (truncated copy, a tool writing garbage, a file with
the wrong column types): queries name the file and the way out, the rest of the home stays
queryable, and ``memscope runs check --repair`` moves bad parts aside without deleting them."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.store.writer import RunWriter


def cli(*args):
    return CliRunner().invoke(app, list(args))


def query(sql):
    return cli("query", "--csv", sql)


@pytest.fixture
def two_runs(home, make_run):
    make_run("run-a", epochs=3)
    make_run("run-b", epochs=2)
    return home


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def assert_names_the_file(result, path, run_id):
    assert result.exit_code == 3, result.output
    assert f"{path} is not a valid Parquet file" in result.stderr
    assert "memscope runs check --repair" in result.stderr and f"memscope runs rm {run_id}" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


@pytest.mark.parametrize("stale_catalog", [False, True], ids=["current-catalog", "stale-catalog"])
def test_a_truncated_part_is_named_and_other_tables_still_answer(two_runs, stale_catalog):
    bad = two_runs.run_dir("run-a") / "example_epochs" / "part-000002.parquet"
    truncate(bad)
    if stale_catalog:  # the catalog must be rebuilt, and cannot bind the broken table's view
        two_runs.catalog_path.unlink()
    assert_names_the_file(query("SELECT count(*) FROM example_epochs WHERE run_id = 'run-b'"), bad, "run-a")
    assert_names_the_file(query("SELECT * FROM example_epochs LIMIT 1"), bad, "run-a")  # never a silent partial
    for sql, expected in [
        ("SELECT count(*) FROM epochs", "5"),
        ("SELECT count(*) FROM examples WHERE run_id = 'run-b'", "14"),
        ("SELECT count(*) FROM runs", "2"),
    ]:
        result = query(sql)
        assert result.exit_code == 0, result.output
        assert result.stdout.split()[-1] == expected


def test_check_finds_and_repair_quarantines_bad_parts(two_runs):
    truncated = two_runs.run_dir("run-a") / "example_epochs" / "part-000002.parquet"
    truncate(truncated)
    garbage = two_runs.run_dir("run-b") / "epochs" / "notes.parquet"  # written by another tool
    garbage.write_text("not parquet at all\n")
    wrong_types = two_runs.run_dir("run-b") / "epochs" / "part-000009.parquet"
    pq.write_table(pa.table({"run_id": ["run-b"], "epoch": ["three"]}), wrong_types)
    stray = two_runs.run_dir("run-a") / "epochs" / ".part-000004.parquet.4242.tmp"
    stray.write_bytes(b"PAR1")

    checked = cli("runs", "check", "--json")
    assert checked.exit_code == 3, checked.output
    problems = {p["path"]: p for p in json.loads(checked.stdout)}
    assert set(problems) == {str(truncated), str(garbage), str(wrong_types), str(stray)}
    assert "not a valid Parquet file" in problems[str(truncated)]["problem"]
    assert "column 'epoch' is string, the table has int32" in problems[str(wrong_types)]["problem"]
    assert problems[str(stray)]["harmless"] and "runs check --repair" in checked.stderr
    assert cli("runs", "check", "run-b").exit_code == 3  # one run only

    repaired = cli("runs", "check", "--repair")
    assert repaired.exit_code == 0, repaired.output
    quarantine = two_runs.run_dir("run-a") / ".quarantine" / "example_epochs" / "part-000002.parquet"
    assert quarantine.is_file() and not truncated.exists() and not stray.exists()
    assert (two_runs.run_dir("run-b") / ".quarantine" / "epochs" / "notes.parquet").is_file()
    assert cli("runs", "check").exit_code == 0
    result = query("SELECT typeof(epoch) AS t, count(*) AS n FROM example_epochs GROUP BY ALL")
    assert result.exit_code == 0 and result.stdout.split()[-1] == "INTEGER,40"  # run-a lost epoch 2 (10 rows)


def test_a_broken_schema_part_is_rebuilt_by_repair(two_runs):
    schema_part = two_runs.schema_dir / "epochs" / "part-schema.parquet"
    schema_part.write_bytes(b"garbage")
    assert cli("runs", "check").exit_code == 3
    assert cli("runs", "check", "--repair").exit_code == 0
    assert pq.read_schema(schema_part).field("epoch").type == pa.int32()
    assert query("SELECT count(*) FROM epochs").stdout.split()[-1] == "5"


def test_a_bad_part_does_not_stop_other_runs_from_declaring_tables(two_runs):
    truncate(two_runs.run_dir("run-a") / "epochs" / "part-000001.parquet")
    writer = RunWriter(two_runs, "run-c")
    writer.declare_table("plug_scores", pa.schema([("example", pa.int64()), ("score", pa.float64())]))  # no error
    writer.write("plug_scores", {"example": [1, 2], "score": [0.5, 0.25]})
    result = query("SELECT count(*) FROM plug_scores")
    assert result.exit_code == 0 and result.stdout.split()[-1] == "2"


def test_check_of_an_unknown_run_is_a_usage_error(two_runs):
    result = cli("runs", "check", "nope")
    assert result.exit_code == 2 and "no run 'nope'" in result.stderr
