"""Fixtures for the figure tests: tiny runs with the paper's analyses, and a hand-made sweep.

The tiny runs are trained once per test session (``tiny_run_factory`` of
memscope.testing, registered in tests/conftest.py): one run with the
four localization analyses (gradient accounting, rewinding, retraining, neuron flipping), one
trained with example-tied dropout (gradient accounting and ETD): memscope refuses to localize
in an ETD-trained model, so no single run has all six figures.
"""

from __future__ import annotations

import socket

import pyarrow as pa
import pytest

LOCALIZATION = ("gradient_accounting", "rewinding", "retraining", "neuron_flipping")
FEW_TARGETS = (
    "analysis.retraining.epochs=2",
    "analysis.neuron_flipping.num_noisy=6",
    "analysis.neuron_flipping.num_clean=6",
    "analysis.neuron_flipping.reference_batch=32",
    "analysis.neuron_flipping.max_neurons=20",
)


@pytest.fixture(scope="session")
def localized_run(tiny_run_factory):
    return tiny_run_factory(analyses=LOCALIZATION, overrides=FEW_TARGETS)


@pytest.fixture(scope="session")
def etd_run(tiny_run_factory):
    return tiny_run_factory(analyses=("gradient_accounting", "etd"), overrides=("etd.enabled=true",))


# A sweep noise.rate=0.1,0.2 x seed=1,2 with hand-made results: (rate, seed) -> a number
# that every value of that run is built from, so each cell's mean and std are known.
SCALE = {("0.1", "1"): 1.0, ("0.1", "2"): 3.0, ("0.2", "1"): 2.0, ("0.2", "2"): 2.0}


def _part(home, run_id: str, table: str, columns: dict) -> None:
    from memscope.store.home import write_parquet_atomic
    from memscope.store.schemas import CORE_TABLES

    schema = CORE_TABLES[table]
    n = len(next(iter(columns.values())))
    data = {"run_id": [run_id] * n, **columns}
    data = {name: data.get(name, [None] * n) for name in schema.names}
    folder = home.run_dir(run_id) / table
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(pa.Table.from_pydict(data, schema=schema), folder / "part-000000.parquet")


def _results(home, run_id: str, s: float) -> None:
    """Two layers x two epochs of gradients, rewinding to two checkpoints, retraining one
    layer, three neuron-flipping targets, and ETD."""
    _part(home, run_id, "layer_epochs", {
        "epoch": [1, 1, 2, 2], "layer_index": [0, 1, 0, 1], "layer": ["conv1", "fc", "conv1", "fc"],
        "clean_norm": [s, 2 * s, 3 * s, 4 * s], "noisy_norm": [s / 2, s, s, 2 * s],
        "cosine": [-0.1 * s, -0.2, 0.1 * s, 0.0],
    })
    _part(home, run_id, "layer_rewinds", {
        "layer_index": [0, 0, 1, 1], "layer": ["conv1", "conv1", "fc", "fc"], "checkpoint_epoch": [0, 1, 0, 1],
        "clean_train_acc": [0.9, 0.95, 0.8, 0.9], "noisy_train_acc": [0.1 * s, 0.2, 0.3, 0.1 * s], "test_acc": [0.7] * 4,
    })
    _part(home, run_id, "layer_retrains", {
        "layer_index": [0, 0], "layer": ["conv1", "conv1"], "reset_epoch": [0, 0], "retrain_epoch": [0, 1],
        "clean_train_acc": [0.5, 0.9], "noisy_train_acc": [0.1 * s, 0.05 * s], "test_acc": [0.5, 0.8],
    })
    n = int(s)  # the noisy target flips after n edits (in fc), the clean one after 2 (in conv1)
    _part(home, run_id, "neuron_flips", {
        "example": [0, 1, 2], "is_noisy": [False, True, True], "flipped": [True, True, False],
        "neurons_to_flip": [2, n, None], "status": ["flipped", "flipped", "not_memorized"],
        "candidates": ["parameters"] * 3,
    })
    _part(home, run_id, "neuron_flip_steps", {
        "example": [0, 0] + [1] * n, "step": [1, 2] + list(range(1, n + 1)), "layer_index": [0, 0] + [1] * n,
        "layer": ["conv1", "conv1"] + ["fc"] * n, "unit": list(range(n + 2)), "score": [1.0] * (n + 2),
        "kind": ["conv_filter", "conv_filter"] + ["weight"] * n,
    })
    _part(home, run_id, "etd_evals", {
        "mode": ["kept", "dropped"], "clean_train_acc": [0.95, 0.9], "noisy_train_acc": [0.3 * s, 0.05],
        "noisy_train_true_acc": [0.1, 0.6], "test_acc": [0.8, 0.1 * s],
    })


@pytest.fixture
def fabricated_sweep(tmp_path):
    """(home, sweep_id) of a finished sweep whose four runs hold hand-made results."""
    from memscope.store.home import Home
    from memscope.store.runinfo import write_run_info
    from memscope.sweep import driver
    from memscope.sweep.grid import build_grid
    from memscope.sweep.store import SWEEP_JSON, read_sweep_json, sweep_dir, write_sweep_json

    config = tmp_path / "tiny.toml"
    config.write_text('seed = 0\ndevice = "cpu"\n[data]\ndataset = "synthetic"\n[model]\nname = "mlp"\n', encoding="utf-8")
    home = Home(tmp_path / "home").ensure()
    sweep_id = driver.create_sweep(home, config=config, axes=build_grid(["noise.rate=0.1,0.2", "seed=1,2"]), overrides=[])
    path = sweep_dir(home, sweep_id) / SWEEP_JSON
    record = read_sweep_json(path)
    for entry in record["runs"]:
        rate, seed = entry["tags"]["noise.rate"], entry["tags"]["seed"]
        run_id = f"20260101-000000-tiny-{entry['index']:04x}"
        home.run_dir(run_id).mkdir(parents=True)
        write_run_info(home.run_dir(run_id), {
            "run_id": run_id, "status": "completed", "pid": None, "hostname": socket.gethostname(),
            "seed": int(seed), "noise_rate": float(rate), "epoch": 2, "epochs": 2,
            "tags": {"sweep_id": sweep_id, **entry["tags"]}, "sweep_id": sweep_id,
        })
        _results(home, run_id, SCALE[(rate, seed)])
        entry.update(status="completed", run_id=run_id, attempts=1)
    record.update(status="completed", finished_at=record["created_at"])
    write_sweep_json(path, record)
    return home, sweep_id
