"""The execution core: statement checks, the locked-down connection, limits, cancellation."""

from __future__ import annotations

import os
import threading
import time

import duckdb
import pytest

from memscope.errors import ExitCode, QueryError
from memscope.store.query import QueryHandle, execute, is_read_only_statement, read_only_statements
from memscope.store.connection import open_connection

READS = [
    "SELECT 1",
    "select * from runs",
    "FROM examples",
    "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
    "DESCRIBE runs",
    "SHOW TABLES",
    "SUMMARIZE epochs",
    "EXPLAIN SELECT 1",
    "PIVOT examples ON split USING count(*)",
    "PRAGMA version",
    "PRAGMA table_info('runs')",
    "CALL pragma_version()",
    "-- a comment\nSELECT 1",
    "SELECT 1 AS checkpoint",
    "SELECT 1; SELECT 2",
]
WRITES = [
    "CREATE TABLE t (a INT)",
    "CREATE TEMP TABLE t AS SELECT 1",
    "CREATE VIEW v AS SELECT 1",
    "CREATE MACRO m(a) AS a + 1",
    "INSERT INTO examples VALUES ('x')",
    "UPDATE examples SET split = 'x'",
    "DELETE FROM examples",
    "TRUNCATE examples",
    "DROP VIEW runs",
    "ALTER VIEW runs RENAME TO r",
    "COPY (SELECT 1) TO 'out.csv'",
    "COPY examples FROM 'in.csv'",
    "EXPORT DATABASE 'dump'",
    "IMPORT DATABASE 'dump'",
    "ATTACH 'other.duckdb' AS other",
    "DETACH other",
    "INSTALL httpfs",
    "FORCE INSTALL httpfs",
    "LOAD httpfs",
    "SET threads = 1",
    "RESET threads",
    "SET enable_external_access = true",
    "PRAGMA threads = 1",
    "USE memory",
    "CHECKPOINT",
    "CALL checkpoint()",
    "SELECT * FROM force_checkpoint()",
    "VACUUM",
    "ANALYZE",
    "PREPARE p AS SELECT 1",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO 'out.csv'",
    "SELECT 1; DROP VIEW runs",
]


@pytest.mark.parametrize("sql", READS)
def test_reading_statements_are_allowed(sql):
    assert is_read_only_statement(sql)


@pytest.mark.parametrize("sql", WRITES)
def test_writing_statements_are_refused(sql):
    assert not is_read_only_statement(sql)
    with pytest.raises(QueryError) as info:
        read_only_statements(sql)
    assert "refused" in info.value.message
    assert info.value.exit_code == ExitCode.SQL_ERROR


def test_refusal_names_the_statement_kind():
    with pytest.raises(QueryError, match=r"refused COPY statement: COPY \(SELECT 1\) TO 'x.csv'"):
        read_only_statements("COPY (SELECT 1) TO 'x.csv'")
    with pytest.raises(QueryError, match="refused INSTALL statement"):
        read_only_statements("INSTALL httpfs")


def test_empty_sql_is_a_usage_error():
    with pytest.raises(QueryError) as info:
        read_only_statements("  -- nothing\n")
    assert info.value.exit_code == ExitCode.USAGE


def test_parse_error_keeps_duckdbs_caret_line():
    with pytest.raises(QueryError) as info:
        read_only_statements("SELECT * FORM runs")
    message = info.value.message
    assert "Parser Error" in message and "LINE 1: SELECT * FORM runs" in message
    assert message.rstrip().endswith("^")


def test_binder_error_keeps_duckdbs_caret_line(home):
    with pytest.raises(QueryError) as info:
        execute(home, "SELECT nope FROM runs")
    assert "LINE 1:" in info.value.message and "^" in info.value.message


def test_execute_returns_arrow_with_columns_and_types(home, make_run):
    make_run("run-a")
    result = execute(home, "SELECT run_id, noise_rate, tags FROM runs")
    assert result.columns == ["run_id", "noise_rate", "tags"]
    assert result.types == ["VARCHAR", "DOUBLE", "JSON"]
    assert result.table.to_pylist() == [{"run_id": "run-a", "noise_rate": 0.2, "tags": '{"purpose":"test"}'}]
    assert result.truncated is False
    assert result.elapsed >= 0


@pytest.mark.parametrize(
    ("total", "limit", "rows", "truncated"),
    [(10, None, 10, False), (10, 0, 10, False), (10, 10, 10, False), (11, 10, 10, True), (5000, 2048, 2048, True), (5000, 4096, 4096, True)],
)
def test_limit_and_truncation(home, total, limit, rows, truncated):
    result = execute(home, f"SELECT * FROM range({total})", limit=limit)
    assert (result.num_rows, result.truncated) == (rows, truncated)
    assert result.table.column(0).to_pylist() == list(range(rows))


