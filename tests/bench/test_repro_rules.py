"""bench/repro_rules.py: each verdict rule on small hand-made tables (no training)."""

from __future__ import annotations

import math

import pytest

import repro_rules as rules

MEMORIZED = {"clean_train_acc": 1.0, "noisy_train_acc": 1.0}


# --------------------------------------------------------------------------- claim 1


def epochs(ratios_cosines):
    return [{"epoch": e, "clean_norm": 10.0, "noisy_norm": 10.0 * r, "cosine": c} for e, (r, c) in enumerate(ratios_cosines, 1)]


def test_gradients_judged_over_the_memorization_phase_only():
    # opposed and comparable until epoch 3 (noisy acc reaches 0.9), aligned afterwards
    rows = epochs([(0.5, -0.6), (0.4, -0.5), (0.3, -0.4), (0.01, 0.9), (0.01, 0.9), (0.01, 0.9), (0.01, 0.9)])
    curve = {1: 0.1, 2: 0.5, 3: 0.92, 4: 1.0, 5: 1.0, 6: 1.0, 7: 1.0}
    v = rules.judge_gradients(rows, curve, 1.0)
    assert v.verdict == rules.REPRODUCED, v.reasons
    assert "epochs 1-3" in v.measured


def test_gradients_with_a_weak_noisy_pull_or_aligned_directions_are_not_reproduced():
    weak = rules.judge_gradients(epochs([(0.1, -0.5)] * 3), {3: 0.95}, 0.95)
    aligned = rules.judge_gradients(epochs([(0.5, 0.2)] * 3), {3: 0.95}, 0.95)
    assert weak.verdict == aligned.verdict == rules.NOT_REPRODUCED
    assert any("norm ratio" in r for r in weak.reasons)
    assert any("not negative" in r for r in aligned.reasons)


def test_gradients_of_a_model_that_did_not_memorize_are_not_reproduced():
    v = rules.judge_gradients(epochs([(0.5, -0.5)] * 3), {3: 0.4}, 0.4)
    assert v.verdict == rules.NOT_REPRODUCED
    assert v.reasons == ["did not memorize: noisy-train acc 0.400 < 0.9"]


def test_no_gradient_rows_is_not_measured():
    assert rules.judge_gradients([], {}, 1.0).verdict == rules.NOT_MEASURED


# --------------------------------------------------------------------------- claim 2


def rewound(*accs):
    """One row per layer l0..l(n-1): (noisy, clean) after rewinding it to init."""
    return [{"layer": f"l{i}", "noisy_train_acc": n, "clean_train_acc": c} for i, (n, c) in enumerate(accs)]


def test_a_middle_layer_that_holds_memorization_reproduces_claim_2():
    rew = rewound((0.95, 1.0), (0.2, 0.95), (0.9, 0.98), (0.97, 1.0))
    v = rules.judge_layers(MEMORIZED, rew, [{"layer": "l1", "noisy_train_acc": 0.1}])
    assert v.verdict == rules.REPRODUCED, v.reasons
    assert "largest gap: l1" in v.measured


def test_a_layer_whose_rewinding_destroys_both_accuracies_does_not_matter():
    # l1 takes noisy to 0.1 but clean to 0.1 as well: gap 0; nothing else matters
    v = rules.judge_layers(MEMORIZED, rewound((0.95, 1.0), (0.1, 0.1), (0.9, 1.0)), [])
    assert v.verdict == rules.NOT_REPRODUCED
    assert any("no single layer matters" in r for r in v.reasons)


def test_the_largest_gap_at_the_last_layer_is_not_reproduced():
    v = rules.judge_layers(MEMORIZED, rewound((0.95, 1.0), (0.6, 1.0), (0.9, 1.0), (0.1, 0.95)), [])
    assert v.verdict == rules.NOT_REPRODUCED
    assert any("last layer (l3)" in r for r in v.reasons)


def test_retraining_that_brings_noisy_accuracy_back_makes_a_layer_redundant():
    # three of four layers matter on rewinding: more than half, unless retraining shows that
    # the memorization of two of them is held elsewhere
    rew = rewound((0.2, 1.0), (0.1, 1.0), (0.3, 1.0), (0.95, 1.0))
    without = rules.judge_layers(MEMORIZED, rew, [])
    with_retraining = rules.judge_layers(MEMORIZED, rew, [{"layer": "l0", "noisy_train_acc": 0.8}, {"layer": "l2", "noisy_train_acc": 0.75},
                                                         {"layer": "l1", "noisy_train_acc": 0.2}])
    assert without.verdict == rules.NOT_REPRODUCED
    assert any("3 of 4 layers hold memorization" in r for r in without.reasons)
    assert with_retraining.verdict == rules.REPRODUCED, with_retraining.reasons


def test_the_gap_threshold_is_inclusive():
    # gap exactly MATTERS_GAP (computed in floats: compare through the rule's own arithmetic)
    rew = rewound((1.0 - rules.MATTERS_GAP - 0.05, 0.95), (1.0, 1.0))
    v = rules.judge_layers(MEMORIZED, rew, [])
    assert "matter (gap >= 0.3): l0" in v.measured


# --------------------------------------------------------------------------- claim 3


