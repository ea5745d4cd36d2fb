"""Forgetting events (Toneva et al., ICLR 2019): how often is each training example forgotten?

A *forgetting event* is a transition from correct to incorrect between two consecutive
presentations of an example during training. memscope records, for every training example
and epoch, whether the training forward pass predicted its observed label (``example_epochs.
correct``: exactly the per-presentation accuracy Toneva et al. count, one presentation per
epoch). This analysis reads that table after training, so it costs nothing during training
and works on any finished run (``memscope analyze RUN -a forgetting_events``).

Per training example it writes:

- ``forgetting_events_examples``: ``forgetting_events`` (correct -> incorrect transitions),
  ``learned_epoch`` (the first epoch from which the example stays correct until the end;
  null when it is wrong at the last epoch), ``first_correct_epoch`` (null when never
  correct), ``final_correct`` and the number of ``epochs`` seen;
- ``forgetting_events_groups``: the same summarized for the clean and the noisy examples;
- ``example_scores`` (``analysis = "forgetting_events"``): the metrics ``forgetting_events``
  and ``learned_epoch``, censored so that every example can be ranked (more / later = harder;
  ``label_errors`` uses both). As in Toneva et al., who count an example that is never
  learned as forgotten infinitely often, an example never predicted right scores the number
  of epochs counted (more than any real count, which is at most half of it); an example not
  learned by the end has ``learned_epoch`` = last epoch + 1.

Mislabeled examples are forgotten more often and learned later: they are memorized, not
learned from the features they share with their class.

Options (``[analysis.forgetting_events]``): ``first_epoch`` (ignore earlier epochs, such as
a warm-up).
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


@dataclass(frozen=True)
class ForgettingEventsOptions:
    first_epoch: int = 1  # ignore the epochs before this one (e.g. the warm-up)


def forgetting_stats(correct: np.ndarray, epochs: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example statistics from ``correct`` (examples x epochs, bool, epochs in order).

    Returns arrays of length N: ``forgetting_events`` (int), ``learned_epoch`` and
    ``first_correct_epoch`` (float, NaN where undefined) and ``final_correct`` (bool).
    """
    correct = np.asarray(correct, dtype=bool)
    epochs = np.asarray(epochs)
    n, e = correct.shape
    if e == 0:
        nan = np.full(n, np.nan)
        return {"forgetting_events": np.zeros(n, dtype=np.int64), "learned_epoch": nan, "first_correct_epoch": nan.copy(), "final_correct": np.zeros(n, dtype=bool)}
    events = (correct[:, :-1] & ~correct[:, 1:]).sum(axis=1)
    wrong = ~correct
    # index of the last wrong epoch (-1 when never wrong): it stays learned from the next one
    last_wrong = np.where(wrong.any(axis=1), e - 1 - np.argmax(wrong[:, ::-1], axis=1), -1)
    final = correct[:, -1]
    learned = np.where(final, epochs[np.clip(last_wrong + 1, 0, e - 1)].astype(float), np.nan)
    first = np.where(correct.any(axis=1), epochs[np.argmax(correct, axis=1)].astype(float), np.nan)
    return {"forgetting_events": events, "learned_epoch": learned, "first_correct_epoch": first, "final_correct": final}


