"""SQL: an editor over every result, with the same read-only execution core as ``memscope query``."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from memscope.errors import ExitCode, MemscopeError, QueryError
from memscope.results.history import HISTORY_FILE, SqlHistory
from memscope.tui.screens.base import SectionScreen
from memscope.tui.screens.dialogs import PickScreen, PromptScreen
from memscope.tui.widgets.mode_bar import ModeBar
from memscope.tui.widgets.tables import fill_table

RESULT_LIMIT = 1000
DEFAULT_SQL = (
    "SELECT run_id, status, dataset, model, noise_rate, clean_train_acc, noisy_train_acc, test_acc\n"
    "FROM runs\nORDER BY created_at DESC"
)
EXPORT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
                  ".parquet": "parquet", ".md": "markdown"}


def export_result(result: Any, path: Path) -> None:
    """Write a query result like ``memscope query -o PATH`` does (format from the suffix)."""
    from memscope.store.formats import render, write_parquet

    fmt = EXPORT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MemscopeError(f"unknown export format '{path.suffix or path.name}'; use .csv, .tsv, .json, .jsonl, .parquet or .md")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        write_parquet(result, path)
        return
    try:
        with open(path, "w", encoding="utf-8", newline="") as out:
            render(result, fmt, out)
    except OSError as exc:
        raise MemscopeError(f"cannot write {path}: {exc.strerror or exc}") from None


class SqlEditor(TextArea):
    """The query editor: ctrl+a selects all (TextArea's own select-all key, f7, is Export here;
    home still goes to the line start)."""

    BINDINGS = [Binding("ctrl+a", "select_all", "Select all", show=False)]


class SqlScreen(SectionScreen):
    MODE = "sql"
    HELP_TITLE = "SQL"
    BINDINGS = [
        Binding("ctrl+enter,ctrl+j,f5", "run_query", "Run", priority=True),
        Binding("ctrl+g", "cancel_query", "Cancel query", priority=True),
        Binding("escape", "escape", "Cancel the query, or leave the editor", show=False),
        Binding("f6,ctrl+r", "history", "History", priority=True),
        Binding("alt+up", "history_step(-1)", "Previous query", show=False, priority=True),
        Binding("alt+down", "history_step(1)", "Next query", show=False, priority=True),
        Binding("f7,ctrl+s", "export", "Export", priority=True),
        Binding("f2", "focus_editor", "Editor", show=False),
        Binding("ctrl+a", "select_all_sql", "Select all the SQL", show=False),
    ]

    @dataclass
    class QueryExecuted(Message):
        sql: str
        result: Any  # memscope.store.query.QueryResult

    @dataclass
    class QueryFailed(Message):
        sql: str
        error: str
        cancelled: bool = False

    @dataclass
    class ResultExported(Message):
        path: str
        rows: int

    @dataclass
    class TablesLoaded(Message):
        tables: list[tuple[str, list[str]]]

    def __init__(self) -> None:
        super().__init__()
        self.handle: Any = None  # memscope.store.query.QueryHandle, opened by the first query
        self.handle_lock = threading.Lock()
        self.running = False
        self.history: SqlHistory | None = None
        self.history_pos: int | None = None
        self.last_sql = ""

    def compose(self) -> ComposeResult:
        yield ModeBar(self.MODE)
        with Horizontal(id="sql-body"):
            with Vertical(id="sql-main"):
                yield self._editor()
                yield Label("F5 / ctrl+j: run · ctrl+g: cancel · F6: history · F7: export · read-only, like memscope query",
                            id="sql-status", classes="status-line")
                yield Static("", id="sql-error", markup=False)
                yield DataTable(id="sql-results", zebra_stripes=True)
            yield OptionList(id="sql-tables")
        yield Footer()

    def _editor(self) -> TextArea:
        try:
            editor = SqlEditor.code_editor(DEFAULT_SQL, language="sql", id="sql-editor", soft_wrap=True)
        except Exception:  # noqa: BLE001 - no tree-sitter-sql: a plain editor
            editor = SqlEditor.code_editor(DEFAULT_SQL, id="sql-editor", soft_wrap=True)
        editor.show_line_numbers = False
        return editor

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#sql-error", Static).display = False
        self.query_one("#sql-editor", TextArea).focus()
        self.load_side()

    @work(thread=True, exclusive=True, group="sql-side", exit_on_error=False)
    def load_side(self) -> None:
        history = SqlHistory(self.mapp.home.root / HISTORY_FILE)
        history.load()
        self.history = history
        tables = []
        for name in ["runs", *self.mapp.home.table_names()]:
            schema = self.mapp.home.table_schema(name) if name != "runs" else None
            tables.append((name, [f.name for f in schema] if schema is not None else []))
        self.post_message(self.TablesLoaded(tables))

    def on_sql_screen_tables_loaded(self, message: TablesLoaded) -> None:
        options = self.query_one("#sql-tables", OptionList)
        options.clear_options()
        options.add_options([Option(name, id=name) for name, _ in message.tables])

    @on(OptionList.OptionSelected, "#sql-tables")
    def _insert_table(self, event: OptionList.OptionSelected) -> None:
        editor = self.query_one("#sql-editor", TextArea)
        editor.insert(event.option.id or "")
        editor.focus()

    # ------------------------------------------------------------------ running

    def action_focus_editor(self) -> None:
        self.query_one("#sql-editor", TextArea).focus()

    def action_select_all_sql(self) -> None:
        """ctrl+a from the results or the table list: to the editor, everything selected."""
        editor = self.query_one("#sql-editor", TextArea)
        editor.focus()
        editor.select_all()

    def action_run_query(self) -> None:
        editor = self.query_one("#sql-editor", TextArea)
        sql = editor.selected_text.strip() or editor.text.strip()
        if not sql:
            self.notify("Nothing to run: type a query.", title="SQL")
            return
        if self.running:
            self.notify("A query is running: ctrl+g cancels it.", title="SQL")
            return
        self.running = True
        self.last_sql = sql
        self.history_pos = None
        self.query_one("#sql-status", Label).update("running… (ctrl+g to cancel)")
        self.execute(sql)

    def _handle(self) -> Any:
        """The app's one QueryHandle (the same execution core as ``memscope query``)."""
        self.handle = self.mapp.store.handle()
        return self.handle

    @work(thread=True, exclusive=True, group="sql-run", exit_on_error=False)
    def execute(self, sql: str) -> None:
        if self.history is not None:
            self.history.add(sql)
        try:
            result = self._handle().execute(sql, limit=RESULT_LIMIT)
        except QueryError as exc:
            self.post_message(self.QueryFailed(sql, exc.message, exc.exit_code == ExitCode.INTERRUPTED))
            return
        except MemscopeError as exc:
            self.post_message(self.QueryFailed(sql, exc.message))
            return
        except Exception as exc:  # noqa: BLE001 - never a crash: show it
            self.post_message(self.QueryFailed(sql, f"{exc.__class__.__name__}: {exc}"))
            return
        self.post_message(self.QueryExecuted(sql, result))

    def on_sql_screen_query_executed(self, message: QueryExecuted) -> None:
        self.running = False
        result = message.result
        error = self.query_one("#sql-error", Static)
        error.display = False
        table = self.query_one("#sql-results", DataTable)
        table.display = True
        fill_table(table, result.table)
        more = f" (first {RESULT_LIMIT}; export writes all)" if result.truncated else ""
        timing = f" · {1000 * result.elapsed:.0f} ms" if self.mapp.show_timings else ""
        self.query_one("#sql-status", Label).update(f"{result.num_rows:,} row(s){more} · {len(result.columns)} column(s){timing}")

    def on_sql_screen_query_failed(self, message: QueryFailed) -> None:
        self.running = False
        status = self.query_one("#sql-status", Label)
        if message.cancelled:
            status.update("query cancelled")
            return
        status.update("error (the query did not run)")
        error = self.query_one("#sql-error", Static)
        error.update(message.error)
        error.display = True

    def action_escape(self) -> None:
        """Escape stops a running query; otherwise it leaves the editor, so 1-7 switch section."""
        if self.running:
            self.action_cancel_query()
        else:
            self.set_focus(None)

    def action_cancel_query(self) -> None:
        if not self.running:
            return
        handle = self.handle
        if handle is not None:
            handle.cancel()
        self.query_one("#sql-status", Label).update("cancelling…")

    # ------------------------------------------------------------------ history

    def action_history(self) -> None:
        entries = list(reversed(self.history.entries)) if self.history else []

        def chosen(index: int | None) -> None:
            if index is not None:
                self._set_sql(entries[index])

        self.app.push_screen(PickScreen("SQL history (newest first)", entries), chosen)

    def action_history_step(self, step: int) -> None:
        entries = self.history.entries if self.history else []
        if not entries:
            return
        pos = len(entries) if self.history_pos is None else self.history_pos
        pos = max(0, min(len(entries) - 1, pos + step))
        self.history_pos = pos
        self._set_sql(entries[pos])

    def _set_sql(self, sql: str) -> None:
        editor = self.query_one("#sql-editor", TextArea)
        editor.text = sql
        editor.focus()

    # ------------------------------------------------------------------ export

    def action_export(self) -> None:
        sql = self.last_sql or self.query_one("#sql-editor", TextArea).text.strip()
        if not sql:
            self.notify("Run a query first.", title="export")
            return

        def chosen(path: str | None) -> None:
            if path:
                self.export(sql, Path(path).expanduser())

        self.app.push_screen(
            PromptScreen("Export the result (all rows)", "Path; the suffix picks the format: .csv .tsv .json .jsonl .parquet .md",
                         value=str(Path.cwd() / "result.csv")),
            chosen,
        )

    @work(thread=True, exclusive=True, group="sql-export", exit_on_error=False)
    def export(self, sql: str, path: Path) -> None:
        try:
            result = self._handle().execute(sql, limit=None)
            export_result(result, path)
        except MemscopeError as exc:
            self.mapp.report_error(exc, "export")
            return
        self.post_message(self.ResultExported(str(path), result.num_rows))

    def on_sql_screen_result_exported(self, message: ResultExported) -> None:
        self.notify(f"Wrote {message.rows:,} row(s) to {message.path}", title="export")

