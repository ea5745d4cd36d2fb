"""memscope.connect(): the caller's DataFrames join the home's tables, and nothing can change
the home, on the catalog file and on the in-memory fallback alike."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import memscope
from memscope.errors import MemscopeError, QueryError, StoreError


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time (what a write changes)."""
    out = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            stat = path.stat()
            out[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return out


@pytest.fixture
def home(tiny_run_copy, monkeypatch):
    monkeypatch.setenv("MEMSCOPE_HOME", str(tiny_run_copy.home.root))
    return tiny_run_copy


def _train_count(tiny) -> int:
    return tiny.sql("SELECT count(*) AS n FROM examples WHERE split = 'train'").column("n")[0].as_py()


def test_a_pandas_dataframe_joins_by_its_variable_name(home):
    import pandas

    picked = pandas.DataFrame({"example": [0, 1, 2], "mine": ["a", "b", "c"]})  # noqa: F841  (named in the SQL)
    with memscope.connect() as con:
        rows = con.sql(
            "SELECT e.example, p.mine FROM examples e JOIN picked p USING (example) WHERE e.split = 'train' ORDER BY 1"
        ).fetchall()
    assert rows == [(0, "a"), (1, "b"), (2, "c")]


def test_a_rebound_variable_is_scanned_again_and_earlier_results_keep_their_rows(home):
    import pandas

    con = memscope.connect(home.home.root)
    df = pandas.DataFrame({"example": [0, 1]})
    first = con.sql("SELECT count(*) AS n FROM examples JOIN df USING (example) WHERE split = 'train'")
    df = pandas.DataFrame({"example": [0, 1, 2, 3, 4]})
    second = con.sql("SELECT count(*) AS n FROM examples JOIN df USING (example) WHERE split = 'train'")
    assert (first.fetchall(), second.fetchall()) == ([(2,)], [(5,)])
    del df
    with pytest.raises(QueryError, match="df does not exist"):
        con.sql("SELECT * FROM df")
    con.close()


def test_arrow_tables_results_and_function_locals_join_too(home):
    import pyarrow as pa

    def inside_a_function():
        ids = pa.table({"example": pa.array([5, 6], pa.int32())})  # noqa: F841
        with memscope.connect() as con:
            chosen = con.sql("SELECT example FROM examples JOIN ids USING (example) WHERE split = 'train'")  # noqa: F841
            return con.sql("SELECT count(*) FROM chosen").fetchall()

    assert inside_a_function() == [(2,)]


def test_a_converted_variable_rebound_in_a_loop_is_read_each_time(home):
    """A RecordBatch (like a polars DataFrame) is registered as a converted copy: a new
    object in the same variable must be seen even when it reuses the old one's id."""
    import pyarrow as pa

    counts = []
    with memscope.connect() as con:
        for n in range(1, 7):
            batch = pa.RecordBatch.from_pydict({"example": pa.array(range(n), pa.int32())})
            counts.append(con.sql("SELECT count(*) FROM examples JOIN batch USING (example) WHERE split = 'train'").fetchall()[0][0])
            del batch  # the next batch may take its id
    assert counts == [1, 2, 3, 4, 5, 6]


def test_the_homes_own_table_wins_over_a_variable_of_the_same_name(home):
    import pandas

    examples = pandas.DataFrame({"example": [0]})  # noqa: F841  (the name the query uses)
    with memscope.connect() as con:
        (count,) = con.sql("SELECT count(*) FROM examples WHERE split = 'train'").fetchall()[0]
    assert count == _train_count(home) > 1


def test_a_variable_that_is_not_a_table_is_not_scanned(home):
    not_a_table = [1, 2, 3]  # noqa: F841
    with memscope.connect() as con, pytest.raises(QueryError, match="not_a_table does not exist"):
        con.sql("SELECT * FROM not_a_table")


def test_polars_dataframes_join(home):
    pl = pytest.importorskip("polars")
    wanted = pl.DataFrame({"example": [0, 1, 2]})
    lazy = wanted.lazy()  # noqa: F841
    with memscope.connect() as con:
        eager = con.sql("SELECT count(*) FROM examples JOIN wanted USING (example) WHERE split = 'train'").fetchall()
        deferred = con.sql("SELECT count(*) FROM examples JOIN lazy USING (example) WHERE split = 'train'").fetchall()
        frame = con.sql("SELECT example FROM examples WHERE split = 'train' ORDER BY example LIMIT 3").pl()
    assert eager == deferred == [(3,)]
    assert frame["example"].to_list() == [0, 1, 2]


def test_params_bind_and_several_statements_return_the_last(home):
    with memscope.connect() as con:
        assert con.sql("SELECT count(*) FROM examples WHERE example < ? AND split = ?", [3, "train"]).fetchall() == [(3,)]
        assert con.sql("SELECT 1 AS a; SELECT 2 AS b").fetchall() == [(2,)]
        with pytest.raises(QueryError, match="one SQL statement"):
            con.sql("SELECT ?; SELECT 2", [1])


def test_the_runs_view_and_runs(home):
    table = memscope.runs().arrow()
    assert table.column("run_id").to_pylist() == [home.run_id]
    assert table.column("status").to_pylist() == ["completed"]
    frame = memscope.runs(home.home.root).df()
    assert list(frame["run_id"]) == [home.run_id]


WRITES = [
    ("CREATE TABLE t AS SELECT 1", "refused CREATE"),
    ("CREATE TEMP TABLE t AS SELECT 1", "refused CREATE"),
    ("CREATE VIEW v AS SELECT 1", "refused CREATE"),
    ("CREATE MACRO m(x) AS x", "refused CREATE"),
    ("INSERT INTO runs SELECT * FROM runs", "refused INSERT"),
    ("DELETE FROM examples", "refused DELETE"),
    ("UPDATE examples SET example = 0", "refused UPDATE"),
    ("DROP VIEW examples", "refused DROP"),
    ("COPY (SELECT 1) TO '{home}/x.csv'", "refused COPY"),
    ("COPY (SELECT 1) TO '/tmp/memscope-api-x.csv'", "refused COPY"),
    ("EXPORT DATABASE '{home}/export'", "refused EXPORT"),
    ("ATTACH ':memory:' AS m", "refused ATTACH"),
    ("ATTACH '{home}/other.duckdb' AS o", "refused ATTACH"),
    ("SET enable_external_access = true", "refused SET"),
    ("INSTALL httpfs", "refused INSTALL"),
    ("LOAD httpfs", "refused LOAD"),
    ("CHECKPOINT", "refused"),
    ("SELECT * FROM read_csv('/etc/passwd')", "Permission Error"),
    ("SELECT * FROM glob('/*')", "Permission Error"),
]


def _refusals(con, root: Path) -> None:
    for statement, expected in WRITES:
        with pytest.raises(QueryError, match=expected):
            con.sql(statement.format(home=root))


def test_nothing_writes_the_home_or_reads_outside_it(home):
    root = home.home.root
    before = _tree(root)
    with memscope.connect() as con:
        _refusals(con, root)
        assert con.sql("SELECT count(*) FROM runs").fetchall() == [(1,)]  # still usable
    assert _tree(root) == before
    assert not Path("/tmp/memscope-api-x.csv").exists()


def test_the_in_memory_fallback_refuses_the_same_and_still_joins(home):
    """Another client holding the catalog read-write makes the catalog file unopenable
    read-only: the views are defined in memory instead, behind the same check."""
    import duckdb
    import pandas

    root = home.home.root
    writer = duckdb.connect(str(home.home.catalog_path))  # read-write, as another tool would
    try:
        with memscope.connect() as con:
            databases = con.sql("SELECT database_name FROM duckdb_databases() WHERE NOT internal").fetchall()
            assert ("memory",) in databases and ("memscope",) not in databases
            before = _tree(root)
            _refusals(con, root)
            df = pandas.DataFrame({"example": [0, 1]})  # noqa: F841
            assert con.sql("SELECT count(*) FROM examples JOIN df USING (example) WHERE split = 'train'").fetchall() == [(2,)]
            assert _tree(root) == before
    finally:
        writer.close()


def test_the_catalog_connection_is_the_read_only_catalog_file(home):
    with memscope.connect() as con:
        assert con.sql("SELECT database_name, readonly FROM duckdb_databases() WHERE database_name = 'memscope'").fetchall() == [
            ("memscope", True)
        ]


def test_a_missing_home_is_one_line_naming_the_way_out(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("MEMSCOPE_HOME", str(missing))
    for call in (memscope.connect, memscope.runs, lambda: memscope.load("latest")):
        with pytest.raises(StoreError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and str(missing) in message and "MEMSCOPE_HOME" in message
    assert not missing.exists()  # the API never creates a home


def test_a_closed_connection_says_so(home):
    con = memscope.connect()
    con.close()
    with pytest.raises(MemscopeError, match="closed"):
        con.sql("SELECT 1")


def test_a_damaged_part_is_one_line_naming_the_file_and_the_way_out(home):
    part = next((home.run_dir / "examples").glob("*.parquet"))
    part.write_bytes(b"not parquet at all")
    with memscope.connect() as con, pytest.raises(QueryError) as info:
        con.sql("SELECT count(*) FROM examples")
    message = str(info.value)
    assert "\n" not in message and str(part) in message and "memscope runs check --repair" in message
