"""How memscope writes numbers and durations for people: one rule shared by the app, the report and ``memscope runs list``.

Accuracies always have three decimals (``1.000`` beside ``0.993``, never ``1`` or ``.993``);
losses and other unbounded values use one compact style (four significant digits); a missing
value (NULL, NaN) is an em dash, so an untargeted row reads as "not measured", not as a word.
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "—"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def accuracy(value: Any) -> str:
    """``0.99251`` -> ``0.993``; ``1`` -> ``1.000``; None -> ``—``."""
    return MISSING if _missing(value) else f"{float(value):.3f}"


def compact(value: Any) -> str:
    """A loss, margin or score: four significant digits (``2.303``, ``0.01235``, ``1.2e-05``)."""
    return MISSING if _missing(value) else f"{float(value):.4g}"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``plural(1, 'neuron')`` -> ``1 neuron``; ``plural(3, 'neuron')`` -> ``3 neurons``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def duration(seconds: Any) -> str:
    """A span of time, compact: ``4.2s`` (under 10 s), ``42s``, ``3m25s``, ``1h05m``; ``—`` when unknown."""
    if _missing(seconds) or not math.isfinite(float(seconds)):
        return MISSING
    seconds = max(0.0, float(seconds))
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
