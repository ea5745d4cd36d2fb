"""Training-time augmentation of image batches, done on the device: the paper's random crop and flip.

Retraining a layer (``memscope.analysis.retraining``) augments exactly as training did, so the
one function lives here, below both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def augment_batch(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop (zero padding 4) and horizontal flip, batched on the device."""
    b, c, h, w = x.shape
    device = x.device
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (b,), generator=generator)
    dx = torch.randint(0, 9, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    dy, dx, flip = torch.stack([dy, dx, flip.long()]).to(device)  # drawn on the CPU (same numbers everywhere), one copy
    flip = flip.bool()
    rows = dy.view(b, 1, 1, 1) + torch.arange(h, device=device).view(1, 1, h, 1)
    out = padded.gather(2, rows.expand(b, c, h, w + 8))
    cols = torch.arange(w, device=device).view(1, w).expand(b, w)
    cols = torch.where(flip.view(b, 1), w - 1 - cols, cols) + dx.view(b, 1)
    return out.gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w))
