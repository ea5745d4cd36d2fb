"""One wording for memorization: "memorized" only at noisy-train accuracy >= 0.9."""

from __future__ import annotations

import math

from memscope.report.memorization import MEMORIZED_AT, evaluation_mode, memorization_phrase, memorized


def test_memorized_only_from_the_threshold():
    assert MEMORIZED_AT == 0.9
    assert memorized(0.9) and memorized(1.0)
    assert not memorized(0.899) and not memorized(0.498) and not memorized(None) and not memorized(math.nan)


def test_the_phrase_says_what_was_measured():
    assert memorization_phrase(0.998) == "memorized noisy labels: noisy-train acc 0.998"
    assert memorization_phrase(0.049) == "did not memorize: noisy-train acc 0.049"
    assert memorization_phrase(None) == "memorization not measured"
    etd = evaluation_mode(True)
    assert memorization_phrase(0.05, etd) == "did not memorize (example-tied dropout, kept mode): noisy-train acc 0.050"
    assert evaluation_mode(False) == ""
