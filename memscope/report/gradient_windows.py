"""Gradient accounting over the whole training, in windows of epochs (the paper plots 5-epoch
windows): one reader for the report and the app's Layers screen.

``layer_epochs`` holds, per epoch and layer group, the norms of the epoch-summed clean and
noisy gradients and their cosine. A window's value is the mean of its epochs' values (the
per-epoch sums are what was stored; their cross-epoch dot products were not, so a window's
cosine is the mean of its epochs' cosines, as in the authors' plots). "all layers" combines
the groups of each epoch first: the groups partition the parameters, so norms add in squares
and the cosine is the sum of per-group dot products over the product of the whole norms.

Torch-free.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable

WINDOW = 5
ALL_LAYERS = "all layers"
NORMS = ("clean_norm", "noisy_norm", "clean_norm_per_example", "noisy_norm_per_example")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def window_start(epoch: int, width: int = WINDOW) -> int:
    """First epoch of ``epoch``'s window: 1-5, 6-10, ... for width 5 (epochs count from 1)."""
    return ((int(epoch) - 1) // width) * width + 1


def combine_layers(group: list[dict[str, Any]]) -> dict[str, float | None]:
    """One epoch's layer rows as one "layer" over every parameter."""
    out: dict[str, float | None] = {}
    for key in NORMS:
        vals = [g.get(key) for g in group]
        out[key] = math.sqrt(sum(v * v for v in vals)) if vals and all(_finite(v) for v in vals) else None
    dots = [g["cosine"] * g["clean_norm"] * g["noisy_norm"] for g in group if all(_finite(g.get(k)) for k in ("cosine", "clean_norm", "noisy_norm"))]
    denom = (out["clean_norm"] or 0.0) * (out["noisy_norm"] or 0.0)
    out["cosine"] = sum(dots) / denom if denom > 0 and len(dots) == len(group) else None
    return out


@dataclass
class Window:
    layer_index: int  # -1 for "all layers"
    layer: str
    start: int  # the window's first epoch by the grid (1, 6, 11, ... for width 5)
    first: int  # first and last epoch present in the window
    last: int
    clean_norm: float | None
    noisy_norm: float | None
    clean_norm_per_example: float | None
    noisy_norm_per_example: float | None
    cosine: float | None

    @property
    def label(self) -> str:
        return f"{self.first}" if self.first == self.last else f"{self.first}-{self.last}"

    @property
    def ratio(self) -> float | None:
        """Noisy / clean norm of the summed gradients: the paper's "comparable" aggregate."""
        c, n = self.clean_norm, self.noisy_norm
        return n / c if _finite(c) and _finite(n) and c != 0 else None

    @property
    def ratio_per_example(self) -> float | None:
        c, n = self.clean_norm_per_example, self.noisy_norm_per_example
        return n / c if _finite(c) and _finite(n) and c != 0 else None


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if _finite(v)]
    return statistics.fmean(vals) if vals else None


def windows(rows: Iterable[dict[str, Any]], width: int = WINDOW, with_all: bool = True) -> list[Window]:
    """Per layer group (network order, then "all layers") and window, the mean of each value.

    ``rows``: ``layer_epochs`` rows with epoch, layer_index, layer, the four norms and cosine."""
    rows = list(rows)
    names: dict[int, str] = {}
    by_epoch: dict[int, list[dict]] = {}
    for r in rows:
        names.setdefault(int(r["layer_index"]), str(r["layer"]))
        by_epoch.setdefault(int(r["epoch"]), []).append(r)
    series: dict[tuple[int, str], list[tuple[int, dict]]] = {}
    for r in rows:
        series.setdefault((int(r["layer_index"]), str(r["layer"])), []).append((int(r["epoch"]), r))
    if with_all and len(names) > 1:
        series[(-1, ALL_LAYERS)] = [(e, combine_layers(group)) for e, group in sorted(by_epoch.items())]
    out: list[Window] = []
    order = sorted(series, key=lambda k: (k[0] < 0, k[0]))
    for index, name in order:
        buckets: dict[int, list[tuple[int, dict]]] = {}
        for epoch, r in series[(index, name)]:
            buckets.setdefault(window_start(epoch, width), []).append((epoch, r))
        for start in sorted(buckets):
            members = buckets[start]
            epochs = [e for e, _ in members]
            values = {k: _mean(r.get(k) for _, r in members) for k in (*NORMS, "cosine")}
            out.append(Window(index, name, start, min(epochs), max(epochs), **values))
    return out


def window_labels(ws: list[Window]) -> list[tuple[int, str]]:
    """The distinct windows as (first epoch, label), in order."""
    seen: dict[int, tuple[int, int]] = {}
    for w in ws:
        lo, hi = seen.get(w.start, (w.first, w.last))
        seen[w.start] = (min(lo, w.first), max(hi, w.last))
    return [(start, f"{lo}" if lo == hi else f"{lo}-{hi}") for start, (lo, hi) in sorted(seen.items())]
