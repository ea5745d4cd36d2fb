"""The one rule for a reader's rows: a run source's rows as they are, a sweep source's with
the run's ``cell``, ``cell_label`` and ``seed`` after ``run_id``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Collection

from memscope.results.source import Results, SweepResults

if TYPE_CHECKING:
    import pyarrow as pa

SWEEP_COLUMNS = ("cell", "cell_label", "seed")


def frame(src: Results, body: str, order: str = "") -> "pa.Table":
    """The rows of ``body`` (a SELECT that has a ``run_id`` column), ordered by ``order``
    (column names of ``body``), with the sweep columns joined in for a sweep source."""
    if isinstance(src, SweepResults):
        sql = (f"SELECT t.run_id, r.cell, r.cell_label, r.seed, t.* EXCLUDE (run_id) FROM ({body}) t "
               f"JOIN sweep_runs r USING (run_id) ORDER BY r.cell, t.run_id{', ' + order if order else ''}")
    else:
        sql = f"SELECT * FROM ({body}) t{' ORDER BY run_id, ' + order if order else ''}"
    return src.arrow(sql)


def optional(columns: Collection[str], name: str, sql_type: str, alias: str = "") -> str:
    """``name`` when the view has it, else a typed NULL under that name (parts written before
    a column existed)."""
    p = f"{alias}." if alias else ""
    return f"{p}{name}" if name in columns else f"NULL::{sql_type} AS {name}"
