"""Progress on stderr: rich.progress bars with an ETA on a terminal, plain lines otherwise.

One ``Progress`` serves a whole run: the training epochs, then each analysis's steps
(neuron flipping's targets, retraining's layer-epochs, rewinding's checkpoint-layer
evaluations) and the messages in between. A terminal gets live bars (messages print above
them, and so does each epoch's line); a pipe or log file gets one line per epoch and, for analyses, a line every
``every_s`` seconds and at the end, each with its ETA, so logs stay short and readable.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def format_eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60:d}:{seconds % 60:02d}"


def eta_seconds(started: float, done_now: int, done_at_start: int, total: int, now: float) -> float | None:
    """Seconds left at the rate seen since ``started`` (None before the first step is done)."""
    done = done_now - done_at_start
    if done <= 0:
        return None
    return (now - started) / done * max(total - done_now, 0)


class _Tracker:
    """Start time and count of one bar, for the ETA of plain lines."""

    def __init__(self, done: int, started: float | None = None):
        self.started = time.perf_counter() if started is None else started
        self.first_done = done
        self.last_line = float("-inf")

    def eta(self, done: int, total: int) -> str:
        left = eta_seconds(self.started, done, self.first_done, total, time.perf_counter())
        return "?" if left is None else format_eta(left)


class Progress:
    def __init__(self, total_epochs: int, stream=None, enabled: bool = True, every_s: float = 10.0):
        self.total = total_epochs
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and _isatty(self.stream)
        self.every_s = every_s
        self._bars: Any = None  # rich.progress.Progress, started on first use
        self._tasks: dict[str, Any] = {}
        self._trackers: dict[str, _Tracker] = {}
        self._created = time.perf_counter()  # training's ETA counts from here

    # ------------------------------------------------------------------ live bars

    def _rich(self):
        if self._bars is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn, TimeRemainingColumn

            self._bars = Bars(  # fits 80 columns: the epoch's numbers print above the bars
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}  eta"),
                TimeRemainingColumn(),
                console=Console(file=self.stream, highlight=False),
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._bars.start()
        return self._bars

    def _update(self, key: str, description: str, done: int, total: int, unit: str) -> None:
        bars = self._rich()
        if key not in self._tasks:
            self._tasks[key] = bars.add_task(description, total=total, completed=done, unit=unit)
        bars.update(self._tasks[key], total=total, completed=done)

    def close(self) -> None:
        """Stop the live display (bars stay on screen as they ended)."""
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
            self._tasks.clear()

    # ------------------------------------------------------------------ what the run reports

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        info = (
            f"loss {metrics['train_loss']:.3f}  clean {metrics['clean_train_acc']:.3f}  "
            f"noisy {_nan(metrics['noisy_train_acc'])}  test {metrics['test_acc']:.3f}"
        )
        tracker = self._trackers.setdefault("train", _Tracker(epoch - 1, self._created))
        if self.live:  # a line per epoch above the bar: the curve stays in the scrollback
            self._update("train", "train", epoch, self.total, "epochs")
            self.message(f"epoch {epoch:>3}/{self.total} {info}")
            return
        self._write(f"epoch {epoch:>3}/{self.total} {info}  eta {tracker.eta(epoch, self.total)}")

    def steps(self, name: str, done: int, total: int, unit: str = "steps") -> None:
        """An analysis's progress: ``done`` of ``total`` ``unit`` (targets, layer-epochs, ...).
        Report ``done=0`` when the work starts: the ETA counts from the first report."""
        if not self.enabled or total <= 0:
            return
        key = f"analysis:{name}"
        tracker = self._trackers.setdefault(key, _Tracker(done))
        if self.live:
            self._update(key, name, done, total, unit)
            return
        now = time.perf_counter()
        if done == 0:  # the start: no rate to tell an ETA from yet
            tracker.last_line = now
        elif done >= total or now - tracker.last_line >= self.every_s:
            tracker.last_line = now
            self._write(f"[{name}] {done}/{total} {unit}  eta {tracker.eta(done, total)}")

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bars is not None:
            self._bars.console.print(text, markup=False, highlight=False)
            return
        self._write(text)

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _nan(value: float) -> str:
    return "  -  " if value != value else f"{value:.3f}"
