"""Label-noise models. Each takes int64 labels and returns the observed labels.

Exactly ``floor(rate * N)`` training examples are corrupted, chosen without replacement
from the run's ``noise`` stream; test labels are never touched.
"""

from __future__ import annotations

import math

import numpy as np


def choose_noisy(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of the floor(rate * n) examples to corrupt (sorted)."""
    count = math.floor(rate * n + 1e-9)
    return np.sort(rng.choice(n, size=count, replace=False)) if count else np.zeros(0, dtype=np.int64)


def symmetric(labels: np.ndarray, num_classes: int, rate: float, rng: np.random.Generator, options=None) -> np.ndarray:
    """y -> (y + r) mod K with r uniform in {1..K-1}: never the true label.

    ``noise.paper_off_by_one`` draws r from {1..K-2} like the authors' released code.
    """
    observed = labels.copy()
    chosen = choose_noisy(len(labels), rate, rng)
    high = num_classes - 1 if getattr(options, "paper_off_by_one", False) else num_classes
    if high <= 1:  # K=2 with the off-by-one variant has no shift left: fall back to r = 1
        high = 2
    shifts = rng.integers(1, high, size=len(chosen))
    observed[chosen] = (labels[chosen] + shifts) % num_classes
    return observed


def pairflip(labels: np.ndarray, num_classes: int, rate: float, rng: np.random.Generator, options=None) -> np.ndarray:
    """y -> (y + 1) mod K for the chosen examples."""
    observed = labels.copy()
    chosen = choose_noisy(len(labels), rate, rng)
    observed[chosen] = (labels[chosen] + 1) % num_classes
    return observed


def no_noise(labels: np.ndarray, num_classes: int, rate: float, rng: np.random.Generator, options=None) -> np.ndarray:
    """Labels unchanged (rate is ignored)."""
    return labels.copy()
