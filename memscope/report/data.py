"""One run's results, read through DuckDB: the data side of ``memscope report``.

The report reads only the run it describes: an in-memory DuckDB database gets one view per
table over ``<home>/runs/<id>/<table>/*.parquet`` (that run's parts, not every run's), is
locked down like every memscope connection (``memscope.store.connection.runs_connection``: files
outside the home cannot be read), and each statement goes through the read-only query
core (``memscope.store.query.execute``). A report of one run therefore costs the same
however many runs the home holds, and a damaged part of another run cannot break it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memscope.errors import StoreError
from memscope.store.home import Home
from memscope.store.writer import PART_RE, TABLE_RE


class RunData:
    """The run's ``run.json``, its config and a read-only SQL view of its tables.

    ``tables`` maps each table that has rows for this run to its parts; ``count(table)``
    reads row counts from the Parquet footers (no scan); ``rows(sql)`` returns dicts.
    """

    def __init__(self, home: Home, run_id: str):
        self.home = home
        self.run_dir = home.require_run(run_id)
        self.run_id = self.run_dir.name
        self.info, self.info_error = self._read_info()
        self.config = self._read_config()
        self.tables = self._find_tables()
        self._counts: dict[str, int] = {}
        self._conn = None

    # ------------------------------------------------------------------ files

    def _read_info(self) -> tuple[dict[str, Any], str]:
        from memscope.store.runinfo import read_run_info

        try:
            return read_run_info(self.run_dir), ""
        except StoreError as exc:
            return {}, exc.message

    def _read_config(self) -> dict[str, Any]:
        import tomllib

        path = self.run_dir / "config.toml"
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return {}

    def _find_tables(self) -> dict[str, list[Path]]:
        found: dict[str, list[Path]] = {}
        for folder in sorted(self.run_dir.iterdir()):
            if not folder.is_dir() or not TABLE_RE.match(folder.name):
                continue
            parts = sorted(p for p in folder.iterdir() if PART_RE.match(p.name))
            if parts:
                found[folder.name] = parts
        return found

    def config_value(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.config
        for key in dotted.split("."):
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node

    # ------------------------------------------------------------------ tables

    def count(self, table: str) -> int:
        """Rows of ``table`` for this run (0 when it has none)."""
        if table not in self._counts:
            import pyarrow.parquet as pq

            total = 0
            for part in self.tables.get(table, []):
                try:
                    total += pq.ParquetFile(part).metadata.num_rows
                except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError)
                    raise StoreError(f"cannot read {part}: {exc}") from None
            self._counts[table] = total
        return self._counts[table]

    def has(self, *tables: str) -> bool:
        """Whether every one of ``tables`` has rows for this run."""
        return all(self.count(t) > 0 for t in tables)

    def columns(self, table: str) -> list[str]:
        import pyarrow.parquet as pq

        names: list[str] = []
        for part in self.tables.get(table, []):
            for name in pq.read_schema(part).names:
                if name not in names:
                    names.append(name)
        return names

    @property
    def conn(self):
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self):
        from memscope.store.connection import runs_connection

        return runs_connection(self.home, [self.run_dir], list(self.tables), empty_views=False)

    def rows(self, sql: str) -> list[dict[str, Any]]:
        """Run a read-only statement over this run's tables; rows as dicts."""
        from memscope.store.query import execute

        return execute(self.conn, sql).table.to_pylist()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "RunData":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
