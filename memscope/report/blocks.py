"""What a report is made of: sections of plain data blocks, rendered later.

Sections hold values, not text: the terminal renderer (rich + plotext), the Markdown
renderer and the TUI (its own tables and plots) all draw the same blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence, Union


@dataclass
class Column:
    name: str
    fmt: str = ""  # a format spec for numbers (".3f", ".3g", "+.3f"); "" = str()
    heat: bool = False  # colour numeric cells in [0, 1] by value (accuracies)
    justify: str = "right"  # right for numbers, left for names
    wrap: bool = True  # False: one line, cut with an ellipsis when the table is too wide


@dataclass(frozen=True)
class MeanStd:
    """A mean over runs (seeds) with its standard deviation (None: one run, no spread);
    drawn as ``0.850 ± 0.071`` with the column's format for both."""

    mean: float | None
    std: float | None = None


@dataclass
class Table:
    columns: list[Column]
    rows: list[list[Any]]
    title: str = ""
    caption: str = ""  # one line under the table (what was left out, how to read it)

    def format_cell(self, col: int, value: Any) -> str:
        return format_value(value, self.columns[col].fmt)


@dataclass
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]


@dataclass
class Plot:
    kind: str  # "line" | "bars" (bars: ``categories`` on the x axis, one bar per series)
    series: list[Series]
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    ylim: tuple[float, float] | None = None
    categories: list[str] = field(default_factory=list)  # bars only
    height: int = 15


@dataclass
class Fields:
    """Key/value lines (the run header)."""

    items: list[tuple[str, str]]


@dataclass
class Note:
    text: str


Block = Union[Table, Plot, Fields, Note]


@dataclass
class Section:
    key: str  # stable id (the TUI and tests address sections by it)
    title: str
    blocks: list[Block] = field(default_factory=list)
    tables: tuple[str, ...] = ()  # the result tables it draws on


@dataclass
class Report:
    run_id: str
    sections: list[Section]
    warnings: list[str] = field(default_factory=list)  # sections that failed (also noted inline)

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)


def spread(n: int, k: int) -> list[int]:
    """About ``k`` indices spread evenly over ``range(n)``, always with the first and the last:
    which of many epochs or checkpoints a table or a heatmap shows."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def format_value(value: Any, fmt: str = "") -> str:
    if isinstance(value, MeanStd):
        if value.std is None or value.std != value.std or value.mean is None:
            return format_value(value.mean, fmt)
        return f"{format_value(value.mean, fmt)} ± {format_value(value.std, fmt)}"
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return format(value, fmt or ".3f")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and fmt:
        return format(value, fmt)
    return str(value)
