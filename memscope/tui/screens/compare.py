"""Compare runs: the config keys that differ, side by side, and their curves overlaid."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Select, Static

from memscope.results.configs import config_diff
from memscope.tui.widgets.plots import LinePlot, Series

METRICS = (
    ("noisy-train accuracy (memorization)", "noisy_train_acc"),
    ("clean-train accuracy", "clean_train_acc"),
    ("test accuracy", "test_acc"),
    ("train loss", "train_loss"),
    ("noisy-train loss", "noisy_train_loss"),
    ("test loss", "test_loss"),
)


def clip(text: str, width: int, keep_end: bool = False) -> str:
    """``text`` in ``width`` cells, its end (or its start) replaced by '…' when it is longer."""
    if len(text) <= width:
        return text
    return "…" + text[len(text) - width + 1:] if keep_end else text[: max(0, width - 1)] + "…"


class CompareScreen(Screen):
    HELP_TITLE = "Compare runs"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
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
        self.diff: list[tuple[str, list[str]]] | None = None

    def compose(self) -> ComposeResult:
        yield Label(f"Comparing {len(self.run_ids)} runs  (escape: back)", classes="screen-title")
        # The runs are named once here and by number (#1, #2, ...) in the table and the plot,
        # so every run's column fits at 80 columns.
        yield Static("\n".join(f"#{i + 1} {run_id}" for i, run_id in enumerate(self.run_ids)),
                     id="compare-runs", markup=False)
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
        diff = config_diff(app.home, self.run_ids)  # type: ignore[attr-defined]
        curves = app.store.curves(metric, self.run_ids)  # type: ignore[attr-defined]
        self.post_message(self.ComparisonLoaded(diff, curves, metric))

    def on_compare_screen_comparison_loaded(self, message: ComparisonLoaded) -> None:
        self.diff = message.diff
        self.draw_diff()
        label = dict((v, k) for k, v in METRICS).get(message.metric, message.metric)
        series = [
            Series(f"#{i + 1}", list(range(1, len(message.curves.get(r, [])) + 1)), message.curves.get(r, []), f"c{i}")
            for i, r in enumerate(self.run_ids)
        ]
        plot = self.query_one("#compare-plot", LinePlot)
        plot.ylim = (0, 1) if message.metric.endswith("_acc") else None
        plot.show(series, title=label)

    def draw_diff(self) -> None:
        """The differing keys, every run's column fitted into the table's width."""
        table = self.query_one("#compare-diff", DataTable)
        if not table.size.width:  # not laid out yet
            self.call_after_refresh(self.draw_diff)
            return
        table.clear(columns=True)
        rows = self.diff or [("(the configs are identical)", ["" for _ in self.run_ids])]
        available = table.size.width - 2  # room for a scrollbar
        key_width = min(max(16, int(available * 0.4)), max(len("key"), *(len(key) for key, _ in rows)))
        per_run = max(6, (available - key_width - 2) // len(self.run_ids) - 2)  # 2: cell padding
        table.add_column("key", key="key", width=key_width)
        for i, run_id in enumerate(self.run_ids):
            table.add_column(f"#{i + 1}", key=run_id, width=per_run)
        for key, values in rows:
            # a long key keeps its end: 'analysis.neuron_flipping.num_targets' -> '…flipping.num_targets'
            table.add_row(clip(key, key_width, keep_end=True), *[clip(v, per_run) for v in values])

    def on_resize(self) -> None:
        if self.diff is not None:
            self.call_after_refresh(self.draw_diff)

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
