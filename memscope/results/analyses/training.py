"""Training: per epoch the losses and the four accuracies (``epochs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memscope.results.analyses._frame import frame
from memscope.results.source import Results

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
