"""Example ids: one id space for both splits, so a join on ``example`` cannot double rows.

Training example ``i`` (its index in the dataset's full training split) has id ``i``; test
example ``j`` has id ``N_train + j``, where ``N_train`` is the size of the full training split
(not of a ``data.train_subset``, so ids do not move when the subset does). Every
per-example table (``examples``, ``example_epochs``, ``neuron_flips``, ``example_scores``, a
plugin's) joins on ``(run_id, example)`` alone and gets one row per example; ``split`` still
says which split an example is in.

Runs written before this rule numbered test examples from 0: there, a join on ``example``
with ``examples`` must also filter ``split = 'train'``.
"""

from __future__ import annotations

import numpy as np


def ids_of_test_examples(num_train_full: int, test_positions: np.ndarray) -> np.ndarray:
    """Ids of the test examples at ``test_positions`` (indices into the full test split)."""
    return np.asarray(test_positions, dtype=np.int64) + int(num_train_full)


def positions_of_test_examples(num_train_full: int, example_ids: np.ndarray) -> np.ndarray:
    """Indices into the full test split of the test examples with ``example_ids``."""
    return np.asarray(example_ids, dtype=np.int64) - int(num_train_full)
