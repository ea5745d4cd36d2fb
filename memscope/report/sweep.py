"""A sweep's report, as the paper reports results: mean and std over seeds, per grid cell.

Built from the same blocks as a run's report (``memscope.report.blocks``) and drawn by the
same renderers (text with terminal plots, or Markdown). The numbers come from the analysis
readers over the sweep's runs (``memscope.results.source.open_sweep``), averaged over each
cell's seeds by ``memscope.results.analyses.grouped.over_seeds``: each statistic is computed
per run first, then its mean and ``stddev_samp`` over the cell's runs (no spread with one run).

Sections appear only when their data exists:

- final accuracy per cell: clean-train, noisy-train (against the noisy labels; "memorized"
  only at a mean of at least 0.9, ``memscope.report.memorization``), noisy examples against
  their true labels, test;
- learning curves (mean over seeds): noisy-train and test accuracy per epoch;
- layer rewinding: noisy-train accuracy after rewinding each layer to each checkpoint;
- neuron flipping, over counted targets (those the model fitted at the start): parameters
  needed to flip a clean vs a noisy target, share flipped, collateral damage;
- example-tied dropout: accuracies with memorization neurons kept vs dropped.

``build_sweep_report`` returns a ``Report``; ``sweep_report`` rich renderables;
``print_sweep_report`` prints it; ``sweep_report_text`` a string; ``sweep_curves`` is the
aggregated learning curves as a pyarrow Table (for the app). Torch-free.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from memscope.report.blocks import Column, Fields, MeanStd, Note, Plot, Report, Section, Series, Table, spread
from memscope.results.analyses import etd, flipping, grouped, rewinding, training
from memscope.results.source import SweepResults, open_sweep
from memscope.store.home import Home

if TYPE_CHECKING:
    import pyarrow as pa

MAX_SERIES = 6  # lines per plot
MAX_CHECKPOINT_COLUMNS = 6
CURVE_METRICS = ("clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc", "train_loss", "test_loss")
ACCURACIES = ("clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc")
ACC_COLUMNS = ("clean-train acc", "noisy-train acc", "noisy true-label acc", "test acc")


def _ms(row: dict[str, Any], value: str) -> MeanStd:
    return MeanStd(row.get(f"{value}_mean"), row.get(f"{value}_std"))


def _numeric(values: list[str]) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


class _Builder:
    """The sections of one sweep's report, each from the readers grouped over seeds."""

    def __init__(self, sweep: SweepResults):
        self.s = sweep

    def cell_columns(self, cell: int) -> list[Any]:
        """The cell's grid values (or "all" when the grid has only seeds)."""
        if not self.s.group_keys:
            return ["all"]
        return list(next(c for c, i in self.s.cells.items() if i == cell))

    def key_columns(self) -> list[Column]:
        return [Column(k, justify="left") for k in (self.s.group_keys or ["cell"])]

    # ------------------------------------------------------------------ sections

    def header(self) -> Section:
        s = self.s.sweep
        grid = " x ".join(f"{k} ({len(v)})" for k, v in s.get("grid", {}).items())
        counts = ", ".join(f"{n} {k}" for k, n in s["counts"].items() if n)
        spread_text = "mean ± std over seeds" if "seed" in s.get("grid", {}) else "one run per cell (no seed axis: no spread)"
        cells = len({r["cell"] for r in self.s.runs})
        items = [
            ("sweep", f"{self.s.sweep_id}  {s['status']}"),
            ("config", str(s.get("config"))),
            ("grid", f"{grid}; {len(s.get('runs', []))} runs: {counts}"),
            ("results", f"{len(self.s.runs)} completed run(s) in {cells} of {len(self.s.cells)} cell(s); {spread_text}"),
        ]
        blocks: list[Any] = [Fields(items)]
        if not self.s.runs:
            blocks.append(Note(f"no completed runs yet; 'memscope sweeps show {self.s.sweep_id}' shows progress"))
        return Section("sweep", f"Sweep {self.s.sweep_id}", blocks)

    def final_accuracy(self) -> Section | None:
        from memscope.report.memorization import memorized

        rows = grouped.over_seeds(self.s, training.final(self.s), values=ACCURACIES).to_pylist()
        if not rows:
            return None
        table = Table(
            [*self.key_columns(), Column("n", "d"), *(Column(n, ".3f") for n in ACC_COLUMNS[:2]), Column("memorized", justify="left"),
             *(Column(n, ".3f") for n in ACC_COLUMNS[2:])],
            [[*self.cell_columns(r["cell"]), r["n_runs"], _ms(r, "clean_train_acc"), _ms(r, "noisy_train_acc"),
              memorized(r["noisy_train_acc_mean"]), _ms(r, "noisy_train_true_acc"), _ms(r, "test_acc")] for r in rows],
            title="Final accuracy per cell",
            caption="noisy-train acc: accuracy on the noisy examples against their (wrong) observed labels; "
            "memorized: its mean is at least 0.9 (runs trained with example-tied dropout: kept mode)",
        )
        blocks: list[Any] = [table]
        plot = self._final_plot(rows)
        if plot is not None:
            blocks.append(plot)
        return Section("final", "Final accuracy", blocks)

    def _final_plot(self, rows: list[dict[str, Any]]) -> Plot | None:
        """x = the first numeric grid key with 2+ values; one line per combination of the others."""
        for position, axis in enumerate(self.s.group_axes):
            xs = _numeric([v.tag for v in axis.values])
            if xs is not None and len(xs) >= 2:
                break
        else:
            return None
        by_cell = {r["cell"]: r for r in rows}
        lines: dict[tuple, list[tuple[float, dict]]] = {}
        for combo, cell in self.s.cells.items():
            if cell in by_cell:
                lines.setdefault(combo[:position] + combo[position + 1:], []).append((float(combo[position]), by_cell[cell]))
        rest_keys = self.s.group_keys[:position] + self.s.group_keys[position + 1:]
        series = []
        for rest, points in list(lines.items())[: max(1, MAX_SERIES // 2)]:
            points.sort(key=lambda p: p[0])
            name = " ".join(f"{k}={v}" for k, v in zip(rest_keys, rest))
            px = [p[0] for p in points]
            series.append(Series(f"test {name}".strip(), px, [p[1]["test_acc_mean"] for p in points]))
            series.append(Series(f"noisy-train {name}".strip(), px, [p[1]["noisy_train_acc_mean"] for p in points]))
        return Plot("line", series, title=f"test and noisy-train accuracy vs {axis.key} (mean over seeds)", xlabel=axis.key,
                    ylim=(0.0, 1.0), height=16)

    def curves(self) -> Section | None:
        if not self.s.has("epochs"):
            return None
        rows = grouped.over_seeds(self.s, training.epochs(self.s), by=["epoch"], values=["noisy_train_acc", "test_acc"]).to_pylist()
        if len({r["epoch"] for r in rows}) < 2:
            return None
        cells: dict[int, list[dict]] = {}
        for r in rows:
            cells.setdefault(r["cell"], []).append(r)
        series = []
        for cell, points in list(cells.items())[:MAX_SERIES]:
            label = self.s.cell_labels[cell]
            series.append(Series(f"noisy-train {label}", [p["epoch"] for p in points], [p["noisy_train_acc_mean"] for p in points]))
            series.append(Series(f"test {label}", [p["epoch"] for p in points], [p["test_acc_mean"] for p in points]))
        more = f" (first {MAX_SERIES} of {len(cells)} cells)" if len(cells) > MAX_SERIES else ""
        plot = Plot("line", series, title=f"learning curves, mean over seeds{more}", xlabel="epoch", ylim=(0.0, 1.0), height=16)
        return Section("curves", "Learning curves", [plot], ("epochs",))

    def rewinding(self) -> Section | None:
        if not self.s.has("layer_rewinds"):
            return None
        rows = grouped.over_seeds(self.s, rewinding.rewinds(self.s), by=["layer_index", "layer", "checkpoint_epoch"],
                                  values=["noisy_train_acc", "clean_train_acc", "test_acc"]).to_pylist()
        cells: dict[int, list[dict]] = {}
        for r in rows:
            cells.setdefault(r["cell"], []).append(r)
        blocks: list[Any] = [self._rewind_table(cell, cell_rows) for cell, cell_rows in cells.items()]
        plot = self._rewind_plot(cells)
        if plot is not None:
            blocks.append(plot)
        return Section("rewinding", "Layer rewinding", blocks, ("layer_rewinds",))

    def _rewind_table(self, cell: int, rows: list[dict[str, Any]]) -> Table:
        checkpoints = sorted({r["checkpoint_epoch"] for r in rows})
        shown = [checkpoints[i] for i in spread(len(checkpoints), MAX_CHECKPOINT_COLUMNS)]
        first = checkpoints[0]
        layers: dict[int, dict[Any, Any]] = {}
        for r in rows:
            layers.setdefault(r["layer_index"], {"layer": r["layer"]})[r["checkpoint_epoch"]] = r
        table_rows = []
        for index in sorted(layers):
            entry = layers[index]
            table_rows.append([f"{index} {entry['layer']}", *(_ms(entry[e], "noisy_train_acc") if e in entry else None for e in shown),
                               _ms(entry[first], "clean_train_acc") if first in entry else None])
        n = max(r["n_runs"] for r in rows)
        return Table(
            [Column("layer", justify="left"), *(Column(f"e={e}", ".3f") for e in shown), Column(f"clean acc (e={first})", ".3f")],
            table_rows,
            title=f"Layer rewinding [{self.s.cell_labels[cell]}]: noisy-train acc after rewinding one layer to epoch e (n={n})",
            caption="a drop in noisy-train acc with clean acc kept high = memorization lives in that layer",
        )

    def _rewind_plot(self, cells: dict[int, list[dict]]) -> Plot | None:
        if len({r["layer_index"] for rows in cells.values() for r in rows}) < 2:
            return None
        series = []
        for cell, rows in list(cells.items())[:MAX_SERIES]:
            first = min(r["checkpoint_epoch"] for r in rows)
            pts = sorted((r["layer_index"], r["noisy_train_acc_mean"]) for r in rows if r["checkpoint_epoch"] == first)
            series.append(Series(f"{self.s.cell_labels[cell]} (e={first})", [p[0] for p in pts], [p[1] for p in pts]))
        return Plot("line", series, title="noisy-train accuracy after rewinding each layer to its earliest checkpoint",
                    xlabel="layer index", ylim=(0.0, 1.0), height=16)

    def neuron_flips(self) -> Section | None:
        """Per cell, over counted targets only (fitted at the start): the median parameters to
        flip per run, the share flipped, and the collateral damage (as flipping.summary)."""
        if not self.s.has("neuron_flips"):
            return None
        values = ["median_edits", "share_flipped", "median_test_drop", "median_clean_drop"]
        rows = grouped.over_seeds(self.s, flipping.summary(self.s), by=["group"], values=values,
                                  totals=["counted", "targets"]).to_pylist()
        by_cell: dict[int, dict[str, dict]] = {}
        for r in rows:
            by_cell.setdefault(r["cell"], {})[r["group"]] = r
        table_rows = []
        for cell, parts in by_cell.items():
            clean, noisy = parts.get("clean", {}), parts.get("noisy", {})
            table_rows.append(
                [*self.cell_columns(cell), max(clean.get("n_runs", 0), noisy.get("n_runs", 0)),
                 *(f"{g.get('counted_total', 0)}/{g.get('targets_total', 0)}" for g in (clean, noisy)),
                 _ms(clean, "median_edits"), _ms(noisy, "median_edits"), _ms(clean, "share_flipped"), _ms(noisy, "share_flipped"),
                 *(f"{_drop(g, 'median_test_drop')} / {_drop(g, 'median_clean_drop')}" for g in (clean, noisy))]
            )
        table = Table(
            [*self.key_columns(), Column("n", "d"), Column("counted (clean)"), Column("counted (noisy)"), Column("neurons (clean)", ".1f"),
             Column("neurons (noisy)", ".1f"), Column("flipped (clean)", ".2f"), Column("flipped (noisy)", ".2f"),
             Column("drop test / clean (clean)"), Column("drop test / clean (noisy)")],
            table_rows,
            title="Neuron flipping: parameters zeroed to flip a target's prediction (counted targets only)",
            caption="counted: targets the model fitted at the start / all targets, over the cell's runs (the others are skipped, "
            "with no count); neurons: median per run over flipped targets; flipped: share of counted targets; drop (collateral "
            "damage): median over flipped targets of accuracy before - after the edit on the test and clean-train samples "
            "(mean over seeds)",
        )
        labels = [self.s.cell_labels[c] for c in by_cell][: MAX_SERIES * 2]
        series = [Series(group, list(range(len(labels))), [by_cell[c].get(group, {}).get("median_edits_mean") or 0.0 for c in by_cell][: len(labels)])
                  for group in ("clean", "noisy")]
        plot = Plot("bars", series, title="median parameters to flip (mean over seeds): clean vs noisy counted targets", categories=labels)
        return Section("flipping", "Neuron flipping", [table, plot], ("neuron_flips",))

    def etd(self) -> Section | None:
        if not self.s.has("etd_evals"):
            return None
        rows = grouped.over_seeds(self.s, etd.evals(self.s), by=["mode_order", "mode"], values=ACCURACIES).to_pylist()
        table = Table(
            [*self.key_columns(), Column("mode", justify="left"), Column("n", "d"), *(Column(n, ".3f") for n in ACC_COLUMNS)],
            [[*self.cell_columns(r["cell"]), r["mode"], r["n_runs"], *(_ms(r, a) for a in ACCURACIES)] for r in rows],
            title="Example-tied dropout: memorization neurons kept (before) vs dropped (after)",
            caption="dropping the memorization neurons should erase noisy-train acc while clean and test acc stay",
        )
        cells = sorted({r["cell"] for r in rows})[: MAX_SERIES * 2]
        by = {(r["cell"], r["mode"]): r for r in rows}
        series = [Series(mode, list(range(len(cells))), [(by.get((c, mode)) or {}).get("noisy_train_acc_mean") or 0.0 for c in cells])
                  for mode in ("kept", "dropped")]
        plot = Plot("bars", series, title="noisy-train accuracy with memorization neurons kept vs dropped",
                    categories=[self.s.cell_labels[c] for c in cells], ylim=(0.0, 1.0))
        return Section("etd", "Example-tied dropout", [table, plot], ("etd_evals",))


def _drop(group: dict[str, Any], value: str) -> str:
    from memscope.report.blocks import format_value

    return format_value(group.get(f"{value}_mean"), ".3f")


def build_sweep_report(home: Union[Home, str, Path], sweep_id: str) -> Report:
    """The sweep's sections (only those with data), over its completed runs."""
    with open_sweep(home, sweep_id) as sweep:
        builder = _Builder(sweep)
        sections = [builder.header()]
        if sweep.runs:
            for build in (builder.final_accuracy, builder.curves, builder.rewinding, builder.neuron_flips, builder.etd):
                section = build()
                if section is not None:
                    sections.append(section)
        return Report(sweep.sweep_id, sections)


def sweep_report(home: Union[Home, str, Path], sweep_id: str, width: int = 100, plots: bool = True) -> list[Any]:
    """The sweep's report as rich renderables, in order."""
    from memscope.report.render import to_renderables

    return to_renderables(build_sweep_report(home, sweep_id), width, plots)


def print_sweep_report(home: Union[Home, str, Path], sweep_id: str, file=None, width: int | None = None,
                       format_: str = "text", plots: bool = True) -> None:
    """Print the sweep's report (to stdout by default; plain text when not a terminal, or Markdown)."""
    from rich.console import Console

    from memscope.report.render import render_markdown, render_text

    file = file or sys.stdout
    report = build_sweep_report(home, sweep_id)
    if format_ == "markdown":
        file.write(render_markdown(report, width or 120, plots=plots))
        return
    tty = hasattr(file, "isatty") and file.isatty()
    console = Console(file=file, width=width or (None if tty else 120), soft_wrap=False, highlight=False, emoji=False)
    render_text(report, console, plots=plots)


def sweep_report_text(home: Union[Home, str, Path], sweep_id: str, width: int = 120) -> str:
    """The sweep's report as plain text."""
    import io

    buffer = io.StringIO()
    print_sweep_report(home, sweep_id, file=buffer, width=width)
    return buffer.getvalue()


def sweep_curves(home: Union[Home, str, Path], sweep_id: str, include_running: bool = True) -> "pa.Table":
    """Learning curves per cell and epoch, mean and std over the cell's runs (seeds).

    Columns: ``cell`` (int), ``cell_label``, one string column per grid key other than
    seed, ``epoch``, ``n_runs``, and ``<metric>_mean`` / ``<metric>_std`` for each of
    clean_train_acc, noisy_train_acc, noisy_train_true_acc, test_acc, train_loss, test_loss.
    Running runs count too unless ``include_running=False`` (``n_runs`` says how many).
    """
    statuses = ("completed", "running") if include_running else ("completed",)
    with open_sweep(home, sweep_id, statuses) as sweep:
        return grouped.over_seeds(sweep, training.epochs(sweep), by=["epoch"], values=CURVE_METRICS)
