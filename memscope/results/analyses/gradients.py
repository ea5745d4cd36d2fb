"""Gradient accounting: per epoch and layer group, the norms of the epoch-summed clean and
noisy gradients and their cosine (``layer_epochs``), the whole model per epoch, and the whole
training in windows of epochs (the paper plots 5-epoch windows).

A window's value is the mean of its epochs' values: the per-epoch sums are what was stored
(their cross-epoch dot products were not), so a window's cosine is the mean of its epochs'
cosines, as in the authors' plots. The whole model ("all layers", ``layer_index`` -1)
combines the groups of each epoch first: the groups partition the parameters, so norms add in
squares and the cosine is the sum of per-group dot products over the product of the whole
norms (NULL when a group's value is missing).
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING, Any, Iterable

from memscope.results.analyses._frame import SWEEP_COLUMNS, frame, optional
from memscope.results.source import Results

if TYPE_CHECKING:
    import pyarrow as pa

WINDOW = 5
ALL_LAYERS = "all layers"
NORMS = ("clean_norm", "noisy_norm", "clean_norm_per_example", "noisy_norm_per_example")


def layer_epochs(src: Results) -> "pa.Table":
    """One row per epoch and layer group: epoch, layer_index, layer, the four norms
    (summed gradient and per example, clean and noisy), cosine (parameters concatenated) and
    cosine_paper (mean of per-tensor cosines; NULL in parts written before it)."""
    paper = optional(src.columns("layer_epochs"), "cosine_paper", "DOUBLE")
    return frame(
        src,
        f"SELECT run_id, epoch, layer_index, layer, {', '.join(NORMS)}, cosine, {paper} FROM layer_epochs",
        "epoch, layer_index",
    )


def whole_model(src: Results) -> "pa.Table":
    """One row per epoch: the layer groups combined into one (the four norms and cosine)."""
    complete = "count(*) = count({0})"
    norms = ", ".join(f"CASE WHEN {complete.format(n)} THEN sqrt(sum({n} * {n})) END AS {n}" for n in NORMS)
    dot = "cosine * clean_norm * noisy_norm"
    cosine = (f"CASE WHEN {complete.format(dot)} THEN sum({dot}) / nullif(sqrt(sum(clean_norm * clean_norm)) "
              "* sqrt(sum(noisy_norm * noisy_norm)), 0) END AS cosine")
    return frame(src, f"SELECT run_id, epoch, {norms}, {cosine} FROM layer_epochs GROUP BY run_id, epoch", "epoch")


def window_start(epoch: int, width: int = WINDOW) -> int:
    """First epoch of ``epoch``'s window: 1-5, 6-10, ... for width 5 (epochs count from 1)."""
    return ((int(epoch) - 1) // width) * width + 1


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if _finite(v)]
    return statistics.fmean(vals) if vals else None


def _ratio(num: Any, den: Any) -> float | None:
    return num / den if _finite(num) and _finite(den) and den != 0 else None


def _windows_of(series: dict[tuple[int, str], list[dict]], width: int) -> list[dict[str, Any]]:
    out = []
    for (index, name) in sorted(series, key=lambda k: (k[0] < 0, k[0])):
        buckets: dict[int, list[dict]] = {}
        for r in series[(index, name)]:
            buckets.setdefault(window_start(r["epoch"], width), []).append(r)
        for start in sorted(buckets):
            members = buckets[start]
            first, last = min(r["epoch"] for r in members), max(r["epoch"] for r in members)
            values = {k: _mean(r.get(k) for r in members) for k in (*NORMS, "cosine")}
            out.append({
                "layer_index": index, "layer": name, "start": start, "first": first, "last": last,
                "label": f"{first}" if first == last else f"{first}-{last}", **values,
                "ratio": _ratio(values["noisy_norm"], values["clean_norm"]),
                "ratio_per_example": _ratio(values["noisy_norm_per_example"], values["clean_norm_per_example"]),
            })
    return out


def windows(src: Results, width: int = WINDOW, with_all: bool = True) -> "pa.Table":
    """Per run, layer group (network order, then "all layers" with ``layer_index`` -1 when
    ``with_all`` and there are several groups) and window of ``width`` epochs: layer_index,
    layer, start (the window's first epoch by the grid: 1, 6, 11, ...), first and last
    (the group's epochs in it), label ("6-10": the epochs any group of the run has in the
    window, the same for every group), the mean of each norm and of the cosine, ratio
    (noisy / clean norm of the summed gradients: the paper's "comparable" aggregate) and
    ratio_per_example."""
    import pyarrow as pa

    per_layer = layer_epochs(src).to_pylist()
    whole = whole_model(src).to_pylist() if with_all else []
    keys = [c for c in ("run_id", *SWEEP_COLUMNS) if per_layer and c in per_layer[0]]
    runs: dict[tuple, dict[tuple[int, str], list[dict]]] = {}
    for r in per_layer:
        runs.setdefault(tuple(r[k] for k in keys), {}).setdefault((int(r["layer_index"]), str(r["layer"])), []).append(r)
    several = {run_key for run_key, series in runs.items() if len(series) > 1}
    for r in whole:
        run_key = tuple(r[k] for k in keys)
        if run_key in several:
            runs[run_key].setdefault((-1, ALL_LAYERS), []).append(r)
    rows = [{**dict(zip(keys, run_key)), **w} for run_key, series in runs.items() for w in _windows_of(series, width)]
    _label_by_run(rows, keys)
    return pa.Table.from_pylist(rows, schema=_window_schema(keys, src))


def _label_by_run(rows: list[dict[str, Any]], keys: list[str]) -> None:
    """One label per window of a run (the epochs any layer group has in it), so the labels
    can head the columns of a layer x window table."""
    span: dict[tuple, tuple[int, int]] = {}
    for r in rows:
        key = (*(r[k] for k in keys), r["start"])
        lo, hi = span.get(key, (r["first"], r["last"]))
        span[key] = (min(lo, r["first"]), max(hi, r["last"]))
    for r in rows:
        lo, hi = span[(*(r[k] for k in keys), r["start"])]
        r["label"] = f"{lo}" if lo == hi else f"{lo}-{hi}"


def _window_schema(keys: list[str], src: Results) -> "pa.Schema":
    import pyarrow as pa

    from memscope.results.source import SweepResults

    types = {"run_id": pa.string(), "cell": pa.int32(), "cell_label": pa.string(), "seed": pa.int64()}
    head = ["run_id", *(SWEEP_COLUMNS if isinstance(src, SweepResults) else ())]
    return pa.schema(
        [(k, types[k]) for k in head]
        + [("layer_index", pa.int32()), ("layer", pa.string()), ("start", pa.int32()), ("first", pa.int32()), ("last", pa.int32()),
           ("label", pa.string())]
        + [(k, pa.float64()) for k in (*NORMS, "cosine", "ratio", "ratio_per_example")]
    )
