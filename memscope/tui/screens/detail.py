"""Run detail: live progress, curves, log tail, analyses and their results; cancel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Log, ProgressBar, Select, Static, TabbedContent, TabPane

from memscope.format import accuracy, duration
from memscope.report.memorization import evaluation_mode, memorization_phrase
from memscope.results.launch import find_log, tail
from memscope.results.runs import RunRow, cancel_run, parts_signature, read_run
from memscope.store.runinfo import STATUSES, parse_time
from memscope.tui.screens.annotate import annotation_line
from memscope.tui.screens.base import SectionScreen
from memscope.tui.screens.dialogs import ConfirmScreen
from memscope.tui.screens.pick_run import PickRunMixin
from memscope.tui.widgets.mode_bar import ModeBar
from memscope.tui.widgets.plots import LinePlot, Series
from memscope.tui.widgets.tables import fill_table


def confirm_cancel(screen: Screen, run_id: str) -> None:
    """Ask, then SIGTERM the run's process (it stops after the step in flight)."""
    app = screen.app

    def answered(yes: bool | None) -> None:
        if yes:
            _send_cancel(app, run_id)

    app.push_screen(
        ConfirmScreen(
            "Cancel run",
            f"Stop {run_id}?\n\nThe run finishes the step in flight, keeps what it wrote, and is marked "
            "cancelled. 'memscope run --resume' continues it later.",
            yes="Stop run",
        ),
        answered,
    )


#: How a finished run ended, as the cancel message says it.
FINISHED_AS = {"completed": "completed", "cancelled": "been cancelled", "failed": "failed",
               "crashed": "stopped (crashed: its process is gone)"}


def cancel_or_explain(screen: Screen, run: "RunRow | None") -> None:
    """``x``: ask to cancel a running run; for any other, say why nothing happens."""
    if run is None:
        screen.notify("No run selected: choose one in Runs (1) first.", title="cancel")
    elif run.status == "running":
        confirm_cancel(screen, run.run_id)
    else:
        screen.notify(f"Nothing to cancel: {run.run_id} has already {FINISHED_AS.get(run.status, run.status)}. "
                      "x stops a run that is still running.", title="cancel", markup=False)



def _trained_with_etd(config_text: str) -> bool:
    """Whether a run's config.toml trains with example-tied dropout (its final accuracies are
    then kept mode's, which the memorization wording names)."""
    import tomllib

    try:
        etd = tomllib.loads(config_text).get("etd")
    except tomllib.TOMLDecodeError:
        return False
    return bool(etd.get("enabled")) if isinstance(etd, dict) else False


def _send_cancel(app, run_id: str) -> None:
    def worker() -> None:
        try:
            pid = cancel_run(app.home, run_id)
        except Exception as exc:  # noqa: BLE001
            app.report_error(exc, "cancel")
            return
        app.call_from_thread(app.notify, f"Sent SIGTERM to {run_id} (pid {pid}).", title="cancel")

    app.run_worker(worker, thread=True, group="cancel", exit_on_error=False)


@dataclass
class DetailData:
    run: RunRow
    epochs: Any | None  # pa.Table, or None when unchanged
    log_path: str | None
    log_lines: list[str]
    counts: dict[str, int] | None  # None when the tables' part files are unchanged
    config_text: str | None  # None when already shown for this run
    error_log: str = ""
    notes: list[str] = field(default_factory=list)
    state: tuple[int, str] | None = None  # (epoch, status) read
    parts: tuple | None = None  # parts_signature the counts were taken at
    etd_enabled: bool | None = None  # trained with example-tied dropout (kept-mode accuracies); None: config not re-read


