"""Drawing a report: rich renderables for the terminal (plots by plotext), or Markdown.

Colours are only a help: every plot series also has its own marker character and every
heat cell prints its number, so the report reads the same piped into a file.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from memscope.report.blocks import Fields, Note, Plot, Report, Section, Table, format_value

COLORS = ("green", "red", "blue", "magenta", "cyan", "orange", "yellow", "green+", "red+", "blue+", "magenta+", "cyan+")
MARKERS = ("•", "x", "+", "o", "*", "#", "@", "%", "&", "=", "~", "^")
BAR_MARKERS = ("█", "▒", "░", "▓", "#", "=")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PLOT_LOCK = threading.Lock()  # plotext keeps one global figure


# --------------------------------------------------------------------------- plots


def _ticks(xs: list[float], most: int = 10) -> list[float]:
    values = sorted(set(xs))
    if len(values) <= most:
        return values
    return [values[round(i * (len(values) - 1) / (most - 1))] for i in range(most)]


def plot_text(plot: Plot, width: int) -> str:
    """The plot drawn by plotext as text with ANSI colours (strip them with ``plain``)."""
    import plotext as plt

    width = max(30, width)
    with _PLOT_LOCK:
        plt.clear_figure()
        try:
            plt.theme("clear")
            plt.limit_size(False, False)  # the report's width, not the terminal's (stdout may be a pipe)
            plt.plot_size(width, plot.height)
            if plot.kind == "bars":
                plt.multiple_bar(
                    list(plot.categories),
                    [list(s.y) for s in plot.series],
                    labels=[s.label for s in plot.series],
                    marker=[BAR_MARKERS[i % len(BAR_MARKERS)] for i in range(len(plot.series))],
                    color=[COLORS[i % len(COLORS)] for i in range(len(plot.series))],
                )
            else:
                xs: list[float] = []
                for i, s in enumerate(plot.series):
                    plt.plot(list(s.x), list(s.y), label=s.label, marker=MARKERS[i % len(MARKERS)], color=COLORS[i % len(COLORS)])
                    xs.extend(s.x)
                if xs and all(float(x).is_integer() for x in xs):
                    ticks = _ticks(xs)
                    plt.xticks(ticks, [str(int(t)) for t in ticks])
            if plot.ylim is not None:
                plt.ylim(*plot.ylim)
            if plot.title:
                plt.title(plot.title)
            if plot.xlabel:
                plt.xlabel(plot.xlabel)
            if plot.ylabel:
                plt.ylabel(plot.ylabel)
            return plt.build()
        finally:
            plt.clear_figure()


def plain(text: str) -> str:
    """Text without ANSI escapes and trailing blanks."""
    return "\n".join(line.rstrip() for line in _ANSI.sub("", text).splitlines())


# --------------------------------------------------------------------------- rich


def heat_style(value: Any) -> str:
    """A background from red (0) through yellow to green (1) for a value in [0, 1]."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value or not 0.0 <= value <= 1.0:
        return ""
    if value < 0.5:
        r, g = 200, int(60 + 280 * value)
    else:
        r, g = int(200 - 300 * (value - 0.5)), 200
    return f"black on rgb({max(r, 0)},{min(g, 200)},70)"


def table_renderables(table: Table) -> list:
    """The title (bold), the table and the caption (dim): titles never wrap to the table's width."""
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    out = RichTable(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in table.columns:
        if col.wrap:
            out.add_column(Text(col.name), justify=col.justify, overflow="fold")
        else:
            out.add_column(Text(col.name), justify=col.justify, no_wrap=True, overflow="ellipsis")
    for row in table.rows:
        cells = []
        for i, value in enumerate(row):
            style = heat_style(value) if table.columns[i].heat else ""
            cells.append(Text(table.format_cell(i, value), style=style))
        out.add_row(*cells)
    parts: list = []
    if table.title:
        parts.append(Text(table.title, style="bold"))
    parts.append(out)
    if table.caption:
        parts.append(Text(table.caption, style="dim"))
    return parts


def block_renderables(block: Any, width: int, plots: bool = True) -> list:
    from rich.table import Table as RichTable
    from rich.text import Text

    if isinstance(block, Table):
        return table_renderables(block)
    if isinstance(block, Fields):
        grid = RichTable.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, value in block.items:
            grid.add_row(Text(key), Text(value))
        return [grid]
    if isinstance(block, Plot):
        if not plots:
            return []
        text = Text.from_ansi(plot_text(block, width - 1))
        text.no_wrap = True
        text.overflow = "crop"
        return [text]
    if isinstance(block, Note):
        return [Text(block.text, style="italic")]
    return [Text(str(block))]


def section_renderables(section: Section, width: int, plots: bool = True) -> list:
    from rich.rule import Rule
    from rich.text import Text

    out: list = [Text(""), Rule(Text(section.title, style="bold"), align="left")]
    for block in section.blocks:
        out.extend(block_renderables(block, width, plots))
        out.append(Text(""))
    return out


def to_renderables(report: Report, width: int, plots: bool = True) -> list:
    out: list = []
    for section in report.sections:
        out.extend(section_renderables(section, width, plots))
    return out


def render_text(report: Report, console: Any, plots: bool = True) -> None:
    for renderable in to_renderables(report, console.width, plots):
        console.print(renderable)


# --------------------------------------------------------------------------- markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_markdown(table: Table) -> str:
    lines = []
    if table.title:
        lines += [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(_md_cell(c.name) for c in table.columns) + " |")
    lines.append("|" + "|".join("---:" if c.justify == "right" else ":---" for c in table.columns) + "|")
    for row in table.rows:
        lines.append("| " + " | ".join(_md_cell(table.format_cell(i, v)) for i, v in enumerate(row)) + " |")
    if table.caption:
        lines += ["", f"*{table.caption}*"]
    return "\n".join(lines)


def render_markdown(report: Report, width: int = 100, plots: bool = True) -> str:
    parts = [f"# memscope report: {report.run_id}"]
    for section in report.sections:
        parts.append(f"## {section.title}")
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append(table_markdown(block))
            elif isinstance(block, Fields):
                parts.append("\n".join(f"- **{k}**: {v}" for k, v in block.items))
            elif isinstance(block, Plot):
                if plots:
                    parts.append("```text\n" + plain(plot_text(block, width)) + "\n```")
            elif isinstance(block, Note):
                parts.append("\n".join(f"> {line}" if line else ">" for line in block.text.splitlines()))
            else:
                parts.append(format_value(block))
    return "\n\n".join(parts) + "\n"
