"""The core rows a run writes itself: ``examples`` and ``layers`` (once, before training),
``epochs`` and ``example_epochs`` (after each epoch)."""

from __future__ import annotations

import numpy as np
import torch

from memscope.models.base import LayerGroup
from memscope.models.groups import group_parameters
from memscope.store.writer import RunWriter
from memscope.train.prepare import PreparedData
from memscope.train.trainer import EpochStats


def write_examples(writer: RunWriter, p: PreparedData) -> None:
    n_test = len(p.test_ids)
    y_test = p.arrays.y_test[p.test_ids]
    writer.write(
        "examples",
        {
            "example": np.concatenate([p.train_ids, p.test_example_ids]),  # disjoint id spaces
            "split": ["train"] * len(p.train_ids) + ["test"] * n_test,
            "true_label": np.concatenate([p.y_train_true, y_test]),
            "observed_label": np.concatenate([p.y_train_observed, y_test]),
            "is_noisy": np.concatenate([p.is_noisy, np.zeros(n_test, dtype=bool)]),
        },
    )


def write_layers(writer: RunWriter, model: torch.nn.Module, groups: list[LayerGroup]) -> None:
    writer.write(
        "layers",
        {
            "layer_index": list(range(len(groups))),
            "layer": [g.name for g in groups],
            "kind": [g.kind for g in groups],
            "num_params": [sum(p.numel() for _, p in group_parameters(model, g)) for g in groups],
            "num_neurons": [g.num_neurons for g in groups],
        },
    )


def epoch_metrics(stats: EpochStats, prepared: PreparedData, test: tuple[float, float]) -> dict[str, float]:
    """One ``epochs`` row: the training pass's own losses and predictions, split clean / noisy,
    and the test loss and accuracy."""
    noisy = prepared.is_noisy
    correct = stats.preds == prepared.y_train_observed
    mean = lambda a: float(a.mean()) if a.size else float("nan")  # noqa: E731
    return {
        "epoch": stats.epoch,
        "lr": stats.lr,
        "seconds": stats.seconds,
        "train_loss": mean(stats.losses),
        "clean_train_loss": mean(stats.losses[~noisy]),
        "clean_train_acc": mean(correct[~noisy]),
        "noisy_train_loss": mean(stats.losses[noisy]),
        "noisy_train_acc": mean(correct[noisy]),
        "noisy_train_true_acc": mean((stats.preds == prepared.y_train_true)[noisy]),
        "test_loss": test[0],
        "test_acc": test[1],
    }


def write_example_epoch(writer: RunWriter, prepared: PreparedData, stats: EpochStats) -> None:
    """Each training example's loss, correctness, margin and prediction in one epoch."""
    writer.write(
        "example_epochs",
        {
            "epoch": np.full(len(stats.losses), stats.epoch, dtype=np.int32),
            "example": prepared.train_ids,
            "loss": stats.losses,
            "correct": stats.preds == prepared.y_train_observed,
            "margin": stats.margins,
            "pred": stats.preds.astype(np.int32),
        },
    )
