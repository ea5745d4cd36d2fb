"""Layer rewinding: accuracies after rewinding one layer group to a checkpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memscope.results.analyses._frame import frame
from memscope.results.source import Results

if TYPE_CHECKING:
    import pyarrow as pa


def rewinds(src: Results) -> "pa.Table":
    """One row per layer group and checkpoint (``checkpoint_epoch`` 0 = the initial weights):
    layer_index, layer, checkpoint_epoch, clean_train_acc, noisy_train_acc (against the noisy
    labels), test_acc; in layer then checkpoint order."""
    return frame(
        src,
        "SELECT run_id, layer_index, layer, checkpoint_epoch, clean_train_acc, noisy_train_acc, test_acc FROM layer_rewinds",
        "layer_index, checkpoint_epoch",
    )
