"""What an analysis sees of its run: ``RunContext``."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from memscope.config import RunConfig
from memscope.models.base import LayerGroup
from memscope.seeding import numpy_stream, stream_seed
from memscope.store.home import Home
from memscope.store.writer import RunWriter
from memscope.train import checkpoints
from memscope.models.evaluation import autocast_for, split_accuracies
from memscope.train.prepare import DeviceData, PreparedData


@dataclass
class RunContext:
    config: RunConfig
    run_id: str
    home: Home
    device: torch.device
    prepared: PreparedData
    data: DeviceData
    model: torch.nn.Module
    groups: list[LayerGroup]
    writer: RunWriter
    build_model: Callable[[], torch.nn.Module]  # a fresh model of the run's architecture (initial weights)
    etd: Any = None  # ExampleTiedDropout when [etd] is enabled
    host: Any = None  # the PluginHost
    report: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr))
    report_steps: Callable[[str, int, int, str], None] = field(default=lambda name, done, total, unit: None)
    analysis_name: str = ""  # the analysis being run (set by the runner)

    @property
    def run_dir(self) -> Path:
        return self.home.run_dir(self.run_id)

    @property
    def seed(self) -> int:
        return self.config.seed

    def rng(self, name: str, *extra: int) -> np.random.Generator:
        """A numpy generator from the named stream ``name`` of the run seed."""
        return numpy_stream(self.seed, name, *extra)

    def torch_generator(self, name: str, *extra: int, device: torch.device | str | None = None) -> torch.Generator:
        g = torch.Generator(device=device or "cpu")
        g.manual_seed(stream_seed(self.seed, name, *extra))
        return g

    def autocast(self):
        return autocast_for(self.config.train.precision, self.device)

    # ------------------------------------------------------------------ layers and checkpoints

    def group(self, name: str) -> LayerGroup:
        for g in self.groups:
            if g.name == name:
                return g
        from memscope.errors import ConfigError

        raise ConfigError(f"layer '{name}' does not exist in model '{self.config.model.name}'; layers: {', '.join(g.name for g in self.groups)}")

    def checkpoint_epochs(self) -> list[int]:
        return checkpoints.saved_epochs(self.run_dir)

    def load_state(self, epoch: int) -> dict[str, torch.Tensor]:
        return checkpoints.load_weights(self.run_dir, epoch, self.device)

    def load_model(self, epoch: int) -> torch.nn.Module:
        """A fresh model holding the weights saved after ``epoch`` (0 = initial weights)."""
        model = self.build_model()
        checkpoints.apply_weights(model, self.load_state(epoch), f"checkpoint epoch {epoch}")
        return model.to(self.device)

    def final_epoch(self) -> int:
        epochs = self.checkpoint_epochs()
        return epochs[-1] if epochs else 0

    # ------------------------------------------------------------------ results

    def evaluate_splits(self, model: torch.nn.Module | None = None) -> dict[str, float]:
        return split_accuracies(model or self.model, self.data, self.config.train.eval_batch_size, self.autocast())

    def write(self, table: str, rows: Any) -> None:
        """Append rows (a dict of columns or an Arrow table) to ``table`` for this run."""
        self.writer.write(table, rows)

    def example_ids(self, positions: torch.Tensor | np.ndarray) -> np.ndarray:
        """Example ids of training positions (rows of ``data.x_train``)."""
        pos = positions.cpu().numpy() if isinstance(positions, torch.Tensor) else np.asarray(positions)
        return self.prepared.train_ids[pos]

    def read_sql(self, sql: str):
        """Run read-only SQL over this run's tables (each table name is a view); returns Arrow."""
        from memscope.store.connection import arrow_of, runs_connection

        conn = runs_connection(self.home, [self.run_dir])
        try:
            return arrow_of(conn.sql(sql))
        finally:
            conn.close()

    def progress(self, text: str) -> None:
        self.report(f"[{self.analysis_name or 'run'}] {text}")

    def progress_steps(self, done: int, total: int, unit: str = "steps") -> None:
        """How far the running analysis is (``done`` of ``total`` ``unit``): a bar with an
        ETA on a terminal, a line every few seconds in a log."""
        self.report_steps(self.analysis_name or "run", done, total, unit)
