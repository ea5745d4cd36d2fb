"""A deterministic memscope home for the app's tests, snapshots, screenshots and bench.

Runs are written the way a run process writes them (RunWriter parts, run.json), with fixed
ids, timestamps and values, and no training.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np

from memscope.config import RunConfig, config_from_dict, config_to_toml
from memscope.store.home import Home
from memscope.store.runinfo import write_run_info
from memscope.store.writer import RunWriter

LAYERS = ["conv1", "conv2", "conv3", "fc"]
NUM_CLASSES = 4


def _config(dataset: str, model: str, rate: float, seed: int, epochs: int, analyses: tuple[str, ...] = (), **train) -> RunConfig:
    data = {
        "name": f"{dataset}-{model}",
        "seed": seed,
        "device": "cpu",
        "data": {"dataset": dataset},
        "noise": {"model": "symmetric", "rate": rate},
        "model": {"name": model},
        "train": {"epochs": epochs, "batch_size": 64, "lr": 0.05, **train},
    }
    return config_from_dict(data, "fixture")


def write_run(home: Home, run_id: str, *, status: str, dataset: str = "synthetic", model: str = "cnn",
              rate: float = 0.1, seed: int = 0, epochs: int = 6, done: int | None = None, num_train: int = 256,
              analyses: bool = False, pid: int | None = None, hostname: str = "fixture-host",
              error: str | None = None, day: int = 1, lr: float = 0.05, updated_at: str | None = None) -> Path:
    """One run directory. ``done`` = epochs written (default: all)."""
    rng = np.random.default_rng(seed * 7919 + len(run_id))
    done = epochs if done is None else done
    config = _config(dataset, model, rate, seed, epochs, lr=lr)
    run_dir = home.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.toml").write_text(config_to_toml(config), encoding="utf-8")
    writer = RunWriter(home, run_id)
    n = num_train
    ids = np.arange(n, dtype=np.int64)
    y_true = (ids % NUM_CLASSES).astype(np.int32)
    noisy = np.zeros(n, dtype=bool)
    noisy[rng.choice(n, size=int(rate * n), replace=False)] = True
    y_obs = np.where(noisy, (y_true + 1 + rng.integers(0, NUM_CLASSES - 1, n)) % NUM_CLASSES, y_true).astype(np.int32)
    n_test = 64
    writer.write("examples", {
        "example": np.concatenate([ids, np.arange(n_test)]),
        "split": ["train"] * n + ["test"] * n_test,
        "true_label": np.concatenate([y_true, np.arange(n_test) % NUM_CLASSES]).astype(np.int32),
        "observed_label": np.concatenate([y_obs, np.arange(n_test) % NUM_CLASSES]).astype(np.int32),
        "is_noisy": np.concatenate([noisy, np.zeros(n_test, dtype=bool)]),
    })
    writer.write("layers", {
        "layer_index": list(range(len(LAYERS))), "layer": LAYERS, "kind": ["conv", "conv", "conv", "linear"],
        "num_params": [448, 4640, 18496, 516], "num_neurons": [16, 32, 64, 4],
    })
    final: dict[str, float] = {}
    difficulty = rng.random(n).astype(np.float32)
    for epoch in range(1, done + 1):
        t = epoch / epochs
        clean_p = 0.45 + 0.5 * t
        noisy_p = 0.05 + 0.85 * t ** 2
        p = np.where(noisy, noisy_p, clean_p) - 0.3 * (difficulty - 0.5)
        correct = rng.random(n) < p
        loss = np.where(correct, 0.2 + 1.5 * (1 - t) * difficulty, 1.2 + 2.0 * difficulty).astype(np.float32)
        margin = np.where(correct, 0.5 + 4 * t * (1 - difficulty), -0.5 - 2 * difficulty).astype(np.float32)
        pred = np.where(correct, y_obs, (y_obs + 1) % NUM_CLASSES).astype(np.int32)
        writer.write("example_epochs", {
            "epoch": np.full(n, epoch, dtype=np.int32), "example": ids, "loss": loss, "correct": correct,
            "margin": margin, "pred": pred,
        })
        metrics = {
            "epoch": epoch, "lr": 0.05 * (1 - t), "seconds": 1.5,
            "train_loss": float(loss.mean()),
            "clean_train_loss": float(loss[~noisy].mean()), "clean_train_acc": float(correct[~noisy].mean()),
            "noisy_train_loss": float(loss[noisy].mean()) if noisy.any() else float("nan"),
            "noisy_train_acc": float(correct[noisy].mean()) if noisy.any() else float("nan"),
            "noisy_train_true_acc": float(1 - correct[noisy].mean()) * 0.8 if noisy.any() else float("nan"),
            "test_loss": float(1.4 - 0.6 * t), "test_acc": float(0.4 + 0.45 * t - 0.1 * rate),
        }
        writer.write("epochs", {k: [v] for k, v in metrics.items()})
        final = metrics
        if analyses:
            writer.write("layer_epochs", {
                "epoch": [epoch] * len(LAYERS), "layer_index": list(range(len(LAYERS))), "layer": LAYERS,
                "clean_norm": [2.0 + i - t for i in range(len(LAYERS))],
                "noisy_norm": [1.0 + 0.5 * i + t for i in range(len(LAYERS))],
                "total_norm": [3.0 + i for i in range(len(LAYERS))],
                "clean_norm_paper": [0.1 * (i + 1) for i in range(len(LAYERS))],
                "noisy_norm_paper": [0.05 * (i + 1) for i in range(len(LAYERS))],
                "total_norm_paper": [0.15 * (i + 1) for i in range(len(LAYERS))],
                "clean_norm_per_example": [(2.0 + i - t) / 230 for i in range(len(LAYERS))],
                "noisy_norm_per_example": [(1.0 + 0.5 * i + t) / 26 for i in range(len(LAYERS))],
                "cosine": [round(0.3 - 0.15 * i - 0.4 * t, 3) for i in range(len(LAYERS))],
                "cosine_paper": [0.2 - 0.1 * i for i in range(len(LAYERS))],
            })
    if analyses and done == epochs:
        checkpoints = [0, 2, 4, 6]
        rows = {k: [] for k in ("layer_index", "layer", "checkpoint_epoch", "clean_train_acc", "noisy_train_acc", "test_acc")}
        for i, layer in enumerate(LAYERS):
            for c in checkpoints:
                rows["layer_index"].append(i)
                rows["layer"].append(layer)
                rows["checkpoint_epoch"].append(c)
                rows["clean_train_acc"].append(round(0.5 + 0.08 * c - 0.02 * i, 3))
                rows["noisy_train_acc"].append(round(min(0.95, 0.1 + 0.13 * c + 0.05 * i), 3))
                rows["test_acc"].append(round(0.45 + 0.06 * c, 3))
        writer.write("layer_rewinds", rows)
        rows = {k: [] for k in ("layer_index", "layer", "reset_epoch", "retrain_epoch", "clean_train_acc", "noisy_train_acc", "test_acc")}
        for i, layer in enumerate(LAYERS):
            for r in range(0, 5):
                rows["layer_index"].append(i)
                rows["layer"].append(layer)
                rows["reset_epoch"].append(0)
                rows["retrain_epoch"].append(r)
                rows["clean_train_acc"].append(round(0.3 + 0.15 * r, 3))
                rows["noisy_train_acc"].append(round(0.05 + 0.1 * r + 0.03 * i, 3))
                rows["test_acc"].append(round(0.3 + 0.12 * r, 3))
        writer.write("layer_retrains", rows)
        targets = np.concatenate([np.flatnonzero(noisy)[:20], np.flatnonzero(~noisy)[:20]])
        flips = rng.integers(1, 40, len(targets)) + np.where(noisy[targets], 0, 25)
        flipped = rng.random(len(targets)) < 0.85
        test_before = 0.86
        writer.write("neuron_flips", {
            "example": targets, "is_noisy": noisy[targets], "flipped": flipped,
            "neurons_to_flip": np.where(flipped, flips, 0).astype(np.int32),
            "new_pred": ((y_obs[targets] + 1) % NUM_CLASSES).astype(np.int32),
            "clean_acc_after": np.round(0.9 - 0.001 * flips, 3), "noisy_acc_after": np.round(0.8 - 0.002 * flips, 3),
            "test_acc_after": np.round(0.85 - 0.001 * flips, 3),
            "status": np.where(flipped, "flipped", "not_flipped"), "candidates": ["parameters"] * len(targets),
            "clean_acc_before": [0.91] * len(targets), "noisy_acc_before": [0.82] * len(targets),
            "test_acc_before": [test_before] * len(targets),
        })
        # three noisy targets the model never memorized: skipped, with no count and no damage
        skipped = np.flatnonzero(noisy)[20:23]
        writer.write("neuron_flips", {
            "example": skipped, "is_noisy": [True] * len(skipped), "flipped": [False] * len(skipped),
            "status": ["not_memorized"] * len(skipped), "candidates": ["parameters"] * len(skipped),
            "clean_acc_before": [0.91] * len(skipped), "noisy_acc_before": [0.82] * len(skipped),
            "test_acc_before": [test_before] * len(skipped),
        })
        steps = {k: [] for k in ("example", "step", "layer_index", "layer", "unit", "score", "parameter", "kind", "coords")}
        for t_i, ex in enumerate(targets):
            if not flipped[t_i]:
                continue
            for s in range(int(min(flips[t_i], 6))):
                li = int((ex + s) % len(LAYERS))
                unit = int((ex * 7 + s * 3) % 16)
                steps["example"].append(int(ex))
                steps["step"].append(s + 1)
                steps["layer_index"].append(li)
                steps["layer"].append(LAYERS[li])
                steps["unit"].append(unit)
                steps["score"].append(round(1.0 / (s + 1), 3))
                steps["parameter"].append(f"{LAYERS[li]}.weight")
                steps["kind"].append("weight" if LAYERS[li] == "fc" else "conv_filter")
                steps["coords"].append([unit])
        writer.write("neuron_flip_steps", steps)
        writer.write("etd_evals", {
            "mode": ["kept", "dropped"], "clean_train_acc": [0.97, 0.91], "noisy_train_acc": [0.88, 0.12],
            "noisy_train_true_acc": [0.08, 0.55], "test_acc": [0.83, 0.81],
        })
        writer.write("example_scores", {
            "analysis": ["curvature"] * n, "example": ids, "metric": ["score"] * n,
            "value": np.round(difficulty + noisy, 3).astype(np.float64),
        })
    created = f"2026-01-{day:02d}T12:00:00.000+00:00"
    info = {
        "run_id": run_id, "status": status, "pid": pid if pid is not None else 1, "hostname": hostname,
        "created_at": created, "started_at": created,
        "finished_at": None if status == "running" else f"2026-01-{day:02d}T12:03:25.000+00:00",
        "updated_at": updated_at or f"2026-01-{day:02d}T12:03:25.000+00:00",
        "error": error, "epoch": done, "num_train": n, "num_test": n_test, "num_noisy": int(noisy.sum()),
        "num_classes": NUM_CLASSES, "data_source": dataset, "memscope_version": "0.1.0", "torch_version": "fixture",
        "git_sha": "", "name": config.label, "dataset": dataset, "model": model, "noise_model": "symmetric",
        "noise_rate": rate, "seed": seed, "epochs": epochs, "device": "cpu",
        "analyses_requested": ["gradient_accounting", "rewinding", "retraining", "neuron_flipping"] if analyses else [],
        "analyses": ({name: {"status": "completed", "seconds": 1.25} for name in
                      ("gradient_accounting", "rewinding", "retraining", "neuron_flipping")} if analyses else {}),
        "tags": {}, "sweep_id": None, "plugin_errors": [],
    }
    if status != "running" and final:
        info.update({k: final[k] for k in ("clean_train_acc", "noisy_train_acc", "test_acc", "train_loss")})
    elif final:
        info.update({k: final[k] for k in ("clean_train_acc", "noisy_train_acc", "test_acc", "train_loss")})
    write_run_info(run_dir, info)
    return run_dir


RUN_A = "20260101-120000-synthetic-cnn-aaaa"
RUN_B = "20260102-120000-synthetic-mlp-bbbb"
RUN_C = "20260103-120000-synthetic-cnn-cccc"
RUN_D = "20260104-120000-synthetic-cnn-dddd"
RUN_E = "20260105-120000-synthetic-cnn-eeee"


def make_home(root: str | Path, *, live: bool = True) -> Home:
    """Five runs: completed with every analysis, completed, failed, running (this process), crashed."""
    home = Home(root).ensure()
    write_run(home, RUN_A, status="completed", analyses=True, day=1)
    write_run(home, RUN_B, status="completed", model="mlp", rate=0.2, seed=1, day=2, lr=0.1)
    write_run(home, RUN_C, status="failed", seed=2, done=2, day=3, error="dataset 'synthetic' failed: fixture error")
    if live:  # "running": this very process is its pid, so the liveness check says alive
        write_run(home, RUN_D, status="running", seed=3, epochs=10, done=4, day=4,
                  pid=os.getpid(), hostname=socket.gethostname())
    write_run(home, RUN_E, status="running", seed=4, done=3, day=5, pid=2 ** 22 + 12345, hostname=socket.gethostname())
    logs = home.root / "logs"
    logs.mkdir(exist_ok=True)
    return home


def make_big_home(root: str | Path, *, examples: int = 50_000, epochs: int = 20) -> tuple[Home, str]:
    """One run with ``examples * epochs`` example_epochs rows (the bench's 1,000,000)."""
    home = Home(root).ensure()
    run_id = "20260201-120000-big-cnn-ffff"
    write_run(home, run_id, status="completed", epochs=epochs, num_train=examples, day=6)
    return home, run_id


PLUGIN_GOOD = '''
"""A fixture plugin: one noise model."""
from memscope import hookimpl

__version__ = "1.2.3"


def flip_all(y, k, rate, rng, cfg):
    return (y + 1) % k


@hookimpl
def register_noise_models(register):
    register("fixture_flip", flip_all, description="every label + 1 (fixture)")
'''

PLUGIN_BAD = '''
"""A fixture plugin that fails to import."""
raise RuntimeError("this plugin is broken on purpose")
'''


def make_plugins_dir(root: str | Path) -> Path:
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good_plugin.py").write_text(PLUGIN_GOOD, encoding="utf-8")
    (folder / "broken_plugin.py").write_text(PLUGIN_BAD, encoding="utf-8")
    return folder
