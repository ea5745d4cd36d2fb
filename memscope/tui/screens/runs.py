"""Runs: every run in the home, live; sort, filter, mark, compare, tag, note, cancel, delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Label

from memscope.errors import MemscopeError
from memscope.format import accuracy
from memscope.results.runs import RunRow, delete_runs, list_runs, refuse_running
from memscope.store.runinfo import FINISHED_STATUSES
from memscope.tui.run_filter import FilterError, parse_filter
from memscope.tui.screens.annotate import annotation_line, ask_note, ask_tag
from memscope.tui.screens.base import SectionScreen
from memscope.tui.screens.dialogs import ConfirmScreen
from memscope.tui.widgets.mode_bar import ModeBar
from memscope.tui.widgets.plots import sparkline

#: (column key, header) of the runs table, in the order shown.
COLUMNS = (
    ("mark", " "),
    ("run_id", "run"),
    ("status", "status"),
    ("progress", "epoch"),
    ("noise", "noise"),
    ("seed", "seed"),
    ("clean_train_acc", "clean"),
    ("noisy_train_acc", "noisy"),
    ("test_acc", "test"),
    ("curve", "noisy-train"),
    ("data", "data / model"),
    ("created_at", "started"),
    ("annotations", "tags / note"),
)
#: Columns kept first when the terminal is narrow: what a run is and what it memorized come
#: before how it got there. Columns that do not fit are left out, never cut or scrolled to.
#: The tags / note column comes only when some run has one, and then before the progress:
#: a person who tagged runs wants to tell them apart at 80 columns.
PRIORITY = ("mark", "run_id", "status", "noise", "noisy_train_acc", "test_acc", "clean_train_acc",
            "annotations", "progress", "curve", "created_at", "data", "seed")
#: The tags / note column is as wide as this at most (the rest is in 'memscope runs show').
ANNOTATION_WIDTH = 24
CELL_PADDING = 2  # the DataTable's cell padding, one column each side
SORTABLE = ("run_id", "status", "progress", "noise", "seed", "clean_train_acc",
            "noisy_train_acc", "test_acc", "data", "created_at")
STATUS_STYLE = {"running": "accent", "completed": "success", "cancelled": "warning", "failed": "error", "crashed": "error"}


def status_text(app, status: str) -> Text:
    variable = STATUS_STYLE.get(status, "foreground")
    color = app.theme_variables.get(variable, "")
    return Text(status, style=f"bold {color}" if color else "bold")


def short_id(run_id: str) -> str:
    """``20260105-120000-digits-cnn-3fa2`` -> ``digits-cnn-3fa2`` (the start time has its own column)."""
    parts = run_id.split("-", 2)
    if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
        return parts[2]
    return run_id


def annotation_text(run: RunRow) -> str:
    """A run's tags and the first line of its note, cut to ``ANNOTATION_WIDTH``."""
    note = run.notes.splitlines()[0] if run.notes else ""
    text = " · ".join(part for part in (" ".join(f"{k}={v}" for k, v in run.tags.items()), note) if part)
    return text if cell_len(text) <= ANNOTATION_WIDTH else text[: ANNOTATION_WIDTH - 1].rstrip(" ·") + "…"


def fit_columns(widths: dict[str, int], available: int) -> list[str]:
    """The columns of ``widths`` (in display order) that fit in ``available`` cells, taken by PRIORITY."""
    chosen: set[str] = set()
    used = 0
    for key in (k for k in PRIORITY if k in widths):
        need = widths[key] + CELL_PADDING
        if used + need > available and chosen:
            break
        chosen.add(key)
        used += need
    return [key for key, _ in COLUMNS if key in chosen]


def _sort_value(run: RunRow, key: str):
    if key == "progress":
        return (run.epoch / run.epochs) if run.epochs else 0.0
    if key == "noise":
        return (str(run.get("noise_model", "")), float(run.get("noise_rate", 0.0) or 0.0))
    if key == "data":
        return (str(run.get("dataset", "")), str(run.get("model", "")))
    if key in ("run_id",):
        return run.run_id
    if key == "status":
        return run.status
    value = run.info.get(key)
    if value is None:
        return (1, 0)
    return (0, value)


