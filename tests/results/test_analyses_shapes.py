"""The readers on hand-made rows: gradient windows, the collateral damage's one definition,
the ETD modes' order, and a sweep's grouping over seeds against a hand computation."""

from __future__ import annotations

import math
import statistics

import pytest

from memscope.results.analyses import etd, flipping, gradients, grouped, rewinding, training
from memscope.results.source import open_run, open_sweep
from memscope.store.home import Home
from memscope.store.writer import RunWriter
from memscope.testing import write_fake_run
from tests.sweep.conftest import tiny_config  # noqa: F401  (the fabricated sweep's config)
from tests.sweep.test_report import FINAL
from tests.sweep.test_report import fabricated  # noqa: F401  (a finished sweep with hand-made results)


def layer_rows(epochs: int) -> dict[str, list]:
    """Two layers; layer a's cosine is -epoch/100, layer b's noisy norm grows with the epoch."""
    rows: dict[str, list] = {k: [] for k in ("epoch", "layer_index", "layer", "clean_norm", "noisy_norm",
                                             "clean_norm_per_example", "noisy_norm_per_example", "cosine")}
    for e in range(1, epochs + 1):
        for values in ((e, 0, "a", 3.0, 4.0, 0.1, 1.0, -e / 100), (e, 1, "b", 4.0, float(e), 0.2, 0.4, 0.0)):
            for key, value in zip(rows, values):
                rows[key].append(value)
    return rows


@pytest.fixture
def home(tmp_path):
    return Home(tmp_path / "home").ensure()


def test_windows_average_each_layer_and_combine_all_layers(home):
    write_fake_run(home, "grad-run", epochs=12)
    RunWriter(home, "grad-run").write("layer_epochs", layer_rows(12))
    with open_run(home, "grad-run") as run:
        ws = gradients.windows(run).to_pylist()
        whole = gradients.whole_model(run).to_pylist()
    assert list(dict.fromkeys((w["start"], w["label"]) for w in ws)) == [(1, "1-5"), (6, "6-10"), (11, "11-12")]
    by = {(w["layer"], w["start"]): w for w in ws}
    assert by[("a", 1)]["cosine"] == pytest.approx(-0.03)  # mean of -0.01 .. -0.05
    assert by[("a", 11)]["cosine"] == pytest.approx(-0.115)
    assert by[("b", 6)]["noisy_norm"] == pytest.approx(8.0)
    assert by[("a", 1)]["ratio_per_example"] == pytest.approx(10.0)
    assert by[("a", 1)]["ratio"] == pytest.approx(4.0 / 3.0) and by[("b", 6)]["ratio"] == pytest.approx(2.0)
    # all layers, epoch 1: clean (3, 4) -> 5; noisy (4, 1) -> sqrt(17); dot = -0.01*3*4 + 0
    assert whole[0]["clean_norm"] == pytest.approx(5.0) and whole[0]["noisy_norm"] == pytest.approx(math.sqrt(17))
    assert whole[0]["cosine"] == pytest.approx(-0.12 / (5 * math.sqrt(17)))
    assert [w["layer"] for w in ws if w["start"] == 1] == ["a", "b", gradients.ALL_LAYERS]
    assert gradients.window_start(7, 3) == 7 and [gradients.window_start(e) for e in (1, 5, 6, 10, 11)] == [1, 1, 6, 6, 11]


def test_a_missing_value_leaves_the_whole_model_unknown(home):
    write_fake_run(home, "gap-run", epochs=1)
    rows = layer_rows(1)
    rows["cosine"][1] = None
    RunWriter(home, "gap-run").write("layer_epochs", rows)
    with open_run(home, "gap-run") as run:
        assert gradients.whole_model(run).column("cosine").to_pylist() == [None]
        ws = gradients.windows(run).to_pylist()
    assert [w["cosine"] for w in ws if w["layer"] == "b"] == [None]


def test_collateral_damage_is_over_flipped_targets_only(home):
    """Flipped targets carry their drop; one that hit the cap or was skipped carries none."""
    write_fake_run(home, "flip-run", epochs=2)
    status = ["flipped", "flipped", "not_flipped", "not_memorized", "flipped", "not_fitted"]
    RunWriter(home, "flip-run").write("neuron_flips", {
        "example": [0, 1, 2, 3, 10, 11], "is_noisy": [True, True, True, True, False, False],
        "flipped": [s == "flipped" for s in status], "status": status, "neurons_to_flip": [2, 4, None, None, 9, None],
        "new_pred": [0] * 6, "candidates": ["parameters"] * 6,
        "test_acc_before": [0.9] * 6, "test_acc_after": [0.8, 0.7, 0.1, None, 0.85, None],
        "clean_acc_before": [0.95] * 6, "clean_acc_after": [0.9, 0.9, 0.2, None, 0.93, None],
        "noisy_acc_before": [0.99] * 6, "noisy_acc_after": [0.9] * 6,
    })
    with open_run(home, "flip-run") as run:
        targets = {t["example"]: t for t in flipping.targets(run).to_pylist()}
        summary = {g["group"]: g for g in flipping.summary(run).to_pylist()}
    assert targets[0]["test_drop"] == pytest.approx(0.1) and targets[2]["test_drop"] is None and targets[3]["test_drop"] is None
    assert targets[2]["neurons_to_flip"] is None
    noisy, clean = summary["noisy"], summary["clean"]
    assert (noisy["targets"], noisy["counted"], noisy["flipped"], noisy["not_flipped"], noisy["skipped"]) == (4, 3, 2, 1, 1)
    assert noisy["median_test_drop"] == pytest.approx(0.15) and noisy["median_clean_drop"] == pytest.approx(0.05)
    assert noisy["median_edits"] == 3 and noisy["share_flipped"] == pytest.approx(2 / 3)
    assert noisy["skipped_reasons"] == [{"reason": "not_memorized", "targets": 1}]
    assert clean["skipped_reasons"] == [{"reason": "not_fitted", "targets": 1}] and clean["median_test_drop"] == pytest.approx(0.05)


