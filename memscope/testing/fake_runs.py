"""Synthetic runs: a run directory written the way a run process writes it, with no training.

:func:`write_fake_run` writes ``config.toml``, ``run.json`` and Parquet parts through the real
``RunWriter``, with deterministic values (seeded by ``seed`` and the run id) that look like
training: clean examples learned early, noisy ones late. Use it where a test needs the store,
the catalog, a report or the app over a run of a given shape or status, and no model; use the
tiny run (:func:`memscope.testing.run_tiny`) where the numbers must come from real training.
Needs numpy, never torch.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import numpy as np

from memscope.config import config_from_dict, config_to_toml
from memscope.store.home import Home
from memscope.store.runinfo import now_iso, write_run_info
from memscope.store.writer import RunWriter

LAYERS = ["conv1", "conv2", "conv3", "fc"]
NUM_CLASSES = 4
#: the analyses whose tables ``write_fake_run(..., analyses=True)`` writes
FAKE_ANALYSES = ("gradient_accounting", "rewinding", "retraining", "neuron_flipping")


def write_fake_run(
    home: Home,
    run_id: str,
    *,
    status: str = "completed",
    dataset: str = "synthetic",
    model: str = "cnn",
    noise_rate: float = 0.1,
    seed: int = 0,
    epochs: int = 6,
    done: int | None = None,
    num_train: int = 256,
    num_test: int = 64,
    lr: float = 0.05,
    analyses: bool = False,
    pid: int | None = None,
    hostname: str | None = None,
    day: int | None = None,
    **info: Any,
) -> Path:
    """One run directory in ``home``; returns it.

    ``done``: epochs written (default all; fewer for a running or failed run). ``analyses``:
    also the tables of gradient accounting, rewinding, retraining, neuron flipping, ETD and
    one plugin score. ``pid``/``hostname``: default this process on this host while
    ``running`` (so it is alive). ``day``: timestamps on 2026-01-``day`` (default: now).
    ``info``: run.json fields to set or override (``error``, ``tags``, ``test_acc`` ...).
    """
    rng = np.random.default_rng(seed * 7919 + len(run_id))
    done = epochs if done is None else done
    config = config_from_dict({
        "name": f"{dataset}-{model}", "seed": seed, "device": "cpu", "data": {"dataset": dataset},
        "noise": {"model": "symmetric", "rate": noise_rate}, "model": {"name": model},
        "train": {"epochs": epochs, "batch_size": 64, "lr": lr},
    }, "fixture")
    run_dir = home.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.toml").write_text(config_to_toml(config), encoding="utf-8")
    writer = RunWriter(home, run_id)
    labels = _write_examples(writer, rng, num_train, num_test, noise_rate)
    final = _write_epochs(writer, rng, labels, epochs, done, noise_rate)
    if analyses:
        _write_layer_epochs(writer, epochs, done)
        if done == epochs:
            _write_analysis_tables(writer, rng, labels)
    record = _run_record(run_id, status, config.label, labels, done, pid, hostname, day, analyses)
    record.update({"dataset": dataset, "data_source": dataset, "model": model, "noise_rate": noise_rate,
                   "seed": seed, "epochs": epochs, "num_test": num_test})
    record.update({k: final[k] for k in ("clean_train_acc", "noisy_train_acc", "test_acc", "train_loss") if k in final})
    record.update(info)
    write_run_info(run_dir, record)
    return run_dir


class _Labels:
    """The training set's ids, true and observed labels, noise mask and per-example difficulty."""

    def __init__(self, rng: np.random.Generator, n: int, noise_rate: float):
        self.ids = np.arange(n, dtype=np.int64)
        self.true = (self.ids % NUM_CLASSES).astype(np.int32)
        self.noisy = np.zeros(n, dtype=bool)
        self.noisy[rng.choice(n, size=int(noise_rate * n), replace=False)] = True
        shift = 1 + rng.integers(0, NUM_CLASSES - 1, n)
        self.observed = np.where(self.noisy, (self.true + shift) % NUM_CLASSES, self.true).astype(np.int32)
        self.difficulty = rng.random(n).astype(np.float32)


def _write_examples(writer: RunWriter, rng: np.random.Generator, n: int, n_test: int, noise_rate: float) -> _Labels:
    labels = _Labels(rng, n, noise_rate)
    test_labels = (np.arange(n_test) % NUM_CLASSES).astype(np.int32)
    writer.write("examples", {
        "example": np.concatenate([labels.ids, np.arange(n_test)]),
        "split": ["train"] * n + ["test"] * n_test,
        "true_label": np.concatenate([labels.true, test_labels]),
        "observed_label": np.concatenate([labels.observed, test_labels]),
        "is_noisy": np.concatenate([labels.noisy, np.zeros(n_test, dtype=bool)]),
    })
    writer.write("layers", {
        "layer_index": list(range(len(LAYERS))), "layer": LAYERS, "kind": ["conv", "conv", "conv", "linear"],
        "num_params": [448, 4640, 18496, 516], "num_neurons": [16, 32, 64, 4],
    })
    return labels


