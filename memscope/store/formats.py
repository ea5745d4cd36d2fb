"""Query results as files and text: CSV, TSV, JSON, JSON Lines, markdown, a drawn table, Parquet.

Used by ``memscope query``, ``memscope export`` and the app's SQL screen alike; typer- and
textual-free. A result is anything with ``columns``, ``types`` (DuckDB type names) and
``rows()`` (each row as a list of Python values): :class:`memscope.store.query.QueryResult`
(Arrow) or :class:`memscope.store.query.RowStream` (read as it is written, no pyarrow).
Only :func:`write_parquet` needs Arrow. rich loads only to draw a table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol

from memscope.errors import MemscopeError

if TYPE_CHECKING:
    from memscope.store.query import QueryResult

#: Every format a result can be written in; all but parquet are text.
FORMATS = ("table", "csv", "tsv", "json", "jsonl", "markdown", "parquet")
#: The format an output file's suffix implies.
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".md": "markdown",
    ".parquet": "parquet",
    ".txt": "table",
}
_NUMERIC_TYPES = frozenset(
    {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
        "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL",
    }
)


class Rows(Protocol):
    columns: list[str]
    types: list[str]

    def rows(self) -> Iterator[list[Any]]: ...


def format_for_suffix(path: Path, default: str = "table") -> str:
    """The format ``path``'s suffix implies (``default`` for any other suffix)."""
    return SUFFIX_FORMATS.get(path.suffix.lower(), default)


# --------------------------------------------------------------------------- cell values


def json_value(value: Any, is_json: bool = False) -> Any:
    """A Python value from DuckDB or Arrow as something ``json.dumps`` writes faithfully."""
    import datetime
    import decimal
    import json
    import math

    if value is None:
        return None
    if is_json and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, (str, int, bool)):
        return value
    return str(value)


def text_value(value: Any, null: str = "") -> str:
    """One cell as text (CSV, TSV, markdown, the drawn table)."""
    import datetime
    import json

    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(json_value(value), ensure_ascii=False)
    return str(value)


def is_numeric(duckdb_type: str) -> bool:
    return duckdb_type.split("(")[0].upper() in _NUMERIC_TYPES


def _dicts(result: Rows) -> Iterator[dict[str, Any]]:
    is_json = [t == "JSON" for t in result.types] or [False] * len(result.columns)
    for row in result.rows():
        yield {name: json_value(v, j) for name, v, j in zip(result.columns, row, is_json)}


# --------------------------------------------------------------------------- formats


def write_delimited(result: Rows, out: Any, delimiter: str) -> None:
    import csv

    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows():
        writer.writerow([text_value(v) for v in row])


def write_json(result: Rows, out: Any) -> None:
    import json

    out.write("[")
    written = 0
    for record in _dicts(result):
        out.write(",\n " if written else "\n ")
        out.write(json.dumps(record, ensure_ascii=False))
        written += 1
    out.write("\n]\n" if written else "]\n")


def write_jsonl(result: Rows, out: Any) -> None:
    import json

    for record in _dicts(result):
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_markdown(result: Rows, out: Any) -> None:
    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")

    out.write("| " + " | ".join(cell(c) for c in result.columns) + " |\n")
    out.write("|" + "|".join("---:" if is_numeric(t) else "---" for t in result.types) + "|\n")
    for row in result.rows():
        out.write("| " + " | ".join(cell(text_value(v)) for v in row) + " |\n")


def write_table(result: Rows, out: Any, *, terminal: bool) -> None:
    """A drawn table: fitted to the terminal, or as wide as the data (no colour) for a file or pipe."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.ROUNDED, header_style="bold", show_edge=True)
    cells = [[text_value(v, "NULL") if not isinstance(v, float) else f"{v:.6g}" for v in row] for row in result.rows()]
    for name, duckdb_type in zip(result.columns, result.types):
        header = Text(name)
        header.append("\n" + duckdb_type.lower(), style="dim")
        table.add_column(header, justify="right" if is_numeric(duckdb_type) else "left", overflow="fold")
    for row in cells:
        table.add_row(*[Text("NULL", style="dim") if v == "NULL" else Text(v) for v in row])
    if terminal:
        console = Console(file=out, soft_wrap=False)
    else:  # a file or a pipe: as wide as the data, never wrapped, no colour
        widths = [
            max([len(c), len(t)] + [len(r[i]) for r in cells])
            for i, (c, t) in enumerate(zip(result.columns, result.types))
        ]
        console = Console(file=out, width=max(20, sum(widths) + 3 * len(widths) + 1), color_system=None, soft_wrap=False)
    console.print(table)


def write_parquet(result: "QueryResult", path: Path) -> None:
    """An Arrow result to ``path`` atomically; a one-line error when it cannot be written."""
    from memscope.store.parts import write_parquet_atomic

    try:
        write_parquet_atomic(result.table, path)
    except OSError as exc:
        raise MemscopeError(f"cannot write {path}: {exc.strerror or exc}") from None


def render(result: Rows, fmt: str, out: Any, *, terminal: bool = False) -> None:
    """Write ``result`` to the text stream ``out`` in the text format ``fmt``."""
    if fmt == "table":
        write_table(result, out, terminal=terminal)
    elif fmt in ("csv", "tsv"):
        write_delimited(result, out, "," if fmt == "csv" else "\t")
    elif fmt == "json":
        write_json(result, out)
    elif fmt == "jsonl":
        write_jsonl(result, out)
    elif fmt == "markdown":
        write_markdown(result, out)
    else:
        raise MemscopeError(f"format {fmt} cannot be written as text; choose one of {', '.join(FORMATS[:-1])}")


__all__ = [
    "FORMATS",
    "SUFFIX_FORMATS",
    "format_for_suffix",
    "is_numeric",
    "json_value",
    "render",
    "text_value",
    "write_delimited",
    "write_json",
    "write_jsonl",
    "write_markdown",
    "write_parquet",
    "write_table",
]