class ForgettingEvents(Analysis):
    """Forgetting events and the epoch each example is learned for good (Toneva et al. 2019)."""

    name = "forgetting_events"
    version = __version__
    Options = ForgettingEventsOptions
    tables = {
        "forgetting_events_examples": pa.schema(
            [
                ("example", pa.int64()),
                ("is_noisy", pa.bool_()),
                ("forgetting_events", pa.int32()),
                ("learned_epoch", pa.int32()),  # null: wrong at the last epoch
                ("first_correct_epoch", pa.int32()),  # null: never correct
                ("final_correct", pa.bool_()),
                ("epochs", pa.int32()),
            ]
        ),
        "forgetting_events_groups": pa.schema(
            [
                ("is_noisy", pa.bool_()),  # the clean examples, then the noisy ones
                ("examples", pa.int64()),
                ("mean_forgetting_events", pa.float64()),
                ("share_forgotten", pa.float64()),  # forgotten at least once
                ("share_unforgettable", pa.float64()),  # learned at some epoch, never forgotten
                ("share_never_correct", pa.float64()),
                ("share_learned", pa.float64()),  # correct at the last epoch
                ("mean_learned_epoch", pa.float64()),  # over the learned examples
            ]
        ),
        "example_scores": CORE_TABLES["example_scores"],
    }

    def validate(self, ctx) -> None:
        if self.options.first_epoch < 1:
            raise ConfigError("[analysis.forgetting_events] first_epoch must be at least 1")
        if not ctx.config.train.track_examples:
            raise ConfigError("forgetting_events reads example_epochs: set train.track_examples = true")

    def run(self, ctx) -> None:
        rows = ctx.read_sql(
            f"""
            SELECT x.example, x.is_noisy, e.epoch, e.correct
            FROM examples x JOIN example_epochs e USING (example)
            WHERE x.split = 'train' AND e.epoch >= {int(self.options.first_epoch)}
            """
        )
        if rows.num_rows == 0:
            ctx.progress("no example_epochs rows at or after first_epoch: nothing to count")
            return
        example = rows.column("example").to_numpy()
        epoch = rows.column("epoch").to_numpy()
        examples, ex_index = np.unique(example, return_inverse=True)
        epochs, ep_index = np.unique(epoch, return_inverse=True)
        correct = np.zeros((len(examples), len(epochs)), dtype=bool)  # a missing epoch counts as wrong
        correct[ex_index, ep_index] = rows.column("correct").to_numpy(zero_copy_only=False)
        seen = np.zeros_like(correct)
        seen[ex_index, ep_index] = True
        is_noisy = np.zeros(len(examples), dtype=bool)
        is_noisy[ex_index] = rows.column("is_noisy").to_numpy(zero_copy_only=False)

        stats = forgetting_stats(correct, epochs)
        events, learned, first = stats["forgetting_events"], stats["learned_epoch"], stats["first_correct_epoch"]
        ctx.write(
            "forgetting_events_examples",
            {
                "example": examples,
                "is_noisy": is_noisy,
                "forgetting_events": events.astype(np.int32),
                "learned_epoch": pa.array(learned, pa.float64(), from_pandas=True).cast(pa.int32()),
                "first_correct_epoch": pa.array(first, pa.float64(), from_pandas=True).cast(pa.int32()),
                "final_correct": stats["final_correct"],
                "epochs": seen.sum(axis=1).astype(np.int32),
            },
        )

        groups: dict[str, list] = {name: [] for name in self.tables["forgetting_events_groups"].names}
        for label, mask in (("clean", ~is_noisy), ("noisy", is_noisy)):
            if not mask.any():
                continue
            ever = ~np.isnan(first[mask])
            groups["is_noisy"].append(label == "noisy")
            groups["examples"].append(int(mask.sum()))
            groups["mean_forgetting_events"].append(float(events[mask].mean()))
            groups["share_forgotten"].append(float((events[mask] > 0).mean()))
            groups["share_unforgettable"].append(float((ever & (events[mask] == 0)).mean()))
            groups["share_never_correct"].append(float((~ever).mean()))
            groups["share_learned"].append(float(stats["final_correct"][mask].mean()))
            learned_here = learned[mask][~np.isnan(learned[mask])]
            groups["mean_learned_epoch"].append(float(learned_here.mean()) if learned_here.size else None)
        ctx.write("forgetting_events_groups", groups)

        # Long format for label_errors, the TUI and the report; "not learned" sorts last.
        not_learned = float(epochs[-1]) + 1.0
        never_correct = np.isnan(first)
        events_score = np.where(never_correct, float(len(epochs)), events.astype(float))
        n = len(examples)
        ctx.write(
            "example_scores",
            {
                "analysis": [self.name] * (2 * n),
                "example": np.concatenate([examples, examples]),
                "metric": ["forgetting_events"] * n + ["learned_epoch"] * n,
                "value": np.concatenate([events_score, np.where(np.isnan(learned), not_learned, learned)]),
            },
        )
        for label, mask in (("noisy", is_noisy), ("clean", ~is_noisy)):
            if mask.any():
                ctx.progress(f"{label}: {events[mask].mean():.2f} forgetting events per example, {np.isnan(learned[mask]).mean():.0%} not learned")


@hookimpl
def register_analyses(register):
    register(ForgettingEvents)
