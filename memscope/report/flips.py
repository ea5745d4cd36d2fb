"""Neuron flipping summarized over the targets it counts: one reader for the report, the app
and the sweep report.

A target counts only when the model fitted it at the start: a noisy target predicted as its
(wrong) observed label, a clean one as its label. ``neuron_flips.status`` says which:
``flipped`` and ``not_flipped`` count; ``not_memorized`` (noisy) and ``not_fitted`` (clean)
are skipped, with no neuron count. Every count comes with its collateral damage: the drop in
test and clean-train accuracy (before - after, on the same fixed samples) that zeroing the
target's parameters caused.

Parts written before ``status`` existed are read the same way: a target recorded as
"flipped with 0 neurons" was one the model never fitted, so it becomes ``not_memorized`` /
``not_fitted``; the ``*_before`` columns are then NULL and so is the damage.

Torch-free; the SQL takes the column names each part set really has, because views built
with ``union_by_name`` lack a column no part holds.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable

COUNTED = ("flipped", "not_flipped")
SKIP_REASONS = {
    "not_memorized": "noisy targets the model did not predict as their noisy label at the start",
    "not_fitted": "clean targets the model did not predict as their label at the start",
}
GROUPS = ("noisy", "clean")


def status_sql(columns: Collection[str], alias: str = "") -> str:
    """A SQL expression for each ``neuron_flips`` row's status, derived for old parts."""
    p = f"{alias}." if alias else ""
    derived = (
        f"CASE WHEN {p}flipped AND {p}neurons_to_flip = 0 THEN "
        f"(CASE WHEN {p}is_noisy THEN 'not_memorized' ELSE 'not_fitted' END) "
        f"WHEN {p}flipped THEN 'flipped' ELSE 'not_flipped' END"
    )
    return f"coalesce({p}status, {derived})" if "status" in columns else derived


def _drop_sql(columns: Collection[str], what: str, alias: str = "") -> str:
    p = f"{alias}." if alias else ""
    before, after = f"{what}_acc_before", f"{what}_acc_after"
    if before in columns and after in columns:
        return f"{p}{before} - {p}{after}"
    return "NULL::DOUBLE"


def targets_sql(columns: Collection[str], table: str = "neuron_flips", where: str = "") -> str:
    """One row per target: run_id, example, is_noisy, status, neurons_to_flip (NULL unless flipped),
    test_drop and clean_drop (before - after; NULL for skipped targets and old parts)."""
    counted = ", ".join(f"'{s}'" for s in COUNTED)
    status = status_sql(columns)
    return (
        f"SELECT run_id, example, is_noisy, status, CASE WHEN status = 'flipped' THEN neurons_to_flip END AS neurons_to_flip, "
        f"CASE WHEN status IN ({counted}) THEN test_drop END AS test_drop, "
        f"CASE WHEN status IN ({counted}) THEN clean_drop END AS clean_drop "
        f"FROM (SELECT run_id, example, is_noisy, {status} AS status, neurons_to_flip, "
        f"{_drop_sql(columns, 'test')} AS test_drop, {_drop_sql(columns, 'clean')} AS clean_drop "
        f"FROM {table}{f' WHERE {where}' if where else ''})"
    )


def placement_sql(flip_columns: Collection[str], step_columns: Collection[str], where_flips: str = "", where_steps: str = "") -> str:
    """Edits of flipped targets per layer group (and parameter kind when recorded), noisy vs clean.

    Only targets whose status is ``flipped`` are counted: a target that hit the cap or was
    skipped says nothing about where its memorization sits."""
    kind = "s.kind" if "kind" in step_columns else "NULL::VARCHAR"
    wf = f" WHERE {where_flips}" if where_flips else ""
    ws = f" WHERE {where_steps}" if where_steps else ""
    return (
        f"SELECT s.layer_index, s.layer, {kind} AS kind, f.is_noisy, count(*) AS edits, count(DISTINCT s.example) AS targets "
        f"FROM (SELECT * FROM neuron_flip_steps{ws}) s "
        f"JOIN (SELECT example, is_noisy, {status_sql(flip_columns)} AS status FROM neuron_flips{wf}) f USING (example) "
        "WHERE f.status = 'flipped' GROUP BY ALL ORDER BY s.layer_index, kind"
    )


