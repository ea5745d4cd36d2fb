"""Each figure's numbers, from real tiny runs through the results readers, against the same
numbers read with plain SQL over the catalog (``TinyRun.sql``)."""

from __future__ import annotations

import pytest

from memscope.figures import data as fd
from memscope.figures.build import FIGURES
from memscope.results.source import open_run

SPEC = {f.name: f for f in FIGURES}


def _figure_data(run, name: str):
    spec = SPEC[name]
    with open_run(run.home, run.run_id) as src:
        return spec.data(*spec.read(src))


def _layers(run, table: str) -> list[str]:
    rows = run.sql(f"SELECT DISTINCT layer_index, layer FROM {table} WHERE run_id = '{run.run_id}' ORDER BY layer_index")
    return rows.column("layer").to_pylist()


def test_gradient_norms_per_layer_and_epoch(localized_run):
    data = _figure_data(localized_run, "gradient_norms")
    assert data.layers == _layers(localized_run, "layer_epochs")
    rows = localized_run.table("layer_epochs").to_pylist()
    assert len(data.layers) >= 2 and rows
    for r in rows:
        clean, noisy = data.clean[r["layer"]], data.noisy[r["layer"]]
        i = clean.x.index(r["epoch"])
        assert clean.y[i] == pytest.approx(r["clean_norm"])
        assert noisy.y[noisy.x.index(r["epoch"])] == pytest.approx(r["noisy_norm"])
    for layer in data.layers:
        assert data.clean[layer].x == sorted(data.clean[layer].x)
        assert data.clean[layer].std is None  # one run: no band


def test_cosine_heatmap_is_layer_by_epoch(localized_run):
    data = _figure_data(localized_run, "gradient_cosine")
    epochs = localized_run.sql(f"SELECT DISTINCT epoch FROM layer_epochs WHERE run_id = '{localized_run.run_id}' ORDER BY 1")
    assert data.epochs == epochs.column("epoch").to_pylist()
    assert len(data.values) == len(data.layers) and all(len(row) == len(data.epochs) for row in data.values)
    for r in localized_run.table("layer_epochs").to_pylist():
        assert data.values[data.layers.index(r["layer"])][data.epochs.index(r["epoch"])] == pytest.approx(r["cosine"])
    assert all(-1.0 - 1e-9 <= v <= 1.0 + 1e-9 for row in data.values for v in row)


def test_rewinding_has_layers_on_x_and_a_line_per_checkpoint(localized_run):
    data = _figure_data(localized_run, "rewinding")
    assert data.layers == _layers(localized_run, "layer_rewinds")
    every = sorted(set(localized_run.table("layer_rewinds").column("checkpoint_epoch").to_pylist()))
    assert data.all_checkpoints == every
    assert data.checkpoints[0] == every[0] and data.checkpoints[-1] == every[-1]
    assert len(data.checkpoints) == min(len(every), fd.MAX_CHECKPOINTS)
    for r in localized_run.table("layer_rewinds").to_pylist():
        if r["checkpoint_epoch"] in data.checkpoints:
            position = data.layers.index(r["layer"])
            assert data.noisy[r["checkpoint_epoch"]].y[position] == pytest.approx(r["noisy_train_acc"])
            assert data.clean[r["checkpoint_epoch"]].y[position] == pytest.approx(r["clean_train_acc"])
    for line in data.noisy.values():
        assert line.x == list(range(len(data.layers)))


def test_rewinding_thins_checkpoints_evenly():
    import pyarrow as pa

    rows = [{"run_id": "r", "layer_index": 0, "layer": "conv1", "checkpoint_epoch": e, "clean_train_acc": 1.0,
             "noisy_train_acc": e / 10, "test_acc": 1.0} for e in range(11)]
    data = fd.figure_data_rewinds(pa.Table.from_pylist(rows), max_checkpoints=4)
    assert data.checkpoints == [0, 3, 7, 10]
    assert data.noisy[7].y == [pytest.approx(0.7)]


