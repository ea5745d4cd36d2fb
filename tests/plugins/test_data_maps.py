"""plugins/data_maps.py: confidence, variability, correctness and AUM against plain numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from memscope.errors import ConfigError
from memscope.testing import check_analysis, check_tables_in_catalog

from .conftest import plugin_module

dm = plugin_module("data_maps")


def test_conforms_to_the_analysis_contract():
    check_analysis(dm.DataMaps)


def _expected(run, first: int = 1, last: int | None = None) -> dict[int, dict[str, float]]:
    rows = run.table("example_epochs").to_pydict()
    per: dict[int, list[tuple[float, bool, float]]] = {}
    for example, epoch, loss, correct, margin in zip(rows["example"], rows["epoch"], rows["loss"], rows["correct"], rows["margin"]):
        if epoch >= first and (last is None or epoch <= last):
            per.setdefault(example, []).append((math.exp(-loss), correct, margin))
    out = {}
    for example, values in per.items():
        p = np.array([v[0] for v in values])
        out[example] = {
            "confidence": p.mean(),
            "variability": p.std(),
            "correctness": np.mean([v[1] for v in values]),
            "aum": np.mean([v[2] for v in values]),
        }
    return out


def test_values_on_a_run(examples_run):
    check_tables_in_catalog(examples_run, dm.DataMaps, require_rows=True)
    expected = _expected(examples_run)
    rows = examples_run.table("data_maps_examples").to_pylist()
    assert len(rows) == len(expected)
    for row in rows:
        for metric in dm.METRICS:
            assert row[metric] == pytest.approx(expected[row["example"]][metric], rel=1e-5, abs=1e-6)
    scores = examples_run.scores("data_maps")
    assert set(scores) == set(dm.METRICS)
    assert all(len(v) == len(expected) for v in scores.values())
    groups = examples_run.table("data_maps_groups").to_pylist()
    noisy = next(g for g in groups if g["is_noisy"])
    clean = next(g for g in groups if not g["is_noisy"])
    assert noisy["aum"] < clean["aum"]  # mislabeled examples have the lower margin, even after 3 epochs


def test_epoch_window(examples_run_copy):
    run = examples_run_copy
    run.analyze("data_maps", overrides=["analysis.data_maps.first_epoch=2", "analysis.data_maps.last_epoch=2"])
    expected = _expected(run, 2, 2)
    rows = run.table("data_maps_examples").to_pylist()
    assert len(rows) == len(expected)
    assert all(r["epochs"] == 1 and r["variability"] == 0 for r in rows)
    row = rows[0]
    assert row["confidence"] == pytest.approx(expected[row["example"]]["confidence"], rel=1e-5)


def test_bad_window_is_a_config_error(examples_run_copy):
    with pytest.raises(ConfigError, match="first_epoch"):
        examples_run_copy.analyze("data_maps", overrides=["analysis.data_maps.first_epoch=3", "analysis.data_maps.last_epoch=2"])
