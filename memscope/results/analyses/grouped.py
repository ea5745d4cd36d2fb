"""A sweep's numbers as the paper reports them: per cell, the mean and the standard
deviation over the cell's runs (seeds).

Each value is first averaged within a run (over the run's rows of one ``by`` group), then
over the runs of the cell: ``<value>_mean``, ``<value>_std`` (``stddev_samp``: NULL when a
cell has one run) and ``n_runs`` (runs with rows in that group).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Sequence

from memscope.results.source import SweepResults

if TYPE_CHECKING:
    import pyarrow as pa

_names = itertools.count()


def over_seeds(sweep: SweepResults, table: "pa.Table", by: Sequence[str] = (), values: Sequence[str] = (),
               totals: Sequence[str] = ()) -> "pa.Table":
    """Per cell (and ``by`` columns) of ``table`` (a reader's rows from ``sweep``, with
    ``run_id`` and ``cell``): cell, cell_label, the group keys, the ``by`` columns, n_runs,
    for each of ``values`` its ``_mean`` and ``_std`` over the cell's runs, and for each of
    ``totals`` its ``_total`` (summed over the cell's rows: counts such as targets), ordered
    by cell then ``by``. Cells without runs are left out."""
    from memscope.store.views import sql_identifier as q

    missing = [c for c in ("run_id", "cell", *by, *values, *totals) if c not in table.column_names]
    if missing:
        raise ValueError(f"over_seeds: the table has no column {', '.join(missing)}; columns: {', '.join(table.column_names)}")
    name = f"_over_seeds_{next(_names)}"
    groups = ", ".join(q(c) for c in by)
    per_run = ", ".join([f"avg({q(v)}) AS {q(v)}" for v in values] + [f"sum({q(t)}) AS {q(t)}" for t in totals])
    stats = ", ".join([f"avg({q(v)}) AS {q(v + '_mean')}, stddev_samp({q(v)}) AS {q(v + '_std')}" for v in values]
                      + [f"sum({q(t)}) AS {q(t + '_total')}" for t in totals])
    keys = ", ".join(f"c.{q(k)}" for k in sweep.group_keys)
    sql = f"""
        WITH per_run AS (SELECT cell, run_id{', ' + groups if by else ''}{', ' + per_run if per_run else ''}
                         FROM {name} GROUP BY ALL),
        agg AS (SELECT cell{', ' + groups if by else ''}, count(*) AS n_runs{', ' + stats if stats else ''}
                FROM per_run GROUP BY ALL)
        SELECT c.cell, c.cell_label{', ' + keys if keys else ''}, agg.* EXCLUDE (cell)
        FROM agg JOIN sweep_cells c USING (cell) ORDER BY c.cell{', ' + ', '.join(f'agg.{q(c)}' for c in by) if by else ''}
    """
    sweep.conn.register(name, table)
    try:
        return sweep.arrow(sql)
    finally:
        sweep.conn.unregister(name)
