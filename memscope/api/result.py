"""What every call of the Python API returns: rows already fetched, as an Arrow table, with
pandas and polars a method away.

A :class:`Result` holds a ``pyarrow.Table``. ``.arrow()`` returns it as it is; ``.df()``,
``.pl()``, ``.fetchall()`` and ``.fetchnumpy()`` go through DuckDB (a private in-memory
connection over that table, nothing else), so a DataFrame gets the same column types as
DuckDB's own ``.df()``. The rows are fetched when the result is made: a result never changes
afterwards, and it holds no connection to the home.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa


def _private_connection() -> "duckdb.DuckDBPyConnection":
    """An in-memory DuckDB that can read no file, scan no caller variable, load no extension."""
    import duckdb

    return duckdb.connect(
        ":memory:",
        config={
            "enable_external_access": False,
            "python_enable_replacements": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "lock_configuration": True,
        },
    )


class Result:
    """Rows fetched from the results: ``.arrow()``, ``.df()`` (pandas), ``.pl()`` (polars),
    ``.fetchall()`` (tuples), ``.columns``, ``len(result)``."""

    def __init__(self, table: "pa.Table"):
        self._table = table

    def arrow(self) -> "pa.Table":
        """The rows as a ``pyarrow.Table``."""
        return self._table

    def _through_duckdb(self, method: str) -> Any:
        with _private_connection() as conn:
            return getattr(conn.from_arrow(self._table), method)()

    def df(self) -> Any:
        """The rows as a pandas DataFrame (needs pandas)."""
        return self._through_duckdb("df")

    to_pandas = df

    def pl(self) -> Any:
        """The rows as a polars DataFrame (needs polars)."""
        return self._through_duckdb("pl")

    def fetchall(self) -> list[tuple]:
        """The rows as Python tuples, as DuckDB's ``fetchall`` gives them."""
        return self._through_duckdb("fetchall")

    def fetchnumpy(self) -> dict[str, Any]:
        """The columns as NumPy arrays, by name."""
        return self._through_duckdb("fetchnumpy")

    def to_pylist(self) -> list[dict[str, Any]]:
        """The rows as dicts (column name -> value)."""
        return self._table.to_pylist()

    @property
    def columns(self) -> list[str]:
        return list(self._table.column_names)

    @property
    def num_rows(self) -> int:
        return self._table.num_rows

    def __len__(self) -> int:
        return self._table.num_rows

    def __repr__(self) -> str:
        with _private_connection() as conn:
            return repr(conn.from_arrow(self._table))


__all__ = ["Result"]
