"""Filling a DataTable from Arrow: numbers right-aligned and short, NULL dimmed."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.widgets import DataTable


def cell(value: Any) -> Any:
    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):  # DuckDB's DECIMAL (e.g. round() of one): shown like any fraction
        value = float(value)
    if isinstance(value, float):
        if math.isnan(value):
            text = "nan"
        elif value == 0 or 1e-3 <= abs(value) < 1e4:
            text = f"{value:.4f}"
        else:
            text = f"{value:.4g}"
        return Text(text, justify="right")
    if isinstance(value, int):
        return Text(str(value), justify="right")
    if isinstance(value, (list, dict, tuple)):
        return str(value)
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def fill_table(table: DataTable, arrow: Any, keys: str | None = None, max_rows: int | None = None) -> None:
    """Replace the table's columns and rows with an Arrow table's."""
    table.clear(columns=True)
    names = list(arrow.column_names)
    for name in names:
        table.add_column(name, key=name)
    columns = [arrow.column(n).to_pylist() for n in names]
    n = arrow.num_rows if max_rows is None else min(max_rows, arrow.num_rows)
    key_index = names.index(keys) if keys in names else None
    rows = []
    for i in range(n):
        rows.append([cell(col[i]) for col in columns])
    if key_index is None:
        table.add_rows(rows)
    else:
        for i, row in enumerate(rows):
            table.add_row(*row, key=str(columns[key_index][i]))
