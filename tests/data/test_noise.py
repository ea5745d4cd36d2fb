"""Noise models: exact counts, never the true label, seeded streams."""

from __future__ import annotations

import numpy as np
import pytest

from memscope.data import noise
from memscope.seeding import numpy_stream


@pytest.mark.parametrize("rate,n", [(0.1, 1000), (0.25, 7), (0.0, 10), (0.999, 5)])
def test_exactly_floor_rate_n_examples(rate, n):
    labels = np.arange(n) % 10
    observed = noise.symmetric(labels, 10, rate, numpy_stream(0, "noise"))
    assert int((observed != labels).sum()) == int(np.floor(rate * n))


def test_symmetric_never_keeps_the_true_label_and_covers_all_shifts():
    labels = np.zeros(20000, dtype=np.int64)
    observed = noise.symmetric(labels, 10, 0.5, numpy_stream(1, "noise"))
    changed = observed[observed != labels]
    assert len(changed) == 10000
    assert set(np.unique(changed)) == set(range(1, 10))


def test_paper_off_by_one_draws_from_1_to_k_minus_2():
    class Opt:
        paper_off_by_one = True

    labels = np.zeros(5000, dtype=np.int64)
    observed = noise.symmetric(labels, 10, 0.9, numpy_stream(1, "noise"), Opt())
    assert set(np.unique(observed[observed != 0])) == set(range(1, 9))


def test_pairflip_moves_to_next_class():
    labels = np.arange(100) % 4
    observed = noise.pairflip(labels, 4, 0.3, numpy_stream(2, "noise"))
    moved = observed != labels
    assert moved.sum() == 30
    assert np.all(observed[moved] == (labels[moved] + 1) % 4)


def test_none_is_identity():
    labels = np.arange(10)
    assert np.array_equal(noise.no_noise(labels, 10, 0.5, numpy_stream(0, "noise")), labels)


def test_noise_stream_is_independent_of_other_streams():
    labels = np.arange(500) % 10
    a = noise.symmetric(labels, 10, 0.1, numpy_stream(3, "noise"))
    numpy_stream(3, "batch_order").random(100)  # other consumers do not shift the noise draw
    b = noise.symmetric(labels, 10, 0.1, numpy_stream(3, "noise"))
    c = noise.symmetric(labels, 10, 0.1, numpy_stream(4, "noise"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
