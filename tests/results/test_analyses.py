"""The analysis readers on a real tiny run: each reader's columns, and its numbers against
direct SQL over the catalog (what ``memscope query`` sees)."""

from __future__ import annotations

import statistics

import pytest

from memscope.errors import MemscopeError, QueryError
from memscope.results.analyses import etd, examples, flipping, gradients, retraining, rewinding, training
from memscope.results.source import open_run

ANALYSES = ["gradient_accounting", "rewinding", "retraining", "neuron_flipping"]
#: few targets and small samples: the flipping search is the slow part of the tiny run
FLIP_SETTINGS = [
    "analysis.neuron_flipping.num_noisy=16", "analysis.neuron_flipping.num_clean=16",
    "analysis.neuron_flipping.eval_noisy=64", "analysis.neuron_flipping.eval_clean=64",
    "analysis.neuron_flipping.eval_test=64", "analysis.neuron_flipping.reference_batch=64",
]

COLUMNS = {
    training.epochs: ["run_id", "epoch", "lr", "seconds", "train_loss", "clean_train_loss", "noisy_train_loss", "test_loss",
                      "clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc"],
    training.final: ["run_id", "clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc"],
    gradients.layer_epochs: ["run_id", "epoch", "layer_index", "layer", "clean_norm", "noisy_norm", "clean_norm_per_example",
                             "noisy_norm_per_example", "cosine", "cosine_paper"],
    gradients.whole_model: ["run_id", "epoch", "clean_norm", "noisy_norm", "clean_norm_per_example", "noisy_norm_per_example", "cosine"],
    gradients.windows: ["run_id", "layer_index", "layer", "start", "first", "last", "label", "clean_norm", "noisy_norm",
                        "clean_norm_per_example", "noisy_norm_per_example", "cosine", "ratio", "ratio_per_example"],
    rewinding.rewinds: ["run_id", "layer_index", "layer", "checkpoint_epoch", "clean_train_acc", "noisy_train_acc", "test_acc"],
    retraining.retrains: ["run_id", "layer_index", "layer", "reset_epoch", "retrain_epoch", "clean_train_acc", "noisy_train_acc", "test_acc"],
    flipping.targets: ["run_id", "example", "is_noisy", "status", "neurons_to_flip", "test_drop", "clean_drop"],
    flipping.placement: ["run_id", "layer_index", "layer", "kind", "group", "edits", "targets", "share"],
    flipping.summary: ["run_id", "group", "targets", "counted", "flipped", "not_flipped", "skipped", "skipped_reasons", "share_flipped",
                       "median_edits", "mean_edits", "min_edits", "max_edits", "median_test_drop", "median_clean_drop"],
    etd.evals: ["run_id", "mode", "mode_order", "clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc"],
    examples.learned: ["run_id", "example", "is_noisy", "learned", "loss", "margin", "first_epoch", "last_epoch"],
    examples.scores: ["run_id", "analysis", "metric", "n", "mean", "median", "min", "max", "mean_clean", "mean_noisy"],
}


@pytest.fixture(scope="module")
def real_run(tiny_run_factory):
    return tiny_run_factory(analyses=ANALYSES, overrides=FLIP_SETTINGS)


def sql_rows(run, sql: str) -> list[dict]:
    return run.sql(sql.replace("$RUN", f"'{run.run_id}'")).to_pylist()


@pytest.mark.parametrize("reader", list(COLUMNS), ids=lambda r: f"{r.__module__.rsplit('.', 1)[-1]}.{r.__name__}")
def test_each_reader_has_its_columns(real_run, reader):
    with open_run(real_run.home, real_run.run_id) as run:
        table = reader(run)
    assert table.column_names == COLUMNS[reader]
    assert set(table.column("run_id").to_pylist()) <= {real_run.run_id}


