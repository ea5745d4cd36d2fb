"""Data maps (Swayamdipta et al., EMNLP 2020) and the area under the margin (Pleiss et al., NeurIPS 2020).

Both read the training dynamics memscope records for every training example and epoch
(``example_epochs``: the loss and the margin of the training forward pass), after training:

- ``confidence``: the mean over epochs of the probability the model gives the observed
  label, ``p = exp(-loss)`` (the cross-entropy loss is ``-log p``);
- ``variability``: the standard deviation of that probability over epochs (population
  standard deviation, as in the data-maps paper);
- ``correctness``: the share of epochs in which the prediction was the observed label;
- ``aum``: the mean over epochs of the margin, the logit of the observed label minus the
  largest other logit (``example_epochs.margin`` holds exactly that).

A data map plots confidence against variability: easy-to-learn examples sit at high
confidence and low variability, hard-to-learn ones (often mislabeled) at low confidence,
ambiguous ones at high variability. Mislabeled examples have a low, often negative AUM.

Tables: ``data_maps_examples`` (one row per training example, with ``is_noisy``),
``data_maps_groups`` (the means for the clean and the noisy examples) and ``example_scores``
(``analysis = "data_maps"``; metrics ``confidence``, ``variability``, ``correctness``, ``aum``).

Options (``[analysis.data_maps]``): ``first_epoch`` and ``last_epoch`` (0 = the last) bound the
epochs averaged over. Pleiss et al. compute the AUM before the learning rate decays and the
noisy examples are memorized: with a cosine schedule, try ``last_epoch`` at about half of
training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from memscope import hookimpl
from memscope.analysis import Analysis
from memscope.errors import ConfigError
from memscope.store.schemas import CORE_TABLES

__version__ = "0.1.0"

METRICS = ("confidence", "variability", "correctness", "aum")


@dataclass(frozen=True)
class DataMapsOptions:
    first_epoch: int = 1  # the first epoch averaged over
    last_epoch: int = 0  # the last epoch averaged over; 0 = the last epoch of the run


class DataMaps(Analysis):
    """Confidence, variability and correctness over training (data maps) and the area under the margin."""

    name = "data_maps"
    version = __version__
    Options = DataMapsOptions
    tables = {
        "data_maps_examples": pa.schema(
            [
                ("example", pa.int64()),
                ("is_noisy", pa.bool_()),
                ("confidence", pa.float64()),
                ("variability", pa.float64()),
                ("correctness", pa.float64()),
                ("aum", pa.float64()),
                ("epochs", pa.int32()),
            ]
        ),
        "data_maps_groups": pa.schema(
            [
                ("is_noisy", pa.bool_()),
                ("examples", pa.int64()),
                ("confidence", pa.float64()),
                ("variability", pa.float64()),
                ("correctness", pa.float64()),
                ("aum", pa.float64()),
            ]
        ),
        "example_scores": CORE_TABLES["example_scores"],
    }

    def validate(self, ctx) -> None:
        o = self.options
        if o.first_epoch < 1 or o.last_epoch < 0 or (o.last_epoch and o.last_epoch < o.first_epoch):
            raise ConfigError("[analysis.data_maps] needs 1 <= first_epoch <= last_epoch (last_epoch = 0: the last epoch)")
        if not ctx.config.train.track_examples:
            raise ConfigError("data_maps reads example_epochs: set train.track_examples = true")

    def run(self, ctx) -> None:
        o = self.options
        last = f"AND e.epoch <= {int(o.last_epoch)}" if o.last_epoch else ""
        per_example = ctx.read_sql(
            f"""
            SELECT x.example, any_value(x.is_noisy) AS is_noisy,
                   avg(exp(-e.loss::DOUBLE)) AS confidence,
                   coalesce(stddev_pop(exp(-e.loss::DOUBLE)), 0) AS variability,
                   avg(e.correct::DOUBLE) AS correctness,
                   avg(e.margin::DOUBLE) AS aum,
                   count(*)::INTEGER AS epochs
            FROM examples x JOIN example_epochs e USING (example)
            WHERE x.split = 'train' AND e.epoch >= {int(o.first_epoch)} {last}
            GROUP BY x.example
            ORDER BY x.example
            """
        )
        if per_example.num_rows == 0:
            ctx.progress("no example_epochs rows in the chosen epochs: nothing to map")
            return
        ctx.write("data_maps_examples", per_example)

        is_noisy = per_example.column("is_noisy").to_numpy(zero_copy_only=False)
        values = {m: per_example.column(m).to_numpy() for m in METRICS}
        groups: dict[str, list] = {"is_noisy": [], "examples": [], **{m: [] for m in METRICS}}
        for noisy in (False, True):
            mask = is_noisy == noisy
            if not mask.any():
                continue
            groups["is_noisy"].append(noisy)
            groups["examples"].append(int(mask.sum()))
            for m in METRICS:
                groups[m].append(float(values[m][mask].mean()))
        ctx.write("data_maps_groups", groups)

        examples = per_example.column("example").to_numpy()
        n = len(examples)
        ctx.write(
            "example_scores",
            {
                "analysis": [self.name] * (n * len(METRICS)),
                "example": np.tile(examples, len(METRICS)),
                "metric": [m for m in METRICS for _ in range(n)],
                "value": np.concatenate([values[m] for m in METRICS]),
            },
        )
        for noisy in (True, False):
            mask = is_noisy == noisy
            if mask.any():
                ctx.progress(
                    f"{'noisy' if noisy else 'clean'}: confidence {values['confidence'][mask].mean():.2f}, "
                    f"variability {values['variability'][mask].mean():.2f}, AUM {values['aum'][mask].mean():.2f}"
                )


@hookimpl
def register_analyses(register):
    register(DataMaps)
