"""Evaluation in eval mode: predictions, accuracy on the clean / noisy / test splits."""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F


def autocast_for(precision: str, device: torch.device):
    """bf16 autocast when asked for on a GPU; a no-op context everywhere else."""
    if precision == "bf16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024, autocast=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (logits as float32, predictions) for every row of ``x``, in eval mode."""
    was_training = model.training
    model.eval()
    outs = []
    try:
        for start in range(0, x.shape[0], batch_size):
            with autocast or nullcontext():
                outs.append(model(x[start : start + batch_size]).float())
    finally:
        model.train(was_training)
    logits = torch.cat(outs) if outs else x.new_zeros((0, 1))
    return logits, logits.argmax(1)


def mean_or_nan(values: torch.Tensor) -> float:
    return float(values.float().mean()) if values.numel() else float("nan")


def accuracies(train_pred: torch.Tensor, test_pred: torch.Tensor, data) -> dict[str, float]:
    """clean-train, noisy-train (observed labels), noisy-train vs true labels, and test accuracy
    from predictions over every training and test example."""
    clean, noisy = ~data.is_noisy, data.is_noisy
    correct = train_pred == data.y_train
    return {
        "clean_train_acc": mean_or_nan(correct[clean]),
        "noisy_train_acc": mean_or_nan(correct[noisy]),
        "noisy_train_true_acc": mean_or_nan((train_pred == data.y_train_true)[noisy]),
        "test_acc": mean_or_nan(test_pred == data.y_test),
    }


def split_accuracies(model: torch.nn.Module, data, batch_size: int = 1024, autocast=None) -> dict[str, float]:
    """``accuracies`` of the model's predictions, in eval mode."""
    _, train_pred = predict(model, data.x_train, batch_size, autocast)
    _, test_pred = predict(model, data.x_test, batch_size, autocast)
    return accuracies(train_pred, test_pred, data)


def logit_margins(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per row: the logit of label ``y`` minus the largest other logit (negative = misclassified)."""
    y = y.view(-1, 1)
    return logits.gather(1, y).squeeze(1) - logits.scatter(1, y, float("-inf")).amax(1)


@torch.no_grad()
def test_loss_acc(model: torch.nn.Module, data, batch_size: int = 1024, autocast=None) -> tuple[float, float]:
    logits, pred = predict(model, data.x_test, batch_size, autocast)
    if logits.shape[0] == 0:
        return float("nan"), float("nan")
    return float(F.cross_entropy(logits, data.y_test)), float((pred == data.y_test).float().mean())
