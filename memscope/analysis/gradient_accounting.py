"""Gradient accounting (Maini et al. section 3): how much of each layer's gradient comes from
the clean and from the mislabeled examples, and whether the two point the same way.

Per step the trainer splits the batch gradient into ``g_C`` (clean examples) and ``g_M``
(noisy examples), both normalized by the batch size, so ``g_C + g_M`` is exactly the step's
gradient. This analysis sums both over an epoch (one fused add per step, on the device) and
at the end of the epoch writes one ``layer_epochs`` row per layer group:

- ``clean_norm``, ``noisy_norm``, ``total_norm``: L2 norms of the epoch sums over the
  group's parameters concatenated (``total`` = clean + noisy);
- ``*_norm_paper``: the paper's variant, sum over the group's tensors of
  ``||g_p|| / sqrt(numel p)``;
- ``*_norm_per_example``: the plain norm divided by the number of clean (noisy) training
  examples (NaN when there are none), so "larger per example" reads directly;
- ``cosine``: clean vs noisy sums over the group's parameters concatenated;
  ``cosine_paper``: the mean of per-tensor cosines (tensors where either sum is zero are
  skipped; NaN when none is left).

Torch is imported inside methods so that listing plugins stays torch-free.
"""

from __future__ import annotations

import math
from typing import Any

from memscope.analysis.base import Analysis, BatchInfo
from memscope.errors import MemscopeError
from memscope.store.schemas import CORE_TABLES


def _cosine(dot: float, norm_a: float, norm_b: float) -> float:
    if norm_a == 0.0 or norm_b == 0.0 or not (math.isfinite(norm_a) and math.isfinite(norm_b)):
        return float("nan")
    return max(-1.0, min(1.0, dot / (norm_a * norm_b)))


def layer_rows(
    group_tensors: list[list[int]],
    numels: list[int],
    clean_sq: list[float],
    noisy_sq: list[float],
    total_sq: list[float],
    dots: list[float],
    num_clean: int,
    num_noisy: int,
) -> list[dict[str, float]]:
    """Per-group statistics from per-tensor squared norms and clean-noisy dot products.

    ``group_tensors[k]`` lists the tensor positions of group ``k``. Plain Python floats
    (float64) so the reduction over a group's tensors loses nothing.
    """
    rows = []
    for tensors in group_tensors:
        c2 = sum(clean_sq[i] for i in tensors)
        m2 = sum(noisy_sq[i] for i in tensors)
        t2 = sum(total_sq[i] for i in tensors)
        dot = sum(dots[i] for i in tensors)
        c, m, t = math.sqrt(c2), math.sqrt(m2), math.sqrt(t2)
        paper = lambda sq: sum(math.sqrt(sq[i]) / math.sqrt(numels[i]) for i in tensors)  # noqa: E731
        per_tensor = [
            _cosine(dots[i], math.sqrt(clean_sq[i]), math.sqrt(noisy_sq[i])) for i in tensors
        ]
        per_tensor = [v for v in per_tensor if not math.isnan(v)]
        rows.append(
            {
                "clean_norm": c,
                "noisy_norm": m,
                "total_norm": t,
                "clean_norm_paper": paper(clean_sq),
                "noisy_norm_paper": paper(noisy_sq),
                "total_norm_paper": paper(total_sq),
                "clean_norm_per_example": c / num_clean if num_clean else float("nan"),
                "noisy_norm_per_example": m / num_noisy if num_noisy else float("nan"),
                "cosine": _cosine(dot, c, m),
                "cosine_paper": sum(per_tensor) / len(per_tensor) if per_tensor else float("nan"),
            }
        )
    return rows


class GradientAccounting(Analysis):
    """Epoch sums of the clean and noisy gradient halves, per layer group."""

    name = "gradient_accounting"
    version = "0.1"
    tables = {"layer_epochs": CORE_TABLES["layer_epochs"]}
    needs_split_gradients = True

    def __init__(self, options: Any = None):
        super().__init__(options)
        self._params: list[Any] = []
        self._sum_clean: list[Any] = []
        self._sum_noisy: list[Any] = []
        self._group_tensors: list[list[int]] = []
        self._group_names: list[str] = []

    # ------------------------------------------------------------------ phases

    def setup(self, ctx: Any) -> None:
        import torch

        from memscope.models.groups import group_parameters

        # The trainer hands the split gradients over in this order (model.parameters()
        # filtered by requires_grad); set up after the trainer, before the first step.
        self._params = [p for p in ctx.model.parameters() if p.requires_grad]
        position = {id(p): i for i, p in enumerate(self._params)}

        def acc_like(p):
            dtype = torch.float32 if p.dtype in (torch.float16, torch.bfloat16) else p.dtype
            return torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)

        self._sum_clean = [acc_like(p) for p in self._params]
        self._sum_noisy = [acc_like(p) for p in self._params]
        self._group_names = [g.name for g in ctx.groups]
        self._group_tensors = [
            [position[id(p)] for _, p in group_parameters(ctx.model, g) if id(p) in position] for g in ctx.groups
        ]
        is_noisy = ctx.data.is_noisy
        self._num_noisy = int(is_noisy.sum())
        self._num_clean = int(is_noisy.numel()) - self._num_noisy

    def after_batch(self, ctx: Any, batch: BatchInfo) -> None:
        import torch

        if batch.clean_grads is None or batch.noisy_grads is None:
            raise MemscopeError("gradient_accounting needs the split gradients; the trainer did not provide them")
        if len(batch.clean_grads) != len(self._sum_clean):
            raise MemscopeError(
                f"gradient_accounting: got {len(batch.clean_grads)} gradient tensors, expected {len(self._sum_clean)} "
                "(did the set of trainable parameters change after setup?)"
            )
        torch._foreach_add_(self._sum_clean, batch.clean_grads)
        torch._foreach_add_(self._sum_noisy, batch.noisy_grads)

    def collect(self, ctx: Any, epoch: int) -> None:
        import numpy as np
        import torch

        if not self._sum_clean:  # a model without trainable parameters: nothing to account
            return
        with torch.no_grad():
            totals = torch._foreach_add(self._sum_clean, self._sum_noisy)
            # One stacked (4, P) tensor, one host transfer: per-tensor |c|^2, |m|^2, |c+m|^2, <c, m>.
            stats = torch.stack(
                [
                    torch.stack([v.double() ** 2 for v in torch._foreach_norm(self._sum_clean)]),
                    torch.stack([v.double() ** 2 for v in torch._foreach_norm(self._sum_noisy)]),
                    torch.stack([v.double() ** 2 for v in torch._foreach_norm(totals)]),
                    torch.stack([torch.dot(c.reshape(-1).double(), m.reshape(-1).double()) for c, m in zip(self._sum_clean, self._sum_noisy)]),
                ]
            ).cpu().numpy()
            del totals
        clean_sq, noisy_sq, total_sq, dots = (list(map(float, row)) for row in stats)
        numels = [p.numel() for p in self._params]
        rows = layer_rows(self._group_tensors, numels, clean_sq, noisy_sq, total_sq, dots, self._num_clean, self._num_noisy)
        n = len(rows)
        columns: dict[str, Any] = {
            "epoch": np.full(n, epoch, dtype=np.int32),
            "layer_index": np.arange(n, dtype=np.int32),
            "layer": list(self._group_names),
        }
        for key in rows[0] if rows else ():
            columns[key] = np.array([r[key] for r in rows], dtype=np.float64)
        if n:
            ctx.write("layer_epochs", columns)
        for buf in (self._sum_clean, self._sum_noisy):
            torch._foreach_zero_(buf)
