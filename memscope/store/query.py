"""Read-only SQL over all results: the one execution core behind ``memscope query`` and the
TUI's SQL screen.

Usage::

    conn = open_connection(home, host)          # read-only, locked down, plugin macros
    result = execute(conn, "SELECT * FROM runs", limit=500)
    result.table        # pyarrow.Table (at most ``limit`` rows)
    result.truncated    # True when more rows existed

From a thread worker (the TUI), wrap the connection in a :class:`QueryHandle`;
``handle.cancel()`` from any other thread interrupts the running statement, which then
raises :class:`QueryError` with exit code 130.

Two layers keep a query from changing anything:

1. The statement check, :mod:`memscope.store.statements` (:func:`read_only_statements`).
2. The connection (:mod:`memscope.store.connection`): read-only, confined to the home,
   its configuration locked.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Union

from memscope.errors import ExitCode, QueryError
from memscope.store.connection import _as_home, bad_part_error, open_connection, out_of_memory_error
from memscope.store.home import Home
from memscope.store.statements import is_read_only_statement, read_only_statements  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from memscope.plugins import PluginHost

#: Rows fetched per Arrow batch.
BATCH_ROWS = 2048


@dataclass
class QueryResult:
    """What a statement returned: at most ``limit`` rows as Arrow, and whether more existed."""

    table: "pa.Table"
    columns: list[str]
    types: list[str]  # DuckDB type names (``JSON`` is an Arrow string: see ``types``)
    truncated: bool
    elapsed: float  # seconds, parse to last row fetched
    statements: int = 1  # how many statements ran (the result is the last one's)

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def rows(self) -> Iterator[list[Any]]:
        """Each row as a list of Python values (what :mod:`memscope.store.formats` writes)."""
        for batch in self.table.to_batches():
            columns = [column.to_pylist() for column in batch.columns]
            yield from (list(row) for row in zip(*columns))


class RowStream:
    """A statement's rows as Python values, read a batch at a time, without pyarrow: what
    ``memscope query`` writes as text. DuckDB holds the result; :meth:`rows` reads it once.

    ``truncated`` and ``num_rows`` are final once :meth:`rows` is exhausted (``truncated``
    is known at once when ``limit`` is smaller than the first batch, the usual case).
    Errors while reading raise :class:`QueryError`, like :func:`execute`.
    """

    def __init__(self, relation: Any, limit: int | None, statements: int, started: float):
        self.columns: list[str] = list(relation.columns) if relation is not None else []
        self.types: list[str] = [str(t) for t in relation.types] if relation is not None else []
        self.statements = statements
        self.limit = limit or None
        self.truncated = False
        self.num_rows = 0
        self._started = started
        self._batch = BATCH_ROWS if self.limit is None else max(1, min(BATCH_ROWS, self.limit + 1))
        if relation is None:  # a statement without a result (BEGIN, COMMIT)
            self._source: Iterator[tuple[Any, ...]] = iter(())
        else:
            # one row past the limit tells whether there were more
            limited = relation if self.limit is None else relation.limit(self.limit + 1)
            self._source = limited.iter_rows(self._batch)
        self._first = self._read(self._batch)  # runs the statement: errors surface here

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def _read(self, count: int) -> list[tuple[Any, ...]]:
        import itertools

        import duckdb

        try:
            return list(itertools.islice(self._source, count))
        except duckdb.Error as exc:
            raise _error(exc) from None

    def rows(self) -> Iterator[list[Any]]:
        batch = self._first
        while batch:
            for row in batch:
                if self.limit is not None and self.num_rows == self.limit:
                    self.truncated = True
                    return
                self.num_rows += 1
                yield list(row)
            batch = self._read(self._batch)


# --------------------------------------------------------------------------- execution


def _error(exc: BaseException) -> QueryError:
    import duckdb

    if isinstance(exc, duckdb.InterruptException):
        return QueryError("query interrupted", exit_code=ExitCode.INTERRUPTED)
    if isinstance(exc, duckdb.OutOfMemoryException):
        return out_of_memory_error(exc)
    return bad_part_error(exc) or QueryError(str(exc).rstrip())


def _relation(conn: "duckdb.DuckDBPyConnection", text: str) -> Any:
    """``conn.sql(text)``: a lazy relation that streams. Its binder errors lack DuckDB's
    caret line, so on such an error the statement is bound again through ``execute``
    (which fails the same way, before running anything) to get the full message."""
    import duckdb

    try:
        return conn.sql(text)
    except duckdb.Error as exc:
        if "\nLINE " in str(exc):
            raise
        try:
            conn.execute(text)
        except duckdb.Error as detailed:
            if type(detailed) is type(exc):
                raise detailed from None
        else:  # it ran this time: drop the pending result, report the first error
            abort = getattr(conn, "abort", None)
            if abort is not None:
                abort()
        raise


def _run(conn: "duckdb.DuckDBPyConnection", sql: str, limit: int | None) -> QueryResult:
    import duckdb
    import pyarrow as pa

    started = time.perf_counter()
    statements = read_only_statements(sql, conn)
    relation = None
    try:
        for text in statements:
            # Earlier statements are bound (and run when they are not queries, e.g. BEGIN),
            # but only the last one's rows are fetched.
            relation = _relation(conn, text)
        if relation is None:  # a statement without a result (BEGIN, COMMIT)
            table = pa.table({})
            return QueryResult(table, [], [], False, time.perf_counter() - started, len(statements))
        columns = list(relation.columns)
        types = [str(t) for t in relation.types]
        reader = relation.to_arrow_reader(BATCH_ROWS if not limit else max(1, min(BATCH_ROWS, limit + 1)))
        batches = []
        rows = 0
        truncated = False
        try:
            for batch in reader:
                if limit and rows + batch.num_rows > limit:
                    batches.append(batch.slice(0, limit - rows))
                    rows = limit
                    truncated = True
                    break
                batches.append(batch)
                rows += batch.num_rows
        finally:
            reader.close()
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.Error as exc:
        raise _error(exc) from None
    except KeyboardInterrupt:
        conn.interrupt()
        raise
    return QueryResult(table, columns, types, truncated, time.perf_counter() - started, len(statements))


def stream_rows(conn: "duckdb.DuckDBPyConnection", sql: str, limit: int | None = None) -> RowStream:
    """Check and run ``sql`` like :func:`execute`, for rows read as Python values (no
    pyarrow): the first batch is read here, the rest as :meth:`RowStream.rows` goes."""
    import duckdb

    started = time.perf_counter()
    statements = read_only_statements(sql, conn)
    relation = None
    try:
        for text in statements:  # as in _run: only the last statement's rows are read
            relation = _relation(conn, text)
    except duckdb.Error as exc:
        raise _error(exc) from None
    except KeyboardInterrupt:
        conn.interrupt()
        raise
    return RowStream(relation, limit, len(statements), started)


def execute(
    conn_or_home: "duckdb.DuckDBPyConnection | Home | str | Path",
    sql: str,
    limit: int | None = None,
    *,
    host: "PluginHost | None" = None,
) -> QueryResult:
    """Check and run ``sql``; return the last statement's result, at most ``limit`` rows.

    ``limit`` of None or 0 fetches every row. Given a home (or its path) instead of a
    connection, opens one (with ``host``'s macros) and closes it afterwards. Raises
    :class:`QueryError` (DuckDB's message, caret line included; exit code 1, or 130 when
    interrupted) and :class:`StoreError` when the results cannot be read.
    """
    if isinstance(conn_or_home, (Home, str, Path)):
        conn = open_connection(conn_or_home, host)
        try:
            return _run(conn, sql, limit)
        finally:
            conn.close()
    return _run(conn_or_home, sql, limit)


class QueryHandle:
    """One connection for a thread worker, cancellable from any other thread.

    The TUI runs ``handle.execute(sql)`` in a worker thread and calls ``handle.cancel()``
    from the UI thread; the worker then gets a :class:`QueryError` with exit code 130.
    Statements on one handle run one at a time.
    """

    def __init__(self, home: Union[Home, str, Path], host: "PluginHost | None" = None):
        self.home = _as_home(home)
        self.conn = open_connection(self.home, host)
        self._lock = threading.Lock()

    def execute(self, sql: str, limit: int | None = None) -> QueryResult:
        with self._lock:
            return _run(self.conn, sql, limit)

    def cancel(self) -> None:
        """Interrupt the statement in flight (no-op when idle). Thread-safe."""
        self.conn.interrupt()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "QueryHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = [
    "BATCH_ROWS",
    "QueryHandle",
    "QueryResult",
    "RowStream",
    "execute",
    "is_read_only_statement",
    "read_only_statements",
    "stream_rows",
]
