"""Progress on stderr: a live bar on a terminal, one line per epoch otherwise."""

from __future__ import annotations

import sys
import time


def _fmt_eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60:d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total_epochs: int, stream=None, enabled: bool = True):
        self.total = total_epochs
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and self.stream.isatty()
        self.start = time.perf_counter()
        self.first_epoch: int | None = None

    def _line(self, epoch: int, metrics: dict[str, float]) -> str:
        if self.first_epoch is None:
            self.first_epoch = epoch
        done = epoch - self.first_epoch + 1
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (self.total - epoch)
        width = 20
        filled = round(width * epoch / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        return (
            f"epoch {epoch:>3}/{self.total} [{bar}] loss {metrics['train_loss']:.3f}  "
            f"clean {metrics['clean_train_acc']:.3f}  noisy {_nan(metrics['noisy_train_acc'])}  "
            f"test {metrics['test_acc']:.3f}  eta {_fmt_eta(eta)}"
        )

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        line = self._line(epoch, metrics)
        if self.live:
            self.stream.write("\r\x1b[2K" + line)
            if epoch == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.live:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        self.stream.flush()


def _nan(value: float) -> str:
    return "  -  " if value != value else f"{value:.3f}"
