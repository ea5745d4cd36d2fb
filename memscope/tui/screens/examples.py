"""Examples: one run's per-example table, paged with LIMIT/OFFSET; filter, sort, open one."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Label, Select, Static

from memscope.format import MISSING, compact
from memscope.results.examples import EXAMPLE_FILTERS, ExamplePage, ExampleTable
from memscope.tui.screens.base import SectionScreen
from memscope.tui.screens.pick_run import PickRunMixin
from memscope.tui.widgets.mode_bar import ModeBar
from memscope.tui.widgets.tables import cell

PAGE_SIZE = 100
#: Sort keys whose interesting end is the top (largest first) when first chosen.
DESCENDING_BY_DEFAULT = frozenset({"loss", "mean_loss", "neurons_to_flip", "first_correct"})
FILTERS = [(name, name) for name in EXAMPLE_FILTERS]
BASE_SORTS = [
    ("example id", "example"),
    ("final loss", "loss"),
    ("final margin", "margin"),
    ("mean loss", "mean_loss"),
    ("first epoch correct", "first_correct"),
    ("epochs correct", "epochs_correct"),
    ("neurons to flip", "neurons_to_flip"),
    ("true label", "true_label"),
    ("observed label", "observed_label"),
    ("prediction", "pred"),
]
HEADERS = {
    "example": "example", "true_label": "true", "observed_label": "observed", "is_noisy": "noisy",
    "loss": "loss", "margin": "margin", "correct": "correct", "pred": "pred", "mean_loss": "mean loss",
    "first_correct": "1st correct", "epochs_correct": "#correct", "neurons_to_flip": "to flip", "flipped": "flipped",
}


def example_cell(name: str, value):
    """Booleans as ✓/·, NULL as — (an example no analysis targeted), numbers compact."""
    if value is None:
        return Text(MISSING, style="dim", justify="center")
    if isinstance(value, bool):
        return Text("✓" if value else "·", justify="center")
    if isinstance(value, float):
        return Text(compact(value), justify="right")
    return cell(value)


class ExamplesScreen(PickRunMixin, SectionScreen):
    MODE = "examples"
    HELP_TITLE = "Examples"
    LIVE = True
    BINDINGS = [
        Binding("enter", "open", "Open example"),
        Binding("right_square_bracket", "page(1)", "Next page"),
        Binding("left_square_bracket", "page(-1)", "Prev page"),
        Binding("f", "next_filter", "Filter"),
        Binding("s", "next_sort", "Sort"),
        Binding("r", "reverse", "Reverse"),
        Binding("slash", "where", "Where…"),
        Binding("p", "pick_run", "Pick run"),
        Binding("home", "first_page", "First page", show=False),
        Binding("end", "last_page", "Last page", show=False),
    ]

    @dataclass
    class PageLoaded(Message):
        run_id: str
        page: ExamplePage
        request: tuple
        score_columns: list[str]

    @dataclass
    class PageFailed(Message):
        run_id: str
        error: str
        where: str

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, ExampleTable] = {}
        self.tables_lock = threading.Lock()
        self.filter_name = "all"
        self.sort = "example"
        self.descending = False
        self.row_offset = 0
        self.where = ""
        self.page: ExamplePage | None = None
        self.shown_request: tuple | None = None
        self.last_draw_seconds = 0.0
        self.score_columns: list[str] = []
        self.run_pending = False

    def compose(self) -> ComposeResult:
        yield ModeBar(self.MODE)
        with Horizontal(classes="toolbar", id="examples-bar"):
            yield Select(FILTERS, value="all", allow_blank=False, id="examples-filter", compact=True)
            yield Select(BASE_SORTS, value="example", allow_blank=False, id="examples-sort", compact=True)
            yield Input(placeholder="/ where (SQL): loss > 2 AND true_label = 3", id="examples-where", compact=True)
        yield Static("", id="examples-error", markup=False)
        yield DataTable(id="examples-table", cursor_type="row", zebra_stripes=True)
        yield Label("", id="examples-status", classes="status-line")
        yield Label("", id="examples-empty", classes="empty-note")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#examples-error", Static).display = False
        # the table, not the filter Select, takes the keys: Enter opens an example
        self.query_one("#examples-table", DataTable).focus()
        self.watch(self.app, "run_id", self._run_changed)

    def _run_changed(self, run_id: str | None) -> None:
        self.row_offset = 0
        if self.app.screen is self:
            self.request_page()
        else:
            self.run_pending = True  # read when shown: a hidden screen queries nothing

    def on_screen_resume(self) -> None:
        if self.run_pending:
            self.run_pending = False
            self.request_page()

    def tick(self) -> None:
        run_id = self.mapp.run_id
        if run_id and self.page is not None:
            table = self.tables.get(run_id)
            if table is not None and table.stale():
                self.request_page()

    def request_page(self, where: str | None = None) -> None:
        """Fetch the page the controls describe; ``where`` tries a new condition (kept if it works)."""
        run_id = self.mapp.run_id
        if run_id is None:
            self._show_empty("No run selected: choose one in Runs (1) or press p.")
            return
        self.fetch(run_id, self.filter_name, self.sort, self.descending, self.row_offset,
                   self.where if where is None else where)

    def _table_for(self, run_id: str) -> ExampleTable:
        with self.tables_lock:
            table = self.tables.get(run_id)
            if table is None:
                table = self.tables[run_id] = ExampleTable(self.mapp.store, run_id)
            return table

    @work(thread=True, exclusive=True, group="examples-page", exit_on_error=False)
    def fetch(self, run_id: str, filter_name: str, sort: str, descending: bool, offset: int, where: str) -> None:
        try:
            table = self._table_for(run_id)
            page = table.page(filter_name, sort, descending, offset, PAGE_SIZE, where)
        except Exception as exc:  # noqa: BLE001 - a bad WHERE, a missing run: shown in the app
            message = getattr(exc, "message", None) or f"{exc.__class__.__name__}: {exc}"
            self.post_message(self.PageFailed(run_id, message, where))
            return
        self.post_message(self.PageLoaded(run_id, page, (run_id, filter_name, sort, descending, page.offset, where),
                                          list(table.score_columns)))

    def on_examples_screen_page_failed(self, message: PageFailed) -> None:
        """Shown once, on this screen, above the table. A rejected where is not kept, so no
        later refresh (a live run, another run chosen) runs it again."""
        error = self.query_one("#examples-error", Static)
        what = f"where {message.where}: " if message.where and message.where != self.where else ""
        kept = f"\n(still showing where {self.where})" if what and self.where else ""
        error.update(f"{what}{message.error}{kept}")
        error.display = True

    def on_examples_screen_page_loaded(self, message: PageLoaded) -> None:
        if message.run_id != self.mapp.run_id:
            return
        self.where = message.request[-1]
        self.query_one("#examples-error", Static).display = False
        started = time.perf_counter()
        self.page = message.page
        self.row_offset = message.page.offset
        if message.score_columns != self.score_columns:
            self.score_columns = message.score_columns
            sorts = BASE_SORTS + [(c, c) for c in message.score_columns]
            select = self.query_one("#examples-sort", Select)
            with select.prevent(Select.Changed):
                select.set_options(sorts)
                select.value = self.sort if self.sort in [v for _, v in sorts] else "example"
        self.draw_page(message.page)
        self.shown_request = message.request
        self.last_draw_seconds = time.perf_counter() - started

    def draw_page(self, page: ExamplePage) -> None:
        table = self.query_one("#examples-table", DataTable)
        empty = self.query_one("#examples-empty", Label)
        if page.all_rows == 0:
            self._show_empty("No per-example rows for this run yet (they appear after the first epoch; "
                             "set train.track_examples = true).")
            return
        empty.display = False
        table.display = True
        arrow = page.table
        names = list(arrow.column_names)
        cursor = table.cursor_row
        table.clear(columns=True)
        for name in names:
            mark = (" ↓" if self.descending else " ↑") if name == self.sort else ""
            table.add_column(HEADERS.get(name, name) + mark, key=name)
        columns = [arrow.column(n).to_pylist() for n in names]
        for i in range(arrow.num_rows):
            table.add_row(*[example_cell(n, col[i]) for n, col in zip(names, columns)], key=str(columns[0][i]))
        if arrow.num_rows:
            table.move_cursor(row=min(cursor, arrow.num_rows - 1), animate=False)
        last = min(page.offset + arrow.num_rows, page.total)
        arrow_txt = "↓" if self.descending else "↑"
        status = (
            f"rows {page.offset + 1 if page.total else 0:,}–{last:,} of {page.total:,}"
            f" ({self.filter_name}; {page.all_rows:,} train examples) · sort {self.sort} {arrow_txt}"
            f" · final epoch {page.final_epoch if page.final_epoch is not None else '-'}"
        )
        if self.mapp.show_timings:
            status += f" · page {1000 * page.seconds:.0f} ms"
        if self.where:
            status += f" · where {self.where}"
        self.query_one("#examples-status", Label).update(status)

    def _show_empty(self, text: str) -> None:
        empty = self.query_one("#examples-empty", Label)
        empty.update(text)
        empty.display = True
        self.query_one("#examples-table", DataTable).display = False
        self.query_one("#examples-status", Label).update("")

    # ------------------------------------------------------------------ controls

    @on(Select.Changed, "#examples-filter")
    def _filter(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.filter_name:
            self.filter_name = event.value
            self.row_offset = 0
            self.request_page()

    @on(Select.Changed, "#examples-sort")
    def _sort(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.sort:
            self.sort = event.value
            self.descending = event.value in DESCENDING_BY_DEFAULT
            self.row_offset = 0
            self.request_page()

    @on(Input.Submitted, "#examples-where")
    def _where(self, event: Input.Submitted) -> None:
        self.row_offset = 0
        self.request_page(where=event.value.strip())
        self.query_one("#examples-table", DataTable).focus()

    @on(DataTable.HeaderSelected, "#examples-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key == self.sort:
            self.descending = not self.descending
        else:
            self.sort, self.descending = key, key in DESCENDING_BY_DEFAULT
        self.row_offset = 0
        select = self.query_one("#examples-sort", Select)
        if any(v == key for _, v in select._options):  # noqa: SLF001 - keep the select in step
            with select.prevent(Select.Changed):
                select.value = key
        self.request_page()

    @on(DataTable.RowSelected, "#examples-table")
    def _open_row(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one("#examples-table", DataTable)
        if self.page is None or table.row_count == 0 or self.mapp.run_id is None:
            return
        ids = self.page.table.column("example").to_pylist()
        index = min(table.cursor_row, len(ids) - 1)
        from memscope.tui.screens.example_detail import ExampleDetailScreen

        self.app.push_screen(ExampleDetailScreen(self.mapp.run_id, ids, index))

    def action_page(self, step: int) -> None:
        if self.page is None:
            return
        new = self.row_offset + step * PAGE_SIZE
        if new < 0 or new >= self.page.total:
            return
        self.row_offset = new
        self.request_page()

    def action_first_page(self) -> None:
        self.row_offset = 0
        self.request_page()

    def action_last_page(self) -> None:
        if self.page is not None and self.page.total:
            self.row_offset = (self.page.total - 1) // PAGE_SIZE * PAGE_SIZE
            self.request_page()

    def action_next_filter(self) -> None:
        names = list(EXAMPLE_FILTERS)
        self.query_one("#examples-filter", Select).value = names[(names.index(self.filter_name) + 1) % len(names)]

    def action_next_sort(self) -> None:
        select = self.query_one("#examples-sort", Select)
        values = [v for _, v in select._options if isinstance(v, str)]  # noqa: SLF001
        if values:
            select.value = values[(values.index(self.sort) + 1) % len(values)] if self.sort in values else values[0]

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self.row_offset = 0
        self.request_page()

    def action_where(self) -> None:
        self.query_one("#examples-where", Input).focus()

    def on_unmount(self) -> None:
        for table in self.tables.values():
            table.close()
