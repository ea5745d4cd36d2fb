"""An epoch's per-example losses, predictions and margins reach the host in one transfer, and
the arrays an epoch returns are its own: the next epoch, which reuses the trainer's device
buffers, leaves them as they were."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memscope.config import load_config
from memscope.plugins import PluginHost
from memscope.train.prepare import prepare, to_device
from memscope.train.runner import model_factory
from memscope.train.trainer import Trainer

CPU = torch.device("cpu")


@pytest.fixture
def trainer(tmp_path):
    config = load_config(None, ['data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.25", "train.epochs=2",
                                "train.batch_size=64", "noise.rate=0.2", 'device="cpu"'])
    host = PluginHost(None)
    data = to_device(prepare(config, host.registries, tmp_path), CPU)
    return Trainer(model_factory(config, host, data)(), data, config.train, config.seed, CPU)


def test_an_epoch_moves_its_per_example_arrays_to_the_host_once(trainer, monkeypatch):
    transfers = []
    real_cpu = torch.Tensor.cpu
    monkeypatch.setattr(torch.Tensor, "cpu", lambda self, *a, **k: transfers.append(tuple(self.shape)) or real_cpu(self, *a, **k))
    stats = trainer.train_epoch(1)
    assert transfers == [(3, trainer.data.num_train)]
    assert stats.losses.dtype == np.float32 and stats.margins.dtype == np.float32 and stats.preds.dtype == np.int64


def test_the_next_epoch_leaves_the_previous_epochs_arrays_alone(trainer):
    first = trainer.train_epoch(1)
    kept = (first.losses.copy(), first.preds.copy(), first.margins.copy())
    second = trainer.train_epoch(2)
    assert not np.array_equal(second.losses, kept[0])  # the buffers did change
    np.testing.assert_array_equal(first.losses, kept[0])
    np.testing.assert_array_equal(first.preds, kept[1])
    np.testing.assert_array_equal(first.margins, kept[2])


def test_predictions_cross_the_transfer_exactly_up_to_the_largest_class_index_float32_holds(trainer):
    trainer._logits = None  # the per-step reduction path: predictions are what the steps stored
    n = trainer.data.num_train
    trainer._pred = torch.arange(2**24 - n, 2**24)
    _, preds, _ = trainer._epoch_arrays()
    np.testing.assert_array_equal(preds, np.arange(2**24 - n, 2**24))
