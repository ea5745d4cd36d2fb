"""Layers & neurons: where memorization lives, one panel per analysis of the paper."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Label, Select, TabbedContent, TabPane

from memscope.format import accuracy
from memscope.report import flips
from memscope.report.blocks import spread
from memscope.results.analyses import etd, flipping, gradients, model, retraining, rewinding
from memscope.results.runs import parts_signature
from memscope.results.source import open_run
from memscope.tui.screens.base import SectionScreen
from memscope.tui.screens.pick_run import PickRunMixin
from memscope.tui.widgets.mode_bar import ModeBar
from memscope.tui.widgets.plots import BarPlot, Heatmap, HistogramPlot, LinePlot, Series

#: panel id -> (title, table, analysis that writes it, what to look for)
PANELS = {
    "gradients": (
        "Gradients", "layer_epochs", "gradient_accounting",
        "Look for: while memorization happens, the few noisy examples pull gradients as hard as the many clean "
        "ones in every layer, against them (cosine < 0): memorization is spread over layers, not only the last.",
    ),
    "rewinding": (
        "Rewinding", "layer_rewinds", "rewinding",
        "Look for: rewinding one layer to an early checkpoint; if noisy-train accuracy stays high for the last "
        "layers, memorization is not confined to the final layers.",
    ),
    "retraining": (
        "Retraining", "layer_retrains", "retraining",
        "Look for: a reset layer retrained on clean examples only; noisy-train accuracy coming back means other "
        "layers still hold the memorized labels.",
    ),
    "flips": (
        "Neuron flips", "neuron_flips", "neuron_flipping",
        "Look for: noisy targets the model memorized flip after zeroing far fewer parameters than clean ones, "
        "with little damage to test accuracy, and those parameters sit in many layers.",
    ),
    "etd": (
        "ETD", "etd_evals", "etd",
        "Look for: example-tied dropout confines memorization to chosen neurons; dropping them should crash "
        "noisy-train accuracy while clean-train and test accuracy stay.",
    ),
}
MAX_COLS = 12


def empty_text(panel: str) -> str:
    _, table, analysis, _ = PANELS[panel]
    return f"no {table} yet: add analysis '{analysis}' to the run"


def _cols(table: Any) -> dict[str, list]:
    return {n: table.column(n).to_pylist() for n in table.column_names}


def _pick(values: list[int], limit: int) -> list[int]:
    """About ``limit`` of the sorted ``values``, spread evenly, first and last included."""
    return [values[i] for i in spread(len(values), limit)]


def read_layers(home: Any, run_id: str) -> dict[str, Any]:
    """Everything the screen draws, from the analysis readers the report uses too (so the
    app and the report count the same targets and windows)."""
    with open_run(home, run_id) as run:
        return {
            "layer_epochs": gradients.layer_epochs(run),
            "gradient_windows": gradients.windows(run, gradients.WINDOW, with_all=False),
            "layer_rewinds": rewinding.rewinds(run),
            "layer_retrains": retraining.retrains(run),
            "neuron_flips": flipping.targets(run),
            "flip_summary": flipping.summary(run),
            "flip_placement": flipping.placement(run),
            "model_layers": model.layers(run),
            "etd_evals": etd.evals(run),
        }


def _window_cell(cosine: float | None, ratio: float | None) -> str:
    """``-0.81 / 8.0x``: two decimals of cosine and one of the ratio keep eight windows within
    120 columns (the report prints the full numbers)."""
    c = "—" if cosine is None else f"{cosine:.2f}"
    r = "—" if ratio is None else f"{ratio:.1f}x"
    return f"{c} / {r}"


class LayersScreen(PickRunMixin, SectionScreen):
    MODE = "layers"
    HELP_TITLE = "Layers & neurons"
    LIVE = True
    BINDINGS = [
        Binding("p", "pick_run", "Pick run"),
        Binding("g", "tab('gradients')", "Gradients"),
        Binding("w", "tab('rewinding')", "Rewinding"),
        Binding("t", "tab('retraining')", "Retraining"),
        Binding("f", "tab('flips')", "Flips"),
        Binding("d", "tab('etd')", "ETD"),
        Binding("r", "reload", "Refresh", show=False),
        Binding("s", "save_figure", "Save"),  # of the plot on screen, in figures/<run id>/ (a toast says where)
    ]

    @dataclass
    class LayersLoaded(Message):
        run_id: str
        tables: dict[str, Any]
        signature: tuple

    def __init__(self) -> None:
        super().__init__()
        self.signature: tuple | None = None
        self.tables: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield ModeBar(self.MODE)
        with TabbedContent(id="layers-tabs"):
            with TabPane("Gradients", id="gradients"):
                with VerticalScroll():
                    yield from self._head("gradients")
                    with Vertical(id="gradients-content", classes="panel-content"):
                        yield Select([("all layers", "__all__")], value="__all__", allow_blank=False, id="gradients-layer", compact=True)
                        yield LinePlot("gradient norm per example: clean vs noisy", id="gradients-norms")
                        yield Heatmap("cosine(clean, noisy gradient), layer x 5-epoch window", low="error", high="success", id="gradients-cosine")
                        yield Label("whole training by 5-epoch window: cosine / noisy-to-clean gradient norm per example", classes="panel-note")
                        yield DataTable(id="gradients-windows", zebra_stripes=True)
            with TabPane("Rewinding", id="rewinding"):
                with VerticalScroll():
                    yield from self._head("rewinding")
                    with Vertical(id="rewinding-content", classes="panel-content"):
                        yield Heatmap("noisy-train accuracy after rewinding (layer x checkpoint epoch)", low="surface", high="error", id="rewind-noisy")
                        yield Heatmap("clean-train accuracy after rewinding", low="surface", high="success", id="rewind-clean")
            with TabPane("Retraining", id="retraining"):
                with VerticalScroll():
                    yield from self._head("retraining")
                    with Horizontal(id="retraining-content", classes="panel-content plot-row"):
                        yield LinePlot("noisy-train acc while retraining", xlabel="retrain epoch", ylim=(0, 1), id="retrain-noisy")
                        yield LinePlot("clean-train acc while retraining", xlabel="retrain epoch", ylim=(0, 1), id="retrain-clean")
            with TabPane("Neuron flips", id="flips"):
                with VerticalScroll():
                    yield from self._head("flips")
                    with Vertical(id="flips-content", classes="panel-content"):
                        yield Label("", id="flips-summary")
                        with Horizontal(classes="plot-row"):
                            yield HistogramPlot("neurons to flip", xlabel="neurons zeroed", id="flips-hist")
                            yield BarPlot("zeroed parameters by layer (flipped targets)", id="flips-layers")
            with TabPane("ETD", id="etd"):
                with VerticalScroll():
                    yield from self._head("etd")
                    with Vertical(id="etd-content", classes="panel-content"):
                        yield DataTable(id="etd-table", zebra_stripes=True)
                        yield BarPlot("accuracy with memorization neurons kept vs dropped", id="etd-bars")
        yield Label("", id="layers-none", classes="empty-note")
        yield Footer()

    def _head(self, panel: str) -> ComposeResult:
        yield Label(PANELS[panel][3], classes="panel-note")
        yield Label(empty_text(panel), classes="panel-empty", id=f"{panel}-empty")

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.app, "run_id", lambda _run: self._reset_and_load())

    def _reset_and_load(self) -> None:
        self.signature = None
        self.load()

    def tick(self) -> None:
        self.load()

    def action_reload(self) -> None:
        self._reset_and_load()

    def action_save_figure(self) -> None:
        """Save the plot on screen with the figure functions of ``memscope figures``."""
        figures = {"gradients": ("gradient_norms", "gradient_cosine"), "rewinding": ("rewinding",),
                   "retraining": ("retraining",), "flips": ("neuron_flipping",), "etd": ("etd",)}
        if self.mapp.run_id is None:
            self.notify("No run selected: choose one in Runs (1) or press p.", severity="warning")
            return
        self._save_figures(self.mapp.run_id, figures[self.query_one(TabbedContent).active])

    @work(thread=True, exclusive=True, group="layers-save", exit_on_error=False)
    def _save_figures(self, run_id: str, names: tuple[str, ...]) -> None:
        from memscope.errors import MemscopeError
        from memscope.figures.build import save_run_figures

        try:
            folder, written = save_run_figures(self.mapp.home, run_id, names)
        except MemscopeError as exc:
            self.app.call_from_thread(self.notify, exc.message, severity="error")
            return
        if written.files:
            saved = ", ".join(p.name for p in written.files)
            self.app.call_from_thread(self.notify, f"Saved {saved} in {folder}", title="Figure saved")
        else:
            self.app.call_from_thread(self.notify, "; ".join(written.skipped), severity="warning")

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    @work(thread=True, exclusive=True, group="layers-load", exit_on_error=False)
    def load(self) -> None:
        run_id = self.mapp.run_id
        if run_id is None or not self.mapp.home.run_dir(run_id).is_dir():
            self.post_message(self.LayersLoaded(run_id or "", {}, ()))
            return
        signature = parts_signature(
            self.mapp.home, run_id, ("layers", "layer_epochs", "layer_rewinds", "layer_retrains", "neuron_flips",
                                     "neuron_flip_steps", "etd_evals"),
        )
        if signature == self.signature:
            return
        self.post_message(self.LayersLoaded(run_id, read_layers(self.mapp.home, run_id), signature))

    def on_layers_screen_layers_loaded(self, message: LayersLoaded) -> None:
        none = self.query_one("#layers-none", Label)
        tabs = self.query_one(TabbedContent)
        if not message.tables:
            none.update("No run selected: choose one in Runs (1) or press p.")
            none.display, tabs.display = True, False
            return
        if message.run_id != self.mapp.run_id:
            return
        none.display, tabs.display = False, True
        self.signature = message.signature
        self.tables = message.tables
        self._gradients()
        self._rewinding()
        self._retraining()
        self._flips()
        self._etd()

    def _set_empty(self, panel: str, empty: bool) -> None:
        self.query_one(f"#{panel}-empty", Label).display = empty
        self.query_one(f"#{panel}-content").display = not empty

    # ------------------------------------------------------------------ panels

    def _gradients(self) -> None:
        t = self.tables["layer_epochs"]
        self._set_empty("gradients", t.num_rows == 0)
        c = _cols(t)
        layers = list(dict.fromkeys(c.get("layer", [])))
        select = self.query_one("#gradients-layer", Select)
        options = [("all layers", "__all__")] + [(name, name) for name in layers]
        current = select.value
        with select.prevent(Select.Changed):
            select.set_options(options)
            select.value = current if current in [v for _, v in options] else "__all__"
        self._gradient_norms()
        ws = self.tables["gradient_windows"].to_pylist()
        labels = sorted({w["start"]: w["label"] for w in ws}.items())
        by = {(w["layer"], w["start"]): w for w in ws}
        self.query_one("#gradients-cosine", Heatmap).show(
            layers, [label for _, label in labels], [[by[(l, start)]["cosine"] if (l, start) in by else None for start, _ in labels] for l in layers],
            vmin=-1.0, vmax=1.0,
        )
        table = self.query_one("#gradients-windows", DataTable)
        table.clear(columns=True)
        table.add_columns("layer", *[f"ep {label}" for _, label in labels])
        for layer in layers:
            cells = []
            for start, _ in labels:
                w = by.get((layer, start))
                cells.append("" if w is None else _window_cell(w["cosine"], w["ratio_per_example"]))
            table.add_row(layer, *cells)

    @on(Select.Changed, "#gradients-layer")
    def _gradient_layer(self) -> None:
        if self.tables:
            self._gradient_norms()

    def _gradient_norms(self) -> None:
        c = _cols(self.tables["layer_epochs"])
        chosen = self.query_one("#gradients-layer", Select).value
        sums: dict[int, list[float]] = {}
        for layer, epoch, clean, noisy in zip(c.get("layer", []), c.get("epoch", []),
                                              c.get("clean_norm_per_example", []), c.get("noisy_norm_per_example", [])):
            if chosen != "__all__" and layer != chosen:
                continue
            acc = sums.setdefault(epoch, [0.0, 0.0])
            acc[0] += clean or 0.0
            acc[1] += noisy or 0.0
        xs = sorted(sums)
        what = "all layers" if chosen == "__all__" else str(chosen)
        self.query_one("#gradients-norms", LinePlot).show([
            Series("clean", xs, [sums[x][0] for x in xs], "clean"),
            Series("noisy", xs, [sums[x][1] for x in xs], "noisy"),
        ], title=f"gradient norm per example, {what}: clean vs noisy", empty="no layer_epochs")

    def _rewinding(self) -> None:
        t = self.tables["layer_rewinds"]
        self._set_empty("rewinding", t.num_rows == 0)
        c = _cols(t)
        layers = list(dict.fromkeys(c.get("layer", [])))
        checkpoints = _pick(sorted(set(c.get("checkpoint_epoch", []))), MAX_COLS)
        for metric, widget in (("noisy_train_acc", "#rewind-noisy"), ("clean_train_acc", "#rewind-clean")):
            grid = {(l, e): v for l, e, v in zip(c.get("layer", []), c.get("checkpoint_epoch", []), c.get(metric, []))}
            self.query_one(widget, Heatmap).show(
                layers, [str(e) for e in checkpoints], [[grid.get((l, e)) for e in checkpoints] for l in layers], 0.0, 1.0
            )

    def _retraining(self) -> None:
        t = self.tables["layer_retrains"]
        self._set_empty("retraining", t.num_rows == 0)
        c = _cols(t)
        resets = sorted(set(c.get("reset_epoch", [])))
        reset = resets[-1] if resets else None
        for metric, widget in (("noisy_train_acc", "#retrain-noisy"), ("clean_train_acc", "#retrain-clean")):
            by_layer: dict[str, tuple[list, list]] = {}
            for layer, r, x, y in zip(c.get("layer", []), c.get("reset_epoch", []), c.get("retrain_epoch", []), c.get(metric, [])):
                if r != reset:
                    continue
                xs, ys = by_layer.setdefault(layer, ([], []))
                xs.append(x)
                ys.append(y)
            series = [Series(layer, xs, ys, f"layer{i}") for i, (layer, (xs, ys)) in enumerate(by_layer.items())]
            self.query_one(widget, LinePlot).show(series, empty="no layer_retrains")

    def _flips(self) -> None:
        """Counted targets only (fitted at the start), each count beside its collateral damage."""
        t = self.tables["neuron_flips"]
        self._set_empty("flips", t.num_rows == 0)
        edits: dict[str, list[int]] = {}
        for target in t.to_pylist():
            if target["neurons_to_flip"] is not None:
                edits.setdefault("noisy" if target["is_noisy"] else "clean", []).append(target["neurons_to_flip"])
        self.query_one("#flips-hist", HistogramPlot).show([Series(label, [], edits.get(label, []), label) for label in ("clean", "noisy")])
        per_layer: dict[tuple[int, str], int] = {}
        layers: dict[int, str] = {}
        placement = self.tables["flip_placement"].to_pylist()
        for r in self.tables["model_layers"].to_pylist() if placement else []:  # zeros shown too
            layers.setdefault(r["layer_index"], r["layer"])
        for r in placement:  # summed over parameter kinds
            layers.setdefault(r["layer_index"], r["layer"])
            per_layer[(r["layer_index"], r["group"])] = per_layer.get((r["layer_index"], r["group"]), 0) + r["edits"]
        self.query_one("#flips-layers", BarPlot).show(
            [layers[i] for i in sorted(layers)], [Series(g, [], [per_layer.get((i, g), 0) for i in sorted(layers)], g) for g in ("clean", "noisy")],
        )
        groups = self.tables["flip_summary"].to_pylist()  # noisy first
        lines = [flips.summary_line(g) for g in groups]
        skipped = flips.skipped_text(groups)
        if skipped:
            lines.append(skipped)
        self.query_one("#flips-summary", Label).update("\n".join(lines))

    def _etd(self) -> None:
        t = self.tables["etd_evals"]
        self._set_empty("etd", t.num_rows == 0)
        c = _cols(t)
        cats = ["clean-train", "noisy-train", "noisy→true", "test"]
        keys = ["clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc"]
        series = []
        for i, mode in enumerate(c.get("mode", [])):
            series.append(Series(mode, [], [c[k][i] for k in keys], {"example": "clean", "kept": "test"}.get(mode, "noisy")))
        self.query_one("#etd-bars", BarPlot).show(cats if series else [], series)
        table = self.query_one("#etd-table", DataTable)
        table.clear(columns=True)
        table.add_columns("mode", *cats)
        for i, mode in enumerate(c.get("mode", [])):
            table.add_row(mode, *[Text(accuracy(c[k][i]), justify="right") for k in keys])
