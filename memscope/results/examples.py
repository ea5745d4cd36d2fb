"""One run's examples: the per-example summary table, paged, filtered and sorted, one
example's detail (its per-epoch trace, flip and scores), and its training image.

The summary is built once per run from ``example_epochs`` into a private in-memory DuckDB
and rebuilt when the run writes new parts, so paging stays fast however many epochs it has.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from memscope.errors import MemscopeError, QueryError
from memscope.results.configs import read_config
from memscope.results.runs import parts_signature
from memscope.results.session import Store
from memscope.store.catalog import sql_identifier as ident
from memscope.store.catalog import sql_string
from memscope.store.connection import arrow_of
from memscope.store.home import Home

if TYPE_CHECKING:
    import duckdb
    import numpy as np


EXAMPLE_FILTERS = {
    "all": "TRUE",
    "clean": "NOT is_noisy",
    "noisy": "is_noisy",
    "memorized": "is_noisy AND correct",
    "not learned": "NOT coalesce(correct, false)",
    "flipped": "coalesce(flipped, false)",
}

EXAMPLE_COLUMNS = (
    "example", "true_label", "observed_label", "is_noisy", "loss", "margin", "correct", "pred",
    "mean_loss", "first_correct", "epochs_correct", "neurons_to_flip", "flipped",
)


@dataclass
class ExamplePage:
    table: "pa.Table"
    total: int  # rows matching the filter
    offset: int
    all_rows: int  # train examples of the run
    final_epoch: int | None
    seconds: float = 0.0


def score_column(analysis: str, metric: str) -> str:
    """The summary's column for a plugin score: ``<analysis>_<metric>``, as an identifier."""
    return re.sub(r"[^a-z0-9_]+", "_", f"{analysis}_{metric}".lower())


def summary_sql(scores: list[tuple[str, str, str]]) -> str:
    """One row per training example of run ``$run``: final-epoch metrics, per-epoch
    aggregates, its flip and each (analysis, metric, column) score; plus ``last_epoch``."""
    score_join = ""
    score_select = ""
    if scores:
        exprs = [f"max(value) FILTER (WHERE analysis = {sql_string(a)} AND metric = {sql_string(m)}) AS {ident(c)}"
                 for a, m, c in scores]
        score_join = (
            "LEFT JOIN (SELECT example, " + ", ".join(exprs)
            + " FROM example_scores WHERE run_id = $run GROUP BY example) sc USING (example)"
        )
        score_select = ", " + ", ".join(f"sc.{ident(c)}" for _, _, c in scores)
    return f"""
WITH ee AS (SELECT example, epoch, loss, margin, correct, pred FROM example_epochs WHERE run_id = $run),
agg AS (
    SELECT example,
           arg_max(loss, epoch) AS loss, arg_max(margin, epoch) AS margin,
           arg_max(correct, epoch) AS correct, arg_max(pred, epoch) AS pred,
           avg(loss) AS mean_loss,
           min(epoch) FILTER (WHERE correct) AS first_correct,
           count(*) FILTER (WHERE correct) AS epochs_correct,
           max(epoch) AS last_epoch
    FROM ee GROUP BY example
),
nf AS (SELECT example, any_value(neurons_to_flip) AS neurons_to_flip, bool_or(flipped) AS flipped
       FROM neuron_flips WHERE run_id = $run GROUP BY example)
SELECT e.example, e.true_label, e.observed_label, e.is_noisy,
       agg.loss, agg.margin, agg.correct, agg.pred, agg.mean_loss, agg.first_correct,
       agg.epochs_correct, nf.neurons_to_flip, nf.flipped, agg.last_epoch{score_select}
FROM examples e
LEFT JOIN agg USING (example)
LEFT JOIN nf USING (example)
{score_join}
WHERE e.run_id = $run AND e.split = 'train'
ORDER BY e.example
"""


