"""Gradient accounting over the whole training, by windows of epochs."""

from __future__ import annotations

import math

import pytest

from memscope.report.gradient_windows import ALL_LAYERS, combine_layers, window_labels, window_start, windows


def rows_for(epochs: int) -> list[dict]:
    """Two layers; layer a's cosine is -epoch/100, layer b's noisy norm grows with the epoch."""
    out = []
    for e in range(1, epochs + 1):
        out.append({"epoch": e, "layer_index": 0, "layer": "a", "clean_norm": 3.0, "noisy_norm": 4.0,
                    "clean_norm_per_example": 0.1, "noisy_norm_per_example": 1.0, "cosine": -e / 100})
        out.append({"epoch": e, "layer_index": 1, "layer": "b", "clean_norm": 4.0, "noisy_norm": float(e),
                    "clean_norm_per_example": 0.2, "noisy_norm_per_example": 0.4, "cosine": 0.0})
    return out


def test_window_grid_starts_at_epoch_one():
    assert [window_start(e) for e in (1, 5, 6, 10, 11)] == [1, 1, 6, 6, 11]
    assert window_start(7, 3) == 7 and window_start(6, 3) == 4


def test_windows_average_each_layer_and_combine_all_layers():
    ws = windows(rows_for(12))
    labels = window_labels(ws)
    assert labels == [(1, "1-5"), (6, "6-10"), (11, "11-12")]
    by = {(w.layer, w.start): w for w in ws}
    assert by[("a", 1)].cosine == pytest.approx(-0.03)  # mean of -0.01 .. -0.05
    assert by[("a", 11)].cosine == pytest.approx(-0.115)
    assert by[("b", 6)].noisy_norm == pytest.approx(8.0)
    assert by[("a", 1)].ratio_per_example == pytest.approx(10.0)
    assert by[("a", 1)].ratio == pytest.approx(4.0 / 3.0) and by[("b", 6)].ratio == pytest.approx(2.0)
    # all layers, epoch 1: clean (3, 4) -> 5; noisy (4, 1) -> sqrt(17); dot = -0.01*3*4 + 0
    one = combine_layers([r for r in rows_for(1)])
    assert one["clean_norm"] == pytest.approx(5.0) and one["noisy_norm"] == pytest.approx(math.sqrt(17))
    assert one["cosine"] == pytest.approx(-0.12 / (5 * math.sqrt(17)))
    assert [w.layer for w in ws if w.start == 1] == ["a", "b", ALL_LAYERS]


def test_a_missing_value_leaves_the_combination_unknown():
    rows = rows_for(1)
    rows[1]["cosine"] = None
    assert combine_layers(rows)["cosine"] is None
    assert windows(rows)[1].cosine is None
