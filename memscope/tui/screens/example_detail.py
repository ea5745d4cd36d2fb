"""One example: its image, true and observed labels, per-epoch trace, neurons-to-flip steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from memscope.format import compact, plural
from memscope.results.examples import ExampleDetail, example_detail
from memscope.tui.widgets.image import ImageView
from memscope.tui.widgets.plots import LinePlot, Series
from memscope.tui.widgets.tables import cell


class ExampleDetailScreen(Screen):
    HELP_TITLE = "Example detail"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("n,down", "step(1)", "Next example"),
        Binding("b,up", "step(-1)", "Previous example"),
    ]

    @dataclass
    class DetailLoaded(Message):
        detail: ExampleDetail

    @dataclass
    class ImageLoaded(Message):
        example: int
        image: Any
        class_names: list[str]
        error: str

    def __init__(self, run_id: str, examples: list[int], index: int = 0) -> None:
        super().__init__()
        self.run_id = run_id
        self.examples = examples
        self.index = index
        self.class_names: list[str] = []
        self.detail: ExampleDetail | None = None

    @property
    def example(self) -> int:
        return int(self.examples[self.index])

    def compose(self) -> ComposeResult:
        yield Label("", id="example-title", classes="screen-title")
        with Horizontal(id="example-body"):
            with Vertical(id="example-left"):
                yield ImageView(id="example-image")
                yield Static("", id="example-facts")
            with Vertical(id="example-right"):
                yield LinePlot("per-epoch trace", id="example-trace")
                yield Label("neurons to flip (zeroed in this order until the prediction changed)", classes="panel-title")
                yield DataTable(id="example-steps", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        self.query_one("#example-title", Label).update(
            f"example {self.example} of run {self.run_id}  ({self.index + 1}/{len(self.examples)} on this page · escape: back)"
        )
        self.query_one("#example-image", ImageView).show(None, "loading image…")
        self.load_detail(self.example)
        self.load_image(self.example)

    @work(thread=True, exclusive=True, group="example-detail", exit_on_error=False)
    def load_detail(self, example: int) -> None:
        self.post_message(self.DetailLoaded(example_detail(self.app.store, self.run_id, example)))  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, group="example-image", exit_on_error=False)
    def load_image(self, example: int) -> None:
        try:
            images, names = self.app.images.get(self.run_id)  # type: ignore[attr-defined]
            image = images[example] if 0 <= example < len(images) else None
            error = "" if image is not None else f"example {example} is outside the dataset"
        except Exception as exc:  # noqa: BLE001 - a dataset that cannot be read here
            image, names, error = None, [], getattr(exc, "message", None) or str(exc)
        self.post_message(self.ImageLoaded(example, image, names, error))

    def on_example_detail_screen_image_loaded(self, message: ImageLoaded) -> None:
        if message.example != self.example:
            return
        self.class_names = message.class_names
        self.query_one("#example-image", ImageView).show(message.image, f"no image: {message.error}")
        if self.detail is not None:
            self._facts(self.detail)

    def on_example_detail_screen_detail_loaded(self, message: DetailLoaded) -> None:
        d = message.detail
        if d.example != self.example:
            return
        self.detail = d
        self._facts(d)
        xs = [r["epoch"] for r in d.trace]
        self.query_one("#example-trace", LinePlot).show([
            Series("loss", xs, [r["loss"] for r in d.trace], "loss"),
            Series("correct (0/1)", xs, [1.0 if r["correct"] else 0.0 for r in d.trace], "clean"),
            Series("margin", xs, [r["margin"] for r in d.trace], "test"),
        ], title="per-epoch loss, correctness and margin", empty="no per-epoch rows")
        table = self.query_one("#example-steps", DataTable)
        table.clear(columns=True)
        table.add_columns("step", "layer", "unit", "score")
        for s in d.steps:
            table.add_row(cell(s["step"]), f"{s['layer']} (#{s['layer_index']})", cell(s["unit"]), cell(s["score"]))
        if not d.steps:
            table.add_row("", "no neuron_flip_steps for this example: add analysis 'neuron_flipping' to the run", "", "")

    def _label(self, value: Any) -> str:
        if value is None:
            return "-"
        name = self.class_names[value] if self.class_names and 0 <= value < len(self.class_names) else ""
        return f"{value} ({name})" if name and name != str(value) else str(value)

    def _facts(self, d: ExampleDetail) -> None:
        info = d.info
        t = Text()
        noisy = bool(info.get("is_noisy"))
        vars_ = self.app.theme_variables
        t.append("noisy label\n" if noisy else "clean label\n", style=f"bold {vars_.get('error' if noisy else 'success', '')}")
        t.append(f"true      {self._label(info.get('true_label'))}\n")
        t.append(f"observed  {self._label(info.get('observed_label'))}\n")
        if d.trace:
            last = d.trace[-1]
            t.append(f"final pred {self._label(last.get('pred'))}\n")
            t.append(f"final loss {compact(last['loss'])}  margin {compact(last['margin'])}\n")
            correct = [r["epoch"] for r in d.trace if r["correct"]]
            if noisy:
                t.append("memorized" if last.get("correct") else "not memorized", style="bold")
                t.append(f" (fits its wrong label in {len(correct)}/{len(d.trace)} epochs)\n")
            else:
                t.append(f"correct in {len(correct)}/{len(d.trace)} epochs\n")
        if d.flip:
            f = d.flip
            if f.get("flipped"):
                t.append(f"flipped by zeroing {plural(int(f.get('neurons_to_flip') or 0), 'neuron')}"
                         f" → pred {self._label(f.get('new_pred'))}\n")
            else:
                t.append("not flipped within the neuron budget\n")
        for s in d.scores:
            t.append(f"{s['analysis']}.{s['metric']} = {compact(s['value'])}\n")
        self.query_one("#example-facts", Static).update(t)

    def action_step(self, step: int) -> None:
        new = self.index + step
        if 0 <= new < len(self.examples):
            self.index = new
            self.detail = None
            self.load()

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState

        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.report_error(event.worker.error, "example")  # type: ignore[attr-defined]
