"""One read-only catalog connection shared by a long-lived session's threads (the app's).

DuckDB shares one database instance per file inside a process and its configuration is
locked, so a session opens exactly one handle: the SQL screen runs statements on it (and
cancels them with ``handle.cancel()``), other reads take a cursor each, so threads can query
at the same time. When the set of tables changes (a plugin declared one) the handle is
reopened.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable

from memscope.errors import MemscopeError, QueryError
from memscope.store.catalog import sql_identifier as ident
from memscope.store.connection import arrow_of
from memscope.store.home import Home

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from memscope.plugins import PluginHost


class Store:
    """The session's one connection to the catalog: the same locked-down connection
    ``memscope query`` opens (:class:`memscope.store.query.QueryHandle`), with the plugins'
    macros of ``host_getter()``."""

    def __init__(self, home: Home, host_getter: Callable[[], "PluginHost | None"] = lambda: None):
        self.home = home
        self.host_getter = host_getter
        self._lock = threading.Lock()
        self._handle: Any = None
        self._base: Any = None
        self._tables: list[str] = []

    def handle(self) -> Any:
        """The QueryHandle (opened on first use, reopened when the table set changed)."""
        from memscope.store.query import QueryHandle

        with self._lock:
            existed = self.home.exists()
            tables = self.home.table_names() if existed else []
            if self._handle is not None and tables != self._tables:
                try:
                    self._base.close()
                    self._handle.close()
                    self._handle = None
                except Exception:  # noqa: BLE001 - busy with a query: keep it until the next call
                    pass
            if self._handle is None:
                self._handle = QueryHandle(self.home, self.host_getter())
                # other reads branch off their own connection, so a long statement in the
                # SQL screen (which holds the handle's) never blocks them
                self._base = self._handle.conn.cursor()
                self._tables = tables if existed else self.home.table_names()  # opening creates a missing home
            return self._handle

    def cursor(self) -> "duckdb.DuckDBPyConnection":
        self.handle()
        with self._lock:
            return self._base.cursor()

    def query(self, sql: str, params: Iterable[Any] = ()) -> "pa.Table":
        import duckdb
        import pyarrow as pa

        cur = self.cursor()
        try:
            relation = cur.sql(sql, params=list(params) or None)
            return arrow_of(relation) if relation is not None else pa.table({})
        except duckdb.Error as exc:
            raise QueryError(str(exc).rstrip()) from None
        finally:
            cur.close()

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        return self.query(sql, params).to_pylist()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                try:
                    self._handle.cancel()
                    self._base.close()
                    self._handle.close()
                except Exception:  # noqa: BLE001 - closing at exit: nothing to report
                    pass
                self._handle = None

    # ---------------------------------------------------------------- run-level reads

    def curves(self, metric: str = "noisy_train_acc", run_ids: list[str] | None = None) -> dict[str, list[float]]:
        """Per run, ``metric`` by epoch (for sparklines and overlays)."""
        where = ""
        params: list[Any] = []
        if run_ids is not None:
            if not run_ids:
                return {}
            where = "WHERE run_id IN (" + ", ".join("?" for _ in run_ids) + ")"
            params = list(run_ids)
        rows = self.rows(
            f"SELECT run_id, list({ident(metric)} ORDER BY epoch) AS ys FROM epochs {where} GROUP BY run_id", params
        )
        return {r["run_id"]: [float("nan") if y is None else float(y) for y in r["ys"]] for r in rows}

    def epochs(self, run_id: str) -> "pa.Table":
        return self.query("SELECT * EXCLUDE (run_id) FROM epochs WHERE run_id = ? ORDER BY epoch", [run_id])

    def table_counts(self, run_id: str) -> dict[str, int]:
        """Tables holding rows for this run, with their row counts."""
        return {t: n for t, n in self.home.table_row_counts(run_id).items() if n}

    def preview(self, run_id: str, table: str, limit: int = 200) -> "pa.Table":
        if table not in self.home.table_names():
            raise MemscopeError(f"no table '{table}'")
        return self.query(f"SELECT * EXCLUDE (run_id) FROM {ident(table)} WHERE run_id = ? LIMIT {int(limit)}", [run_id])
