"""Compare runs: the config keys that differ, side by side, and their curves overlaid."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Select

from memscope.tui import data
from memscope.tui.screens.runs import short_id
from memscope.tui.widgets.plots import LinePlot, Series

METRICS = (
    ("noisy-train accuracy (memorization)", "noisy_train_acc"),
    ("clean-train accuracy", "clean_train_acc"),
    ("test accuracy", "test_acc"),
    ("train loss", "train_loss"),
    ("noisy-train loss", "noisy_train_loss"),
    ("test loss", "test_loss"),
)


class CompareScreen(Screen):
    HELP_TITLE = "Compare runs"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("m", "next_metric", "Next metric"),
    ]

    @dataclass
    class ComparisonLoaded(Message):
        diff: list[tuple[str, list[str]]]
        curves: dict[str, list[float]]
        metric: str

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.run_ids = run_ids

    def compose(self) -> ComposeResult:
        yield Label(f"Comparing {len(self.run_ids)} runs  (escape: back)", classes="screen-title")
        with Horizontal(id="compare-body"):
            with Vertical(id="compare-left"):
                yield Label("config keys that differ", classes="panel-title")
                yield DataTable(id="compare-diff", zebra_stripes=True)
            with Vertical(id="compare-right"):
                yield Select(METRICS, value="noisy_train_acc", allow_blank=False, id="compare-metric", compact=True)
                yield LinePlot("", id="compare-plot")
        yield Footer()

    def on_mount(self) -> None:
        self.load("noisy_train_acc")

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self, metric: str) -> None:
        app = self.app
        diff = data.config_diff(app.home, self.run_ids)  # type: ignore[attr-defined]
        curves = app.store.curves(metric, self.run_ids)  # type: ignore[attr-defined]
        self.post_message(self.ComparisonLoaded(diff, curves, metric))

    def on_compare_screen_comparison_loaded(self, message: ComparisonLoaded) -> None:
        table = self.query_one("#compare-diff", DataTable)
        table.clear(columns=True)
        table.add_column("key", key="key")
        for i, run_id in enumerate(self.run_ids):
            table.add_column(f"#{i + 1} {short_id(run_id)}", key=run_id)
        for key, values in message.diff:
            table.add_row(key, *values)
        if not message.diff:
            table.add_row("(the configs are identical)", *["" for _ in self.run_ids])
        label = dict((v, k) for k, v in METRICS).get(message.metric, message.metric)
        series = [
            Series(f"#{i + 1} {short_id(r)}", list(range(1, len(message.curves.get(r, [])) + 1)), message.curves.get(r, []), f"c{i}")
            for i, r in enumerate(self.run_ids)
        ]
        plot = self.query_one("#compare-plot", LinePlot)
        plot.ylim = (0, 1) if message.metric.endswith("_acc") else None
        plot.show(series, title=label)

    @on(Select.Changed, "#compare-metric")
    def _metric(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.load(event.value)

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState

        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.report_error(event.worker.error, "compare")  # type: ignore[attr-defined]

    def action_next_metric(self) -> None:
        select = self.query_one("#compare-metric", Select)
        keys = [v for _, v in METRICS]
        select.value = keys[(keys.index(str(select.value)) + 1) % len(keys)]
