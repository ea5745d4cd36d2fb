"""Neuron flipping over the targets it counts (the model fitted them at the start), each count
beside its collateral damage, then where the zeroed parameters sit."""

from __future__ import annotations

from typing import Any

from memscope.report.blocks import Column, Note, Plot, Section, Series, Table
from memscope.report.flips import skipped_text
from memscope.report.sections.common import ratio
from memscope.results.analyses import flipping, model
from memscope.results.source import RunResults

FLIP_BINS = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, 200), (201, None))
SHARE_COLUMNS = [Column("noisy edits", "d"), Column("share", ".1%"), Column("clean edits", "d"), Column("share", ".1%")]


def _bin_label(lo: int, hi: int | None) -> str:
    if hi is None:
        return f">{lo - 1}"
    return str(lo) if lo == hi else f"{lo}-{hi}"


def flipping_section(data: RunResults) -> Section | None:
    if not data.has("neuron_flips"):
        return None
    groups = flipping.summary(data).to_pylist()
    summary = Table(
        [
            Column("targets", justify="left"),
            Column("n", "d"),
            Column("skipped", "d"),
            Column("counted", "d"),
            Column("flipped", "d"),
            Column("median", ".1f"),
            Column("mean", ".2f"),
            Column("min", "d"),
            Column("max", "d"),
            Column("test drop", "+.3f"),
            Column("clean drop", "+.3f"),
        ],
        [[g["group"], g["targets"], g["skipped"], g["counted"], g["flipped"], g["median_edits"], g["mean_edits"],
          g["min_edits"], g["max_edits"], g["median_test_drop"], g["median_clean_drop"]] for g in groups],
        title="parameters zeroed until the target's prediction flips (counted targets only)",
        caption="median/mean/min/max over flipped targets; drop (collateral damage): median over flipped targets of "
        "accuracy before - after the edit (test, clean-train samples)",
    )
    blocks: list[Any] = [summary]
    skipped = skipped_text(groups)
    if skipped:
        reasons = sorted({r["reason"] for g in groups for r in g["skipped_reasons"]})
        why = " ".join(f"{r.replace('_', ' ').capitalize()}: {flipping.SKIP_REASONS.get(r, r)}." for r in reasons)
        blocks.append(Note(f"{skipped.capitalize()}; skipped targets get no neuron count. {why}"))
    if all(g["median_test_drop"] is None for g in groups) and any(g["flipped"] for g in groups):
        blocks.append(Note("Collateral damage not measured: these rows have no accuracy before the edit (an older neuron_flipping)."))
    plot = _edits_plot(data, groups)
    if plot is not None:
        blocks.append(plot)
    if data.has("neuron_flip_steps"):
        blocks.extend(_placement_tables(data))
    return Section("flipping", "Neuron flipping", blocks, ("neuron_flips", "neuron_flip_steps"))


def _edits_plot(data: RunResults, groups: list[dict[str, Any]]) -> Plot | None:
    """The share of counted targets per number of parameters zeroed (bins), and not flipped."""
    edits: dict[str, list[int]] = {}
    for t in flipping.targets(data).to_pylist():
        if t["neurons_to_flip"] is not None:
            edits.setdefault("noisy" if t["is_noisy"] else "clean", []).append(int(t["neurons_to_flip"]))
    every = [n for ns in edits.values() for n in ns]
    if not every:
        return None
    bins = [b for b in FLIP_BINS if b[0] <= max(every)]
    categories = [_bin_label(lo, hi) for lo, hi in bins] + ["not flipped"]
    series = []
    for g in groups:
        if not g["counted"]:
            continue
        flipped = edits.get(g["group"], [])
        shares = [sum(1 for n in flipped if n >= lo and (hi is None or n <= hi)) / g["counted"] for lo, hi in bins]
        shares.append(g["not_flipped"] / g["counted"])
        series.append(Series(g["group"], list(range(len(categories))), shares))
    return Plot("bars", series, title="parameters to flip: share of counted targets", xlabel="parameters zeroed", categories=categories, height=14)


def _placement_tables(data: RunResults) -> list[Table]:
    """Edits of flipped targets by layer group (every group of the model, zeros included: few
    edits in the last layer is one of the paper's findings), and by parameter kind when recorded."""
    rows = flipping.placement(data).to_pylist()
    layers: dict[int, str] = {}
    if rows:
        for r in model.layers(data).to_pylist():
            layers.setdefault(r["layer_index"], r["layer"])
    edits: dict[tuple[Any, str], int] = {}
    kinds: dict[tuple[str, str], int] = {}
    for r in rows:
        layers.setdefault(r["layer_index"], r["layer"])
        edits[(r["layer_index"], r["group"])] = edits.get((r["layer_index"], r["group"]), 0) + r["edits"]
        if r["kind"]:
            kinds[(r["kind"], r["group"])] = kinds.get((r["kind"], r["group"]), 0) + r["edits"]
    total = {g: sum(n for (_, gg), n in edits.items() if gg == g) for g in flipping.GROUPS}
    tables = []
    if layers:
        tables.append(Table(
            [Column("layer", justify="left", wrap=False), *SHARE_COLUMNS],
            [[name, *_shares(edits, index, total)] for index, name in sorted(layers.items())],
            title="where the zeroed parameters sit, by layer group",
            caption="edits of flipped targets only (targets that hit the cap or were skipped are left out)",
        ))
    if kinds:
        tables.append(Table(
            [Column("kind", justify="left"), *SHARE_COLUMNS],
            [[k, *_shares(kinds, k, total)] for k in sorted({k for k, _ in kinds})],
            title="what was zeroed: conv filters, single weights, biases, norm parameters",
        ))
    return tables


def _shares(counts: dict[tuple[Any, str], int], key: Any, total: dict[str, int]) -> list[Any]:
    noisy, clean = counts.get((key, "noisy"), 0), counts.get((key, "clean"), 0)
    return [noisy, ratio(noisy, total["noisy"]), clean, ratio(clean, total["clean"])]