def test_etd_modes_in_their_order(home):
    write_fake_run(home, "etd-run", epochs=2)
    RunWriter(home, "etd-run").write("etd_evals", {
        "mode": ["dropped", "kept", "example"], "clean_train_acc": [0.9, 0.95, 0.96], "noisy_train_acc": [0.1, 0.9, 0.99],
        "noisy_train_true_acc": [0.6, 0.1, 0.0], "test_acc": [0.8, 0.81, 0.81],
    })
    with open_run(home, "etd-run") as run:
        assert etd.evals(run).column("mode").to_pylist() == ["example", "kept", "dropped"]


def test_a_sweep_source_groups_runs_into_cells(fabricated):  # noqa: F811
    home, sid = fabricated
    with open_sweep(home, sid) as sweep:
        assert sweep.group_keys == ["noise.rate"] and len(sweep.run_ids) == 4
        cells = sweep.arrow("SELECT * FROM sweep_cells ORDER BY cell").to_pylist()
        assert cells == [{"cell": 0, "cell_label": "noise.rate=0.1", "noise.rate": "0.1"},
                         {"cell": 1, "cell_label": "noise.rate=0.2", "noise.rate": "0.2"}]
        runs = sweep.arrow("SELECT * FROM sweep_runs ORDER BY run_id").column_names
        assert runs[:5] == ["run_id", "cell", "cell_label", "seed", "noise.rate"]
        epochs = training.epochs(sweep)
    assert epochs.column_names[:4] == ["run_id", "cell", "cell_label", "seed"] and epochs.num_rows == 8


def test_over_seeds_matches_a_hand_computation(fabricated):  # noqa: F811
    home, sid = fabricated
    with open_sweep(home, sid) as sweep:
        final = grouped.over_seeds(sweep, training.final(sweep), values=["test_acc", "noisy_train_acc"]).to_pylist()
        rewinds = grouped.over_seeds(sweep, rewinding.rewinds(sweep), by=["layer_index", "checkpoint_epoch"],
                                     values=["noisy_train_acc"]).to_pylist()
        flips = grouped.over_seeds(sweep, flipping.summary(sweep), by=["group"], values=["median_edits"], totals=["counted"]).to_pylist()
        with pytest.raises(ValueError, match="no column nope"):
            grouped.over_seeds(sweep, training.final(sweep), values=["nope"])
    for row in final:
        rate = row["noise.rate"]
        tests = [FINAL[(rate, seed)][0] for seed in ("1", "2")]
        noisy = [FINAL[(rate, seed)][1] for seed in ("1", "2")]
        assert row["n_runs"] == 2 and row["cell_label"] == f"noise.rate={rate}"
        assert row["test_acc_mean"] == pytest.approx(statistics.fmean(tests)) and row["test_acc_std"] == pytest.approx(statistics.stdev(tests))
        assert row["noisy_train_acc_mean"] == pytest.approx(statistics.fmean(noisy))
    # fc rewound to init: noisy / 2 in every run
    fc_init = next(r for r in rewinds if r["cell"] == 1 and r["layer_index"] == 1 and r["checkpoint_epoch"] == 0)
    assert fc_init["noisy_train_acc_mean"] == pytest.approx(statistics.fmean([0.2 / 2, 0.4 / 2]))
    # noisy targets: 2*seed edits for the one flipped, the other hit the cap -> medians 2 and 4
    noisy = next(r for r in flips if r["cell"] == 0 and r["group"] == "noisy")
    assert noisy["median_edits_mean"] == pytest.approx(3.0) and noisy["median_edits_std"] == pytest.approx(math.sqrt(2))
    assert noisy["counted_total"] == 4 and noisy["n_runs"] == 2


def test_a_cell_of_one_run_has_no_spread_and_empty_cells_are_left_out(fabricated):  # noqa: F811
    import json

    home, sid = fabricated
    # one run of cell 0.2 fails: that cell keeps one run, with no standard deviation
    failed = sorted(p for p in home.runs_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))[-1]
    info = json.loads((failed / "run.json").read_text())
    (failed / "run.json").write_text(json.dumps({**info, "status": "failed"}))
    with open_sweep(home, sid) as sweep:
        rows = grouped.over_seeds(sweep, training.final(sweep), values=["test_acc"]).to_pylist()
    one = next(r for r in rows if r["noise.rate"] == "0.2")
    assert one["n_runs"] == 1 and one["test_acc_std"] is None
    with open_sweep(home, sid, statuses=("running",)) as sweep:
        assert grouped.over_seeds(sweep, training.final(sweep), values=["test_acc"]).num_rows == 0
