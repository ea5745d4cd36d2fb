"""The numbers that go on each figure's axes, from the results layer's Arrow tables.

Each ``figure_data_*`` takes the rows of one run, or of one sweep cell already averaged over
its seeds by ``memscope.results.analyses.grouped.over_seeds`` (a value ``v`` then arrives as
``v_mean`` with its spread ``v_std``), and returns plain lists: what the tests pin, and what
``memscope.figures.draw`` plots. Neither matplotlib nor the store is needed here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

MAX_CHECKPOINTS = 6  # lines in the rewinding figure; more are thinned evenly
GROUPS = ("clean", "noisy")
COUNTED = ("flipped", "not_flipped")  # flipping statuses that count; the others are skipped
ETD_MODES = ("example", "kept", "dropped")  # the order the ETD figure shows them in
ETD_CATEGORIES = (
    ("clean_train_acc", "clean train"),
    ("noisy_train_acc", "noisy train\n(noisy labels)"),
    ("noisy_train_true_acc", "noisy train\n(true labels)"),
    ("test_acc", "test"),
)


@dataclass
class Line:
    """One plotted series: y at each x, with the std over seeds for a sweep cell (else None)."""

    x: list[Any]
    y: list[float | None]
    std: list[float | None] | None = None


@dataclass
class GradientNorms:
    """Figure 1: per layer group, the norm of the epoch-summed clean and noisy gradients."""

    layers: list[str]
    clean: dict[str, Line]
    noisy: dict[str, Line]


@dataclass
class CosineHeatmap:
    """Figure 2: cosine between the clean and noisy gradient sums, layer x epoch."""

    layers: list[str]
    epochs: list[int]
    values: list[list[float | None]]  # [layer][epoch]


@dataclass
class Rewinds:
    """Figure 3: accuracy after rewinding one layer, layers on x, one line per checkpoint."""

    layers: list[str]
    checkpoints: list[int]  # the ones drawn (at most MAX_CHECKPOINTS)
    noisy: dict[int, Line]  # checkpoint -> accuracy per layer (x = layer position)
    clean: dict[int, Line]
    all_checkpoints: list[int] = field(default_factory=list)


@dataclass
class Retrains:
    """Figure 4: accuracy while one reset layer is retrained on clean examples only."""

    reset_epoch: int
    layers: list[str]
    noisy: dict[str, Line]  # layer -> accuracy per retrain epoch
    clean: dict[str, Line]


@dataclass
class Flips:
    """Figure 5: neurons to flip (counted targets) and where the zeroed parameters sit."""

    neurons: dict[str, list[int]]  # group -> neurons to flip of each flipped target
    not_flipped: dict[str, int]  # group -> counted targets that did not flip within the cap
    skipped: dict[str, dict[str, int]]  # group -> status -> targets (not fitted at the start)
    layers: list[str]  # the model's layer groups (or those holding edits), in network order
    edits: dict[str, list[int]]  # group -> zeroed parameters per layer (flipped targets only)

    def skipped_note(self) -> str:
        """``"skipped: 3 noisy (not memorized), 1 clean (not fitted)"``, or empty."""
        parts = [
            f"{n} {group} ({status.replace('_', ' ')})"
            for group in GROUPS
            for status, n in sorted(self.skipped.get(group, {}).items())
        ]
        return ("skipped: " + ", ".join(parts)) if parts else ""


@dataclass
class EtdEvals:
    """Figure 6: accuracies with the memorization neurons kept vs dropped."""

    modes: list[str]
    categories: list[str]  # the axis labels, in ETD_CATEGORIES order
    values: dict[str, Line]  # mode -> accuracy per category (x = category position)


# --------------------------------------------------------------------------- helpers


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _rows(table: "pa.Table") -> list[dict[str, Any]]:
    return table.to_pylist()


def _value(row: dict[str, Any], name: str) -> tuple[float | None, float | None]:
    """(mean, std) of ``name`` in a run's row (std None) or a sweep cell's (``name_mean``)."""
    if name in row:
        return _number(row[name]), None
    return _number(row.get(f"{name}_mean")), _number(row.get(f"{name}_std"))


def _grouped(rows: list[dict[str, Any]], name: str) -> bool:
    return bool(rows) and name not in rows[0] and f"{name}_mean" in rows[0]


def _line(points: list[tuple[Any, dict[str, Any]]], name: str, grouped: bool) -> Line:
    points = sorted(points, key=lambda p: p[0])
    values = [_value(row, name) for _, row in points]
    return Line([x for x, _ in points], [m for m, _ in values], [s for _, s in values] if grouped else None)


def _layers(rows: list[dict[str, Any]]) -> list[str]:
    """Layer names in network order (by layer_index)."""
    order: dict[str, int] = {}
    for r in rows:
        order.setdefault(str(r["layer"]), int(r["layer_index"]))
    return sorted(order, key=order.__getitem__)


def spread(values: list[Any], k: int) -> list[Any]:
    """About ``k`` of ``values`` spread evenly, the first and the last always included."""
    if len(values) <= k:
        return list(values)
    n = len(values)
    return [values[i] for i in sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})]


# --------------------------------------------------------------------------- figures


def figure_data_gradient_norms(layer_epochs: "pa.Table") -> GradientNorms:
    rows = _rows(layer_epochs)
    layers = _layers(rows)
    grouped = _grouped(rows, "clean_norm")
    by_layer: dict[str, list[tuple[int, dict[str, Any]]]] = {name: [] for name in layers}
    for r in rows:
        by_layer[str(r["layer"])].append((int(r["epoch"]), r))
    return GradientNorms(
        layers,
        {name: _line(by_layer[name], "clean_norm", grouped) for name in layers},
        {name: _line(by_layer[name], "noisy_norm", grouped) for name in layers},
    )


def figure_data_cosine(layer_epochs: "pa.Table") -> CosineHeatmap:
    rows = _rows(layer_epochs)
    layers = _layers(rows)
    epochs = sorted({int(r["epoch"]) for r in rows})
    grid = {(str(r["layer"]), int(r["epoch"])): _value(r, "cosine")[0] for r in rows}
    return CosineHeatmap(layers, epochs, [[grid.get((layer, e)) for e in epochs] for layer in layers])


def figure_data_rewinds(layer_rewinds: "pa.Table", max_checkpoints: int = MAX_CHECKPOINTS) -> Rewinds:
    rows = _rows(layer_rewinds)
    layers = _layers(rows)
    position = {name: i for i, name in enumerate(layers)}
    every = sorted({int(r["checkpoint_epoch"]) for r in rows})
    shown = spread(every, max_checkpoints)
    grouped = _grouped(rows, "noisy_train_acc")
    points: dict[int, list[tuple[int, dict[str, Any]]]] = {c: [] for c in shown}
    for r in rows:
        if int(r["checkpoint_epoch"]) in points:
            points[int(r["checkpoint_epoch"])].append((position[str(r["layer"])], r))
    return Rewinds(
        layers,
        shown,
        {c: _line(points[c], "noisy_train_acc", grouped) for c in shown},
        {c: _line(points[c], "clean_train_acc", grouped) for c in shown},
        every,
    )


def figure_data_retrains(layer_retrains: "pa.Table") -> Retrains:
    """The curves after a reset to the earliest checkpoint retrained (the initial weights by
    default, as in the paper)."""
    rows = _rows(layer_retrains)
    reset = min(int(r["reset_epoch"]) for r in rows)
    rows = [r for r in rows if int(r["reset_epoch"]) == reset]
    layers = _layers(rows)
    grouped = _grouped(rows, "noisy_train_acc")
    points: dict[str, list[tuple[int, dict[str, Any]]]] = {name: [] for name in layers}
    for r in rows:
        points[str(r["layer"])].append((int(r["retrain_epoch"]), r))
    return Retrains(
        reset,
        layers,
        {name: _line(points[name], "noisy_train_acc", grouped) for name in layers},
        {name: _line(points[name], "clean_train_acc", grouped) for name in layers},
    )


def figure_data_flips(targets: "pa.Table", placement: "pa.Table", layers: "pa.Table | None" = None) -> Flips:
    """``targets``: one row per target (is_noisy, status, neurons_to_flip); ``placement``:
    edits of flipped targets per layer group and parameter kind (layer_index, layer, group,
    edits); ``layers``: the model's layer groups (layer_index, layer), so a group without
    edits shows as zero (the paper's point that few edits sit in the last layer needs its
    bar). A sweep cell's rows are pooled over its seeds."""
    neurons: dict[str, list[int]] = {g: [] for g in GROUPS}
    not_flipped = dict.fromkeys(GROUPS, 0)
    skipped: dict[str, dict[str, int]] = {g: {} for g in GROUPS}
    for r in _rows(targets):
        group = "noisy" if r["is_noisy"] else "clean"
        status = str(r["status"])
        if status not in COUNTED:
            skipped[group][status] = skipped[group].get(status, 0) + 1
        elif status == "flipped" and r["neurons_to_flip"] is not None:
            neurons[group].append(int(r["neurons_to_flip"]))
        else:
            not_flipped[group] += 1
    place = _rows(placement)
    names = _layers(place + (_rows(layers) if layers is not None else []))
    edits = {g: [0] * len(names) for g in GROUPS}
    for r in place:
        edits[str(r["group"])][names.index(str(r["layer"]))] += int(r["edits"])  # summed over parameter kinds
    return Flips({g: sorted(v) for g, v in neurons.items()}, not_flipped, skipped, names, edits)


def figure_data_etd(etd_evals: "pa.Table") -> EtdEvals:
    rows = _rows(etd_evals)
    by_mode = {str(r["mode"]): r for r in rows}
    modes = [m for m in ETD_MODES if m in by_mode] + sorted(m for m in by_mode if m not in ETD_MODES)
    grouped = _grouped(rows, "test_acc")
    values = {}
    for mode in modes:
        stats = [_value(by_mode[mode], name) for name, _ in ETD_CATEGORIES]
        values[mode] = Line(list(range(len(stats))), [m for m, _ in stats], [s for _, s in stats] if grouped else None)
    return EtdEvals(modes, [label for _, label in ETD_CATEGORIES], values)
