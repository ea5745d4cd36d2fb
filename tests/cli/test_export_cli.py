"""``memscope export``: a DuckDB file or a folder of Parquet files, never half-written."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.store.schemas import CORE_TABLES


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def populated(home, make_run):
    make_run("run-a", num_train=10, num_test=4)
    make_run("run-b", num_train=6, num_test=2)
    return home


def test_export_to_duckdb(runner, populated, tmp_path):
    target = tmp_path / "results.duckdb"
    result = runner.invoke(app, ["export", "--to", str(target)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "exported" in result.stderr
    conn = duckdb.connect(str(target), read_only=True)
    try:
        tables = {t for (t,) in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert tables == set(CORE_TABLES) | {"runs", "run_configs", "memscope_meta"}
        assert conn.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [(0,)]
        assert dict(conn.execute("SELECT run_id, count(*) FROM examples GROUP BY ALL").fetchall()) == {"run-a": 14, "run-b": 8}
        assert conn.execute("SELECT count(*) FROM epochs").fetchall() == [(4,)]
        types = dict(conn.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'runs'").fetchall())
        assert types["tags"] == "JSON" and types["noise_rate"] == "DOUBLE"
        assert conn.execute("SELECT tags->>'purpose' FROM runs LIMIT 1").fetchall() == [("test",)]
    finally:
        conn.close()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_one_run(runner, populated, tmp_path):
    target = tmp_path / "one.duckdb"
    result = runner.invoke(app, ["export", "--to", str(target), "--run", "run-b"])
    assert result.exit_code == 0, result.stderr
    conn = duckdb.connect(str(target), read_only=True)
    try:
        assert conn.execute("SELECT DISTINCT run_id FROM examples").fetchall() == [("run-b",)]
        assert conn.execute("SELECT run_id FROM runs").fetchall() == [("run-b",)]
    finally:
        conn.close()


def test_export_refuses_to_overwrite_without_force(runner, populated, tmp_path):
    target = tmp_path / "results.duckdb"
    target.write_text("precious")
    result = runner.invoke(app, ["export", "--to", str(target)])
    assert result.exit_code == 2
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert target.read_text() == "precious"
    result = runner.invoke(app, ["export", "--to", str(target), "--force"])
    assert result.exit_code == 0, result.stderr
    conn = duckdb.connect(str(target), read_only=True)
    assert conn.execute("SELECT count(*) FROM runs").fetchall() == [(2,)]
    conn.close()


def test_export_to_parquet_folder(runner, populated, tmp_path):
    target = tmp_path / "parquet"
    result = runner.invoke(app, ["export", "--to", str(target), "--format", "parquet"])
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in target.iterdir())
    assert names == sorted(f"{t}.parquet" for t in [*CORE_TABLES, "runs", "run_configs"])
    assert pq.read_table(target / "examples.parquet").num_rows == 22
    assert pq.read_table(target / "neuron_flips.parquet").schema.names == CORE_TABLES["neuron_flips"].names
    # a non-empty folder needs --force
    result = runner.invoke(app, ["export", "--to", str(target), "--format", "parquet", "--run", "run-a"])
    assert result.exit_code == 2 and "not empty" in result.stderr
    result = runner.invoke(app, ["export", "--to", str(target), "--format", "parquet", "--run", "run-a", "--force"])
    assert result.exit_code == 0
    assert pq.read_table(target / "examples.parquet").num_rows == 14


def test_export_unknown_run_is_exit_2(runner, populated, tmp_path):
    result = runner.invoke(app, ["export", "--to", str(tmp_path / "x.duckdb"), "--run", "nope"])
    assert result.exit_code == 2
    assert "no run 'nope'" in result.stderr
    assert not (tmp_path / "x.duckdb").exists()


def test_export_needs_a_known_format(runner, populated, tmp_path):
    result = runner.invoke(app, ["export", "--to", str(tmp_path / "x.zip")])
    assert result.exit_code == 2 and "--format" in result.stderr


def test_export_of_an_empty_home(runner, home, tmp_path):
    target = tmp_path / "empty.duckdb"
    result = runner.invoke(app, ["export", "--to", str(target)])
    assert result.exit_code == 0, result.stderr
    conn = duckdb.connect(str(target), read_only=True)
    assert conn.execute("SELECT count(*) FROM examples").fetchall() == [(0,)]
    conn.close()


def test_an_export_is_self_contained(runner, populated, tmp_path):
    """It reads nothing of the home: run_dir is relative, the configs travel along, and the
    file opens after the home is gone."""
    import shutil
    import tomllib

    target = tmp_path / "results.duckdb"
    assert runner.invoke(app, ["export", "--to", str(target)]).exit_code == 0
    config_text = (populated.run_dir("run-a") / "config.toml").read_text(encoding="utf-8")
    shutil.rmtree(populated.root)
    conn = duckdb.connect(str(target), read_only=True)
    try:
        assert conn.execute("SELECT run_id, run_dir FROM runs ORDER BY run_id").fetchall() == [("run-a", "runs/run-a"), ("run-b", "runs/run-b")]
        rows = conn.execute("SELECT run_id, config_toml, config->>'$.data.dataset', (config->'$.train.epochs')::INT FROM run_configs ORDER BY run_id").fetchall()
        assert [r[0] for r in rows] == ["run-a", "run-b"]
        assert rows[0][1] == config_text and rows[0][2:] == ("digits", tomllib.loads(config_text)["train"]["epochs"])
        ((kind, source, tables),) = conn.execute("SELECT kind, exported_from, tables FROM memscope_meta").fetchall()
        assert kind == "export" and source == populated.root.as_posix() and "run_configs" in tables
        ((storage,),) = conn.execute("SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
        assert storage.startswith("v1."), storage  # opens in DuckDB 1.x clients too
    finally:
        conn.close()


def test_run_configs_follow_the_run_filter_and_survive_a_missing_config(runner, populated, tmp_path):
    (populated.run_dir("run-b") / "config.toml").unlink()
    target = tmp_path / "parquet"
    assert runner.invoke(app, ["export", "--to", str(target), "--run", "run-b"]).exit_code == 0
    configs = pq.read_table(target / "run_configs.parquet").to_pylist()
    assert configs == [{"run_id": "run-b", "config_toml": None, "config": None}]
    assert pq.read_table(target / "runs.parquet").column("run_dir").to_pylist() == ["runs/run-b"]
