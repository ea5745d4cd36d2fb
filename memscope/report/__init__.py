"""The run report behind ``memscope report RUN_ID``, reusable by the TUI.

``build_report(home, run_id)`` reads one run through the analysis readers
(``memscope.results``: ``open_run`` and ``memscope.results.analyses``) and returns a
``Report``: sections of plain blocks (``Fields``, ``Table``, ``Plot``, ``Note``) that hold
values, not text. ``render_text`` draws them with rich (plots by plotext);
``render_markdown`` writes Markdown; the TUI can draw the same blocks with its own widgets.

Sections come from ``sections.SECTIONS``; each appears only when its tables have rows for
the run. ``memscope.report.sweep`` builds a sweep's report from the same blocks. A section that fails is replaced by a one-line note
and reported in ``Report.warnings``; the rest of the report still comes out.

Torch-free and textual-free: this package imports duckdb, pyarrow, rich and plotext only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

from memscope.report.blocks import Column, Fields, Note, Plot, Report, Section, Series, Table
from memscope.report.render import render_markdown, render_text, to_renderables
from memscope.report.sections import SECTIONS, SectionBuilder, next_section, tables_section
from memscope.results.source import RunResults, open_run
from memscope.store.home import Home


def _guarded(key: str, build, data: RunResults, warnings: list[str]) -> Section | None:
    try:
        return build(data)
    except Exception as exc:  # one broken section (or plugin section) must not sink the report
        message = getattr(exc, "message", None) or f"{exc.__class__.__name__}: {exc}"
        first = str(message).strip().splitlines()[0] if str(message).strip() else exc.__class__.__name__
        warnings.append(f"report section '{key}' failed: {first}")
        return Section(key, key.replace("_", " ").capitalize(), [Note(f"This section could not be built: {first}")])


def build_report(home: Union[Home, str, Path], run_id: str, sections: list[tuple[str, SectionBuilder]] | None = None) -> Report:
    """Every section with something to show for ``run_id``.

    Raises ``ConfigError`` (exit code 2) for an unknown run and ``StoreError`` when its
    results cannot be read at all.
    """
    home = home if isinstance(home, Home) else Home(home)
    warnings: list[str] = []
    built: list[Section] = []
    with open_run(home, run_id) as data:
        for key, build in list(sections if sections is not None else SECTIONS):
            section = _guarded(key, build, data, warnings)
            if section is not None:
                built.append(section)
        shown: dict[str, str] = {}
        for section in built:
            for table in section.tables:
                if data.has(table):
                    shown.setdefault(table, section.title)
        for key, build in (("tables", lambda d: tables_section(d, shown)), ("next", next_section)):
            section = _guarded(key, build, data, warnings)
            if section is not None:
                built.append(section)
    return Report(data.run_id, built, warnings)


__all__ = [
    "SECTIONS",
    "Column",
    "Fields",
    "Note",
    "Plot",
    "Report",
    "Section",
    "SectionBuilder",
    "Series",
    "Table",
    "build_report",
    "render_markdown",
    "render_text",
    "to_renderables",
]