class RunDetailScreen(PickRunMixin, SectionScreen):
    MODE = "detail"
    HELP_TITLE = "Run detail"
    LIVE = True
    BINDINGS = [
        Binding("x", "cancel_run", "Cancel run"),
        Binding("p", "pick_run", "Pick run"),
        Binding("e", "app.switch_mode('examples')", "Examples"),
        Binding("l", "app.switch_mode('layers')", "Layers"),
        Binding("r", "reload", "Refresh", show=False),
        # the tabs' keys are in their titles ("o Log"), like the sections' in the mode bar
        Binding("o", "tab('tab-log')", "Log tab", show=False),
        Binding("a", "tab('tab-analyses')", "Analyses tab", show=False),
        Binding("t", "tab('tab-results')", "Results tab", show=False),
        Binding("c", "tab('tab-config')", "Config tab", show=False),
    ]

    @dataclass
    class DetailLoaded(Message):
        run_id: str
        detail: DetailData

    @dataclass
    class PreviewLoaded(Message):
        run_id: str
        table_name: str
        table: Any

    def __init__(self) -> None:
        super().__init__()
        self.shown_run: str | None = None
        self.shown_state: tuple[int, str] | None = None  # (epoch, status) whose curves are shown
        self.shown_parts: tuple | None = None  # parts_signature of the counted tables
        self.shown_config: str | None = None  # run whose config.toml is shown
        self.etd_enabled = False  # the shown run trained with example-tied dropout (read with its config)
        self.shown_log: int = -1
        self.counts: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield ModeBar(self.MODE)
        with Vertical(id="detail-head"):
            with Horizontal(classes="head-line"):
                yield Label("", id="detail-status", classes="status-badge")
                yield Label("", id="detail-title")
                yield ProgressBar(total=1, show_eta=False, id="detail-progress")
                yield Label("", id="detail-eta")
            yield Label("", id="detail-facts")
        with Horizontal(id="detail-body"):
            with Vertical(id="detail-plots"):
                yield LinePlot("accuracy", ylabel="", ylim=(0, 1), id="acc-plot")
                yield LinePlot("loss", id="loss-plot")
            with TabbedContent(id="detail-tabs"):
                with TabPane("o Log", id="tab-log"):
                    yield Log(id="detail-log", auto_scroll=True, max_lines=2000)
                with TabPane("a Analyses", id="tab-analyses"):
                    yield DataTable(id="analyses-table", cursor_type="row", zebra_stripes=True)
                with TabPane("t Results", id="tab-results"):
                    yield Select([], prompt="choose a table of this run", id="results-select", allow_blank=True, compact=True)
                    yield DataTable(id="results-table", zebra_stripes=True)
                with TabPane("c Config", id="tab-config"):
                    with VerticalScroll():
                        yield Static("", id="detail-config", markup=False)
        yield Label("", id="detail-empty", classes="empty-note")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#analyses-table", DataTable).add_columns("analysis", "status", "seconds", "error")
        self.watch(self.app, "run_id", self._run_changed)

    def _run_changed(self, run_id: str | None) -> None:
        if run_id != self.shown_run:
            self.shown_run = run_id
            self._forget()
            self.shown_log = -1
            self.counts = {}
            self.query_one("#detail-log", Log).clear()
            self.query_one("#results-select", Select).set_options([])
            self.query_one("#results-table", DataTable).clear(columns=True)
        self.load()

    def tick(self) -> None:
        self.load()

    def _forget(self) -> None:
        self.shown_state = self.shown_parts = self.shown_config = None

    def action_reload(self) -> None:
        self._forget()
        self.load()

    @work(thread=True, exclusive=True, group="detail-load", exit_on_error=False)
    def load(self) -> None:
        run_id = self.mapp.run_id
        if run_id is None:
            self.post_message(self.DetailLoaded("", None))  # type: ignore[arg-type]
            return
        home = self.mapp.home
        if not home.run_dir(run_id).is_dir():
            self.post_message(self.DetailLoaded(run_id, None))  # type: ignore[arg-type]
            return
        run = read_run(home, run_id)
        epochs = None
        notes = []
        state = (run.epoch, run.status)
        if state != self.shown_state:
            try:
                epochs = self.mapp.store.epochs(run_id)
            except Exception as exc:  # noqa: BLE001
                notes.append(f"curves unavailable: {exc}")
        log_path = find_log(home, run)
        log_lines = tail(log_path, 400) if log_path else []
        parts = parts_signature(home, run_id, home.table_names())
        counts = self.mapp.store.table_counts(run_id) if parts != self.shown_parts else None
        config_text = None
        etd_enabled = None
        if self.shown_config != run_id:
            try:
                config_text = (home.run_dir(run_id) / "config.toml").read_text(encoding="utf-8")
            except OSError:
                config_text = "(config.toml is missing)"
            etd_enabled = _trained_with_etd(config_text)
        error_log = ""
        err = home.run_dir(run_id) / "error.log"
        if err.is_file():
            error_log = "\n".join(tail(err, 60))
        self.post_message(self.DetailLoaded(run_id, DetailData(run, epochs, str(log_path) if log_path else None,
                                                                log_lines, counts, config_text, error_log, notes,
                                                                state, parts, etd_enabled)))

    def on_run_detail_screen_detail_loaded(self, message: DetailLoaded) -> None:
        empty = self.query_one("#detail-empty", Label)
        body = [self.query_one("#detail-head"), self.query_one("#detail-body")]
        if message.detail is None:
            empty.update("No run selected: choose one in Runs (1) or press p." if not message.run_id
                         else f"Run {message.run_id} is gone (deleted?). Press p to pick another.")
            empty.display = True
            for w in body:
                w.display = False
            return
        if message.run_id != self.mapp.run_id:
            return
        empty.display = False
        for w in body:
            w.display = True
        d = message.detail
        run = d.run
        if d.etd_enabled is not None:
            self.etd_enabled = d.etd_enabled
        self._head(run, self.etd_enabled)
        if d.epochs is not None:
            self.shown_state = d.state
            self._curves(d.epochs)
        self._log(d)
        self._analyses(run)
        if d.counts is not None:
            self.shown_parts = d.parts
        if d.counts is not None and d.counts != self.counts:
            self.counts = d.counts
            select = self.query_one("#results-select", Select)
            current = select.value
            options = [(f"{t} ({n:,} rows)", t) for t, n in sorted(d.counts.items())]
            select.set_options(options)
            if current in d.counts:
                select.value = current
        if d.config_text is not None:
            self.shown_config = message.run_id
            self.query_one("#detail-config", Static).update(d.config_text)

    def _head(self, run: RunRow, etd_enabled: bool = False) -> None:
        status = self.query_one("#detail-status", Label)
        status.update(f" {run.status} ")
        for s in STATUSES:
            status.set_class(run.status == s, f"-{s}")
        self.query_one("#detail-title", Label).update(f" {run.run_id}")
        bar = self.query_one("#detail-progress", ProgressBar)
        bar.update(total=max(1, run.epochs), progress=run.epoch)
        eta = run.eta_seconds()
        running_analysis = [n for n, a in run.analyses.items() if a.get("status") == "running"]
        if run.status == "running" and running_analysis:
            eta_text = f"epoch {run.epoch}/{run.epochs} · analysis {running_analysis[0]}"
        elif run.status == "running":
            eta_text = f"epoch {run.epoch}/{run.epochs} · ETA {duration(eta)}"
        else:
            started = parse_time(run.info.get("started_at"))
            finished = parse_time(run.info.get("finished_at"))
            took = duration(finished - started if started and finished else None)
            eta_text = f"epoch {run.epoch}/{run.epochs} · took {took}"
        self.query_one("#detail-eta", Label).update(eta_text)
        acc = lambda k: accuracy(run.info.get(k))  # noqa: E731
        facts = (
            f"{run.get('dataset', '-')} · {run.get('model', '-')} · noise {run.get('noise_model', '-')} "
            f"{float(run.get('noise_rate', 0) or 0):.2f} · seed {run.get('seed', '-')} · {run.get('device', '-')} · "
            f"{run.get('num_train', '-')} train ({run.get('num_noisy', '-')} noisy) · "
            f"clean {acc('clean_train_acc')} · test {acc('test_acc')} · "
            f"{memorization_phrase(run.info.get('noisy_train_acc'), evaluation_mode(etd_enabled))}"
        )
        if run.info.get("error"):
            facts += f"\nerror: {run.info['error']}"
        if annotation_line(run):  # set with t / N on Runs, or 'memscope runs tag/note'
            facts += "\n" + escape(annotation_line(run))
        self.query_one("#detail-facts", Label).update(facts)

    def _curves(self, epochs) -> None:
        cols = {name: epochs.column(name).to_pylist() for name in epochs.column_names}
        xs = cols.get("epoch", [])
        self.query_one("#acc-plot", LinePlot).show([
            Series("clean-train", xs, cols.get("clean_train_acc", []), "clean"),
            Series("noisy-train", xs, cols.get("noisy_train_acc", []), "noisy"),
            Series("test", xs, cols.get("test_acc", []), "test"),
        ], title="accuracy (noisy-train: against the noisy labels)")
        self.query_one("#loss-plot", LinePlot).show([
            Series("clean-train", xs, cols.get("clean_train_loss", []), "clean"),
            Series("noisy-train", xs, cols.get("noisy_train_loss", []), "noisy"),
            Series("test", xs, cols.get("test_loss", []), "test"),
        ], title="loss")

    def _log(self, d: DetailData) -> None:
        log = self.query_one("#detail-log", Log)
        lines = list(d.log_lines)
        if not d.log_path:
            lines = ["(no log: this run was started outside the app; its progress went to that terminal)"]
        if d.error_log:
            lines += ["", "---- error.log ----", *d.error_log.splitlines()]
        lines += d.notes
        signature = hash(tuple(lines))
        if signature != self.shown_log:
            self.shown_log = signature
            log.clear()
            log.write_lines(lines)
            self.follow_log()

    def follow_log(self) -> None:
        """Show the log's last line. Writing scrolls only a laid-out, visible Log, so the
        end is also sought after the next refresh and whenever the Log tab is shown."""
        log = self.query_one("#detail-log", Log)
        self.call_after_refresh(log.scroll_end, animate=False)

    @on(TabbedContent.TabActivated, "#detail-tabs")
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-log":
            self.follow_log()

    def action_tab(self, tab: str) -> None:
        self.query_one("#detail-tabs", TabbedContent).active = tab

    def _analyses(self, run: RunRow) -> None:
        rows = []
        for name in run.get("analyses_requested", []) or list(run.analyses):
            entry = run.analyses.get(name, {})
            rows.append([name, entry.get("status", "pending"), f"{entry['seconds']:.1f}" if entry.get("seconds") is not None else "",
                         entry.get("error", "") or ""])
        for name, entry in run.analyses.items():
            if name not in (run.get("analyses_requested", []) or []):
                if not any(r[0] == name for r in rows):
                    rows.append([name, entry.get("status", "?"), "", entry.get("error", "") or ""])
        table = self.query_one("#analyses-table", DataTable)
        table.clear()
        for row in rows:
            table.add_row(*row)
        if not rows:
            table.add_row("(none requested)", "", "", "")

    @on(Select.Changed, "#results-select")
    def _table_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and self.mapp.run_id:
            self.load_preview(self.mapp.run_id, event.value)

    @work(thread=True, exclusive=True, group="detail-preview", exit_on_error=False)
    def load_preview(self, run_id: str, table: str) -> None:
        self.post_message(self.PreviewLoaded(run_id, table, self.mapp.store.preview(run_id, table)))

    def on_run_detail_screen_preview_loaded(self, message: PreviewLoaded) -> None:
        fill_table(self.query_one("#results-table", DataTable), message.table)

    def action_cancel_run(self) -> None:
        run_id = self.mapp.run_id
        cancel_or_explain(self, read_run(self.mapp.home, run_id) if run_id else None)
