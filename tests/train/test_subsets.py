"""data.train_subset / test_subset draw a seeded random subset, never the first N: the CIFAR-10
copy in ../shared/data is sorted by class, and its first 2,500 images are all airplanes."""

from __future__ import annotations

import numpy as np

from memscope.config import load_config
from memscope.plugins import PluginHost
from memscope.train.prepare import prepare


def sorted_by_class(path, per_class=20, classes=10):
    y = np.repeat(np.arange(classes), per_class).astype(np.uint8)
    x = np.random.default_rng(0).integers(0, 255, (len(y), 4, 4, 3), dtype=np.uint8)
    np.savez(path, x_train=x, y_train=y, x_test=x[: 5 * classes], y_test=np.repeat(np.arange(classes), 5).astype(np.uint8))


def test_a_subset_of_class_sorted_data_is_a_seeded_draw_over_every_class(tmp_path):
    sorted_by_class(tmp_path / "sorted.npz")
    registries = PluginHost(None).registries
    config = lambda seed: load_config(None, ["data.dataset=\"npz\"", f"data.path=\"{tmp_path / 'sorted.npz'}\"",  # noqa: E731
                                             "data.train_subset=40", "data.test_subset=20", f"seed={seed}"])
    first = prepare(config(0), registries, tmp_path)
    assert len(first.train_ids) == 40 and len(first.test_ids) == 20
    assert not np.array_equal(first.train_ids, np.arange(40))  # not the first N
    assert len(np.unique(first.y_train_true)) == 10  # the first 40 would hold 2 classes
    assert len(np.unique(first.arrays.y_test[first.test_ids])) >= 5
    again, other = prepare(config(0), registries, tmp_path), prepare(config(1), registries, tmp_path)
    assert np.array_equal(again.train_ids, first.train_ids)  # seeded
    assert not np.array_equal(other.train_ids, first.train_ids)
