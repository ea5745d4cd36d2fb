"""What every section screen shares: the mode bar, the footer and worker error reporting."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.screen import Screen
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from memscope.tui.app import MemscopeApp


class SectionScreen(Screen):
    """A mode's screen. Subclasses set ``MODE`` and ``HELP_TITLE``; ``tick`` refreshes it
    every ``app.refresh_interval`` seconds while it is the visible screen."""

    MODE: ClassVar[str] = ""
    HELP_TITLE: ClassVar[str] = ""
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    LIVE: ClassVar[bool] = False

    @property
    def mapp(self) -> "MemscopeApp":
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        if self.LIVE and self.mapp.refresh_interval > 0:
            self._timer = self.set_interval(self.mapp.refresh_interval, self._tick, pause=False)

    def _tick(self) -> None:
        if self.app.screen is self:
            self.tick()

    def tick(self) -> None:
        """Periodic refresh while visible (start a worker; never block)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.mapp.report_error(event.worker.error, f"{event.worker.name or 'background task'}")
