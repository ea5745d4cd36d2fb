"""Layer rewinding and layer retraining: which layer groups memorization depends on."""

from __future__ import annotations

from typing import Any

from memscope.report.blocks import Column, Note, Plot, Section, Series, Table, spread
from memscope.report.sections.common import ACC, MAX_CHECKPOINT_COLUMNS, checkpoint_label, final_accuracies, finite
from memscope.results.analyses import retraining, rewinding
from memscope.results.source import RunResults


def rewinding_section(data: RunResults) -> Section | None:
    if not data.has("layer_rewinds"):
        return None
    rows = rewinding.rewinds(data).to_pylist()
    all_epochs = sorted({r["checkpoint_epoch"] for r in rows})
    epochs = [all_epochs[i] for i in spread(len(all_epochs), MAX_CHECKPOINT_COLUMNS)]
    layers: dict[int, str] = {}
    cell: dict[tuple[int, int], dict] = {}
    for r in rows:
        layers.setdefault(r["layer_index"], r["layer"])
        cell[(r["layer_index"], r["checkpoint_epoch"])] = r
    final = final_accuracies(data)
    caption = f"{len(epochs)} of {len(all_epochs)} checkpoints shown" if len(epochs) < len(all_epochs) else ""
    blocks: list[Any] = []
    for key, what in (("noisy_train_acc", "noisy-train accuracy (against the noisy labels)"), ("clean_train_acc", "clean-train accuracy")):
        columns = [Column("layer", justify="left", wrap=False)] + [Column(checkpoint_label(e), ACC, heat=True) for e in epochs]
        if final:
            columns.append(Column("final", ACC, heat=True))
        table_rows = []
        for index, name in sorted(layers.items()):
            row: list[Any] = [name] + [cell.get((index, e), {}).get(key) for e in epochs]
            if final:
                row.append(final[key])
            table_rows.append(row)
        blocks.append(Table(columns, table_rows, title=f"{what} after rewinding one layer to a checkpoint", caption=caption))
    first = all_epochs[0]
    at_first = [cell[(i, first)] for i in sorted(layers) if (i, first) in cell and finite(cell[(i, first)]["noisy_train_acc"])]
    if at_first and final:
        worst = min(at_first, key=lambda r: r["noisy_train_acc"])
        drop = final["noisy_train_acc"] - worst["noisy_train_acc"]
        where = f"Rewound to {checkpoint_label(first)}"
        if drop > 0.05:
            text = (
                f"{where}, {worst['layer']} lowers noisy-train accuracy the most: {final['noisy_train_acc']:.3f} -> "
                f"{worst['noisy_train_acc']:.3f}, with clean-train {final['clean_train_acc']:.3f} -> {worst['clean_train_acc']:.3f}."
            )
            redundant = [r["layer"] for r in at_first if r["noisy_train_acc"] >= final["noisy_train_acc"] - 0.05]
            if redundant:
                text += f" Redundant for memorization (noisy-train accuracy within 0.05 of final): {', '.join(redundant)}."
        else:
            text = f"{where}, no single layer lowers noisy-train accuracy by more than 0.05 (final: {final['noisy_train_acc']:.3f})."
        blocks.append(Note(text))
    return Section("rewinding", "Layer rewinding", blocks, ("layer_rewinds",))


def retraining_section(data: RunResults) -> Section | None:
    if not data.has("layer_retrains"):
        return None
    rows = retraining.retrains(data).to_pylist()
    runs: dict[tuple[int, str, int], list[dict]] = {}
    for r in rows:
        runs.setdefault((r["layer_index"], r["layer"], r["reset_epoch"]), []).append(r)
    table_rows = []
    for (index, name, reset), seq in runs.items():
        first, last = seq[0], seq[-1]
        table_rows.append(
            [
                name,
                checkpoint_label(reset),
                last["retrain_epoch"],
                first["clean_train_acc"],
                first["noisy_train_acc"],
                first["test_acc"],
                last["clean_train_acc"],
                last["noisy_train_acc"],
                last["test_acc"],
            ]
        )
    table = Table(
        [
            Column("layer", justify="left", wrap=False),
            Column("reset to", justify="left"),
            Column("epochs", "d"),
            Column("reset clean", ACC, heat=True),
            Column("reset noisy", ACC, heat=True),
            Column("reset test", ACC, heat=True),
            Column("retrained clean", ACC, heat=True),
            Column("retrained noisy", ACC, heat=True),
            Column("retrained test", ACC, heat=True),
        ],
        table_rows,
        title="one layer reset and retrained on the clean examples only (others frozen)",
        caption="reset: right after the reset; retrained: after the last retraining epoch; noisy: against the noisy labels",
    )
    blocks: list[Any] = [table]
    series = [
        Series(f"{name}" + (f" (from {checkpoint_label(reset)})" if len({k[2] for k in runs}) > 1 else ""), [r["retrain_epoch"] for r in seq], [r["noisy_train_acc"] for r in seq])
        for (index, name, reset), seq in runs.items()
        if len(seq) > 1 and all(finite(r["noisy_train_acc"]) for r in seq)
    ]
    if series:
        blocks.append(Plot("line", series, title="noisy-train accuracy while retraining one layer", xlabel="retraining epoch", ylim=(0.0, 1.0)))
    blocks.append(
        Note("No noisy example is shown during retraining: where noisy-train accuracy comes back, the rest of the network holds the memorization.")
    )
    return Section("retraining", "Layer retraining", blocks, ("layer_retrains",))
