"""How memscope writes numbers for people: one rule shared by the app and ``memscope runs list``.

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
