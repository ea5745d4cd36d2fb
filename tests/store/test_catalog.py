"""The catalog: views only, right columns with no runs, atomic rebuilds, moved homes."""

from __future__ import annotations

import json
import shutil

import duckdb
import pyarrow as pa
import pytest

from memscope.store.catalog import (
    RUN_COLUMNS,
    catalog_is_current,
    refresh_catalog,
)
from memscope.store.views import CATALOG_VERSION
from memscope.store.home import Home
from memscope.store.query import execute
from memscope.store.connection import open_connection
from memscope.store.runinfo import write_run_info
from memscope.store.schemas import CORE_TABLES


def _read_only(home: Home) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(home.catalog_path), read_only=True)


def test_empty_home_has_every_view_with_its_columns(home):
    conn = _read_only(home)
    try:
        for table, schema in CORE_TABLES.items():
            relation = conn.sql(f"SELECT * FROM {table}")
            assert relation.columns == schema.names, table
            assert relation.fetchall() == []
        runs = conn.sql("SELECT * FROM runs")
        assert runs.columns == [name for name, _ in RUN_COLUMNS]
        assert runs.fetchall() == []
    finally:
        conn.close()


def test_catalog_holds_views_only_and_records_its_home(home):
    conn = _read_only(home)
    try:
        assert conn.execute("SELECT count(*) FROM duckdb_tables()").fetchall() == [(0,)]
        views = {v for (v,) in conn.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert views == set(CORE_TABLES) | {"runs", "memscope_meta"}
        (meta,) = conn.execute("SELECT home, catalog_version FROM memscope_meta").fetchall()
        assert meta == (home.root.as_posix(), CATALOG_VERSION)
        assert catalog_is_current(conn, home)
    finally:
        conn.close()


def test_views_see_runs_written_after_the_catalog(home, make_run):
    built = home.catalog_path.stat().st_mtime_ns
    make_run("run-a", num_train=10, num_test=4, epochs=2)
    make_run("run-b", num_train=6, num_test=2, epochs=3)
    assert home.catalog_path.stat().st_mtime_ns == built  # no rebuild needed for new parts
    conn = _read_only(home)
    try:
        counts = dict(conn.execute("SELECT run_id, count(*) FROM examples GROUP BY ALL").fetchall())
        assert counts == {"run-a": 14, "run-b": 8}
        assert conn.execute("SELECT count(*) FROM example_epochs WHERE run_id = 'run-b'").fetchall() == [(18,)]
        rows = conn.execute("SELECT run_id, status, noise_rate, epochs, tags->>'purpose' FROM runs ORDER BY run_id").fetchall()
        assert rows == [("run-a", "completed", 0.2, 2, "test"), ("run-b", "completed", 0.2, 3, "test")]
    finally:
        conn.close()


def test_runs_view_applies_the_heartbeat_rule(home, make_run):
    make_run("fresh", status="running")
    make_run("stale", status="running", updated_at="2020-01-01T00:00:00.000+00:00")
    conn = _read_only(home)
    try:
        rows = conn.execute("SELECT run_id, status, recorded_status FROM runs ORDER BY run_id").fetchall()
    finally:
        conn.close()
    assert rows == [("fresh", "running", "running"), ("stale", "crashed", "running")]


def test_a_corrupt_run_json_does_not_break_the_runs_view(home, make_run):
    make_run("good")
    bad = home.run_dir("broken")
    bad.mkdir()
    (bad / "run.json").write_text('{"run_id": "bro', encoding="utf-8")
    conn = _read_only(home)
    try:
        rows = conn.execute("SELECT run_id, status, error FROM runs ORDER BY run_id").fetchall()
    finally:
        conn.close()
    assert rows == [("broken", "crashed", "run.json is unreadable"), ("good", "completed", None)]


def test_odd_values_in_run_json_become_null(home):
    run_dir = home.run_dir("odd")
    run_dir.mkdir()
    write_run_info(run_dir, {"run_id": "odd", "status": "completed", "seed": "not a number", "noise_rate": [1]})
    conn = _read_only(home)
    try:
        assert conn.execute("SELECT seed, noise_rate FROM runs").fetchall() == [(None, None)]
    finally:
        conn.close()


def test_refresh_replaces_the_file_under_an_open_reader(home, make_run):
    make_run("run-a")
    reader = _read_only(home)
    try:
        before = home.catalog_path.stat().st_ino
        refresh_catalog(home)  # must not wait for, or break, the open reader
        assert home.catalog_path.stat().st_ino != before
        assert reader.execute("SELECT count(*) FROM runs").fetchall() == [(1,)]
        fresh = _read_only(home)
        assert fresh.execute("SELECT count(*) FROM runs").fetchall() == [(1,)]
        fresh.close()
    finally:
        reader.close()
    leftovers = [p.name for p in home.root.iterdir() if p.name.endswith((".tmp", ".wal"))]
    assert leftovers == []


def test_a_new_table_is_picked_up_on_open(home):
    """A schema part written without a rebuild (another process) heals on the next open."""
    from memscope.store.home import write_parquet_atomic

    schema = pa.schema([("run_id", pa.string()), ("score", pa.float64())])
    folder = home.schema_dir / "myplugin_scores"
    folder.mkdir()
    write_parquet_atomic(schema.empty_table(), folder / "part-schema.parquet")
    conn = open_connection(home)
    try:
        result = execute(conn, "SELECT * FROM myplugin_scores")
        assert result.columns == ["run_id", "score"]
        assert result.num_rows == 0
    finally:
        conn.close()


def test_declare_table_makes_a_plugin_table_queryable(home):
    home.declare_table("myplugin_flags", pa.schema([("run_id", pa.string()), ("flag", pa.bool_())]))
    result = execute(home, "SELECT * FROM myplugin_flags")
    assert result.columns == ["run_id", "flag"]


def test_a_moved_home_is_rebuilt_for_its_new_place(home, make_run, tmp_path):
    make_run("run-a")
    moved = Home(tmp_path / "elsewhere")
    shutil.move(str(home.root), str(moved.root))
    result = execute(moved, "SELECT home FROM memscope_meta")
    assert result.table.column("home").to_pylist() == [moved.root.as_posix()]
    assert execute(moved, "SELECT count(*) AS n FROM examples").table.column("n").to_pylist() == [14]
    run_dirs = execute(moved, "SELECT run_dir FROM runs").table.column("run_dir").to_pylist()
    assert run_dirs == [moved.run_dir("run-a").as_posix()]


def test_an_outdated_catalog_version_is_rebuilt(home, monkeypatch):
    import memscope.store.views as views

    monkeypatch.setattr(views, "CATALOG_VERSION", CATALOG_VERSION + 1)
    conn = open_connection(home)
    try:
        assert conn.execute("SELECT catalog_version FROM memscope_meta").fetchall() == [(CATALOG_VERSION + 1,)]
    finally:
        conn.close()


def test_catalog_locked_by_another_client_falls_back_to_memory(home, make_run):
    """Someone opened memscope.duckdb read-write (duckdb CLI): queries still work."""
    make_run("run-a")
    holder = duckdb.connect(str(home.catalog_path))  # read-write, same process
    try:
        result = execute(home, "SELECT count(*) AS n FROM examples")
        assert result.table.column("n").to_pylist() == [14]
    finally:
        holder.close()


def test_stale_catalog_in_unwritable_home_falls_back_to_memory(home, make_run, monkeypatch):
    import memscope.store.catalog as catalog
    from memscope.errors import StoreError

    make_run("run-a")

    def refuse(_home):
        raise StoreError("read-only file system")

    monkeypatch.setattr("memscope.store.views.CATALOG_VERSION", CATALOG_VERSION + 1)  # stale
    monkeypatch.setattr(catalog, "refresh_catalog", refuse)
    result = execute(home, "SELECT run_id FROM runs")
    assert result.table.column("run_id").to_pylist() == ["run-a"]


def test_unwritable_home_is_a_store_error(tmp_path):
    from memscope.errors import ExitCode, StoreError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError) as info:
        Home(blocker / "home").ensure()
    assert info.value.exit_code == ExitCode.STORE_UNAVAILABLE