def median(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None and v == v]
    return statistics.median(vals) if vals else None


@dataclass
class GroupSummary:
    """The targets of one group (noisy or clean)."""

    label: str
    targets: int = 0  # rows, skipped included
    flipped: list[int] = field(default_factory=list)  # neurons to flip of each flipped target
    not_flipped: int = 0  # counted, but did not flip within the cap
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> targets
    test_drops: list[float] = field(default_factory=list)  # over counted targets
    clean_drops: list[float] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return len(self.flipped) + self.not_flipped

    @property
    def median_neurons(self) -> float | None:
        return median(self.flipped)

    @property
    def median_test_drop(self) -> float | None:
        return median(self.test_drops)

    @property
    def median_clean_drop(self) -> float | None:
        return median(self.clean_drops)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, GroupSummary]:
    """``{"noisy": ..., "clean": ...}`` (only groups with targets) from ``targets_sql`` rows."""
    groups = {label: GroupSummary(label) for label in GROUPS}
    for r in rows:
        g = groups["noisy" if r.get("is_noisy") else "clean"]
        g.targets += 1
        status = r.get("status")
        if status not in COUNTED:
            g.skipped[str(status)] = g.skipped.get(str(status), 0) + 1
            continue
        if status == "flipped" and r.get("neurons_to_flip") is not None:
            g.flipped.append(int(r["neurons_to_flip"]))
        else:
            g.not_flipped += 1
        for key, into in (("test_drop", g.test_drops), ("clean_drop", g.clean_drops)):
            if r.get(key) is not None and r[key] == r[key]:
                into.append(float(r[key]))
    return {label: g for label, g in groups.items() if g.targets}


def skipped_text(groups: dict[str, GroupSummary]) -> str:
    """``"skipped 12 of 40 noisy targets (not memorized)"``...; empty when none was skipped."""
    parts = []
    for g in groups.values():
        for reason, n in sorted(g.skipped.items()):
            parts.append(f"{n} of {g.targets} {g.label} ({reason.replace('_', ' ')})")
    return ("skipped " + ", ".join(parts)) if parts else ""


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def summary_line(g: GroupSummary) -> str:
    """One line per group: counted targets, the median edits to flip, and beside it the median
    collateral damage (skipped targets are told apart by ``skipped_text``)."""
    return (
        f"{g.label}: {len(g.flipped)}/{g.counted} flipped, median {_num(g.median_neurons, 'g')} zeroed · "
        f"median drop: test {_num(g.median_test_drop, '.3f')}, clean-train {_num(g.median_clean_drop, '.3f')}"
    )


@dataclass
class Placement:
    """Where the zeroed parameters of flipped targets sit: edits per layer group, noisy vs clean."""

    layers: list[tuple[int, str]]  # (layer_index, layer) in network order
    edits: dict[tuple[int, str], int]  # (layer_index, "noisy"|"clean") -> edits
    kinds: dict[tuple[str, str], int]  # (kind, "noisy"|"clean") -> edits (empty for old parts)

    def total(self, group: str) -> int:
        return sum(n for (_, g), n in self.edits.items() if g == group)

    def share(self, index: int, group: str) -> float | None:
        total = self.total(group)
        return self.edits.get((index, group), 0) / total if total else None


def placement(rows: Iterable[dict[str, Any]]) -> Placement:
    layers: dict[int, str] = {}
    edits: dict[tuple[int, str], int] = {}
    kinds: dict[tuple[str, str], int] = {}
    for r in rows:
        group = "noisy" if r.get("is_noisy") else "clean"
        index = int(r["layer_index"])
        layers.setdefault(index, str(r["layer"]))
        edits[(index, group)] = edits.get((index, group), 0) + int(r["edits"])
        if r.get("kind"):
            kinds[(str(r["kind"]), group)] = kinds.get((str(r["kind"]), group), 0) + int(r["edits"])
    return Placement(sorted(layers.items()), edits, kinds)