class ExampleTable:
    """One run's per-example summary (final-epoch metrics, per-epoch aggregates, flips, plugin
    scores), built once from ``example_epochs`` and paged with LIMIT/OFFSET.

    The summary has one row per training example (not per epoch), held in a private
    in-memory DuckDB, so sorting and paging stay fast however many epochs the run has. It is
    rebuilt when the run writes new parts (a live run).
    """

    TABLES = ("examples", "example_epochs", "neuron_flips", "example_scores")

    def __init__(self, store: Store, run_id: str):
        self.store = store
        self.run_id = run_id
        self.signature: tuple | None = None
        self.columns: list[str] = []
        self.score_columns: list[str] = []
        self.final_epoch: int | None = None
        self.all_rows = 0
        self._mem: "duckdb.DuckDBPyConnection | None" = None
        self._lock = threading.Lock()

    def stale(self) -> bool:
        return self.signature != parts_signature(self.store.home, self.run_id, self.TABLES)

    def load(self) -> None:
        import duckdb

        signature = parts_signature(self.store.home, self.run_id, self.TABLES)
        scores = self.store.rows(
            "SELECT DISTINCT analysis, metric FROM example_scores WHERE run_id = ? ORDER BY ALL", [self.run_id]
        )
        score_cols = [score_column(row["analysis"], row["metric"]) for row in scores]
        sql = summary_sql([(row["analysis"], row["metric"], name) for row, name in zip(scores, score_cols)])
        cur = self.store.cursor()
        try:
            table = arrow_of(cur.sql(sql, params={"run": self.run_id}))
        except duckdb.Error as exc:
            raise QueryError(str(exc).rstrip()) from None
        finally:
            cur.close()
        last = table.column("last_epoch")
        final = None
        if table.num_rows:
            import pyarrow.compute as pc

            value = pc.max(last).as_py()
            final = int(value) if value is not None else None
        table = table.drop_columns(["last_epoch"])
        from memscope.store.connection import resource_config

        mem = duckdb.connect(":memory:", config={"enable_external_access": False, "autoinstall_known_extensions": False,
                                                 "autoload_known_extensions": False, **resource_config()})
        mem.from_arrow(table).create("summary")
        mem.execute("SET lock_configuration = true")
        with self._lock:
            if self._mem is not None:
                self._mem.close()
            self._mem = mem
            self.columns = list(table.column_names)
            self.score_columns = score_cols
            self.final_epoch = final
            self.all_rows = table.num_rows
            self.signature = signature

    def page(self, filter_name: str = "all", sort: str = "example", descending: bool = False,
             offset: int = 0, limit: int = 100, where: str = "") -> ExamplePage:
        """One page of the summary; ``where`` is an extra SQL condition over its columns."""
        import duckdb

        from memscope.store.query import read_only_statements

        started = time.perf_counter()
        if self._mem is None or self.stale():
            self.load()
        if sort not in self.columns:
            sort = "example"
        cond = EXAMPLE_FILTERS.get(filter_name, "TRUE")
        if where.strip():
            cond = f"({cond}) AND ({where})"
        order = f"{ident(sort)} {'DESC' if descending else 'ASC'} NULLS LAST, example"
        count_sql = f"SELECT count(*) FROM summary WHERE {cond}"
        page_sql = f"SELECT * FROM summary WHERE {cond} ORDER BY {order} LIMIT {int(limit)} OFFSET {max(0, int(offset))}"
        read_only_statements(page_sql)  # one SELECT, or a clear error (a bad WHERE)
        with self._lock:
            assert self._mem is not None
            cur = self._mem.cursor()
        try:
            total = int(cur.sql(count_sql).fetchall()[0][0])
            if offset >= total and total:
                offset = max(0, (total - 1) // limit * limit)
                page_sql = f"SELECT * FROM summary WHERE {cond} ORDER BY {order} LIMIT {int(limit)} OFFSET {offset}"
            table = arrow_of(cur.sql(page_sql))
        except duckdb.Error as exc:
            raise QueryError(str(exc).rstrip()) from None
        finally:
            cur.close()
        return ExamplePage(table, total, offset, self.all_rows, self.final_epoch, time.perf_counter() - started)

    def close(self) -> None:
        with self._lock:
            if self._mem is not None:
                self._mem.close()
                self._mem = None


@dataclass
class ExampleDetail:
    run_id: str
    example: int
    info: dict[str, Any]  # true_label, observed_label, is_noisy
    trace: list[dict[str, Any]]  # per epoch: epoch, loss, correct, margin, pred
    flip: dict[str, Any] | None  # neuron_flips row
    steps: list[dict[str, Any]]  # neuron_flip_steps rows
    scores: list[dict[str, Any]]  # example_scores rows
    class_names: list[str] = field(default_factory=list)
    image: "np.ndarray | None" = None  # (H, W, C) in [0, 1]
    image_error: str = ""


def example_detail(store: Store, run_id: str, example: int) -> ExampleDetail:
    q = store.rows
    info = q(
        "SELECT true_label, observed_label, is_noisy FROM examples WHERE run_id = ? AND split = 'train' AND example = ?",
        [run_id, example],
    )
    trace = q(
        "SELECT epoch, loss, correct, margin, pred FROM example_epochs WHERE run_id = ? AND example = ? ORDER BY epoch",
        [run_id, example],
    )
    flip = q("SELECT * EXCLUDE (run_id) FROM neuron_flips WHERE run_id = ? AND example = ? LIMIT 1", [run_id, example])
    steps = q(
        "SELECT step, layer_index, layer, unit, score FROM neuron_flip_steps WHERE run_id = ? AND example = ? ORDER BY step",
        [run_id, example],
    )
    scores = q(
        "SELECT analysis, metric, value FROM example_scores WHERE run_id = ? AND example = ? ORDER BY analysis, metric",
        [run_id, example],
    )
    return ExampleDetail(run_id, example, info[0] if info else {}, trace, flip[0] if flip else None, steps, scores)


#: Reads a dataset's training images and class names: (dataset name, data.path, data_dir)
#: -> (images (N, H, W, C), class names). The app passes the plugin host's registered
#: loader, so a plugin's dataset shows too; the results layer never imports the engine.
DatasetReader = Callable[[str, str, Path], "tuple[np.ndarray, list[str]]"]


class DatasetImages:
    """Training images of a run's dataset, cached per dataset; never downloads."""

    def __init__(self, home: Home, reader: DatasetReader):
        self.home = home
        self.reader = reader
        self._cache: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str) -> tuple["np.ndarray", list[str]]:
        cfg = read_config(self.home, run_id)
        data = cfg.get("data", {}) if isinstance(cfg.get("data"), dict) else {}
        name = str(data.get("dataset", "digits"))
        path = str(data.get("path", ""))
        data_dir = Path(data.get("data_dir") or self.home.data_dir)
        key = (name, path, str(data_dir))
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        try:
            value = self.reader(name, path, data_dir)
        except MemscopeError:
            raise
        except Exception as exc:
            raise MemscopeError(f"dataset '{name}' could not be read here: {exc.__class__.__name__}: {exc}") from None
        with self._lock:
            self._cache[key] = value
        return value
