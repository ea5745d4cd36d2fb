"""The model's layer groups, in network order: the x axis of every per-layer result, so a
layer where an analysis found nothing still shows (as zero), not as a missing bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memscope.results.analyses._frame import frame
from memscope.results.source import Results

if TYPE_CHECKING:
    import pyarrow as pa


def layers(src: Results) -> "pa.Table":
    """run_id, layer_index, layer, kind (conv | linear), num_params, num_neurons."""
    return frame(src, "SELECT DISTINCT run_id, layer_index, layer, kind, num_params, num_neurons FROM layers", "layer_index")
