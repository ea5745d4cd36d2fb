"""A sweep's figures: per grid cell, the mean over the cell's seeds with a ± std band, checked
against a hand computation on a hand-made sweep (``fabricated_sweep``, see conftest.SCALE)."""

from __future__ import annotations

import math
import statistics

import pytest

from memscope.figures import data as fd
from memscope.figures.build import FIGURE_NAMES, FIGURES, write_figures
from memscope.results.analyses import grouped
from memscope.results.source import open_sweep

from tests.figures.conftest import SCALE

SPEC = {f.name: f for f in FIGURES}


def _cell_data(home, sweep_id: str, name: str, rate: str):
    spec = SPEC[name]
    with open_sweep(home, sweep_id) as sweep:
        (table,) = spec.read(sweep)
        averaged = grouped.over_seeds(sweep, table, list(spec.by), list(spec.values))
        rows = averaged.filter(averaged.column("noise.rate").to_numpy(zero_copy_only=False) == rate)
        return spec.data(rows)


@pytest.mark.parametrize("rate", ["0.1", "0.2"])
def test_gradient_norm_bands_are_mean_and_std_over_seeds(fabricated_sweep, rate):
    home, sweep_id = fabricated_sweep
    scales = [SCALE[(rate, seed)] for seed in ("1", "2")]
    data = _cell_data(home, sweep_id, "gradient_norms", rate)
    assert data.layers == ["conv1", "fc"]
    clean = data.clean["fc"]  # clean_norm of fc: 2s at epoch 1, 4s at epoch 2
    assert clean.x == [1, 2]
    assert clean.y == pytest.approx([2 * statistics.mean(scales), 4 * statistics.mean(scales)])
    assert clean.std == pytest.approx([2 * statistics.stdev(scales), 4 * statistics.stdev(scales)])
    noisy = data.noisy["conv1"]  # s/2 then s
    assert noisy.y == pytest.approx([statistics.mean(scales) / 2, statistics.mean(scales)])
    assert noisy.std == pytest.approx([statistics.stdev(scales) / 2, statistics.stdev(scales)])


def test_rewinding_and_etd_carry_the_spread(fabricated_sweep):
    home, sweep_id = fabricated_sweep
    rewinds = _cell_data(home, sweep_id, "rewinding", "0.1")  # s = 1 and 3
    assert rewinds.noisy[0].y == pytest.approx([0.2, 0.3])  # conv1: mean of 0.1 s; fc: 0.3
    assert rewinds.noisy[0].std == pytest.approx([0.1 * math.sqrt(2), 0.0])
    etd = _cell_data(home, sweep_id, "etd", "0.1")
    assert etd.modes == ["kept", "dropped"]
    names = [name for name, _ in fd.ETD_CATEGORIES]
    assert etd.values["kept"].y[names.index("noisy_train_acc")] == pytest.approx(0.6)
    assert etd.values["dropped"].y[names.index("test_acc")] == pytest.approx(0.2)
    assert etd.values["dropped"].std[names.index("test_acc")] == pytest.approx(0.1 * math.sqrt(2))


def test_retraining_band_over_seeds(fabricated_sweep):
    home, sweep_id = fabricated_sweep
    data = _cell_data(home, sweep_id, "retraining", "0.2")  # s = 2 and 2: no spread
    assert data.layers == ["conv1"] and data.noisy["conv1"].x == [0, 1]
    assert data.noisy["conv1"].y == pytest.approx([0.2, 0.1])
    assert data.noisy["conv1"].std == pytest.approx([0.0, 0.0])


def test_flipping_pools_the_targets_of_the_cell_seeds(fabricated_sweep):
    home, sweep_id = fabricated_sweep
    spec = SPEC["neuron_flipping"]
    with open_sweep(home, sweep_id) as sweep:
        tables = spec.read(sweep)  # targets, placement, the model's layer groups
        cell = {r["cell"] for r in tables[0].to_pylist() if r["cell_label"] == "noise.rate=0.1"}.pop()
        data = spec.data(*(t.filter(t.column("cell").to_numpy() == cell) for t in tables))
    assert data.neurons == {"clean": [2, 2], "noisy": [1, 3]}  # seeds 1 and 2: s = 1 and 3
    assert data.skipped == {"clean": {}, "noisy": {"not_memorized": 2}}
    assert data.layers == ["conv1", "fc"]
    assert data.edits == {"clean": [4, 0], "noisy": [0, 4]}


def test_write_figures_draws_each_figure_for_each_cell(fabricated_sweep, tmp_path):
    home, sweep_id = fabricated_sweep
    with open_sweep(home, sweep_id) as sweep:
        written = write_figures(sweep, tmp_path / "figs", "png")
    names = sorted(p.name for p in written.files)
    assert names == sorted(f"{figure}-noise.rate_{rate}.png" for figure in FIGURE_NAMES for rate in ("0.1", "0.2"))
    assert all(p.stat().st_size > 0 for p in written.files)
    assert written.skipped == []


def test_a_sweep_without_an_analysis_skips_its_figure(fabricated_sweep, tmp_path):
    import shutil

    home, sweep_id = fabricated_sweep
    for run_dir in home.runs_dir.iterdir():
        shutil.rmtree(run_dir / "neuron_flips")
    with open_sweep(home, sweep_id) as sweep:
        written = write_figures(sweep, tmp_path / "figs", "png", names=("neuron_flipping", "etd"))
    assert [p.name for p in written.files] == ["etd-noise.rate_0.1.png", "etd-noise.rate_0.2.png"]
    assert written.skipped == ["neuron_flipping: skipped, the sweep has no neuron_flips rows (run analysis "
                               "'neuron_flipping': memscope analyze RUN_ID -a neuron_flipping)"]
