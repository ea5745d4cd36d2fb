"""A sweep's results as the paper reports them: mean and std over seeds, per grid cell.

The runs of a sweep are read with DuckDB straight from their Parquet parts (only the
sweep's own run directories, not the whole home) and joined on ``run_id`` with a small
``sweep_runs`` table built from their run.json files. A *cell* is one combination of the
grid's values other than ``seed``; each statistic is computed per run first, then averaged
over the runs (seeds) of the cell (``stddev_samp``: blank when a cell has one run).

Sections appear only when their data exists:

- final accuracy per cell: clean-train, noisy-train (against the noisy labels; "memorized"
  only at a mean of at least 0.9, ``memscope.report.memorization``), noisy examples against
  their true labels, test;
- learning curves (mean over seeds): noisy-train and test accuracy per epoch;
- layer rewinding: noisy-train accuracy after rewinding each layer to each checkpoint;
- neuron flipping, over counted targets (those the model fitted at the start): neurons
  needed to flip a clean vs a noisy target, share flipped, collateral damage;
- example-tied dropout: accuracies with memorization neurons kept vs dropped.

Torch-free. ``sweep_report`` returns rich renderables; ``sweep_report_text`` a string;
``print_sweep_report`` prints to a file; ``sweep_curves`` is the aggregated learning curves
as a pyarrow Table (for the TUI).
"""

from __future__ import annotations

import itertools
import math
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from memscope.store.home import Home
from memscope.store.runinfo import effective_status, read_run_info
from memscope.errors import StoreError
from memscope.sweep.grid import axes_from_json
from memscope.sweep.store import load_sweep

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

SEED_KEY = "seed"
TABLES = ("epochs", "layer_rewinds", "neuron_flips", "etd_evals")
MAX_SERIES = 6  # lines per plot
MAX_CHECKPOINT_COLUMNS = 6
_PLOT_LOCK = threading.Lock()  # plotext keeps one global figure


# --------------------------------------------------------------------------- loading


class SweepData:
    """The sweep record, its cells, and a DuckDB connection with ``sweep_runs`` and one view
    per results table that has parts among the sweep's runs."""

    def __init__(self, home: Home, sweep_id: str, statuses: Sequence[str] = ("completed",)):
        import duckdb

        self.home = home
        self.sweep = load_sweep(home, sweep_id)
        axes = axes_from_json(self.sweep.get("grid", {}))
        self.group_axes = [a for a in axes if a.key != SEED_KEY]
        self.group_keys = [a.key for a in self.group_axes]
        self.cells: dict[tuple[str, ...], int] = {
            combo: i for i, combo in enumerate(itertools.product(*([v.tag for v in a.values] for a in self.group_axes)))
        }
        self.cell_labels = {i: self.label(combo) for combo, i in self.cells.items()}
        self.runs = self._runs(statuses)
        self.con = duckdb.connect(":memory:")
        self.con.register("sweep_runs", self._runs_arrow())
        self.con.register("sweep_cells", self._cells_arrow())
        self.tables = [t for t in TABLES if self._view(t)]

    def label(self, combo: tuple[str, ...]) -> str:
        return " ".join(f"{k}={v}" for k, v in zip(self.group_keys, combo)) or "all runs"

    def _runs(self, statuses: Sequence[str]) -> list[dict[str, Any]]:
        out = []
        for entry in self.sweep.get("runs", []):
            run_id = entry.get("run_id")
            if not run_id:
                continue
            try:
                info = read_run_info(self.home.run_dir(run_id))
            except StoreError:
                continue
            status = effective_status(info)
            if status not in statuses:
                continue
            tags = entry.get("tags", {})
            combo = tuple(tags.get(k, "") for k in self.group_keys)
            if combo not in self.cells:
                continue
            out.append(
                {
                    "run_id": run_id,
                    "cell": self.cells[combo],
                    "seed": info.get("seed"),
                    "status": status,
                    "clean_train_acc": _num(info.get("clean_train_acc")),
                    "noisy_train_acc": _num(info.get("noisy_train_acc")),
                    "noisy_train_true_acc": _num(info.get("noisy_train_true_acc")),
                    "test_acc": _num(info.get("test_acc")),
                    "run_dir": str(self.home.run_dir(run_id)),
                }
            )
        return out

    def _runs_arrow(self) -> "pa.Table":
        import pyarrow as pa

        schema = pa.schema(
            [
                ("run_id", pa.string()), ("cell", pa.int32()), ("seed", pa.int64()), ("status", pa.string()),
                ("clean_train_acc", pa.float64()), ("noisy_train_acc", pa.float64()),
                ("noisy_train_true_acc", pa.float64()), ("test_acc", pa.float64()), ("run_dir", pa.string()),
            ]
        )
        return pa.Table.from_pylist(self.runs, schema=schema)

    def _cells_arrow(self) -> "pa.Table":
        import pyarrow as pa

        columns: dict[str, list] = {"cell": [], "cell_label": []}
        for key in self.group_keys:
            columns[key] = []
        for combo, index in self.cells.items():
            columns["cell"].append(index)
            columns["cell_label"].append(self.cell_labels[index])
            for key, value in zip(self.group_keys, combo):
                columns[key].append(value)
        schema = pa.schema([("cell", pa.int32()), ("cell_label", pa.string()), *((k, pa.string()) for k in self.group_keys)])
        return pa.table(columns, schema=schema)

    def _view(self, table: str) -> bool:
        from memscope.store.catalog import sql_identifier, sql_string

        files = []
        for run in self.runs:
            folder = Path(run["run_dir"]) / table
            if folder.is_dir():
                files += sorted(str(p) for p in folder.glob("part-*.parquet"))
        if not files:
            return False
        listing = "[" + ", ".join(sql_string(f) for f in files) + "]"
        self.con.execute(
            f"CREATE VIEW {sql_identifier(table)} AS SELECT * FROM read_parquet({listing}, union_by_name = true, hive_partitioning = false)"
        )
        return True

    def rows(self, sql: str) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def close(self) -> None:
        self.con.close()


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _ms(column: str, alias: str | None = None) -> str:
    alias = alias or column
    return f"avg({column}) AS {alias}_mean, stddev_samp({column}) AS {alias}_std"


