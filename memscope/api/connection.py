"""``memscope.connect()``: SQL over every run in a home, joined with the caller's own
DataFrames, and the home left exactly as it was.

Why a wrapper and not DuckDB's own connection: the catalog connection
(:func:`memscope.store.connection.open_connection`) is opened read-only and may read files
under the home only (``enable_external_access = false``, ``allowed_directories`` = the home),
but

- DuckDB scans a caller's variables (``FROM df``) only while external access is enabled, and
  enabling it would let ``read_csv('/etc/passwd')`` read any file;
- ``allowed_directories`` lets DuckDB *write* under the home as well: on a bare connection
  ``COPY ... TO '<home>/x.csv'`` and ``relation.write_csv('<home>/x.csv')`` succeed.

So :class:`Connection` keeps the locked-down DuckDB connection private and runs every query
through ``memscope.store.query.execute`` (the read-only statement check of ``memscope
query``: no CREATE, COPY, ATTACH, INSERT, SET, ...). It does the variable lookup itself, the
way DuckDB's replacement scan does: a table name the catalog does not have, that names a
pandas or polars DataFrame or an Arrow table in the calling frame (locals, then globals), is
registered under that name before the query runs. Rows come back fetched, as a
:class:`~memscope.api.result.Result`, never as a DuckDB relation (whose write methods
would bypass the check).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Sequence, Union

from memscope.api.result import Result
from memscope.errors import QueryError, StoreError

if TYPE_CHECKING:
    import duckdb

    from memscope.store.home import Home

HomeLike = Union["Home", str, Path, None]


def existing_home(home: HomeLike = None) -> "Home":
    """``home``, else ``MEMSCOPE_HOME``, else the platform's default, as the CLI resolves it;
    :class:`StoreError` when no home is there (the API never creates one)."""
    from memscope.store.home import Home, resolve_home

    resolved = home if isinstance(home, Home) else resolve_home(home)
    if not resolved.exists():
        raise StoreError(
            f"no memscope home at {resolved.root}: pass home= (or set MEMSCOPE_HOME) to a folder "
            "that holds runs, or start one there with 'memscope run digits'"
        )
    return resolved


def _scannable(value: Any) -> Any:
    """``value`` in a form DuckDB can register as a view (pandas and Arrow as they are, polars
    through Arrow), or None when it is not a table."""
    if isinstance(value, Result):
        return value.arrow()
    library = type(value).__module__.split(".", 1)[0]
    kind = type(value).__name__
    if library == "pandas" and kind == "DataFrame":
        return value
    if library == "pyarrow" and kind in ("Table", "RecordBatchReader", "FileSystemDataset", "Dataset"):
        return value
    if library == "pyarrow" and kind == "RecordBatch":
        import pyarrow as pa

        return pa.Table.from_batches([value])
    if library == "polars" and kind in ("DataFrame", "LazyFrame"):
        return (value.collect() if kind == "LazyFrame" else value).to_arrow()
    return None


def _table_references(node: Any, found: set[str]) -> None:
    """The unqualified table names (``FROM name``) in DuckDB's JSON syntax tree of a query."""
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and not node.get("schema_name") and not node.get("catalog_name"):
            found.add(str(node.get("table_name", "")))
        for value in node.values():
            _table_references(value, found)
    elif isinstance(node, list):
        for value in node:
            _table_references(value, found)


class Connection:
    """A read-only connection to every run in a home: every table and the ``runs`` view.

    ``con.sql(query)`` returns a :class:`~memscope.api.result.Result` (``.arrow()``,
    ``.df()``, ``.pl()``, ``.fetchall()``). A statement that could change anything is
    refused with :class:`memscope.errors.QueryError`, and so is reading a file outside the
    home. Close it with ``con.close()`` or use it in a ``with`` block.
    """

    def __init__(self, home: "Home", conn: "duckdb.DuckDBPyConnection"):
        self.home = home
        self._conn: "duckdb.DuckDBPyConnection | None" = conn
        # caller variables registered as views -> the object (held, so an id is never reused)
        self._registered: dict[str, Any] = {}

    def sql(self, query: str, params: Sequence[Any] | None = None) -> Result:
        """The rows of ``query`` (the last statement's, when there are several). ``?``
        placeholders take ``params`` (one statement only). A table name the home does not
        have is looked up among the caller's variables (pandas, polars, Arrow)."""
        conn = self._open()
        frame = sys._getframe(1)
        try:
            self._register_caller_tables(conn, query, frame)
        finally:
            del frame
        if params is None:
            from memscope.store.query import execute

            return Result(execute(conn, query).table)
        return Result(_execute_with_params(conn, query, params))

    def close(self) -> None:
        """Close the connection (results already returned stay usable)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._registered.clear()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "read-only"
        return f"<memscope.Connection {state} {self.home.root}>"

    def _open(self) -> "duckdb.DuckDBPyConnection":
        if self._conn is None:
            raise QueryError("this memscope connection is closed; open another with memscope.connect()")
        return self._conn

    def _register_caller_tables(self, conn: "duckdb.DuckDBPyConnection", query: str, frame: FrameType) -> None:
        """Register each caller variable the query names as a table the home lacks (again
        when the variable now holds another object; dropped when it holds no table)."""
        import duckdb

        try:
            ((text,),) = conn.execute("SELECT json_serialize_sql(?::VARCHAR)", [query]).fetchall()
            tree = json.loads(text)
        except (duckdb.Error, ValueError):
            return  # not a query DuckDB can serialize; the statement check decides about it
        names: set[str] = set()
        _table_references(tree.get("statements", []), names)
        if not names:
            return
        home_tables = {
            row[0].lower()
            for row in conn.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary "
                "UNION ALL SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
            ).fetchall()
        }
        for name in sorted(names):
            if name.lower() in home_tables:
                continue  # the home's table wins, as with DuckDB's own variable scans
            missing = object()
            value = frame.f_locals.get(name, frame.f_globals.get(name, missing))
            table = None if value is missing else _scannable(value)
            if table is None:
                if name in self._registered:
                    conn.unregister(name)
                    del self._registered[name]
                continue
            if self._registered.get(name, missing) is not value:
                conn.register(name, table)
                self._registered[name] = value


def _execute_with_params(conn: "duckdb.DuckDBPyConnection", query: str, params: Sequence[Any]) -> Any:
    import duckdb

    from memscope.store.connection import arrow_of
    from memscope.store.query import _error
    from memscope.store.statements import read_only_statements

    statements = read_only_statements(query, conn)
    if len(statements) != 1:
        raise QueryError(f"params= needs one SQL statement, not {len(statements)}; run the others on their own")
    try:
        return arrow_of(conn.sql(statements[0], params=list(params)))
    except duckdb.Error as exc:
        raise _error(exc) from None


def connect(home: HomeLike = None) -> Connection:
    """A read-only :class:`Connection` over every run in ``home`` (``MEMSCOPE_HOME`` or the
    platform's default when None), as ``memscope query`` sees them."""
    from memscope.store.connection import open_connection

    resolved = existing_home(home)
    return Connection(resolved, open_connection(resolved))


def runs(home: HomeLike = None) -> Result:
    """The ``runs`` view (one row per run: id, name, status, config keys, final accuracies),
    oldest first."""
    with connect(home) as con:
        return con.sql("SELECT * FROM runs ORDER BY run_id")


__all__ = ["Connection", "connect", "existing_home", "runs"]
