"""plugins/forgetting_events.py: the counting rule, and the tables on a real (tiny) run."""

from __future__ import annotations

import numpy as np
import pytest

from memscope.errors import ConfigError
from memscope.testing import check_analysis, check_tables_in_catalog

from .conftest import plugin_module

fe = plugin_module("forgetting_events")


def test_conforms_to_the_analysis_contract():
    check_analysis(fe.ForgettingEvents)


def test_counting_rule_on_hand_made_histories():
    correct = np.array(
        [
            [1, 1, 1, 1],  # learned at once, never forgotten
            [0, 1, 0, 1],  # forgotten once, learned for good at epoch 4
            [1, 0, 1, 0],  # forgotten twice, not learned at the end
            [0, 0, 0, 0],  # never correct
            [0, 0, 1, 1],  # learned at epoch 3
        ],
        dtype=bool,
    )
    stats = fe.forgetting_stats(correct, np.array([1, 2, 3, 4]))
    assert stats["forgetting_events"].tolist() == [0, 1, 2, 0, 0]
    np.testing.assert_array_equal(stats["learned_epoch"], [1, 4, np.nan, np.nan, 3])
    np.testing.assert_array_equal(stats["first_correct_epoch"], [1, 2, 1, np.nan, 3])
    assert stats["final_correct"].tolist() == [True, True, False, False, True]


def test_epoch_numbers_not_positions():
    stats = fe.forgetting_stats(np.array([[0, 1, 1]], dtype=bool), np.array([5, 6, 7]))
    assert stats["learned_epoch"].tolist() == [6.0]


def test_tables_on_a_run(examples_run):
    counts = check_tables_in_catalog(examples_run, fe.ForgettingEvents, require_rows=True)
    train = examples_run.table("examples", "split = 'train'")
    assert counts["forgetting_events_examples"] == train.num_rows
    assert counts["example_scores"] == 2 * train.num_rows

    # recompute from example_epochs with plain numpy
    epochs = examples_run.table("example_epochs").to_pydict()
    history: dict[int, list[tuple[int, bool]]] = {}
    for example, epoch, correct in zip(epochs["example"], epochs["epoch"], epochs["correct"]):
        history.setdefault(example, []).append((epoch, correct))
    rows = examples_run.table("forgetting_events_examples").to_pylist()
    last_epoch = max(epochs["epoch"])
    for row in rows:
        seq = [c for _, c in sorted(history[row["example"]])]
        assert row["forgetting_events"] == sum(a and not b for a, b in zip(seq, seq[1:]))
        assert row["final_correct"] == seq[-1]
        assert row["epochs"] == last_epoch
    scores = examples_run.scores("forgetting_events")
    for row in rows:
        expected = row["learned_epoch"] if row["learned_epoch"] is not None else last_epoch + 1
        assert scores["learned_epoch"][row["example"]] == expected
        # never predicted right: forgotten "infinitely often" (Toneva et al.), censored at the epoch count
        never = row["first_correct_epoch"] is None
        assert scores["forgetting_events"][row["example"]] == (row["epochs"] if never else row["forgetting_events"])
    assert any(r["first_correct_epoch"] is None for r in rows)  # the case is exercised

    groups = {g["is_noisy"]: g for g in examples_run.table("forgetting_events_groups").to_pylist()}
    assert groups[True]["examples"] + groups[False]["examples"] == train.num_rows
    assert groups[True]["examples"] == sum(train.column("is_noisy").to_pylist())


def test_analyze_again_replaces_rows_and_honours_first_epoch(examples_run_copy):
    run = examples_run_copy
    result = run.analyze("forgetting_events", overrides=["analysis.forgetting_events.first_epoch=2"])
    assert result["forgetting_events"]["status"] == "completed"
    n = run.table("examples", "split = 'train'").num_rows
    assert run.table("forgetting_events_examples").num_rows == n  # replaced, not appended
    assert run.table("example_scores", "analysis = 'forgetting_events'").num_rows == 2 * n
    assert set(run.table("forgetting_events_examples").column("epochs").to_pylist()) == {2}  # epochs 2 and 3


def test_bad_option_is_a_config_error(examples_run_copy):
    with pytest.raises(ConfigError, match="first_epoch"):
        examples_run_copy.analyze("forgetting_events", overrides=["analysis.forgetting_events.first_epoch=0"])