def test_last_statement_is_returned(home):
    result = execute(home, "SELECT 1 AS a; SELECT 2 AS b")
    assert result.columns == ["b"] and result.statements == 2


def test_connection_survives_a_truncated_read(home):
    conn = open_connection(home)
    try:
        assert execute(conn, "SELECT * FROM range(100000)", limit=5).truncated
        assert execute(conn, "SELECT 42 AS x").table.to_pylist() == [{"x": 42}]
    finally:
        conn.close()


# --------------------------------------------------------------------------- the connection itself


@pytest.fixture
def conn(home):
    connection = open_connection(home)
    yield connection
    connection.close()


def test_files_outside_the_home_cannot_be_read(conn, tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    for sql in (
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_csv('{outside}')",
        f"SELECT * FROM read_text('{outside}')",
        "SELECT * FROM glob('/*')",
        f"SELECT * FROM read_text('{conn_home_escape(tmp_path)}')",
    ):
        with pytest.raises(QueryError, match="Permission Error"):
            execute(conn, sql)


def conn_home_escape(tmp_path):
    return tmp_path / "home" / ".." / "secret.csv"


def test_files_inside_the_home_can_be_read(conn, home):
    result = execute(conn, f"SELECT count(*) AS n FROM read_parquet('{home.schema_dir}/examples/*.parquet')")
    assert result.table.to_pylist() == [{"n": 0}]


def test_configuration_is_locked_even_bypassing_the_check(conn):
    for sql in ("SET enable_external_access = true", "RESET allowed_directories", "SET lock_configuration = false"):
        with pytest.raises(duckdb.Error, match="locked"):
            conn.execute(sql)


def test_connection_refuses_writes_even_bypassing_the_check(conn, tmp_path):
    with pytest.raises(duckdb.Error):
        conn.execute("CREATE TABLE t (a INT)")  # the catalog is opened read-only
    with pytest.raises(duckdb.Error, match="Permission"):
        conn.execute(f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'")
    with pytest.raises(duckdb.Error):
        conn.execute("INSTALL httpfs")
    with pytest.raises(duckdb.Error):
        conn.execute(f"ATTACH '{tmp_path / 'other.duckdb'}'")
    assert not (tmp_path / "out.csv").exists()
    assert not (tmp_path / "other.duckdb").exists()


def test_python_variables_are_not_scanned(conn):
    examples_local = [1, 2, 3]  # noqa: F841 - a replacement scan would find this
    with pytest.raises(QueryError, match="examples_local"):
        execute(conn, "SELECT * FROM examples_local")


def test_plugin_macros_are_defined_before_the_lock(home):
    class Host:
        def __init__(self):
            self.calls = []

        def prepare_connection(self, conn, home):
            self.calls.append(home)
            conn.execute("CREATE TEMP MACRO double_it(x) AS x * 2")

    host = Host()
    result = execute(home, "SELECT double_it(21) AS v", host=host)
    assert result.table.to_pylist() == [{"v": 42}]
    assert host.calls == [str(home.root)]


# --------------------------------------------------------------------------- concurrency


def test_several_connections_in_one_process(home, tmp_path):
    """The TUI holds several: they share one locked DuckDB instance, all locked down."""
    first, second = QueryHandle(home), QueryHandle(home)
    try:
        for handle in (first, second):
            assert handle.execute("SELECT count(*) AS n FROM runs").table.to_pylist() == [{"n": 0}]
            progress = handle.conn.execute("SELECT current_setting('enable_progress_bar')").fetchall()
            assert progress == [(False,)]
            with pytest.raises(QueryError, match="Permission Error"):
                handle.execute("SELECT * FROM read_csv('/etc/passwd')")
        first.close()
        assert second.execute("SELECT 1 AS x").table.to_pylist() == [{"x": 1}]
    finally:
        first.close()
        second.close()


def test_query_while_a_writer_adds_parts(home, make_run):
    from memscope.store.writer import RunWriter

    make_run("live", status="running")
    writer = RunWriter(home, "live")
    stop = threading.Event()
    errors: list[BaseException] = []

    def write_parts():
        epoch = 10
        try:
            while not stop.is_set():
                writer.write("epochs", {"epoch": [epoch], "test_acc": [0.5]})
                epoch += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=write_parts)
    thread.start()
    seen = []
    try:
        conn = open_connection(home)
        try:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                result = execute(conn, "SELECT count(*) AS n FROM epochs WHERE run_id = 'live'")
                seen.append(result.table.column("n")[0].as_py())
        finally:
            conn.close()
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert seen == sorted(seen) and seen[-1] > seen[0] >= 2


def test_cancel_interrupts_a_running_query(home):
    with QueryHandle(home) as handle:
        handle.cancel()  # idle: no effect on the next statement
        assert handle.execute("SELECT 1 AS ok").num_rows == 1
        outcome: dict[str, object] = {}

        def work():
            try:
                handle.execute("SELECT count(*) FROM range(100000000000) a(i) WHERE i % 7 = 3 AND hash(i) % 5 = 1")
            except QueryError as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=work)
        thread.start()
        time.sleep(0.3)
        handle.cancel()
        thread.join(timeout=20)
        assert not thread.is_alive()
        error = outcome.get("error")
        assert isinstance(error, QueryError) and error.exit_code == ExitCode.INTERRUPTED
        assert handle.execute("SELECT 1 AS ok").table.to_pylist() == [{"ok": 1}]  # still usable


