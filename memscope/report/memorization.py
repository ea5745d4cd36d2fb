"""The one wording for "did the model memorize its noisy labels?", shared by every front end.

A run only memorized when its noisy-train accuracy (against the observed, wrong labels) is
at least ``MEMORIZED_AT`` in the evaluation mode being reported. Below that, the text says
what was measured instead ("did not memorize: noisy-train acc 0.049"), so a run trained with
example-tied dropout (whose final model is evaluated with every channel on, where noisy-train
accuracy is near chance) or an MLP stuck at 0.5 is never called memorized.

Used by the run summary (``memscope run``), the report, the app's run detail and the sweep
report. Torch-free.
"""

from __future__ import annotations

import math
from typing import Any

MEMORIZED_AT = 0.9  # noisy-train accuracy from which a model counts as having memorized


def memorized(noisy_train_acc: Any) -> bool:
    """Whether ``noisy_train_acc`` is a measured accuracy of at least ``MEMORIZED_AT``."""
    return _measured(noisy_train_acc) and float(noisy_train_acc) >= MEMORIZED_AT


def memorization_phrase(noisy_train_acc: Any, mode: str = "") -> str:
    """``"memorized noisy labels: noisy-train acc 0.998"``, ``"did not memorize: noisy-train acc
    0.049"`` or ``"memorization not measured"``; ``mode`` (e.g. ``"kept mode"``) names the
    evaluation the number comes from when it is not the plain model."""
    where = f" ({mode})" if mode else ""
    if not _measured(noisy_train_acc):
        return f"memorization not measured{where}"
    verdict = "memorized noisy labels" if memorized(noisy_train_acc) else "did not memorize"
    return f"{verdict}{where}: noisy-train acc {float(noisy_train_acc):.3f}"


def evaluation_mode(etd_enabled: Any) -> str:
    """The mode a run's final accuracies are measured in: a model trained with example-tied
    dropout is evaluated in its "kept" mode (every channel on, memorization channels scaled)."""
    return "example-tied dropout, kept mode" if etd_enabled else ""


def _measured(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