class RunsScreen(SectionScreen):
    MODE = "runs"
    HELP_TITLE = "Runs"
    LIVE = True
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("x", "cancel_run", "Cancel run"),
        Binding("delete,d", "delete", "Delete"),
        Binding("t", "tag", "Tag"),
        Binding("N", "note", "Note", key_display="N"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse sort", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("e", "examples", "Examples", show=False),
        Binding("l", "layers", "Layers", show=False),
        Binding("n", "app.switch_mode('new')", "New run"),
        Binding("r", "reload", "Refresh", show=False),
    ]

    @dataclass
    class RunsLoaded(Message):
        runs: list[RunRow]
        curves: dict[str, list[float]]

    @dataclass
    class RunsDeleted(Message):
        run_ids: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunRow] = []
        self.curves: dict[str, list[float]] = {}
        # finished runs' curves, with the (epoch, status) they were read at: not re-queried each tick
        self.finished_curves: dict[str, tuple[tuple[int, str], list[float] | None]] = {}
        self.marked: set[str] = set()
        self.sort_key = "run_id"
        self.sort_reverse = True
        self.loaded = False
        self.filter_error = ""

    def compose(self) -> ComposeResult:
        yield ModeBar(self.MODE)
        with Horizontal(id="runs-bar", classes="toolbar"):
            yield Input(placeholder="/ filter: words or status:running rate:0.2 dataset:digits model:cnn", id="runs-filter", compact=True)
            yield Label("", id="runs-summary")
        yield Label("loading runs…", id="runs-empty", classes="empty-note")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Label("", id="runs-annotation", markup=False)  # the highlighted run's tags and note, whole
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(DataTable).focus()
        self.load()

    def on_resize(self) -> None:
        if self.loaded:
            self.render_table()

    def tick(self) -> None:
        self.mapp.reap()
        self.load()

    @work(thread=True, exclusive=True, group="runs-load", exit_on_error=False)
    def load(self) -> None:
        runs = list_runs(self.mapp.home)
        cache = {r.run_id: c for r in runs if (c := self.finished_curves.get(r.run_id)) and c[0] == (r.epoch, r.status)}
        curves = {run_id: ys for run_id, (_, ys) in cache.items() if ys is not None}
        wanted = [r.run_id for r in runs if r.run_id not in cache]
        if wanted:
            try:
                fresh = self.mapp.store.curves("noisy_train_acc", wanted)
            except Exception:  # noqa: BLE001 - sparklines are optional; the list must show
                fresh = None
            if fresh is not None:
                curves.update(fresh)
                for r in runs:
                    if r.run_id in wanted and r.status in FINISHED_STATUSES:
                        cache[r.run_id] = ((r.epoch, r.status), fresh.get(r.run_id))
        self.finished_curves = cache
        self.post_message(self.RunsLoaded(runs, curves))

    def on_runs_screen_runs_loaded(self, message: RunsLoaded) -> None:
        self.runs = message.runs
        self.curves = message.curves
        self.loaded = True
        ids = {r.run_id for r in self.runs}
        self.marked &= ids
        if self.mapp.run_id is None and self.runs:
            self.mapp.run_id = self.runs[0].run_id
        elif self.mapp.run_id is not None and self.mapp.run_id not in ids:
            self.mapp.run_id = self.runs[0].run_id if self.runs else None
        self.render_table()

    def visible_runs(self) -> list[RunRow]:
        """The runs the filter keeps, sorted; none when the filter cannot be read (``filter_error``)."""
        query = self.query_one("#runs-filter", Input).value.strip()
        self.filter_error = ""
        try:
            keep = parse_filter(query)
        except FilterError as exc:
            self.filter_error = str(exc)
            return []
        runs = [r for r in self.runs if keep(r)]
        runs.sort(key=lambda r: _sort_value(r, self.sort_key), reverse=self.sort_reverse)
        return runs

    def render_table(self) -> None:
        table = self.query_one(DataTable)
        current = self.cursor_run_id()
        runs = self.visible_runs()
        rows = [self._cells(run) for run in runs]
        widths = {key: max([cell_len(label)] + [cell_len(str(row[key])) for row in rows]) for key, label in COLUMNS}
        available = (table.size.width or self.size.width or self.app.size.width) - 2  # room for a scrollbar
        if not any(row["annotations"] for row in rows):
            del widths["annotations"]  # no run has tags or a note: no empty column
        shown = fit_columns(widths, available)
        if shown != [str(c.value) for c in table.columns]:
            table.clear(columns=True)
            labels = dict(COLUMNS)
            for key in shown:
                table.add_column(labels[key], key=key)
        table.clear()
        for run, row in zip(runs, rows):
            table.add_row(*[row[key] for key in shown], key=run.run_id)
        if current is not None and current in {r.run_id for r in runs}:
            table.move_cursor(row=table.get_row_index(current), animate=False, scroll=False)
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run.status] = counts.get(run.status, 0) + 1
        summary = f"{len(runs)}/{len(self.runs)} runs"
        if counts.get("running"):
            summary += f" · {counts['running']} running"
        if self.marked:
            summary += f" · {len(self.marked)} marked"
        arrow = "↓" if self.sort_reverse else "↑"
        summary += f" · sort {self.sort_key} {arrow}"
        self.query_one("#runs-summary", Label).update(summary)
        empty = self.query_one("#runs-empty", Label)
        empty.set_class(bool(self.filter_error), "-error")
        if self.filter_error:
            empty.update(f"Filter: {self.filter_error}")
        elif not self.runs:
            empty.update(f"No runs in {self.mapp.home.root} yet. Press n (or 2) to start one, "
                         "or run: memscope run sample_configs/digits.toml")
        elif not runs:
            empty.update("No run matches the filter.")
        empty.display = not runs  # the table stays (and keeps focus, so q still quits)
        self.show_annotation()

    def _cells(self, run: RunRow) -> dict[str, Any]:
        progress = f"{run.epoch}/{run.epochs}" if run.epochs else str(run.epoch)
        if run.status == "running" and run.epochs:
            progress += f" {100 * run.epoch // run.epochs:>3d}%"
        noise = f"{run.get('noise_model', '-')} {float(run.get('noise_rate', 0) or 0):.2f}"
        created = str(run.get("created_at", ""))[5:16].replace("T", " ")
        mark = Text("●", style=f"bold {self.app.theme_variables.get('accent', '')}") if run.run_id in self.marked else " "
        return {
            "mark": mark,
            "run_id": short_id(run.run_id),
            "status": status_text(self.app, run.status),
            "progress": progress,
            "noise": noise,
            "seed": Text(str(run.get("seed", "-")), justify="right"),
            "clean_train_acc": Text(accuracy(run.info.get("clean_train_acc")), justify="right"),
            "noisy_train_acc": Text(accuracy(run.info.get("noisy_train_acc")), justify="right"),
            "test_acc": Text(accuracy(run.info.get("test_acc")), justify="right"),
            "curve": Text(sparkline(self.curves.get(run.run_id, []), 12), style=self.app.theme_variables.get("error", "")),
            "data": f"{run.get('dataset', '-')}/{run.get('model', '-')}",
            "created_at": created,
            "annotations": annotation_text(run),
        }

    # ------------------------------------------------------------------ helpers

    def cursor_run_id(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - empty table
            return None
        return key.value if key is not None else None

    def targets(self) -> list[str]:
        if self.marked:
            return [r.run_id for r in self.visible_runs() if r.run_id in self.marked]
        current = self.cursor_run_id()
        return [current] if current else []

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self) -> None:
        self.render_table()

    @on(Input.Submitted, "#runs-filter")
    def _filter_done(self) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.RowHighlighted, "#runs-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self.mapp.run_id = event.row_key.value
        self.show_annotation()

    def show_annotation(self) -> None:
        """The highlighted run's tags and note under the table (the column may not fit)."""
        label = self.query_one("#runs-annotation", Label)
        text = annotation_line(self.cursor_run())
        label.update(text)
        label.display = bool(text)

    @on(DataTable.RowSelected, "#runs-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key is not None and event.row_key.value:
            self.mapp.select_run(event.row_key.value, "detail")

    @on(DataTable.HeaderSelected, "#runs-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in SORTABLE:
            if key == self.sort_key:
                self.sort_reverse = not self.sort_reverse
            else:
                self.sort_key, self.sort_reverse = key, key in ("run_id", "created_at") or key.endswith("_acc")
            self.render_table()

    # ------------------------------------------------------------------ actions

    def action_open(self) -> None:
        run_id = self.cursor_run_id()
        if run_id:
            self.mapp.select_run(run_id, "detail")

    def action_examples(self) -> None:
        run_id = self.cursor_run_id()
        if run_id:
            self.mapp.select_run(run_id, "examples")

    def action_layers(self) -> None:
        run_id = self.cursor_run_id()
        if run_id:
            self.mapp.select_run(run_id, "layers")

    def action_mark(self) -> None:
        run_id = self.cursor_run_id()
        if not run_id:
            return
        self.marked.symmetric_difference_update({run_id})
        table = self.query_one(DataTable)
        row = table.cursor_row
        self.render_table()
        if row + 1 < table.row_count:
            table.move_cursor(row=row + 1)

    def action_sort(self) -> None:
        i = SORTABLE.index(self.sort_key) if self.sort_key in SORTABLE else -1
        self.sort_key = SORTABLE[(i + 1) % len(SORTABLE)]
        self.render_table()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.render_table()

    def action_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def action_reload(self) -> None:
        self.load()

    def action_compare(self) -> None:
        ids = [r.run_id for r in self.visible_runs() if r.run_id in self.marked]
        if len(ids) < 2:
            self.notify("Mark two or more runs with space, then press c.", title="compare")
            return
        from memscope.tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(ids))

    def action_delete(self) -> None:
        ids = self.targets()
        if not ids:
            return
        try:  # the rule of 'memscope runs rm' (without --force), asked before the confirmation
            refuse_running(self.mapp.home, ids, "delete", "cancel it first (x)")
        except MemscopeError as exc:
            self.notify(exc.message, title="delete", severity="warning", markup=False)
            return
        listing = "\n".join(f"  {i}" for i in ids[:10]) + (f"\n  … and {len(ids) - 10} more" if len(ids) > 10 else "")
        message = f"Delete {len(ids)} run(s) with their checkpoints and results?\n{listing}\n\nThis cannot be undone."

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_runs(ids)

        self.app.push_screen(ConfirmScreen("Delete runs", message, yes="Delete"), answered)

    @work(thread=True, exclusive=True, group="runs-delete", exit_on_error=False)
    def delete_runs(self, run_ids: list[str]) -> None:
        done = []
        for run_id in run_ids:
            try:
                done += delete_runs(self.mapp.home, [run_id])  # the rule of 'memscope runs rm'
            except Exception as exc:  # noqa: BLE001
                self.mapp.report_error(exc, "delete")
        self.post_message(self.RunsDeleted(done))

    def on_runs_screen_runs_deleted(self, message: RunsDeleted) -> None:
        if message.run_ids:
            self.marked -= set(message.run_ids)
            self.notify(f"Deleted {len(message.run_ids)} run(s).", title="delete")
        self.load()

    def cursor_run(self) -> RunRow | None:
        run_id = self.cursor_run_id()
        return next((r for r in self.runs if r.run_id == run_id), None)

    def action_tag(self) -> None:
        run = self.cursor_run()
        if run is not None:
            ask_tag(self, run, self.load)

    def action_note(self) -> None:
        run = self.cursor_run()
        if run is not None:
            ask_note(self, run, self.load)

    def action_cancel_run(self) -> None:
        from memscope.tui.screens.detail import cancel_or_explain

        run_id = self.cursor_run_id()
        cancel_or_explain(self, next((r for r in self.runs if r.run_id == run_id), None))
