"""The analysis contract.

An analysis declares its ``name`` (snake_case, SQL-safe), ``version``, an ``Options``
dataclass filled from ``[analysis.<name>]`` in the run config, and the ``tables`` it writes
(Arrow schemas): its own, named ``<name>_<table>``, and the shared core table
``example_scores`` (see :func:`table_problems`). It implements:

- ``validate(ctx)``: checks that need the model or data (a layer name that does not exist);
  raise ``ConfigError``. Runs before training starts, so bad options cost nothing.
- ``setup(ctx)``: before the first epoch (allocate accumulators).
- ``after_batch(ctx, batch)``: after each training step's backward (optional; set
  ``needs_split_gradients = True`` to receive the clean and noisy gradients of the batch).
- ``collect(ctx, epoch)``: after each epoch (during training).
- ``run(ctx)``: after training, and again from ``memscope analyze``.

``ctx`` is a ``memscope.train.context.RunContext``: the config, data tensors and noise
mask, the live model, checkpoints, ``ctx.write(table, rows)`` and ``ctx.read_sql(sql)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa


@dataclass(frozen=True)
class NoOptions:
    """This analysis has no options."""


@dataclass
class BatchInfo:
    """What ``after_batch`` sees of one training step (tensors on the training device)."""

    step: int  # global step, from 0
    epoch: int  # from 1
    indices: Any  # (B,) int64 example ids
    is_noisy: Any  # (B,) bool
    losses: Any  # (B,) float per-example loss (detached)
    clean_grads: list[Any] | None = None  # per parameter: grad of sum(clean losses) / B
    noisy_grads: list[Any] | None = None  # per parameter: grad of sum(noisy losses) / B


#: The core tables any analysis may write: long-format tables whose rows each analysis owns
#: through its ``analysis`` column (``memscope analyze`` replaces only that analysis's rows).
SHARED_TABLES = frozenset({"example_scores"})


def table_problems(cls: Any, *, core: bool) -> list[str]:
    """Why the ``tables`` an analysis declares break the table namespace (empty when fine).

    A plugin's analysis (``core=False``) declares its own tables, named ``<name>_<table>``,
    and may declare the shared ``example_scores``; never another core table (``examples``,
    ``layers``, ``layer_rewinds``, ...): ``memscope analyze`` clears the tables of the
    analyses it re-runs, and rows cast to another schema would retype a column for every
    run. The paper's analyses, which memscope's built-in plugin registers (``core=True``),
    write their own core tables. A core table is always declared with the core column types.
    """
    from memscope.store.schemas import CORE_TABLES

    name = getattr(cls, "name", "")
    tables = getattr(cls, "tables", None)
    if not isinstance(tables, dict):
        return [f"analysis '{name}': tables must be a dict of table name -> pyarrow.Schema"]
    problems = []
    for table, schema in tables.items():
        if not isinstance(schema, pa.Schema):
            problems.append(f"analysis '{name}': tables[{table!r}] must be a pyarrow.Schema, got {type(schema).__name__}")
        elif table in CORE_TABLES:
            if not core and table not in SHARED_TABLES:
                problems.append(
                    f"analysis '{name}' declares the core table '{table}'; a plugin's tables are named "
                    f"{name}_<table> (example_scores is the one core table analyses share)"
                )
                continue
            expected = CORE_TABLES[table]
            for field in schema:
                if field.name not in expected.names or expected.field(field.name).type != field.type:
                    have = expected.field(field.name).type if field.name in expected.names else "no such column"
                    problems.append(
                        f"analysis '{name}' declares core table '{table}' column '{field.name}' as {field.type}; "
                        f"the core table has {have}"
                    )
        elif not core and not (isinstance(table, str) and table.startswith(f"{name}_")):
            problems.append(f"analysis '{name}' declares table {table!r}; name it {name}_<table>")
    return problems


class Analysis:
    name: ClassVar[str] = ""
    version: ClassVar[str] = "0.1"
    Options: ClassVar[type] = NoOptions
    tables: ClassVar[dict[str, pa.Schema]] = {}
    needs_split_gradients: ClassVar[bool] = False

    def __init__(self, options: Any = None):
        self.options = options if options is not None else self.Options()

    # Which phases this analysis takes part in (derived from what it overrides).
    @classmethod
    def collects(cls) -> bool:
        return cls.collect is not Analysis.collect or cls.after_batch is not Analysis.after_batch

    @classmethod
    def runs_after_training(cls) -> bool:
        return cls.run is not Analysis.run

    def validate(self, ctx: Any) -> None:
        """Raise ConfigError for options that do not fit this run (before any work)."""

    def setup(self, ctx: Any) -> None:
        """Before the first epoch."""

    def after_batch(self, ctx: Any, batch: BatchInfo) -> None:
        """After each training step's backward pass."""

    def collect(self, ctx: Any, epoch: int) -> None:
        """After each epoch."""

    def run(self, ctx: Any) -> None:
        """After training (and from ``memscope analyze``)."""
