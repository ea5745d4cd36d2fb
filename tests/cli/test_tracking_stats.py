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


def _epoch_stats(tmp_path, keep_logits_max: int):
    saved = trainer_module.KEEP_LOGITS_MAX
    trainer_module.KEEP_LOGITS_MAX = keep_logits_max
    try:
        config = load_config(None, ['data.dataset="synthetic"', 'model.name="cnn"', "model.width=0.25", "train.epochs=2",
                                    "train.batch_size=64", "noise.rate=0.2", 'device="cpu"'])
        host = PluginHost(None)
        data = to_device(prepare(config, host.registries, tmp_path), CPU)
        model = model_factory(config, host, data)()
        trainer = Trainer(model, data, config.train, config.seed, CPU)
        return [trainer.train_epoch(epoch) for epoch in (1, 2)], data, trainer
    finally:
        trainer_module.KEEP_LOGITS_MAX = saved


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    return _epoch_stats(tmp_path_factory.mktemp("kept"), trainer_module.KEEP_LOGITS_MAX)


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    return _epoch_stats(tmp_path_factory.mktemp("reduced"), 0)


@pytest.mark.parametrize("epoch", [0, 1])
def test_kept_logits_and_per_step_reduction_agree(kept, reduced, epoch):
    (kept_stats, data, trainer), (reduced_stats, _, other) = kept, reduced
    assert trainer._logits is not None and trainer._logits.shape == (data.num_train, 4)
    assert other._logits is None
    np.testing.assert_array_equal(kept_stats[epoch].preds, reduced_stats[epoch].preds)
    np.testing.assert_allclose(kept_stats[epoch].margins, reduced_stats[epoch].margins, atol=1e-5)
    np.testing.assert_allclose(kept_stats[epoch].losses, reduced_stats[epoch].losses, atol=1e-6)


def test_kept_logits_give_the_loss_prediction_and_margin_of_each_example(kept):
    (_, last), data, trainer = kept
    logits = trainer._logits
    y = data.y_train
    np.testing.assert_allclose(last.losses, F.cross_entropy(logits, y, reduction="none").numpy(), atol=1e-5)
    np.testing.assert_array_equal(last.preds, logits.argmax(1).numpy())
    top2 = logits.topk(2, dim=1).values
    true = logits.gather(1, y.view(-1, 1)).squeeze(1)
    other = torch.where(logits.argmax(1) == y, top2[:, 1], top2[:, 0])
    np.testing.assert_allclose(last.margins, (true - other).numpy(), atol=1e-5)
