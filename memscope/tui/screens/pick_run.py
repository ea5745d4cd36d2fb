"""Choosing the run a section shows (p on Run, Examples and Layers)."""

from __future__ import annotations

from textual import work

from memscope.results.runs import RunRow, list_runs
from memscope.tui.screens.dialogs import PickScreen


class PickRunMixin:
    """Adds ``action_pick_run``: a list of runs, newest first; the choice becomes ``app.run_id``."""

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
        entries = [f"{r.run_id}  {r.status}  {r.get('dataset', '')}/{r.get('model', '')}" for r in runs]

        def chosen(index: int | None) -> None:
            if index is not None:
                self.app.run_id = runs[index].run_id  # type: ignore[attr-defined]

        self.app.push_screen(PickScreen("Show which run?", entries), chosen)  # type: ignore[attr-defined]
