"""Per-example scores, plugin tables small enough to read whole, and every table the run has."""

from __future__ import annotations

from typing import Any

from memscope.report.blocks import Column, Section, Table
from memscope.results.analyses import examples
from memscope.results.source import RunResults
from memscope.store.schemas import CORE_TABLES


def example_scores_section(data: RunResults) -> Section | None:
    if not data.has("example_scores"):
        return None
    split = data.has("examples")
    rows = examples.scores(data).to_pylist()
    columns = [
        Column("analysis", justify="left"),
        Column("metric", justify="left"),
        Column("examples", "d"),
        Column("mean", ".4g"),
        Column("median", ".4g"),
        Column("min", ".4g"),
        Column("max", ".4g"),
    ]
    if split:
        columns += [Column("mean clean", ".4g"), Column("mean noisy", ".4g")]
    keys = ["analysis", "metric", "n", "mean", "median", "min", "max"] + (["mean_clean", "mean_noisy"] if split else [])
    return Section(
        "example_scores",
        "Per-example scores",
        [Table(columns, [[r[k] for k in keys] for r in rows], title="example_scores by analysis and metric")],
        ("example_scores",),
    )


SMALL_TABLE_ROWS = 30


def plugin_tables_section(data: RunResults) -> Section | None:
    """Plugin tables small enough to read whole (a leaderboard, per-group summaries), in full."""
    blocks: list[Any] = []
    shown: list[str] = []
    for table in sorted(data.counts()):
        if table in CORE_TABLES or not 0 < data.count(table) <= SMALL_TABLE_ROWS:
            continue
        names = [c for c in data.columns(table) if c != "run_id"]
        rows = data.table(table).to_pylist()
        sample = rows[0] if rows else {}
        columns = [
            Column(n, ".4g" if isinstance(sample.get(n), float) else "", justify="right" if isinstance(sample.get(n), (int, float)) else "left")
            for n in names
        ]
        blocks.append(Table(columns, [[r[n] for n in names] for r in rows], title=table))
        shown.append(table)
    if not blocks:
        return None
    return Section("plugin_tables", "Plugin tables", blocks, tuple(shown))


def tables_section(data: RunResults, shown: dict[str, str]) -> Section | None:
    """Every table holding rows for this run: row counts, and where the report shows it."""
    if not data.counts():
        return None
    rows = []
    for table in sorted(data.counts()):
        columns = [c for c in data.columns(table) if c != "run_id"]
        listed = ", ".join(columns)
        if len(listed) > 48:
            listed = listed[:47] + "…"
        rows.append([table, "core" if table in CORE_TABLES else "plugin", data.count(table), len(data.parts(table)), shown.get(table, "–"), listed])
    return Section(
        "tables",
        "Tables",
        [
            Table(
                [Column("table", justify="left", wrap=False), Column("kind", justify="left"), Column("rows", ","), Column("parts", "d"), Column("shown in", justify="left"), Column("columns", justify="left")],
                rows,
                caption=f"query any of them: memscope query \"SELECT * FROM <table> WHERE run_id = '{data.run_id}' LIMIT 20\"",
            )
        ],
    )