def _write_epochs(writer: RunWriter, rng: np.random.Generator, labels: _Labels, epochs: int, done: int,
                  noise_rate: float) -> dict[str, float]:
    """Epochs 1..done: clean examples are learned early, noisy ones late. Returns the last epoch's metrics."""
    noisy, difficulty, n = labels.noisy, labels.difficulty, len(labels.ids)
    final: dict[str, float] = {}
    for epoch in range(1, done + 1):
        t = epoch / epochs
        p = np.where(noisy, 0.05 + 0.85 * t ** 2, 0.45 + 0.5 * t) - 0.3 * (difficulty - 0.5)
        correct = rng.random(n) < p
        loss = np.where(correct, 0.2 + 1.5 * (1 - t) * difficulty, 1.2 + 2.0 * difficulty).astype(np.float32)
        margin = np.where(correct, 0.5 + 4 * t * (1 - difficulty), -0.5 - 2 * difficulty).astype(np.float32)
        pred = np.where(correct, labels.observed, (labels.observed + 1) % NUM_CLASSES).astype(np.int32)
        writer.write("example_epochs", {
            "epoch": np.full(n, epoch, dtype=np.int32), "example": labels.ids, "loss": loss, "correct": correct,
            "margin": margin, "pred": pred,
        })
        nan = float("nan")
        final = {
            "epoch": epoch, "lr": 0.05 * (1 - t), "seconds": 1.5,
            "train_loss": float(loss.mean()),
            "clean_train_loss": float(loss[~noisy].mean()), "clean_train_acc": float(correct[~noisy].mean()),
            "noisy_train_loss": float(loss[noisy].mean()) if noisy.any() else nan,
            "noisy_train_acc": float(correct[noisy].mean()) if noisy.any() else nan,
            "noisy_train_true_acc": float(1 - correct[noisy].mean()) * 0.8 if noisy.any() else nan,
            "test_loss": float(1.4 - 0.6 * t), "test_acc": float(0.4 + 0.45 * t - 0.1 * noise_rate),
        }
        writer.write("epochs", {k: [v] for k, v in final.items()})
    return final


def _write_layer_epochs(writer: RunWriter, epochs: int, done: int) -> None:
    """Gradient accounting: clean and noisy gradient norms and their cosine, per layer and epoch."""
    k = range(len(LAYERS))
    for epoch in range(1, done + 1):
        t = epoch / epochs
        writer.write("layer_epochs", {
            "epoch": [epoch] * len(LAYERS), "layer_index": list(k), "layer": LAYERS,
            "clean_norm": [2.0 + i - t for i in k], "noisy_norm": [1.0 + 0.5 * i + t for i in k],
            "total_norm": [3.0 + i for i in k],
            "clean_norm_paper": [0.1 * (i + 1) for i in k], "noisy_norm_paper": [0.05 * (i + 1) for i in k],
            "total_norm_paper": [0.15 * (i + 1) for i in k],
            "clean_norm_per_example": [(2.0 + i - t) / 230 for i in k],
            "noisy_norm_per_example": [(1.0 + 0.5 * i + t) / 26 for i in k],
            "cosine": [round(0.3 - 0.15 * i - 0.4 * t, 3) for i in k], "cosine_paper": [0.2 - 0.1 * i for i in k],
        })


def _write_analysis_tables(writer: RunWriter, rng: np.random.Generator, labels: _Labels) -> None:
    _write_rewinds_and_retrains(writer)
    _write_neuron_flips(writer, rng, labels)
    writer.write("etd_evals", {
        "mode": ["kept", "dropped"], "clean_train_acc": [0.97, 0.91], "noisy_train_acc": [0.88, 0.12],
        "noisy_train_true_acc": [0.08, 0.55], "test_acc": [0.83, 0.81],
    })
    n = len(labels.ids)
    writer.write("example_scores", {
        "analysis": ["curvature"] * n, "example": labels.ids, "metric": ["score"] * n,
        "value": np.round(labels.difficulty + labels.noisy, 3).astype(np.float64),
    })


