"""Gradients: the clean and the noisy examples' summed gradients per layer group, at the last
epoch and over the whole training in windows of epochs."""

from __future__ import annotations

import math
import statistics
from typing import Any

from memscope.report.blocks import Column, Plot, Section, Series, Table
from memscope.report.sections.common import MAX_CHECKPOINT_COLUMNS, finite, ratio
from memscope.results.analyses import gradients
from memscope.results.source import RunResults


def gradients_section(data: RunResults) -> Section | None:
    if not data.has("layer_epochs"):
        return None
    rows = gradients.layer_epochs(data).to_pylist()
    whole = {r["epoch"]: r for r in gradients.whole_model(data).to_pylist()}
    epochs = sorted({r["epoch"] for r in rows})
    layers: dict[int, str] = {}
    for r in rows:
        layers.setdefault(r["layer_index"], r["layer"])
    last = epochs[-1]
    table_rows = []
    for index in sorted(layers):
        vals = [r["cosine"] for r in rows if r["layer_index"] == index and finite(r["cosine"])]
        mean_cos = statistics.fmean(vals) if vals else None
        for r in (r for r in rows if r["epoch"] == last and r["layer_index"] == index):
            table_rows.append(_norm_row(r["layer"], r, r["cosine_paper"], mean_cos))
    all_cos = [c for c in (whole[e]["cosine"] for e in epochs if e in whole) if finite(c)]
    table_rows.append(_norm_row("all layers", whole.get(last, {}), None, statistics.fmean(all_cos) if all_cos else None))
    table = Table(
        [
            Column("layer", justify="left", wrap=False),
            Column("clean", ".3g"),
            Column("noisy", ".3g"),
            Column("ratio", ".2f"),
            Column("clean/ex", ".3g"),
            Column("noisy/ex", ".3g"),
            Column("ratio/ex", ".1f"),
            Column("cosine", "+.3f"),
            Column("cos paper", "+.3f"),
            Column("cos mean", "+.3f"),
        ],
        table_rows,
        title=f"epoch {last}: norms of the epoch-summed gradients of the clean and the noisy examples, and their cosine",
        caption="ratio: noisy / clean; /ex: norm / number of examples; cos paper: mean of per-tensor cosines; cos mean: cosine averaged over all epochs",
    )
    blocks: list[Any] = [*window_tables(data), table]
    if len(epochs) > 1:
        series = []
        for index, name in sorted(layers.items()):
            pts = [(r["epoch"], r["cosine"]) for r in rows if r["layer_index"] == index and finite(r["cosine"])]
            if pts:
                series.append(Series(name, [p[0] for p in pts], [p[1] for p in pts]))
        pts = [(e, whole[e]["cosine"]) for e in epochs if e in whole and finite(whole[e]["cosine"])]
        if pts:
            series.append(Series("all layers", [p[0] for p in pts], [p[1] for p in pts]))
        if series:
            blocks.append(Plot("line", series, title="cosine between the clean and the noisy gradient, per layer", xlabel="epoch", ylim=(-1.0, 1.0), height=18))
    return Section("gradients", "Gradients: clean vs noisy examples", blocks, ("layer_epochs",))


def _norm_row(name: str, r: dict[str, Any], cosine_paper: Any, mean_cos: Any) -> list[Any]:
    return [
        name,
        r.get("clean_norm"),
        r.get("noisy_norm"),
        ratio(r.get("noisy_norm"), r.get("clean_norm")),
        r.get("clean_norm_per_example"),
        r.get("noisy_norm_per_example"),
        ratio(r.get("noisy_norm_per_example"), r.get("clean_norm_per_example")),
        r.get("cosine"),
        cosine_paper,
        mean_cos,
    ]


def window_tables(data: RunResults) -> list[Table]:
    """The whole training by 5-epoch windows: cosine, and noisy / clean gradient norm per example."""
    width = gradients.WINDOW
    ws = gradients.windows(data, width).to_pylist()
    starts = {w["start"] for w in ws}
    if len(starts) > MAX_CHECKPOINT_COLUMNS:  # very long runs: wider windows, same table width
        width = gradients.WINDOW * math.ceil(len(starts) / MAX_CHECKPOINT_COLUMNS)
        ws = gradients.windows(data, width).to_pylist()
    labels = sorted({w["start"]: w["label"] for w in ws}.items())
    cell = {(w["layer_index"], w["start"]): w for w in ws}
    layers = list(dict.fromkeys((w["layer_index"], w["layer"]) for w in ws))
    span = f"{width}-epoch windows"
    tables = []
    for what, key, fmt in (
        ("cosine between the clean and the noisy gradient", "cosine", "+.2f"),
        ("noisy / clean norm of the summed gradients (all noisy vs all clean examples)", "ratio", ".2f"),
        ("noisy / clean gradient norm per example", "ratio_per_example", ".1f"),
    ):
        tables.append(
            Table(
                [Column("layer", justify="left", wrap=False)] + [Column(f"ep {label}", fmt) for _, label in labels],
                [[name] + [cell[(index, start)][key] if (index, start) in cell else None for start, _ in labels] for index, name in layers],
                title=f"{what}, over the whole training ({span}, mean of the epochs)",
            )
        )
    tables[-1].caption = "each epoch's values are of that epoch's summed gradients; a window shows their mean"
    return tables