# --------------------------------------------------------------------------- curves (TUI API)


CURVE_METRICS = ("clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc", "train_loss", "test_loss")


def sweep_curves(home: Home, sweep_id: str, include_running: bool = True) -> "pa.Table":
    """Learning curves per cell and epoch, mean and std over the cell's runs (seeds).

    Columns: ``cell`` (int), ``cell_label``, one string column per grid key other than
    seed, ``epoch``, ``n_runs``, and ``<metric>_mean`` / ``<metric>_std`` for each of
    clean_train_acc, noisy_train_acc, noisy_train_true_acc, test_acc, train_loss, test_loss.
    Running runs count too unless ``include_running=False`` (``n_runs`` says how many).
    """
    import pyarrow as pa

    statuses = ("completed", "running") if include_running else ("completed",)
    data = SweepData(home, sweep_id, statuses)
    try:
        if "epochs" not in data.tables:
            fields = [("cell", pa.int32()), ("cell_label", pa.string()), *((k, pa.string()) for k in data.group_keys),
                      ("epoch", pa.int32()), ("n_runs", pa.int64())]
            fields += [(f"{m}_{s}", pa.float64()) for m in CURVE_METRICS for s in ("mean", "std")]
            return pa.schema(fields).empty_table()
        metrics = ", ".join(_ms(m) for m in CURVE_METRICS)
        sql = f"""
            WITH per_run AS (
                SELECT DISTINCT ON (e.run_id, e.epoch) r.cell, e.*
                FROM epochs e JOIN sweep_runs r USING (run_id)
            ), agg AS (
                SELECT cell, CAST(epoch AS INTEGER) AS epoch, count(*) AS n_runs, {metrics}
                FROM per_run GROUP BY cell, epoch
            )
            SELECT c.*, agg.* EXCLUDE (cell) FROM agg JOIN sweep_cells c USING (cell) ORDER BY cell, epoch
        """
        relation = data.con.sql(sql)
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow  # duckdb 2 / 1.x
        return fetch()
    finally:
        data.close()


# --------------------------------------------------------------------------- the report


def _fmt(mean: Any, std: Any, digits: int = 3) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _table(title: str, columns: list[str], rows: list[list[str]], caption: str | None = None):
    from rich import box
    from rich.table import Table

    from rich.markup import escape

    table = Table(
        title=escape(title), title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
        caption=escape(caption) if caption else None, caption_justify="left",
    )
    for i, name in enumerate(columns):
        table.add_column(escape(name), justify="left" if i < 1 else "right", overflow="fold")
    for row in rows:
        table.add_row(*(escape(str(v)) for v in row))
    return table


