"""Layer retraining: one layer group reset to a checkpoint and retrained on clean examples only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memscope.results.analyses._frame import frame
from memscope.results.source import Results

if TYPE_CHECKING:
    import pyarrow as pa


def retrains(src: Results) -> "pa.Table":
    """One row per layer group, reset checkpoint and retraining epoch (``retrain_epoch`` 0 =
    right after the reset): layer_index, layer, reset_epoch, retrain_epoch, clean_train_acc,
    noisy_train_acc, test_acc; in layer, reset and retraining order."""
    return frame(
        src,
        "SELECT run_id, layer_index, layer, reset_epoch, retrain_epoch, clean_train_acc, noisy_train_acc, test_acc "
        "FROM layer_retrains",
        "layer_index, reset_epoch, retrain_epoch",
    )