def test_retraining_curves_per_reset_layer(localized_run):
    data = _figure_data(localized_run, "retraining")
    rows = localized_run.table("layer_retrains").to_pylist()
    assert data.reset_epoch == min(r["reset_epoch"] for r in rows)
    assert data.layers == _layers(localized_run, "layer_retrains")
    for r in rows:
        line = data.noisy[r["layer"]]
        i = line.x.index(r["retrain_epoch"])
        assert line.y[i] == pytest.approx(r["noisy_train_acc"])
        assert data.clean[r["layer"]].y[i] == pytest.approx(r["clean_train_acc"])
    assert all(data.noisy[layer].x[0] == 0 for layer in data.layers)  # right after the reset


def test_flipping_counts_only_counted_targets_and_names_the_skipped(localized_run):
    data = _figure_data(localized_run, "neuron_flipping")
    run_id = localized_run.run_id
    flips = localized_run.sql(
        f"SELECT is_noisy, status, neurons_to_flip FROM neuron_flips WHERE run_id = '{run_id}'").to_pylist()
    assert flips
    for group, noisy in (("noisy", True), ("clean", False)):
        mine = [r for r in flips if r["is_noisy"] == noisy]
        assert data.neurons[group] == sorted(r["neurons_to_flip"] for r in mine if r["status"] == "flipped")
        assert data.not_flipped[group] == sum(r["status"] == "not_flipped" for r in mine)
        skipped = {}
        for r in mine:
            if r["status"] not in fd.COUNTED:
                skipped[r["status"]] = skipped.get(r["status"], 0) + 1
        assert data.skipped[group] == skipped
    edits = localized_run.sql(
        "SELECT s.layer, f.is_noisy, count(*) AS n FROM neuron_flip_steps s JOIN neuron_flips f USING (run_id, example) "
        f"WHERE run_id = '{run_id}' AND f.status = 'flipped' GROUP BY ALL").to_pylist()
    for r in edits:
        assert data.edits["noisy" if r["is_noisy"] else "clean"][data.layers.index(r["layer"])] == r["n"]
    assert sum(sum(v) for v in data.edits.values()) == sum(r["n"] for r in edits)


def test_flipping_shows_every_layer_group_even_without_edits(localized_run):
    """The placement panel's x axis is the model's layer groups, so the last layer shows its
    (often zero) share instead of vanishing."""
    data = _figure_data(localized_run, "neuron_flipping")
    groups = localized_run.sql(
        f"SELECT layer FROM layers WHERE run_id = '{localized_run.run_id}' ORDER BY layer_index").to_pylist()
    assert data.layers == [r["layer"] for r in groups]
    assert all(len(v) == len(data.layers) for v in data.edits.values())


def test_flipping_layers_table_adds_groups_without_edits():
    import pyarrow as pa

    targets = pa.table({"is_noisy": [True], "status": ["flipped"], "neurons_to_flip": [1]})
    placement = pa.table({"layer_index": [1], "layer": ["conv2"], "group": ["noisy"], "edits": [1]})
    layers = pa.table({"layer_index": [0, 1, 2], "layer": ["conv1", "conv2", "fc"]})
    data = fd.figure_data_flips(targets, placement, layers)
    assert data.layers == ["conv1", "conv2", "fc"]
    assert data.edits == {"noisy": [0, 1, 0], "clean": [0, 0, 0]}


def test_flipping_skipped_note_names_each_reason():
    flips = fd.Flips({"noisy": [1], "clean": []}, {"noisy": 0, "clean": 1},
                     {"noisy": {"not_memorized": 3}, "clean": {"not_fitted": 1}}, [], {"noisy": [], "clean": []})
    assert flips.skipped_note() == "skipped: 1 clean (not fitted), 3 noisy (not memorized)"
    assert fd.Flips({}, {}, {}, [], {}).skipped_note() == ""


def test_etd_kept_vs_dropped(etd_run):
    data = _figure_data(etd_run, "etd")
    rows = {r["mode"]: r for r in etd_run.table("etd_evals").to_pylist()}
    assert set(data.modes) == set(rows) and {"kept", "dropped"} <= set(data.modes)
    assert data.modes.index("kept") < data.modes.index("dropped")
    for mode in data.modes:
        expected = [rows[mode][name] for name, _ in fd.ETD_CATEGORIES]
        assert data.values[mode].y == pytest.approx(expected)
        assert data.values[mode].std is None