def test_run_json_fixture_yields_no_row(home):
    fixture = home.schema_dir / "run.json"
    assert json.loads(fixture.read_text()) == []
    assert execute(home, "SELECT * FROM runs").num_rows == 0


def test_catalog_statements_follow_catalog_views(home):
    from memscope.store.catalog import META_VIEW, catalog_statements, catalog_tables, catalog_views

    views = catalog_views(home)
    assert [name for name, _ in views] == [*catalog_tables(home), "runs", META_VIEW]
    assert catalog_statements(home) == [sql for _, sql in views]


def test_define_catalog_fallback_replaces_only_a_failing_table(home, monkeypatch):
    from memscope.store import catalog, views

    table = catalog.catalog_tables(home)[0]
    broken = f"CREATE OR REPLACE VIEW {catalog.sql_identifier(table)} AS SELECT * FROM no_such_table"
    real = views.table_view_sql
    monkeypatch.setattr(views, "table_view_sql", lambda h, t: broken if t == table else real(h, t))
    asked = []

    def fallback(name, exc):
        asked.append(name)
        assert isinstance(exc, duckdb.Error)
        return f"CREATE OR REPLACE VIEW {catalog.sql_identifier(name)} AS SELECT 42 AS answer"

    conn = duckdb.connect(":memory:")
    try:
        catalog.define_catalog(conn, home, fallback=fallback)
        assert asked == [table]
        assert conn.execute(f"SELECT answer FROM {catalog.sql_identifier(table)}").fetchall() == [(42,)]
        assert conn.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]
        with pytest.raises(duckdb.Error):  # no fallback: the error goes through
            catalog.define_catalog(duckdb.connect(":memory:"), home)
        with pytest.raises(duckdb.Error):  # a fallback that declines: the error goes through
            catalog.define_catalog(duckdb.connect(":memory:"), home, fallback=lambda name, exc: None)
    finally:
        conn.close()


def test_build_duckdb_file_is_atomic_and_cleans_up(tmp_path):
    from memscope.store.catalog import build_duckdb_file

    target = tmp_path / "out.duckdb"
    build_duckdb_file(target, lambda conn: conn.execute("CREATE TABLE t AS SELECT 1 AS x"))
    first = duckdb.connect(str(target), read_only=True)
    try:
        assert first.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        first.close()

    def fail(conn):
        conn.execute("CREATE TABLE u AS SELECT 2 AS y")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        build_duckdb_file(target, fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.duckdb"]  # no temp file or WAL left
    kept = duckdb.connect(str(target), read_only=True)
    try:
        assert kept.execute("SELECT x FROM t").fetchall() == [(1,)]  # the old file is untouched
    finally:
        kept.close()