def test_row_counts_and_values_match_sql(real_run):
    with open_run(real_run.home, real_run.run_id) as run:
        assert run.run_id == real_run.run_id and run.info["status"] == "completed" and run.config["analyses"] == ANALYSES
        epochs = training.epochs(run).to_pylist()
        counts = {t: training_count for t, training_count in (
            ("layer_epochs", gradients.layer_epochs(run).num_rows), ("layer_rewinds", rewinding.rewinds(run).num_rows),
            ("layer_retrains", retraining.retrains(run).num_rows), ("neuron_flips", flipping.targets(run).num_rows))}
        assert not etd.evals(run).num_rows and not run.has("etd_evals") and run.has("epochs", "neuron_flips")
    expected = sql_rows(real_run, "SELECT epoch, test_acc, noisy_train_acc FROM epochs WHERE run_id = $RUN ORDER BY epoch")
    assert [(r["epoch"], r["test_acc"], r["noisy_train_acc"]) for r in epochs] == [tuple(r.values()) for r in expected]
    for table, n in counts.items():
        assert n > 0 and n == sql_rows(real_run, f"SELECT count(*) AS n FROM {table} WHERE run_id = $RUN")[0]["n"], table


def test_flipping_summary_and_placement_match_sql(real_run):
    with open_run(real_run.home, real_run.run_id) as run:
        summary = {g["group"]: g for g in flipping.summary(run).to_pylist()}
        placement = flipping.placement(run).to_pylist()
    flips = sql_rows(real_run, "SELECT * FROM neuron_flips WHERE run_id = $RUN")
    for group, noisy in (("noisy", True), ("clean", False)):
        rows = [r for r in flips if r["is_noisy"] == noisy]
        flipped = [r for r in rows if r["status"] == "flipped"]
        g = summary[group]
        assert g["targets"] == len(rows) and g["flipped"] == len(flipped)
        assert g["counted"] == sum(r["status"] in ("flipped", "not_flipped") for r in rows)
        assert g["skipped"] == g["targets"] - g["counted"] == sum(r["targets"] for r in g["skipped_reasons"])
        if flipped:
            assert g["median_edits"] == pytest.approx(statistics.median(r["neurons_to_flip"] for r in flipped))
            assert g["median_test_drop"] == pytest.approx(statistics.median(r["test_acc_before"] - r["test_acc_after"] for r in flipped))
            assert g["median_clean_drop"] == pytest.approx(statistics.median(r["clean_acc_before"] - r["clean_acc_after"] for r in flipped))
    steps = sql_rows(real_run, "SELECT count(*) AS n FROM neuron_flip_steps s JOIN neuron_flips f USING (run_id, example) "
                               "WHERE run_id = $RUN AND f.status = 'flipped'")[0]["n"]
    assert sum(r["edits"] for r in placement) == steps
    for group in {r["group"] for r in placement}:
        assert sum(r["share"] for r in placement if r["group"] == group) == pytest.approx(1.0)


def test_windows_of_the_real_run_average_the_epochs(real_run):
    with open_run(real_run.home, real_run.run_id) as run:
        windows = gradients.windows(run, width=2).to_pylist()
        per_epoch = gradients.layer_epochs(run).to_pylist()
    first = next(w for w in windows if w["layer_index"] == 0 and w["start"] == 1)
    cosines = [r["cosine"] for r in per_epoch if r["layer_index"] == 0 and r["epoch"] in (1, 2)]
    assert first["label"] == "1-2" and first["cosine"] == pytest.approx(statistics.fmean(cosines))
    assert [w["layer"] for w in windows if w["start"] == 1][-1] == gradients.ALL_LAYERS


def test_a_run_source_is_read_only_and_takes_parameters(real_run):
    with open_run(real_run.home, "latest") as run:
        assert run.run_id == real_run.run_id
        assert run.arrow("SELECT count(*) AS n FROM epochs WHERE epoch > ?", [1]).column("n").to_pylist() == [run.count("epochs") - 1]
        with pytest.raises(QueryError, match="read-only"):
            run.arrow("CREATE TABLE x AS SELECT 1")
        with pytest.raises(QueryError, match="read-only"):
            run.arrow("COPY epochs TO 'x.csv'", [1])
        assert run.columns("no_such_table") == [] and not run.has("no_such_table")
    with pytest.raises(MemscopeError, match="no run 'no-such-run'") as failed:
        open_run(real_run.home, "no-such-run")
    assert failed.value.exit_code == 2
