"""Example-tied dropout: accuracies with the memorization channels kept and dropped."""

from __future__ import annotations

from typing import Any

from memscope.report.blocks import Column, Note, Section, Table
from memscope.report.memorization import memorization_phrase
from memscope.report.sections.common import ACC, finite
from memscope.results.analyses import etd
from memscope.results.source import RunResults


def etd_section(data: RunResults) -> Section | None:
    if not data.has("etd_evals"):
        return None
    rows = etd.evals(data).to_pylist()  # example, kept, dropped
    blocks: list[Any] = [
        Table(
            [
                Column("mode", justify="left"),
                Column("clean-train acc", ACC, heat=True),
                Column("noisy-train acc", ACC, heat=True),
                Column("noisy vs true label", ACC, heat=True),
                Column("test acc", ACC, heat=True),
            ],
            [[r["mode"], r["clean_train_acc"], r["noisy_train_acc"], r["noisy_train_true_acc"], r["test_acc"]] for r in rows],
            title="example-tied dropout: own masks (example), all channels kept (scaled), memorization channels dropped",
        )
    ]
    by_mode = {r["mode"]: r for r in rows}
    before = "example" if "example" in by_mode else "kept"  # each example with its own mask, when recorded
    if before in by_mode and "dropped" in by_mode:
        k, d = by_mode[before], by_mode["dropped"]
        if all(finite(x[c]) for x in (k, d) for c in ("clean_train_acc", "noisy_train_acc", "test_acc")):
            mode = "each example with its own mask" if before == "example" else "kept mode"
            blocks.append(
                Note(
                    f"Before dropping, the model {memorization_phrase(k['noisy_train_acc'], mode)}. "
                    f"Dropping the memorization channels: noisy-train {k['noisy_train_acc']:.3f} -> {d['noisy_train_acc']:.3f}, "
                    f"clean-train {k['clean_train_acc']:.3f} -> {d['clean_train_acc']:.3f}, test {k['test_acc']:.3f} -> {d['test_acc']:.3f}."
                )
            )
    return Section("etd", "Example-tied dropout", blocks, ("etd_evals",))
