"""Per-step learning-rate schedules, as multipliers of the peak lr."""

from __future__ import annotations

import math


def lr_multiplier(schedule: str, step: int, total_steps: int, warmup_fraction: float) -> float:
    """The multiplier applied at optimizer step ``step`` (0-based) of ``total_steps``."""
    total = max(total_steps, 1)
    if schedule == "constant":
        return 1.0
    if schedule == "one_cycle":  # linear up to the peak at 25% of training, linear down to 0
        peak = max(1, round(0.25 * total))
        return (step + 1) / peak if step < peak else max(0.0, (total - step) / max(total - peak, 1))
    # warmup_cosine: linear warmup over the first warmup_fraction of steps, then cosine to 0
    warmup = math.floor(warmup_fraction * total)
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
