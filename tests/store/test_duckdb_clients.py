"""The catalog and an export open in a DuckDB client that memscope does not run: the duckdb
CLI (the pip ``duckdb-cli``, whose DuckDB may be older than the library's). CI installs it
and points MEMSCOPE_DUCKDB_CLI at it; without a CLI these tests skip."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.store.catalog import refresh_catalog

CLI = os.environ.get("MEMSCOPE_DUCKDB_CLI") or shutil.which("duckdb")
pytestmark = pytest.mark.skipif(CLI is None, reason="no duckdb CLI (pip install duckdb-cli; MEMSCOPE_DUCKDB_CLI=path)")

# the README's queries and a join of runs with a results table
QUERIES = {
    "SELECT run_id, status, noisy_train_acc, test_acc FROM runs ORDER BY run_id": 2,
    "SELECT r.run_id, r.noise_rate, count(*) AS n FROM runs r JOIN examples e USING (run_id) GROUP BY ALL ORDER BY 1": 2,
    "SELECT x.run_id, e.epoch, avg(e.loss) FROM examples x JOIN example_epochs e USING (run_id, example) GROUP BY ALL": 4,
    "SELECT tags->>'purpose' AS purpose, avg(test_acc) FROM runs GROUP BY 1": 1,
}


def duckdb_cli(database, sql: str) -> list[str]:
    """Data rows of ``sql`` run by the CLI (csv, no header), read-only."""
    result = subprocess.run(
        [CLI, "-readonly", "-csv", "-noheader", str(database), "-c", sql], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "Error" not in result.stderr, result.stderr
    return result.stdout.splitlines()


@pytest.fixture
def two_runs(home, make_run):
    make_run("run-a", num_train=10, num_test=4)
    make_run("run-b", num_train=6, num_test=2)
    refresh_catalog(home)
    return home


@pytest.mark.parametrize("sql,rows", QUERIES.items())
def test_the_catalog_answers_in_the_cli(two_runs, sql, rows):
    assert len(duckdb_cli(two_runs.catalog_path, sql)) == rows


@pytest.mark.parametrize("sql,rows", QUERIES.items())
def test_an_export_answers_in_the_cli(two_runs, tmp_path, sql, rows):
    target = tmp_path / "results.duckdb"
    result = CliRunner().invoke(app, ["export", "--to", str(target)])
    assert result.exit_code == 0, result.stderr
    assert len(duckdb_cli(target, sql)) == rows
    assert duckdb_cli(target, "SELECT count(*) FROM run_configs WHERE config IS NOT NULL") == ["2"]


def test_a_copied_catalog_says_so_in_the_cli(two_runs, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(two_runs.root, copy)
    assert duckdb_cli(copy / "memscope.duckdb", "SELECT opened_here FROM memscope_meta") == ["false"]
    result = subprocess.run(
        [CLI, "-readonly", str(copy / "memscope.duckdb"), "-c", "SELECT count(*) FROM examples"], capture_output=True, text=True, timeout=120
    )
    assert "built for" in result.stderr + result.stdout and str(two_runs.root) in result.stderr + result.stdout
