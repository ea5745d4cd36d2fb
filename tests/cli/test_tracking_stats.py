"""Per-example tracking: predictions and margins from the epoch's kept logits equal the
per-step reduction (the path for training sets too large to keep logits for), and both equal
what the model's step logits say."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import memscope.train.trainer as trainer_module
from memscope.config import load_config
from memscope.plugins import PluginHost
from memscope.train.prepare import prepare, to_device
from memscope.train.runner import model_factory
from memscope.train.trainer import Trainer

CPU = torch.device("cpu")


def _epoch_stats(tmp_path, keep_logits_max: int, monkeypatch):
    monkeypatch.setattr(trainer_module, "KEEP_LOGITS_MAX", keep_logits_max)
    config = load_config(None, ['data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.25", "train.epochs=2",
                                "train.batch_size=64", "noise.rate=0.2", 'device="cpu"'])
    host = PluginHost(None)
    data = to_device(prepare(config, host.registries, tmp_path), CPU)
    model = model_factory(config, host, data)()
    trainer = Trainer(model, data, config.train, config.seed, CPU)
    return [trainer.train_epoch(epoch) for epoch in (1, 2)], data, trainer


@pytest.mark.parametrize("epoch", [0, 1])
def test_kept_logits_and_per_step_reduction_agree(tmp_path, monkeypatch, epoch):
    kept, data, trainer = _epoch_stats(tmp_path, trainer_module.KEEP_LOGITS_MAX, monkeypatch)
    assert trainer._logits is not None and trainer._logits.shape == (data.num_train, 4)
    reduced, _, other = _epoch_stats(tmp_path, 0, monkeypatch)
    assert other._logits is None
    np.testing.assert_array_equal(kept[epoch].preds, reduced[epoch].preds)
    np.testing.assert_allclose(kept[epoch].margins, reduced[epoch].margins, atol=1e-5)
    np.testing.assert_allclose(kept[epoch].losses, reduced[epoch].losses, atol=1e-6)


def test_kept_logits_give_the_loss_prediction_and_margin_of_each_example(tmp_path, monkeypatch):
    (_, last), data, trainer = _epoch_stats(tmp_path, trainer_module.KEEP_LOGITS_MAX, monkeypatch)
    logits = trainer._logits
    y = data.y_train
    np.testing.assert_allclose(last.losses, F.cross_entropy(logits, y, reduction="none").numpy(), atol=1e-5)
    np.testing.assert_array_equal(last.preds, logits.argmax(1).numpy())
    top2 = logits.topk(2, dim=1).values
    true = logits.gather(1, y.view(-1, 1)).squeeze(1)
    other = torch.where(logits.argmax(1) == y, top2[:, 1], top2[:, 0])
    np.testing.assert_allclose(last.margins, (true - other).numpy(), atol=1e-5)
