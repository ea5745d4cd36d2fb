"""Example-tied dropout: accuracies with each example's own mask, every channel kept, and the
memorization channels dropped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memscope.results.analyses._frame import frame
from memscope.results.source import Results

if TYPE_CHECKING:
    import pyarrow as pa

#: example (each training example through its own mask), kept, dropped: this order.
MODES = ("example", "kept", "dropped")


def evals(src: Results) -> "pa.Table":
    """One row per mode: mode, mode_order (0 example, 1 kept, 2 dropped, 3 any other),
    clean_train_acc, noisy_train_acc, noisy_train_true_acc, test_acc."""
    order = " ".join(f"WHEN '{m}' THEN {i}" for i, m in enumerate(MODES))
    return frame(
        src,
        f"SELECT run_id, mode, CASE mode {order} ELSE {len(MODES)} END AS mode_order, "
        "clean_train_acc, noisy_train_acc, noisy_train_true_acc, test_acc FROM etd_evals",
        "mode_order, mode",
    )