def _write_rewinds_and_retrains(writer: RunWriter) -> None:
    rows: dict[str, list] = {k: [] for k in ("layer_index", "layer", "checkpoint_epoch", "clean_train_acc",
                                             "noisy_train_acc", "test_acc")}
    for i, layer in enumerate(LAYERS):
        for c in (0, 2, 4, 6):
            for key, value in (("layer_index", i), ("layer", layer), ("checkpoint_epoch", c),
                               ("clean_train_acc", round(0.5 + 0.08 * c - 0.02 * i, 3)),
                               ("noisy_train_acc", round(min(0.95, 0.1 + 0.13 * c + 0.05 * i), 3)),
                               ("test_acc", round(0.45 + 0.06 * c, 3))):
                rows[key].append(value)
    writer.write("layer_rewinds", rows)
    rows = {k: [] for k in ("layer_index", "layer", "reset_epoch", "retrain_epoch", "clean_train_acc",
                            "noisy_train_acc", "test_acc")}
    for i, layer in enumerate(LAYERS):
        for r in range(0, 5):
            for key, value in (("layer_index", i), ("layer", layer), ("reset_epoch", 0), ("retrain_epoch", r),
                               ("clean_train_acc", round(0.3 + 0.15 * r, 3)),
                               ("noisy_train_acc", round(0.05 + 0.1 * r + 0.03 * i, 3)),
                               ("test_acc", round(0.3 + 0.12 * r, 3))):
                rows[key].append(value)
    writer.write("layer_retrains", rows)


def _write_neuron_flips(writer: RunWriter, rng: np.random.Generator, labels: _Labels) -> None:
    """20 noisy and 20 clean targets, most flipped, plus 3 noisy ones the model never memorized."""
    noisy = labels.noisy
    targets = np.concatenate([np.flatnonzero(noisy)[:20], np.flatnonzero(~noisy)[:20]])
    flips = rng.integers(1, 40, len(targets)) + np.where(noisy[targets], 0, 25)
    flipped = rng.random(len(targets)) < 0.85
    before = {"clean_acc_before": [0.91] * len(targets), "noisy_acc_before": [0.82] * len(targets),
              "test_acc_before": [0.86] * len(targets)}
    writer.write("neuron_flips", {
        "example": targets, "is_noisy": noisy[targets], "flipped": flipped,
        "neurons_to_flip": np.where(flipped, flips, 0).astype(np.int32),
        "new_pred": ((labels.observed[targets] + 1) % NUM_CLASSES).astype(np.int32),
        "clean_acc_after": np.round(0.9 - 0.001 * flips, 3), "noisy_acc_after": np.round(0.8 - 0.002 * flips, 3),
        "test_acc_after": np.round(0.85 - 0.001 * flips, 3),
        "status": np.where(flipped, "flipped", "not_flipped"), "candidates": ["parameters"] * len(targets), **before,
    })
    skipped = np.flatnonzero(noisy)[20:23]  # skipped: no count and no damage
    writer.write("neuron_flips", {
        "example": skipped, "is_noisy": [True] * len(skipped), "flipped": [False] * len(skipped),
        "status": ["not_memorized"] * len(skipped), "candidates": ["parameters"] * len(skipped),
        **{k: v[: len(skipped)] for k, v in before.items()},
    })
    steps: dict[str, list] = {k: [] for k in ("example", "step", "layer_index", "layer", "unit", "score",
                                              "parameter", "kind", "coords")}
    for ex, count in zip(targets[flipped], flips[flipped]):
        for s in range(int(min(count, 6))):
            li, unit = int((ex + s) % len(LAYERS)), int((ex * 7 + s * 3) % 16)
            for key, value in (("example", int(ex)), ("step", s + 1), ("layer_index", li), ("layer", LAYERS[li]),
                               ("unit", unit), ("score", round(1.0 / (s + 1), 3)),
                               ("parameter", f"{LAYERS[li]}.weight"),
                               ("kind", "weight" if LAYERS[li] == "fc" else "conv_filter"), ("coords", [unit])):
                steps[key].append(value)
    writer.write("neuron_flip_steps", steps)


def _run_record(run_id: str, status: str, name: str, labels: _Labels, done: int, pid: int | None,
                hostname: str | None, day: int | None, analyses: bool) -> dict[str, Any]:
    """run.json as a run process leaves it (the caller adds the config's and the metrics' fields)."""
    running = status == "running"
    start = f"2026-01-{day:02d}T12:00:00.000+00:00" if day else now_iso()
    end = f"2026-01-{day:02d}T12:03:25.000+00:00" if day else now_iso()
    return {
        "run_id": run_id, "name": name, "status": status,
        "pid": pid if pid is not None else (os.getpid() if running else None),
        "hostname": hostname or socket.gethostname(),
        "created_at": start, "started_at": start, "updated_at": end, "finished_at": None if running else end,
        "error": None, "epoch": done, "num_train": len(labels.ids), "num_noisy": int(labels.noisy.sum()),
        "num_classes": NUM_CLASSES, "memscope_version": "0.1.0", "torch_version": "fixture", "git_sha": "",
        "device": "cpu", "noise_model": "symmetric",
        "analyses_requested": list(FAKE_ANALYSES) if analyses else [],
        "analyses": {name: {"status": "completed", "seconds": 1.25} for name in FAKE_ANALYSES} if analyses else {},
        "tags": {}, "sweep_id": None, "plugin_errors": [],
    }
