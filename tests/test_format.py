"""One way to write numbers: accuracies with three decimals, compact losses, '—' for missing."""

from __future__ import annotations

import math

import pytest

from memscope.format import MISSING, accuracy, compact, plural


@pytest.mark.parametrize("value, text", [(1, "1.000"), (1.0, "1.000"), (0.99251, "0.993"), (0.9025, "0.902"),
                                         (0.0, "0.000"), (None, MISSING), (math.nan, MISSING)])
def test_accuracy_has_three_decimals(value, text):
    assert accuracy(value) == text


@pytest.mark.parametrize("value, text", [(2.302585, "2.303"), (0.0123456, "0.01235"), (1.23456e-5, "1.235e-05"),
                                         (12.0, "12"), (None, MISSING)])
def test_losses_are_compact(value, text):
    assert compact(value) == text


def test_plural():
    assert plural(1, "neuron") == "1 neuron"
    assert plural(0, "neuron") == "0 neurons" and plural(3, "neuron") == "3 neurons"
    assert plural(2, "analysis", "analyses") == "2 analyses"
