"""memscope.store.formats: the same text whether rows come as Arrow (the app) or are read
as Python values (memscope query); the values written faithfully."""

from __future__ import annotations

import io
import json

import pytest

from memscope.store.formats import FORMATS, format_for_suffix, render
from memscope.store.query import execute, stream_rows

#: Types a result of memscope's tables has, and the awkward values of each.
SQL = """
SELECT * FROM (VALUES
    (1, 0.1::DOUBLE, 2.50::DECIMAL(6, 2), 'a|b\nc', true, DATE '2024-01-02',
     TIMESTAMP '2024-01-02 03:04:05.25', TIMESTAMPTZ '2024-01-02 03:04:05+00', [1, 2], {'k': 'v', 'n': 3},
     '{"x": [1, 2]}'::JSON, '\\xAA'::BLOB),
    (NULL, 'nan'::DOUBLE, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) t(i, d, m, s, b, day, ts, tstz, list, struct, js, blob)
"""


@pytest.fixture
def conn(home):
    from memscope.store.connection import open_connection

    conn = open_connection(home)
    yield conn
    conn.close()


def _text(result, fmt: str) -> str:
    out = io.StringIO()
    render(result, fmt, out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "parquet"])
def test_rows_and_arrow_write_the_same_text(conn, fmt):
    assert _text(stream_rows(conn, SQL), fmt) == _text(execute(conn, SQL), fmt)


def test_json_values_are_faithful(conn):
    first, second = json.loads(_text(stream_rows(conn, SQL), "json"))
    assert first["i"] == 1 and first["m"] == 2.5 and first["s"] == "a|b\nc" and first["b"] is True
    assert abs(first["d"] - 0.1) < 1e-12
    assert first["day"] == "2024-01-02" and first["ts"] == "2024-01-02T03:04:05.250000"
    assert first["list"] == [1, 2] and first["struct"] == {"k": "v", "n": 3}
    assert first["js"] == {"x": [1, 2]}  # JSON columns are written as JSON, not as a string
    assert first["blob"] == "\\xaa"
    assert second["d"] is None and all(v is None for k, v in second.items() if k != "d")


def test_markdown_escapes_cells_and_right_aligns_numbers(conn):
    lines = _text(stream_rows(conn, "SELECT 1 AS n, 'a|b' AS s"), "markdown").splitlines()
    assert lines == ["| n | s |", "|---:|---|", "| 1 | a\\|b |"]


def test_a_row_stream_knows_when_it_was_cut_short(conn):
    cut = stream_rows(conn, "SELECT * FROM range(10) t(x)", limit=4)
    assert [r[0] for r in cut.rows()] == [0, 1, 2, 3] and cut.truncated and cut.num_rows == 4
    whole = stream_rows(conn, "SELECT * FROM range(4) t(x)", limit=4)
    assert len(list(whole.rows())) == 4 and not whole.truncated
    many = stream_rows(conn, "SELECT * FROM range(5000) t(x)")  # more than one batch
    assert sum(1 for _ in many.rows()) == 5000 and not many.truncated


def test_a_row_stream_refuses_what_execute_refuses(conn):
    from memscope.errors import QueryError

    with pytest.raises(QueryError, match="refused"):
        stream_rows(conn, "CREATE TABLE t AS SELECT 1")
    with pytest.raises(QueryError, match="Binder Error"):
        stream_rows(conn, "SELECT nope")


def test_format_from_the_suffix():
    from pathlib import Path

    assert format_for_suffix(Path("x.CSV")) == "csv" and format_for_suffix(Path("x.ndjson")) == "jsonl"
    assert format_for_suffix(Path("x.parquet")) == "parquet" and format_for_suffix(Path("x.out")) == "table"


def test_parquet_is_not_a_text_format(conn):
    from memscope.errors import MemscopeError

    with pytest.raises(MemscopeError, match="cannot be written as text"):
        render(execute(conn, "SELECT 1"), "parquet", io.StringIO())