# --------------------------------------------------------------------------- issue 12: parse, do not match tokens

BYPASSES = [
    "SELECT * FROM checkpoint/**/()",
    "SELECT * FROM checkpoint /* a comment */ ()",
    'SELECT * FROM "CHECKPOINT"()',
    "SELECT * FROM system.main.checkpoint()",
    "SELECT * FROM truncate_duckdb_logs()",
    "SELECT (SELECT count(*) FROM truncate_duckdb_logs())",
    "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
    "WITH t AS (SELECT * FROM enable_logging()) SELECT * FROM t",
    "SELECT * FROM query('SELECT 1')",
    "SELECT * FROM query_table('runs')",
    "SELECT * FROM read_duckdb('x.duckdb')",
    "CALL/**/checkpoint()",
    "CALL truncate_duckdb_logs()",
    "PIVOT (SELECT * FROM checkpoint/**/()) ON x",
    "EXPLAIN SELECT * FROM force_checkpoint/**/()",
]


@pytest.mark.parametrize("sql", BYPASSES)
def test_state_changing_functions_are_refused_however_they_are_written(sql):
    with pytest.raises(QueryError, match="refused"):
        read_only_statements(sql)


@pytest.mark.parametrize(
    "sql",
    ["FROM duckdb_tables()", "SELECT * FROM range(3) r, generate_series(1, 2) g", "SELECT * FROM pragma_table_info('runs')",
     "SELECT * FROM glob('x')", "SELECT checkpoint FROM (SELECT 1 AS checkpoint)", "FROM (UNPIVOT (SELECT 1 a, 2 b) ON a, b INTO NAME k VALUE v)"],
)
def test_reading_table_functions_are_allowed(sql):
    assert is_read_only_statement(sql)


def test_a_table_macro_a_plugin_defines_is_allowed(home):
    from memscope import hookimpl
    from memscope.plugins import PluginHost

    class Macros:
        @hookimpl
        def prepare_connection(self, conn):
            conn.execute("CREATE OR REPLACE TEMP MACRO twos(n) AS TABLE SELECT 2 AS two FROM range(n)")

    host = PluginHost(None)
    host.add_plugin(Macros(), name="macros")
    assert execute(home, "SELECT count(*) AS n FROM twos(3)", host=host).table.column("n").to_pylist() == [3]


# --------------------------------------------------------------------------- issue 12: memory limit and spill folder


def test_memory_limit_and_spill_folder_are_per_user_and_configurable(home, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MEMSCOPE_QUERY_MEMORY", "300MB")
    conn = open_connection(home)
    try:
        ((limit, spill),) = conn.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchall()
    finally:
        conn.close()
    assert limit.replace(" ", "") in ("286.1MiB", "300.0MB", "300MB")
    assert spill.startswith(str(tmp_path / "cache")) and "memscope" in spill
    assert os.stat(spill).st_mode & 0o077 == 0  # this user's only
    assert not spill.startswith(str(home.root))


def test_a_bad_memory_limit_is_a_usage_error(home, monkeypatch):
    from memscope.errors import MemscopeError

    monkeypatch.setenv("MEMSCOPE_QUERY_MEMORY", "plenty")
    with pytest.raises(MemscopeError, match="MEMSCOPE_QUERY_MEMORY='plenty' is not a memory size") as info:
        open_connection(home)
    assert info.value.exit_code == ExitCode.USAGE


def test_out_of_memory_says_what_a_memscope_user_can_do(home, monkeypatch):
    monkeypatch.setenv("MEMSCOPE_QUERY_MEMORY", "20MB")
    with pytest.raises(QueryError) as info:
        execute(home, "SELECT list(range) FROM range(100000000)")
    message = info.value.message
    assert "Out of Memory" in message and "MEMSCOPE_QUERY_MEMORY=8GB" in message and "20MB" in message
    assert "SET " not in message
    assert info.value.exit_code == ExitCode.SQL_ERROR
