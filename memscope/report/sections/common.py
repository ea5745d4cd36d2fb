"""What every section shares: number checks, time and checkpoint wording, the final accuracies."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from memscope.format import duration  # noqa: F401 - the one rule for durations, as the sections import it
from memscope.results.source import RunResults

ACC = ".3f"
EPOCH_ROWS = 10  # the accuracy table shows about this many epochs
MAX_CHECKPOINT_COLUMNS = 11  # rewinding tables show at most this many checkpoints
FINAL_KEYS = ("clean_train_acc", "noisy_train_acc", "test_acc")


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def ratio(a: Any, b: Any) -> float | None:
    return a / b if finite(a) and finite(b) and b != 0 else None


def parse_time(text: Any) -> datetime | None:
    """A run.json time stamp, read by the one rule (:func:`memscope.store.runinfo.parse_time`)."""
    from memscope.store.runinfo import parse_time as seconds_of

    stamp = seconds_of(text)
    return None if stamp is None else datetime.fromtimestamp(stamp, timezone.utc)


def short_time(text: Any) -> str:
    t = parse_time(text)
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else "–"


def checkpoint_label(epoch: int) -> str:
    return "init" if epoch == 0 else f"ep {epoch}"


def final_accuracies(run: RunResults, epochs: list[dict[str, Any]] | None = None) -> dict[str, float]:
    """The final model's eval-mode accuracies (run.json), else the last epoch's (``epochs``:
    the rows of ``training.epochs``, read when not given)."""
    if all(finite(run.info.get(k)) for k in FINAL_KEYS):
        return {k: float(run.info[k]) for k in FINAL_KEYS}
    if epochs is None and run.has("epochs"):
        from memscope.results.analyses import training

        epochs = training.epochs(run).to_pylist()
    if epochs and all(finite(epochs[-1][k]) for k in FINAL_KEYS):
        return {k: float(epochs[-1][k]) for k in FINAL_KEYS}
    return {}
