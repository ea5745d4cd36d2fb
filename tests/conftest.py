"""Fixtures shared by every test folder.

- ``home``: an empty results home in ``tmp_path`` (created, catalog built), also set as
  ``MEMSCOPE_HOME`` so CLI commands without ``--home`` use it.
- ``make_run``: writes a small fake run into that home (run.json, config.toml and Parquet
  parts through the real ``RunWriter``), no torch involved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    from memscope.store.home import Home

    root = tmp_path / "home"
    monkeypatch.setenv("MEMSCOPE_HOME", str(root))
    return Home(root).ensure()


def write_fake_run(
    home: Any,
    run_id: str,
    *,
    status: str = "completed",
    num_train: int = 10,
    num_test: int = 4,
    epochs: int = 2,
    noise_rate: float = 0.2,
    **info: Any,
) -> Path:
    """A finished-looking run: examples, epochs and example_epochs parts plus run.json."""
    import os
    import socket

    from memscope.store.runinfo import now_iso, write_run_info
    from memscope.store.writer import RunWriter

    writer = RunWriter(home, run_id)
    writer.run_dir.mkdir(parents=True, exist_ok=True)
    noisy = [i % 5 == 0 for i in range(num_train)]
    writer.write(
        "examples",
        {
            "example": list(range(num_train)) + list(range(num_test)),
            "split": ["train"] * num_train + ["test"] * num_test,
            "true_label": [i % 3 for i in range(num_train + num_test)],
            "observed_label": [(i + n) % 3 for i, n in enumerate(noisy)] + [i % 3 for i in range(num_test)],
            "is_noisy": noisy + [False] * num_test,
        },
    )
    for epoch in range(1, epochs + 1):
        writer.write(
            "epochs",
            {"epoch": [epoch], "lr": [0.1], "seconds": [1.0], "clean_train_acc": [0.5 + epoch / 10], "test_acc": [0.4]},
        )
        writer.write(
            "example_epochs",
            {
                "epoch": [epoch] * num_train,
                "example": list(range(num_train)),
                "loss": [0.5] * num_train,
                "correct": [True] * num_train,
                "margin": [1.0] * num_train,
                "pred": [0] * num_train,
            },
        )
    (writer.run_dir / "config.toml").write_text(
        f'[data]\ndataset = "digits"\nnoise_rate = {noise_rate}\n\n[train]\nepochs = {epochs}\n', encoding="utf-8"
    )
    record = {
        "run_id": run_id,
        "name": run_id,
        "status": status,
        "pid": os.getpid() if status == "running" else None,
        "hostname": socket.gethostname(),
        "created_at": now_iso(),
        "started_at": now_iso(),
        "updated_at": now_iso(),
        "finished_at": None if status == "running" else now_iso(),
        "error": None,
        "device": "cpu",
        "dataset": "digits",
        "model": "mlp",
        "noise_model": "symmetric",
        "noise_rate": noise_rate,
        "seed": 0,
        "epochs": epochs,
        "epoch": epochs,
        "num_train": num_train,
        "num_test": num_test,
        "num_noisy": sum(noisy),
        "num_classes": 3,
        "clean_train_acc": 0.7,
        "noisy_train_acc": 0.3,
        "test_acc": 0.4,
        "memscope_version": "0.1.0",
        "tags": {"purpose": "test"},
        "analyses": {"neuron_flips": {"status": "completed", "error": None, "seconds": 1.5}},
        "plugin_errors": [],
    }
    record.update(info)
    write_run_info(writer.run_dir, record)
    return writer.run_dir


@pytest.fixture
def make_run(home) -> Callable[..., Path]:
    def make(run_id: str, **kwargs: Any) -> Path:
        return write_fake_run(home, run_id, **kwargs)

    return make
