"""plugins/label_errors.py: ranking metrics, the leaderboard, coverage, baselines, robustness."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from memscope.analysis import Analysis
from memscope.store.schemas import CORE_TABLES
from memscope.testing import check_analysis, check_tables_in_catalog, run_tiny

from .conftest import plugin_module

le = plugin_module("label_errors")
HAS_CLEANLAB = importlib.util.find_spec("cleanlab") is not None


def test_conforms_to_the_analysis_contract():
    check_analysis(le.LabelErrors)


# --------------------------------------------------------------------------- metrics


def _brute_force_precision_at_k(suspicion, truth, k):
    """Average precision@k over every tie-break order (small inputs only)."""
    idx = np.arange(len(suspicion))
    values = []
    for perm in itertools.permutations(idx):
        order = sorted(perm, key=lambda i: -suspicion[i])  # stable: perm decides among ties
        values.append(truth[order[:k]].mean())
    return float(np.mean(values))


@pytest.mark.parametrize(
    "suspicion, truth",
    [
        ([5, 4, 3, 2, 1], [1, 1, 0, 0, 0]),
        ([1, 1, 1, 0, 0], [1, 0, 0, 1, 0]),
        ([2, 1, 1, 1, 0], [0, 1, 1, 0, 0]),
        ([3, 3, 2, 2, 2, 1], [1, 0, 1, 0, 0, 0]),
    ],
)
def test_precision_at_k_counts_ties_in_proportion(suspicion, truth):
    s, t = np.array(suspicion, float), np.array(truth, bool)
    k = int(t.sum())
    assert le.precision_at_k(s, t, k) == pytest.approx(_brute_force_precision_at_k(s, t, k))


def test_ranking_metrics():
    truth = np.array([1, 1, 0, 0, 0], bool)
    perfect = le.ranking_metrics(np.array([5.0, 4, 3, 2, 1]), truth)
    assert perfect == {"auroc": 1.0, "average_precision": 1.0, "precision_at_k": 1.0, "k": 2}
    worst = le.ranking_metrics(np.array([1.0, 2, 3, 4, 5]), truth)
    assert worst["auroc"] == 0.0 and worst["precision_at_k"] == 0.0
    none = le.ranking_metrics(np.array([1.0, 2, 3]), np.zeros(3, bool))
    assert none == {"auroc": None, "average_precision": None, "precision_at_k": None, "k": 0}


def test_direction_orients_the_suspicion():
    values = np.array([1.0, 2.0])
    assert le.Signal("a", "x", "lower", values).suspicion().tolist() == [-1.0, -2.0]
    assert le.Signal("a", "x", "higher", values).suspicion().tolist() == [1.0, 2.0]


# --------------------------------------------------------------------------- on a run


def _board(run) -> dict[str, dict]:
    return {row["signal"]: row for row in run.table("label_errors_leaderboard").to_pylist()}


def test_leaderboard_on_a_run(examples_run):
    check_tables_in_catalog(examples_run, le.LabelErrors, require_rows=True)
    board = _board(examples_run)
    expected = {
        "example_epochs.final_loss",
        "example_epochs.mean_loss",
        "example_epochs.final_margin",
        "example_epochs.aum",
        "forgetting_events.forgetting_events",
        "forgetting_events.learned_epoch",
        "data_maps.confidence",
        "data_maps.variability",
        "data_maps.correctness",
        "combined",
        "random",
        "cleanlab.label_quality",
    }
    assert set(board) == expected
    assert "same values as data_maps.aum" in board["example_epochs.aum"]["note"]  # listed once
    assert "off" in board["cleanlab.label_quality"]["note"] and board["cleanlab.label_quality"]["auroc"] is None
    noisy = sum(examples_run.table("examples", "split = 'train'").column("is_noisy").to_pylist())
    for name, row in board.items():
        if name == "cleanlab.label_quality":
            continue
        assert row["coverage"] == 1.0 and row["k"] == noisy
        assert 0.0 <= row["auroc"] <= 1.0 and 0.0 <= row["average_precision"] <= 1.0
    assert board["random"]["auroc"] == 0.5
    assert board["random"]["average_precision"] == pytest.approx(noisy / board["random"]["examples"])
    assert board["example_epochs.final_loss"]["auroc"] > 0.7  # even 3 epochs separate the noisy labels
    ranks = sorted(row["rank"] for row in board.values())
    assert ranks == list(range(1, len(board) + 1))
    by_rank = sorted(board.values(), key=lambda r: r["rank"])
    aurocs = [r["auroc"] for r in by_rank if r["auroc"] is not None]
    assert aurocs == sorted(aurocs, reverse=True)


def test_combined_ranks_in_example_scores(examples_run):
    scores = examples_run.scores("label_errors")
    assert set(scores) == {"combined_score", "combined_rank"}
    n = examples_run.table("examples", "split = 'train'").num_rows
    assert sorted(scores["combined_rank"].values()) == list(range(1, n + 1))
    best = min(scores["combined_rank"], key=scores["combined_rank"].get)
    assert scores["combined_score"][best] == max(scores["combined_score"].values())


class HalfScorer(Analysis):
    """Scores half of the training examples: 1 for noisy, 0 for clean (a perfect, partial signal)."""

    name = "half_scorer"
    tables = {"example_scores": CORE_TABLES["example_scores"]}

    def run(self, ctx):
        rows = ctx.read_sql("SELECT example, is_noisy FROM examples WHERE split = 'train' ORDER BY example")
        examples = rows.column("example").to_numpy()[::2]
        noisy = rows.column("is_noisy").to_numpy(zero_copy_only=False)[::2]
        ctx.write(
            "example_scores",
            {"analysis": [self.name] * len(examples), "example": examples, "metric": ["lie"] * len(examples), "value": -noisy.astype(float)},
        )


def test_partial_plugin_signal_with_configured_direction(tiny_run_copy):
    run = tiny_run_copy  # no other analysis ran: only example_epochs and this plugin's score
    result = run.analyze(
        HalfScorer,
        plugin_module("label_errors"),
        overrides=['analysis.label_errors.cleanlab="off"', 'analysis.label_errors.directions={"half_scorer.lie" = "lower"}'],
    )
    assert result["label_errors"]["status"] == "completed"
    board = _board(run)
    row = board["half_scorer.lie"]
    n = run.table("examples", "split = 'train'").num_rows
    assert row["direction"] == "lower"
    assert row["examples"] == (n + 1) // 2 and row["coverage"] == pytest.approx(row["examples"] / n)
    assert row["auroc"] == 1.0 and row["precision_at_k"] == 1.0
    assert "scored on the" in row["note"]
    assert row["rank"] == 1
    assert "forgetting_events.forgetting_events" not in board  # what did not run is simply absent


def test_unknown_direction_is_assumed_higher_with_a_note(tiny_run_copy):
    run = tiny_run_copy
    run.analyze(HalfScorer, plugin_module("label_errors"), overrides=['analysis.label_errors.cleanlab="off"'])
    row = _board(run)["half_scorer.lie"]
    assert row["direction"] == "higher" and row["auroc"] == 0.0
    assert "direction assumed" in row["note"]
    assert "the other way round it would score AUROC 1.000" in row["note"]


def test_exclude_and_combine_options(tiny_run_copy):
    run = tiny_run_copy
    run.analyze(
        plugin_module("label_errors"),
        overrides=[
            'analysis.label_errors.cleanlab="off"',
            'analysis.label_errors.exclude=["example_epochs.mean_loss"]',
            'analysis.label_errors.combine=["example_epochs.final_loss"]',
        ],
    )
    board = _board(run)
    assert "example_epochs.mean_loss" not in board
    assert board["combined"]["auroc"] == pytest.approx(board["example_epochs.final_loss"]["auroc"])
    assert "over 1 signals" in board["combined"]["note"]


def test_neuron_flips_table_is_used_when_there_are_no_flip_scores(tiny_run_copy):
    run = tiny_run_copy
    train = run.table("examples", "split = 'train'").to_pydict()
    noisy = [e for e, x in zip(train["example"], train["is_noisy"]) if x][:5]
    clean = [e for e, x in zip(train["example"], train["is_noisy"]) if not x][:5]
    from memscope.store.writer import RunWriter

    RunWriter(run.home, run.run_id).write(
        "neuron_flips",
        {
            "example": noisy + clean,
            "is_noisy": [True] * 5 + [False] * 5,
            "flipped": [True] * 5 + [True, True, False, False, False],
            "neurons_to_flip": [1, 2, 1, 3, 2] + [5, 6, None, None, None],
        },
    )
    run.analyze(plugin_module("label_errors"), overrides=['analysis.label_errors.cleanlab="off"'])
    row = _board(run)["neuron_flips.neurons_to_flip"]
    assert row["examples"] == 10 and row["k"] == 5 and row["auroc"] == 1.0
    assert "unflipped" in row["note"]


def test_no_injected_noise(tmp_path):
    run = run_tiny(
        tmp_path,
        analyses=["label_errors"],
        plugins=[plugin_module("label_errors")],
        overrides=["noise.rate=0.0", "train.epochs=2", 'analysis.label_errors.cleanlab="off"'],
    )
    board = _board(run)
    assert all(row["auroc"] is None and row["k"] == 0 for row in board.values())
    assert len(run.scores("label_errors")["combined_rank"]) == run.table("examples", "split = 'train'").num_rows


def test_warns_when_listed_before_a_post_training_analysis(tmp_path):
    messages = []
    host = SimpleNamespace(registries=SimpleNamespace(analyses=SimpleNamespace(get=lambda name: plugin_module(name).__dict__[
        {"data_maps": "DataMaps", "forgetting_events": "ForgettingEvents"}[name]])))
    config = SimpleNamespace(analyses=("forgetting_events", "label_errors", "data_maps"))
    ctx = SimpleNamespace(config=config, host=host, progress=messages.append, run_dir=tmp_path / "new-run")
    le.LabelErrors().validate(ctx)
    assert messages and "data_maps" in messages[0] and "forgetting_events" not in messages[0]
    messages.clear()
    ctx.run_dir = tmp_path  # memscope analyze on a finished run: the order was the run's business
    le.LabelErrors().validate(ctx)
    assert not messages


def test_bad_options_are_config_errors():
    from memscope.errors import ConfigError

    ctx = SimpleNamespace(config=SimpleNamespace(analyses=()), host=None, progress=print, run_dir=Path("/nonexistent"))
    for options in ({"directions": {"x": "up"}}, {"cleanlab": "yes"}, {"cleanlab_model": "svm"}, {"cleanlab_folds": 1}):
        with pytest.raises(ConfigError):
            le.LabelErrors(dataclasses.replace(le.LabelErrorsOptions(), **options)).validate(ctx)


def test_without_scikit_learn_it_names_the_extra(monkeypatch):
    from memscope.errors import ConfigError

    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if not installed
    ctx = SimpleNamespace(config=SimpleNamespace(analyses=()), host=None, progress=print, run_dir=Path("/nonexistent"))
    with pytest.raises(ConfigError, match=r"needs scikit-learn: pip install 'memscope-explorer\[label-errors\]'"):
        le.LabelErrors().validate(ctx)


# --------------------------------------------------------------------------- cleanlab


def test_without_cleanlab_the_row_says_so(tiny_run_copy, monkeypatch):
    monkeypatch.setitem(sys.modules, "cleanlab", None)  # import cleanlab -> ImportError
    monkeypatch.setitem(sys.modules, "cleanlab.filter", None)
    tiny_run_copy.analyze(plugin_module("label_errors"))
    row = _board(tiny_run_copy)["cleanlab.label_quality"]
    assert row["auroc"] is None and "not installed" in row["note"]


@pytest.mark.skipif(not HAS_CLEANLAB, reason="cleanlab is not installed")
@pytest.mark.parametrize("model", ["logreg", "run_model"])
def test_cleanlab_baseline(tiny_run_copy, model):
    tiny_run_copy.analyze(
        plugin_module("label_errors"),
        overrides=[f'analysis.label_errors.cleanlab_model="{model}"', "analysis.label_errors.cleanlab_folds=2", "analysis.label_errors.cleanlab_epochs=2"],
    )
    row = _board(tiny_run_copy)["cleanlab.label_quality"]
    assert row["baseline"] and row["coverage"] == 1.0 and row["auroc"] is not None
    assert "find_label_issues flags" in row["note"]
    scores = tiny_run_copy.scores("label_errors")
    assert {"cleanlab_label_quality", "cleanlab_issue"} <= set(scores)
    assert set(scores["cleanlab_issue"].values()) <= {0.0, 1.0}

