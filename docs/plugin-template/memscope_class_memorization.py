"""A memscope plugin: per class, how many noisy labels did the model memorize?

Installed with pip, memscope finds it through the ``memscope`` entry point in pyproject.toml;
``memscope plugins`` lists it, and a run uses it by name::

    memscope run config.toml --set 'analyses=["class_memorization"]'
    memscope query "FROM class_memorization_classes"
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from memscope import hookimpl
from memscope.analysis import Analysis
from memscope.errors import ConfigError

__version__ = "0.1.0"


@dataclass(frozen=True)
class ClassMemorizationOptions:
    epoch: int = 0  # the training epoch to look at; 0 = the last one


class ClassMemorization(Analysis):
    """Per true class: clean accuracy, and the share of noisy labels memorized or recovered."""

    name = "class_memorization"
    version = __version__
    Options = ClassMemorizationOptions
    # A plugin's own tables are named <analysis name>_<table>; every row gets run_id.
    tables = {
        "class_memorization_classes": pa.schema(
            [
                ("epoch", pa.int32()),
                ("true_label", pa.int32()),
                ("examples", pa.int64()),
                ("noisy", pa.int64()),  # examples of this class whose label was corrupted
                ("clean_acc", pa.float64()),  # clean examples predicted as their label
                ("memorized", pa.float64()),  # noisy examples predicted as their wrong label
                ("recovered", pa.float64()),  # noisy examples predicted as their true label
            ]
        ),
    }

    def validate(self, ctx) -> None:
        # Runs before training: a bad option costs nothing.
        if self.options.epoch < 0 or self.options.epoch > ctx.config.train.epochs:
            raise ConfigError(f"[analysis.class_memorization] epoch must be in 0..{ctx.config.train.epochs}")

    def run(self, ctx) -> None:
        # After training (and from `memscope analyze`). ctx.read_sql sees this run's tables.
        epoch = self.options.epoch or ctx.read_sql("SELECT max(epoch) AS e FROM example_epochs").column("e")[0].as_py()
        if epoch is None:
            ctx.progress("no per-example statistics (train.track_examples = false): nothing to do")
            return
        rows = ctx.read_sql(
            f"""
            SELECT {int(epoch)}::INTEGER AS epoch,
                   x.true_label,
                   count(*) AS examples,
                   count(*) FILTER (WHERE x.is_noisy) AS noisy,
                   avg(e.correct::DOUBLE) FILTER (WHERE NOT x.is_noisy) AS clean_acc,
                   avg((e.pred = x.observed_label)::DOUBLE) FILTER (WHERE x.is_noisy) AS memorized,
                   avg((e.pred = x.true_label)::DOUBLE) FILTER (WHERE x.is_noisy) AS recovered
            FROM examples x JOIN example_epochs e USING (example)
            WHERE x.split = 'train' AND e.epoch = {int(epoch)}
            GROUP BY x.true_label
            ORDER BY x.true_label
            """
        )
        ctx.write("class_memorization_classes", rows)
        ctx.progress(f"{rows.num_rows} classes at epoch {epoch}")


@hookimpl
def register_analyses(register):
    register(ClassMemorization)