def _plot(draw: Callable[[Any], None], width: int, height: int = 16):
    from rich.text import Text

    import plotext as plt

    with _PLOT_LOCK:
        plt.clear_figure()
        plt.theme("clear")
        plt.limitsize(False, False)  # not the terminal's size: the width asked for
        plt.plotsize(max(40, width), height)
        draw(plt)
        canvas = plt.build()
        plt.clear_figure()
    return Text.from_ansi(canvas)


def _numeric(values: list[str]) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


COLORS = ("blue", "red", "green", "magenta", "cyan", "orange")


class _Report:
    def __init__(self, data: SweepData, width: int):
        self.d = data
        self.width = width
        self.out: list[Any] = []

    def cell_columns(self, cell: int) -> list[str]:
        combo = next(c for c, i in self.d.cells.items() if i == cell)
        return list(combo)

    # ------------------------------------------------------------------ sections

    def header(self) -> None:
        from rich.text import Text

        s, d = self.d.sweep, self.d
        c = s["counts"]
        grid = " x ".join(f"{k} ({len(v)})" for k, v in s.get("grid", {}).items())
        counts = ", ".join(f"{n} {k}" for k, n in c.items() if n)
        seeds = "seed" in s.get("grid", {})
        text = Text()
        text.append(f"sweep {s['sweep_id']}", style="bold")
        text.append(f"  {s['status']}\n")
        text.append(f"config {s.get('config')}\ngrid {grid}; {len(s.get('runs', []))} runs: {counts}\n")
        text.append(
            f"{len(d.runs)} completed run(s) in {len({r['cell'] for r in d.runs})} of {len(d.cells)} cell(s); "
            + ("mean ± std over seeds" if seeds else "one run per cell (no seed axis: no spread)")
        )
        self.out.append(text)

    def final_accuracy(self) -> None:
        d = self.d
        rows = d.rows(
            f"""SELECT cell, count(*) AS n, {_ms('clean_train_acc', 'clean')}, {_ms('noisy_train_acc', 'noisy')},
                       {_ms('noisy_train_true_acc', 'noisy_true')}, {_ms('test_acc', 'test')}
                FROM sweep_runs GROUP BY cell ORDER BY cell"""
        )
        if not rows:
            return
        from memscope.report.memorization import memorized

        table_rows = [
            [*self.cell_columns(r["cell"]), str(r["n"]), _fmt(r["clean_mean"], r["clean_std"]), _fmt(r["noisy_mean"], r["noisy_std"]),
             "yes" if memorized(r["noisy_mean"]) else "no", _fmt(r["noisy_true_mean"], r["noisy_true_std"]), _fmt(r["test_mean"], r["test_std"])]
            for r in rows
        ]
        columns = [*(d.group_keys or ["cell"]), "n", "clean-train acc", "noisy-train acc", "memorized", "noisy true-label acc", "test acc"]
        if not d.group_keys:
            table_rows = [["all", *row] for row in table_rows]
        self.out.append(_table(
            "Final accuracy per cell",
            columns,
            table_rows,
            "noisy-train acc: accuracy on the noisy examples against their (wrong) observed labels; "
            "memorized: its mean is at least 0.9 (runs trained with example-tied dropout: kept mode)",
        ))
        self._final_plot(rows)

    def _final_plot(self, rows: list[dict[str, Any]]) -> None:
        d = self.d
        # x = the first numeric grid key with 2+ values; one line per combination of the others
        for position, axis in enumerate(d.group_axes):
            xs = _numeric([v.tag for v in axis.values])
            if xs is not None and len(xs) >= 2:
                break
        else:
            return
        by_cell = {r["cell"]: r for r in rows}
        series: dict[tuple, list[tuple[float, dict]]] = {}
        for combo, cell in d.cells.items():
            if cell not in by_cell:
                continue
            rest = combo[:position] + combo[position + 1:]
            series.setdefault(rest, []).append((float(combo[position]), by_cell[cell]))
        rest_keys = d.group_keys[:position] + d.group_keys[position + 1:]
        chosen = list(series.items())[: max(1, MAX_SERIES // 2)]

        def draw(plt) -> None:
            for i, (rest, points) in enumerate(chosen):
                points.sort(key=lambda p: p[0])
                name = " ".join(f"{k}={v}" for k, v in zip(rest_keys, rest))
                px = [p[0] for p in points]
                color = COLORS[i % len(COLORS)]
                plt.plot(px, [p[1]["test_mean"] for p in points], label=f"test {name}".strip(), color=color, marker="dot")
                plt.plot(px, [p[1]["noisy_mean"] for p in points], label=f"noisy-train {name}".strip(), color=color, marker="x")
            plt.title(f"test and noisy-train accuracy vs {axis.key} (mean over seeds)")
            plt.xlabel(axis.key)
            plt.ylim(0, 1)

        self.out.append(_plot(draw, self.width))

    def curves(self) -> None:
        if "epochs" not in self.d.tables:
            return
        rows = self.d.rows(
            """WITH per_run AS (SELECT DISTINCT ON (e.run_id, e.epoch) r.cell, e.* FROM epochs e JOIN sweep_runs r USING (run_id))
               SELECT cell, epoch, avg(noisy_train_acc) AS noisy, avg(test_acc) AS test FROM per_run GROUP BY cell, epoch ORDER BY cell, epoch"""
        )
        epochs = {r["epoch"] for r in rows}
        if len(epochs) < 2:
            return
        cells: dict[int, list[dict]] = {}
        for r in rows:
            cells.setdefault(r["cell"], []).append(r)
        chosen = list(cells.items())[:MAX_SERIES]

        def draw(plt) -> None:
            for i, (cell, points) in enumerate(chosen):
                color = COLORS[i % len(COLORS)]
                label = self.d.cell_labels[cell]
                plt.plot([p["epoch"] for p in points], [p["noisy"] for p in points], label=f"noisy-train {label}", color=color, marker="x")
                plt.plot([p["epoch"] for p in points], [p["test"] for p in points], label=f"test {label}", color=color, marker="dot")
            more = f" (first {MAX_SERIES} of {len(cells)} cells)" if len(cells) > MAX_SERIES else ""
            plt.title(f"learning curves, mean over seeds{more}")
            plt.xlabel("epoch")
            plt.ylim(0, 1)

        self.out.append(_plot(draw, self.width))

    def rewinding(self) -> None:
        if "layer_rewinds" not in self.d.tables:
            return
        rows = self.d.rows(
            f"""WITH per_run AS (
                    SELECT r.cell, lr.run_id, lr.layer_index, any_value(lr.layer) AS layer, lr.checkpoint_epoch,
                           avg(lr.noisy_train_acc) AS noisy, avg(lr.clean_train_acc) AS clean, avg(lr.test_acc) AS test
                    FROM layer_rewinds lr JOIN sweep_runs r USING (run_id)
                    GROUP BY r.cell, lr.run_id, lr.layer_index, lr.checkpoint_epoch)
                SELECT cell, layer_index, any_value(layer) AS layer, checkpoint_epoch, count(*) AS n,
                       {_ms('noisy')}, {_ms('clean')}, {_ms('test')}
                FROM per_run GROUP BY cell, layer_index, checkpoint_epoch ORDER BY cell, layer_index, checkpoint_epoch"""
        )
        if not rows:
            return
        cells: dict[int, list[dict]] = {}
        for r in rows:
            cells.setdefault(r["cell"], []).append(r)
        for cell, cell_rows in cells.items():
            checkpoints = sorted({r["checkpoint_epoch"] for r in cell_rows})
            shown = _spread(checkpoints, MAX_CHECKPOINT_COLUMNS)
            first = checkpoints[0]
            layers: dict[int, dict[str, Any]] = {}
            for r in cell_rows:
                layers.setdefault(r["layer_index"], {"layer": r["layer"]})[r["checkpoint_epoch"]] = r
            table_rows = []
            for index in sorted(layers):
                entry = layers[index]
                table_rows.append(
                    [f"{index} {entry['layer']}", *(_fmt(entry[e]["noisy_mean"], entry[e]["noisy_std"]) if e in entry else "-" for e in shown),
                     _fmt(entry[first]["clean_mean"], entry[first]["clean_std"]) if first in entry else "-"]
                )
            n = max(r["n"] for r in cell_rows)
            self.out.append(_table(
                f"Layer rewinding [{self.d.cell_labels[cell]}]: noisy-train acc after rewinding one layer to epoch e (n={n})",
                ["layer", *(f"e={e}" for e in shown), f"clean acc (e={first})"],
                table_rows,
                "a drop in noisy-train acc with clean acc kept high = memorization lives in that layer",
            ))
        self._rewind_plot(cells)

    def _rewind_plot(self, cells: dict[int, list[dict]]) -> None:
        chosen = list(cells.items())[:MAX_SERIES]
        all_layers = sorted({(r["layer_index"], r["layer"]) for rows in cells.values() for r in rows})
        if len(all_layers) < 2:
            return

        def draw(plt) -> None:
            for i, (cell, rows) in enumerate(chosen):
                first = min(r["checkpoint_epoch"] for r in rows)
                pts = sorted((r["layer_index"], r["noisy_mean"]) for r in rows if r["checkpoint_epoch"] == first)
                plt.plot([p[0] for p in pts], [p[1] for p in pts], label=f"{self.d.cell_labels[cell]} (e={first})", color=COLORS[i % len(COLORS)], marker="dot")
            plt.title("noisy-train accuracy after rewinding each layer to its earliest checkpoint")
            plt.xlabel("layer index")
            plt.xticks([i for i, _ in all_layers])
            plt.ylim(0, 1)

        self.out.append(_plot(draw, self.width))

    def neuron_flips(self) -> None:
        """Per cell, over counted targets only (fitted at the start): median neurons to flip per
        run, the share flipped, and the median collateral damage (accuracy before - after)."""
        if "neuron_flips" not in self.d.tables:
            return
        from memscope.report.flips import COUNTED, targets_sql

        columns = [r["column_name"] for r in self.d.rows("DESCRIBE neuron_flips")]
        counted = ", ".join(f"'{s}'" for s in COUNTED)
        rows = self.d.rows(
            f"""WITH t AS ({targets_sql(columns)}),
                per_run AS (
                    SELECT r.cell, t.run_id, t.is_noisy,
                           median(t.neurons_to_flip) AS neurons,
                           avg(CASE WHEN t.status = 'flipped' THEN 1.0 ELSE 0.0 END) FILTER (WHERE t.status IN ({counted})) AS flipped,
                           median(t.test_drop) AS test_drop, median(t.clean_drop) AS clean_drop,
                           count(*) FILTER (WHERE t.status IN ({counted})) AS counted, count(*) AS targets
                    FROM t JOIN sweep_runs r USING (run_id)
                    GROUP BY r.cell, t.run_id, t.is_noisy)
                SELECT cell, is_noisy, count(*) AS n, sum(counted) AS counted, sum(targets) AS targets,
                       {_ms('neurons')}, {_ms('flipped')}, {_ms('test_drop')}, {_ms('clean_drop')}
                FROM per_run GROUP BY cell, is_noisy ORDER BY cell, is_noisy"""
        )
        if not rows:
            return
        by_cell: dict[int, dict[bool, dict]] = {}
        for r in rows:
            by_cell.setdefault(r["cell"], {})[bool(r["is_noisy"])] = r
        table_rows = []
        for cell, parts in by_cell.items():
            clean, noisy = parts.get(False, {}), parts.get(True, {})
            share = lambda g: f"{g.get('counted', 0)}/{g.get('targets', 0)}"  # noqa: E731
            damage = lambda g: f"{_fmt(g.get('test_drop_mean'), None)} / {_fmt(g.get('clean_drop_mean'), None)}"  # noqa: E731
            table_rows.append(
                [*self.cell_columns(cell), str(max(clean.get("n", 0), noisy.get("n", 0))), share(clean), share(noisy),
                 _fmt(clean.get("neurons_mean"), clean.get("neurons_std"), 1), _fmt(noisy.get("neurons_mean"), noisy.get("neurons_std"), 1),
                 _fmt(clean.get("flipped_mean"), clean.get("flipped_std"), 2), _fmt(noisy.get("flipped_mean"), noisy.get("flipped_std"), 2),
                 damage(clean), damage(noisy)]
            )
        keys = self.d.group_keys or ["cell"]
        if not self.d.group_keys:
            table_rows = [["all", *row] for row in table_rows]
        self.out.append(_table(
            "Neuron flipping: parameters zeroed to flip a target's prediction (counted targets only)",
            [*keys, "n", "counted (clean)", "counted (noisy)", "neurons (clean)", "neurons (noisy)", "flipped (clean)",
             "flipped (noisy)", "drop test / clean (clean)", "drop test / clean (noisy)"],
            table_rows,
            "counted: targets the model fitted at the start / all targets, over the cell's runs (the others are skipped, with no count); "
            "neurons: median per run over flipped targets; flipped: share of counted targets; drop: median accuracy "
            "before - after the edit on the test and clean-train samples (mean over seeds)",
        ))
        labels = [self.d.cell_labels[c] for c in by_cell][: MAX_SERIES * 2]
        clean_y = [by_cell[c].get(False, {}).get("neurons_mean") or 0.0 for c in by_cell][: len(labels)]
        noisy_y = [by_cell[c].get(True, {}).get("neurons_mean") or 0.0 for c in by_cell][: len(labels)]

        def draw(plt) -> None:
            plt.multiple_bar(labels, [clean_y, noisy_y], labels=["clean", "noisy"], color=["blue", "red"])
            plt.title("median parameters to flip (mean over seeds): clean vs noisy counted targets")

        self.out.append(_plot(draw, self.width))

    def etd(self) -> None:
        if "etd_evals" not in self.d.tables:
            return
        rows = self.d.rows(
            f"""WITH per_run AS (
                    SELECT r.cell, e.run_id, e.mode, avg(e.clean_train_acc) AS clean, avg(e.noisy_train_acc) AS noisy,
                           avg(e.noisy_train_true_acc) AS noisy_true, avg(e.test_acc) AS test
                    FROM etd_evals e JOIN sweep_runs r USING (run_id) GROUP BY r.cell, e.run_id, e.mode)
                SELECT cell, mode, count(*) AS n, {_ms('clean')}, {_ms('noisy')}, {_ms('noisy_true')}, {_ms('test')}
                FROM per_run GROUP BY cell, mode ORDER BY cell, mode DESC"""
        )
        if not rows:
            return
        keys = self.d.group_keys or ["cell"]
        table_rows = []
        for r in rows:
            cols = self.cell_columns(r["cell"]) if self.d.group_keys else ["all"]
            table_rows.append([*cols, r["mode"], str(r["n"]), _fmt(r["clean_mean"], r["clean_std"]), _fmt(r["noisy_mean"], r["noisy_std"]),
                               _fmt(r["noisy_true_mean"], r["noisy_true_std"]), _fmt(r["test_mean"], r["test_std"])])
        self.out.append(_table(
            "Example-tied dropout: memorization neurons kept (before) vs dropped (after)",
            [*keys, "mode", "n", "clean-train acc", "noisy-train acc", "noisy true-label acc", "test acc"],
            table_rows,
            "dropping the memorization neurons should erase noisy-train acc while clean and test acc stay",
        ))
        cells = sorted({r["cell"] for r in rows})[: MAX_SERIES * 2]
        by = {(r["cell"], r["mode"]): r for r in rows}
        kept = [(by.get((c, "kept")) or {}).get("noisy_mean") or 0.0 for c in cells]
        dropped = [(by.get((c, "dropped")) or {}).get("noisy_mean") or 0.0 for c in cells]

        def draw(plt) -> None:
            plt.multiple_bar([self.d.cell_labels[c] for c in cells], [kept, dropped], labels=["kept", "dropped"], color=["blue", "red"])
            plt.title("noisy-train accuracy with memorization neurons kept vs dropped")
            plt.ylim(0, 1)

        self.out.append(_plot(draw, self.width))


def _spread(values: list[int], most: int) -> list[int]:
    """At most ``most`` values, evenly spread, always the first and the last."""
    if len(values) <= most:
        return values
    picks = {values[round(i * (len(values) - 1) / (most - 1))] for i in range(most)}
    return sorted(picks)


def sweep_report(home: Home, sweep_id: str, width: int = 100) -> list[Any]:
    """The sweep's report as rich renderables (Text, Table, plots as Text), in order."""
    from rich.text import Text

    data = SweepData(home, sweep_id)
    try:
        report = _Report(data, width)
        report.header()
        if not data.runs:
            report.out.append(Text("no completed runs yet; 'memscope sweeps show " + sweep_id + "' shows progress"))
            return report.out
        report.final_accuracy()
        report.curves()
        report.rewinding()
        report.neuron_flips()
        report.etd()
        return report.out
    finally:
        data.close()


def print_sweep_report(home: Home, sweep_id: str, file=None, width: int | None = None) -> None:
    """Print :func:`sweep_report` (to stdout by default; plain text when not a terminal)."""
    from rich.console import Console

    file = file or sys.stdout
    tty = hasattr(file, "isatty") and file.isatty()
    console = Console(file=file, width=width or (None if tty else 120), soft_wrap=False)
    for i, item in enumerate(sweep_report(home, sweep_id, width=min(console.width, 160) - 2)):
        if i:
            console.print()
        console.print(item)


def sweep_report_text(home: Home, sweep_id: str, width: int = 120) -> str:
    """:func:`sweep_report` rendered as plain text."""
    import io

    buffer = io.StringIO()
    print_sweep_report(home, sweep_id, file=buffer, width=width)
    return buffer.getvalue()
