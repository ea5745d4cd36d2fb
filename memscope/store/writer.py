"""Appending a run's results: immutable Parquet parts, one folder per table.

Only the process running a run writes its directory. Bulk rows go through Arrow, never
``executemany``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Mapping

import pyarrow as pa

from memscope.errors import StoreError
from memscope.store.home import Home
from memscope.store.parts import PART_RE, TABLE_RE, write_parquet_atomic  # noqa: F401  (PART_RE, TABLE_RE re-exported)
from memscope.store.schemas import CORE_TABLES


class RunWriter:
    def __init__(self, home: Home, run_id: str):
        self.home = home
        self.run_id = run_id
        self.run_dir = home.run_dir(run_id)
        self._next_part: dict[str, int] = {}
        self._schemas: dict[str, pa.Schema] = dict(CORE_TABLES)

    def declare_table(self, table: str, schema: pa.Schema) -> None:
        """Declare a plugin table; ``schema`` may omit ``run_id`` (it is added first)."""
        if not TABLE_RE.match(table):
            raise StoreError(f"table name {table!r} must be snake_case (lowercase letters, digits, _)")
        if "run_id" not in schema.names:
            schema = pa.schema([pa.field("run_id", pa.string()), *schema])
        if table in CORE_TABLES:  # rows are always cast to the core schema: never retype a core column
            core = CORE_TABLES[table]
            for field in schema:
                if field.name not in core.names or core.field(field.name).type != field.type:
                    have = core.field(field.name).type if field.name in core.names else "no such column"
                    raise StoreError(
                        f"core table '{table}' column '{field.name}' cannot be declared {field.type} (the core table has {have})"
                    )
            return
        existing = self.home.table_schema(table)
        known = existing or self._schemas.get(table)
        if known is not None and not known.equals(schema, check_metadata=False):
            # union_by_name lets a newer plugin version add columns; types must agree.
            for field in schema:
                if field.name in known.names and known.field(field.name).type != field.type:
                    raise StoreError(
                        f"table '{table}' column '{field.name}' was {known.field(field.name).type}, "
                        f"now declared {field.type}; rename the column or the table"
                    )
        self._schemas[table] = schema
        self.home.declare_table(table, schema, existing=existing)

    def schema(self, table: str) -> pa.Schema:
        try:
            return self._schemas[table]
        except KeyError:
            raise StoreError(f"table '{table}' was not declared; declare it before writing") from None

    def _part_path(self, table: str) -> Path:
        folder = self.run_dir / table
        if table not in self._next_part:
            folder.mkdir(parents=True, exist_ok=True)
            numbers = [int(m.group(1)) for p in folder.iterdir() if (m := PART_RE.match(p.name))]
            self._next_part[table] = max(numbers, default=0) + 1
        n = self._next_part[table]
        self._next_part[table] = n + 1
        return folder / f"part-{n:06d}.parquet"

    def to_arrow(self, table: str, data: pa.Table | Mapping[str, Any]) -> pa.Table:
        schema = self.schema(table)
        if not isinstance(data, pa.Table):
            columns = dict(data)
            length = len(next(iter(columns.values()))) if columns else 0
            columns.setdefault("run_id", [self.run_id] * length)
            data = pa.table({name: columns[name] for name in schema.names if name in columns})
        elif "run_id" not in data.column_names:
            data = data.append_column("run_id", pa.array([self.run_id] * data.num_rows, pa.string()))
        missing = [n for n in schema.names if n not in data.column_names]
        for name in missing:  # optional columns: nulls
            data = data.append_column(name, pa.nulls(data.num_rows, schema.field(name).type))
        extra = [n for n in data.column_names if n not in schema.names]
        if extra:
            raise StoreError(f"table '{table}' has no column(s) {', '.join(extra)}")
        try:
            return data.select(schema.names).cast(schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise StoreError(f"rows for table '{table}' do not fit its schema: {exc}") from None

    def write(self, table: str, data: pa.Table | Mapping[str, Any]) -> Path | None:
        """Append rows as a new immutable part; returns its path (None for zero rows)."""
        arrow = self.to_arrow(table, data)
        if arrow.num_rows == 0:
            return None
        path = self._part_path(table)
        try:
            return write_parquet_atomic(arrow, path)
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None

    def clear(self, table: str) -> None:
        """Remove this run's parts of ``table`` (before an analysis re-runs)."""
        folder = self.run_dir / table
        if folder.is_dir():
            trash = folder.with_name(f".{table}.trash")
            shutil.rmtree(trash, ignore_errors=True)
            folder.rename(trash)  # atomic: readers see all the old parts or none
            shutil.rmtree(trash, ignore_errors=True)
        self._next_part.pop(table, None)
