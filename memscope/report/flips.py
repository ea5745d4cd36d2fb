"""The words for neuron flipping, shared by the report and the app's Layers screen: one line
per group (counted targets, median edits, the collateral damage beside them) and what was
skipped. The numbers come from ``memscope.results.analyses.flipping.summary`` rows."""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None or value != value else format(value, fmt)


def summary_line(group: Mapping[str, Any]) -> str:
    """``"noisy: 3/3 flipped, median 2 zeroed · median drop: test 0.020, clean-train 0.010"``."""
    return (
        f"{group['group']}: {group['flipped']}/{group['counted']} flipped, median {_num(group['median_edits'], 'g')} zeroed · "
        f"median drop: test {_num(group['median_test_drop'], '.3f')}, clean-train {_num(group['median_clean_drop'], '.3f')}"
    )


def skipped_text(groups: Iterable[Mapping[str, Any]]) -> str:
    """``"skipped 12 of 40 noisy (not memorized)"``...; empty when none was skipped."""
    parts = []
    for g in groups:
        for reason in sorted(g["skipped_reasons"] or [], key=lambda r: r["reason"]):
            parts.append(f"{reason['targets']} of {g['targets']} {g['group']} ({str(reason['reason']).replace('_', ' ')})")
    return ("skipped " + ", ".join(parts)) if parts else ""
