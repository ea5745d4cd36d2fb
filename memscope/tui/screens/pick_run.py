"""Choosing the run a section shows (p on Run, Examples and Layers): pick it from the list,
or type its id the way the CLI takes one (a unique prefix, the short suffix, ``latest``)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from memscope.errors import MemscopeError
from memscope.results.runs import RunRow, list_runs, resolve_run
from memscope.store.home import Home


class RunPickScreen(ModalScreen[str | None]):
    """The runs, newest first, and a box for a run id; dismisses with the full id, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, home: Home, runs: list[RunRow]) -> None:
        super().__init__()
        self.home = home
        self.runs = runs

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide"):
            yield Label("Show which run?", classes="dialog-title")
            yield Input(placeholder="run id, a unique prefix, its suffix (3fa2) or latest", id="pick-run-id")
            yield Static("", id="pick-run-error", classes="dialog-body", markup=False)
            yield OptionList(*[Option(f"{r.run_id}  {r.status}  {r.get('dataset', '')}/{r.get('model', '')}", id=r.run_id)
                               for r in self.runs], id="pick-run-list")
            yield Static("enter: choose   tab: type an id instead   escape: close", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#pick-run-error", Static).display = False
        self.query_one("#pick-run-list", OptionList).focus()

    @on(Input.Submitted, "#pick-run-id")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.dismiss(resolve_run(self.home, event.value.strip()))  # the rule of every RUN_ID argument
        except MemscopeError as exc:
            error = self.query_one("#pick-run-error", Static)
            error.update(exc.message)
            error.display = True

    @on(OptionList.OptionSelected, "#pick-run-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickRunMixin:
    """Adds ``action_pick_run``: the run picker; the choice becomes ``app.run_id``."""

    def action_pick_run(self) -> None:
        self._load_run_choices()

    @work(thread=True, exclusive=True, group="pick-run", exit_on_error=False)
    def _load_run_choices(self) -> None:
        runs = list_runs(self.app.home)  # type: ignore[attr-defined]
        self.app.call_from_thread(self._show_run_choices, runs)  # type: ignore[attr-defined]

    def _show_run_choices(self, runs: list[RunRow]) -> None:
        if not runs:
            self.app.notify("No runs yet: start one in New run (2).")  # type: ignore[attr-defined]
            return

        def chosen(run_id: str | None) -> None:
            if run_id is not None:
                self.app.run_id = run_id  # type: ignore[attr-defined]

        self.app.push_screen(RunPickScreen(self.app.home, runs), chosen)  # type: ignore[attr-defined]
