"""Training: accuracies per epoch, and when clean and noisy examples are learned for good."""

from __future__ import annotations

import statistics
from typing import Any

from memscope.report.blocks import Column, Note, Plot, Section, Series, Table, spread
from memscope.report.memorization import evaluation_mode, memorization_phrase
from memscope.report.sections.common import ACC, EPOCH_ROWS, finite
from memscope.results.analyses import examples, training
from memscope.results.source import RunResults


def training_section(data: RunResults) -> Section | None:
    if not data.has("epochs"):
        return None
    rows = training.epochs(data).to_pylist()
    picked = [rows[i] for i in spread(len(rows), EPOCH_ROWS)]
    table = Table(
        [
            Column("epoch", "d"),
            Column("lr", ".3g"),
            Column("loss", ".3f"),
            Column("clean-train acc", ACC, heat=True),
            Column("noisy-train acc", ACC, heat=True),
            Column("noisy vs true label", ACC, heat=True),
            Column("test acc", ACC, heat=True),
            Column("seconds", ".1f"),
        ],
        [[r["epoch"], r["lr"], r["train_loss"], r["clean_train_acc"], r["noisy_train_acc"], r["noisy_train_true_acc"], r["test_acc"], r["seconds"]] for r in picked],
        caption=f"{len(picked)} of {len(rows)} epochs shown" if len(picked) < len(rows) else "",
    )
    blocks: list[Any] = [table]
    series = []
    for key, label in (("clean_train_acc", "clean-train"), ("noisy_train_acc", "noisy-train"), ("test_acc", "test")):
        pts = [(r["epoch"], r[key]) for r in rows if finite(r[key])]
        if pts:
            series.append(Series(label, [p[0] for p in pts], [p[1] for p in pts]))
    if series:
        blocks.append(Plot("line", series, title="accuracy per epoch (training pass; noisy-train against the observed labels)", xlabel="epoch", ylim=(0.0, 1.0)))
    last = rows[-1]
    tests = [(r["test_acc"], r["epoch"]) for r in rows if finite(r["test_acc"])]
    if finite(last["noisy_train_acc"]) and tests:
        best, neg_epoch = max((acc, -epoch) for acc, epoch in tests)  # the earliest epoch on ties
        best_epoch = -neg_epoch
        mode = evaluation_mode(data.config_value("etd.enabled"))
        blocks.append(
            Note(
                f"At the last epoch the model {memorization_phrase(last['noisy_train_acc'], mode)}; "
                f"test accuracy peaks at {best:.3f} in epoch {best_epoch} and ends at {last['test_acc']:.3f}."
            )
        )
    return Section("training", "Training", blocks, ("epochs",))


def examples_section(data: RunResults) -> Section | None:
    """When clean and noisy examples are learned: the first epoch from which each stays correct."""
    if not data.has("example_epochs", "examples"):
        return None
    per = examples.learned(data).to_pylist()
    if not per:
        return None
    bounds = {"first": per[0]["first_epoch"], "last": per[0]["last_epoch"]}
    groups = [(label, [r for r in per if r["is_noisy"] is flag]) for label, flag in (("clean", False), ("noisy", True))]
    groups = [(label, rs) for label, rs in groups if rs]
    table_rows = []
    series = []
    epochs = list(range(int(bounds["first"]), int(bounds["last"]) + 1))
    for label, rs in groups:
        learned = [r["learned"] for r in rs if r["learned"] is not None]
        losses = [r["loss"] for r in rs if finite(r["loss"])]
        margins = [r["margin"] for r in rs if finite(r["margin"])]
        table_rows.append(
            [
                label,
                len(rs),
                len(learned) / len(rs),
                statistics.median(learned) if learned else None,
                statistics.fmean(learned) if learned else None,
                statistics.fmean(losses) if losses else None,
                statistics.fmean(margins) if margins else None,
            ]
        )
        series.append(Series(label, epochs, [sum(1 for v in learned if v <= e) / len(rs) for e in epochs]))
    blocks: list[Any] = [
        Table(
            [
                Column("examples", justify="left"),
                Column("n", ","),
                Column("learned", ".1%", heat=True),
                Column("median epoch", ".1f"),
                Column("mean epoch", ".1f"),
                Column("final loss", ".3f"),
                Column("final margin", "+.3f"),
            ],
            table_rows,
            title="training examples: the epoch from which each is predicted as its (observed) label for good",
            caption="learned: share correct from some epoch to the end; final: mean over the last epoch's training pass",
        )
    ]
    if len(epochs) > 1:
        blocks.append(Plot("line", series, title="share of examples learned for good, by epoch", xlabel="epoch", ylim=(0.0, 1.0), height=12))
    return Section("examples", "Examples: when they are learned", blocks, ("example_epochs",))
