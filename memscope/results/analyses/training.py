"""Training: per epoch the losses and the four accuracies (``epochs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memscope.results.analyses._frame import frame
from memscope.results.source import FINAL_ACCURACIES, Results, SweepResults

if TYPE_CHECKING:
    import pyarrow as pa

EPOCH_COLUMNS = (
    "epoch", "lr", "seconds", "train_loss", "clean_train_loss", "noisy_train_loss", "test_loss",
    "clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc",
)


def epochs(src: Results) -> "pa.Table":
    """One row per run and epoch (the last row of an epoch recorded twice), by epoch.

    Accuracies are of the training pass; ``noisy_train_acc`` is against the observed (noisy)
    labels, ``noisy_train_true_acc`` the noisy examples against their true labels."""
    return frame(src, f"SELECT DISTINCT ON (run_id, epoch) run_id, {', '.join(EPOCH_COLUMNS)} FROM epochs", "epoch")


def final(src: Results) -> "pa.Table":
    """One row per run: the final model's accuracies as run.json records them (evaluation
    mode; a model trained with example-tied dropout in its kept mode): clean_train_acc,
    noisy_train_acc, noisy_train_true_acc, test_acc (NULL when not recorded)."""
    import pyarrow as pa

    if isinstance(src, SweepResults):
        return frame(src, f"SELECT run_id, {', '.join(FINAL_ACCURACIES)} FROM sweep_runs")
    value = {k: src.info.get(k) for k in FINAL_ACCURACIES}
    row = {"run_id": src.run_ids[0], **{k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                                         for k, v in value.items()}}
    return pa.Table.from_pylist([row], schema=pa.schema([("run_id", pa.string()), *((k, pa.float64()) for k in FINAL_ACCURACIES)]))