def target(noisy, status, n=None, clean_drop=0.0, test_drop=0.0):
    """A row of memscope.results.analyses.flipping.targets: the damage only on flipped targets."""
    flipped = status == "flipped"
    return {"is_noisy": noisy, "status": status, "neurons_to_flip": n,
            "clean_drop": clean_drop if flipped else None, "test_drop": test_drop if flipped else None}


def steps(layers):
    return [{"layer": layer} for layer in layers]


def test_few_edits_spread_over_layers_reproduce_claim_3_and_report_collateral_and_skips():
    flips = [target(True, "flipped", 2, 0.01, 0.02), target(True, "flipped", 3, 0.03, 0.04), target(True, "not_memorized"),
             target(False, "flipped", 9), target(False, "not_flipped"), target(False, "not_fitted"), target(False, "not_fitted")]
    v = rules.judge_neurons(flips, steps(["c1", "c2", "c3", "fc", "c2"]), "fc", 1.0)
    assert v.verdict == rules.REPRODUCED, v.reasons
    assert "noisy: median 2.5 (n=2, not flipped 0, skipped: 1 not memorized)" in v.measured
    assert "collateral median drop test 0.030, clean-train 0.020" in v.measured
    assert "clean: median > cap (n=2, not flipped 1, skipped: 2 not fitted)" in v.measured
    assert "span 4 layer groups, 0.20 in the final one" in v.measured


def test_skipped_targets_never_count_as_flipped_with_zero():
    # the old failure: unfitted noisy targets "flipped with 0" pulled the noisy median down
    flips = [target(True, "not_memorized")] * 5 + [target(True, "flipped", 8), target(False, "flipped", 4)]
    v = rules.judge_neurons(flips, steps(["c1", "c2", "c3"]), "fc", 1.0)
    assert v.verdict == rules.NOT_REPRODUCED
    assert v.reasons == ["noisy median 8.0 is not below clean median 4.0"]


def test_edits_mostly_in_the_final_layer_or_in_too_few_groups_are_not_reproduced():
    flips = [target(True, "flipped", 1), target(False, "flipped", 5)]
    in_classifier = rules.judge_neurons(flips, steps(["fc", "fc", "fc", "c1", "c2"]), "fc", 1.0)
    assert in_classifier.verdict == rules.NOT_REPRODUCED
    assert any("in the final layer" in r for r in in_classifier.reasons)
    narrow = rules.judge_neurons(flips, steps(["c1", "c2"]), "fc", 1.0)
    assert any("span 2 layer groups" in r for r in narrow.reasons)


def test_claim_3_without_counted_targets_of_one_group_is_not_measured():
    v = rules.judge_neurons([target(True, "not_memorized"), target(False, "flipped", 3)], [], "fc", 1.0)
    assert v.verdict == rules.NOT_MEASURED
    assert "no counted noisy targets" in v.measured


def test_median_ranks_not_flipped_above_every_flipped_target():
    targets = [target(True, "flipped", 5), target(True, "not_flipped"), target(True, "not_flipped")]
    assert math.isinf(rules._median_to_flip(targets))


# --------------------------------------------------------------------------- claim 4


def mode(clean, noisy, test, noisy_true=0.0):
    return {"clean_train_acc": clean, "noisy_train_acc": noisy, "noisy_train_true_acc": noisy_true, "test_acc": test}


def test_etd_that_drops_memorization_and_shrinks_the_gap_reproduces_claim_4():
    v = rules.judge_etd({"example": mode(1.0, 1.0, 0.7), "kept": mode(0.98, 0.4, 0.7), "dropped": mode(0.95, 0.03, 0.71, 0.8)}, 90, 10)
    assert v.verdict == rules.REPRODUCED, v.reasons
    # before: train acc 1.0 - 0.7 = +0.300; after: 0.855 + 0.003 - 0.71 = +0.148
    assert "generalization gap +0.300 -> +0.148" in v.measured


def test_etd_gap_uses_train_accuracy_against_the_observed_labels():
    # dropping removes memorization but also costs test accuracy: the gap does not shrink
    v = rules.judge_etd({"example": mode(1.0, 1.0, 0.7), "dropped": mode(0.9, 0.0, 0.4)}, 90, 10)
    assert v.verdict == rules.NOT_REPRODUCED
    assert any("did not shrink" in r for r in v.reasons)


def test_etd_that_never_memorized_is_not_reproduced_and_says_so():
    v = rules.judge_etd({"kept": mode(0.9, 0.05, 0.7), "dropped": mode(0.9, 0.04, 0.7)}, 90, 10)
    assert v.verdict == rules.NOT_REPRODUCED
    assert any(r.startswith("did not memorize: noisy-train acc 0.050 (kept mode)") for r in v.reasons)


def test_etd_with_noisy_accuracy_left_after_dropping_is_not_reproduced():
    v = rules.judge_etd({"example": mode(1.0, 1.0, 0.7), "dropped": mode(1.0, 0.5, 0.75)}, 90, 10)
    assert v.reasons == ["noisy-train acc after dropping 0.500 > 0.2"]


@pytest.mark.parametrize("by_mode", [{}, {"example": mode(1, 1, 1)}, {"dropped": mode(1, 0, 1)}])
def test_etd_without_both_modes_is_not_measured(by_mode):
    assert rules.judge_etd(by_mode, 9, 1).verdict == rules.NOT_MEASURED
