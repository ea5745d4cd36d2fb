"""The training loop: SGD over device tensors with per-example statistics from the forward pass.

Per-example loss, correctness, margin and prediction come from the training forward pass
itself: each step copies its losses and logits into preallocated device tensors (two
copies, no other work), and predictions and margins are computed once per epoch from the
kept logits, with one host transfer, so tracking them is nearly free. Where the logits of
the whole training set would not fit comfortably (more than ``KEEP_LOGITS_MAX`` numbers),
each step reduces its logits to prediction and margin instead. When an analysis needs the
clean and noisy halves of each step's gradient (gradient accounting), the step takes two
backward passes over one graph and uses their sum, which is exactly the plain step's gradient.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from memscope.analysis.base import Analysis, BatchInfo
from memscope.config import TrainConfig
from memscope.data.augmentation import augment_batch
from memscope.errors import RunCancelled, RunFailed
from memscope.seeding import stream_seed
from memscope.models.evaluation import autocast_for, logit_margins
from memscope.train.schedule import lr_multiplier


#: Keep every training example's logits for the epoch when N x K is at most this (256 MB of
#: float32): CIFAR-100 (5M) is kept, ImageNet-1k (1.28G) is reduced per step.
KEEP_LOGITS_MAX = 64_000_000


@dataclass
class EpochStats:
    epoch: int
    losses: np.ndarray  # (N,) per training position
    preds: np.ndarray
    margins: np.ndarray
    seconds: float
    lr: float


class Trainer:
    def __init__(
        self,
        model: torch.nn.Module,
        data,
        config: TrainConfig,
        seed: int,
        device: torch.device,
        *,
        analyses=(),
        ctx=None,
        etd=None,
        augment: bool = False,
        should_stop: Callable[[], bool] = lambda: False,
        on_analysis_error: Callable | None = None,
    ):
        self.on_analysis_error = on_analysis_error  # isolates a failing after_batch
        self.model = model
        self.data = data
        self.cfg = config
        self.seed = seed
        self.device = device
        self.ctx = ctx
        self.etd = etd
        self.augment = augment
        self.should_stop = should_stop
        # Only analyses that see each batch are called per step; the split step runs for them alone.
        self.batch_hooks = [a for a in analyses if type(a).after_batch is not Analysis.after_batch]
        self.split_gradients = any(a.needs_split_gradients for a in self.batch_hooks)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(self.params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
        n = data.num_train
        self.steps_per_epoch = math.ceil(n / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.step = 0
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_multiplier(config.schedule, s, self.total_steps, config.warmup_fraction)
        )
        self._loss = torch.zeros(n, device=device)
        self._logits: torch.Tensor | None = None  # (N, K), allocated on the first step when it fits
        self._pred = torch.zeros(n, dtype=torch.long, device=device)
        self._margin = torch.zeros(n, device=device)
        self._zero_grads: dict[int, torch.Tensor] = {}  # split gradients of parameters no loss reaches

    def remove_analysis(self, analysis) -> None:
        """Stop calling an analysis that failed (the others and training go on)."""
        self.batch_hooks = [a for a in self.batch_hooks if a is not analysis]
        self.split_gradients = any(a.needs_split_gradients for a in self.batch_hooks)

    def autocast(self):
        return autocast_for(self.cfg.precision, self.device)

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(), "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = state["step"]

    def _etd_batch(self, ids: torch.Tensor):
        return self.etd.batch(ids) if self.etd is not None else nullcontext()

    def _split_step_grads(self, g_clean, g_noisy) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Set each parameter's step gradient to g_C + g_M; return the halves with no None.

        Both halves come from the same graph, so a parameter is either reached by both or by
        neither. An unreached parameter keeps ``grad = None``, as after a plain
        ``losses.mean().backward()``, so SGD skips it (no weight decay or momentum) exactly as
        in a plain step; the analyses see shared, cached zeros for it (read-only).
        """
        if all(g is not None for g in g_clean) and all(g is not None for g in g_noisy):
            totals = torch._foreach_add(list(g_clean), list(g_noisy))
            for p, g in zip(self.params, totals):
                p.grad = g
            return list(g_clean), list(g_noisy)
        clean, noisy = [], []
        for i, (p, gc, gn) in enumerate(zip(self.params, g_clean, g_noisy)):
            if gc is None and gn is None:
                p.grad = None
            else:
                p.grad = gc + gn if gc is not None and gn is not None else (gc if gc is not None else gn).clone()
            if gc is None or gn is None:
                zero = self._zero_grads.get(i)
                if zero is None:
                    zero = self._zero_grads[i] = torch.zeros_like(p)
                gc = zero if gc is None else gc
                gn = zero if gn is None else gn
            clean.append(gc)
            noisy.append(gn)
        return clean, noisy

    def train_epoch(self, epoch: int) -> EpochStats:
        data, cfg, model = self.data, self.cfg, self.model
        n = data.num_train
        model.train()
        # The batch order and augmentation of epoch e depend only on (seed, e): a resumed run
        # replays exactly the batches an uninterrupted one would have seen.
        order_gen = torch.Generator(device="cpu")
        order_gen.manual_seed(stream_seed(self.seed, "batch_order", epoch))
        perm = torch.randperm(n, generator=order_gen).to(self.device)
        aug_gen = torch.Generator(device="cpu")
        aug_gen.manual_seed(stream_seed(self.seed, "augment", epoch))
        start = time.perf_counter()
        for b in range(self.steps_per_epoch):
            if self.should_stop():
                raise RunCancelled(f"cancelled during epoch {epoch}")
            pos = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            x, y = data.x_train[pos], data.y_train[pos]
            if self.augment:
                x = augment_batch(x, aug_gen)
            ids = data.train_ids[pos] if self.etd is not None or self.batch_hooks else None  # only they need it
            with self._etd_batch(ids), self.autocast():
                logits = model(x)
            losses = F.cross_entropy(logits.float(), y, reduction="none")
            batch = len(pos)
            info = None
            if self.split_gradients:
                noisy = data.is_noisy[pos]
                loss_clean = (losses * (~noisy)).sum() / batch
                loss_noisy = (losses * noisy).sum() / batch
                g_clean = torch.autograd.grad(loss_clean, self.params, retain_graph=True, allow_unused=True)
                g_noisy = torch.autograd.grad(loss_noisy, self.params, allow_unused=True)
                g_clean, g_noisy = self._split_step_grads(g_clean, g_noisy)
                info = BatchInfo(self.step, epoch, ids, noisy, losses.detach(), g_clean, g_noisy)
            else:
                self.optimizer.zero_grad(set_to_none=True)
                losses.mean().backward()
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            self._track(pos, losses, logits, y)
            for analysis in list(self.batch_hooks):
                if info is None:
                    info = BatchInfo(self.step - 1, epoch, ids, data.is_noisy[pos], losses.detach())
                try:
                    analysis.after_batch(self.ctx, info)
                except Exception as exc:
                    if self.on_analysis_error is None:
                        raise
                    self.on_analysis_error(analysis, exc)
            if b % 16 == 15 and not torch.isfinite(losses.detach().sum()):
                raise RunFailed(f"training diverged in epoch {epoch} (loss is NaN or infinite); lower train.lr")
        losses, preds, margins = self._epoch_arrays()
        if not np.isfinite(losses).all():
            raise RunFailed(f"training diverged in epoch {epoch} (loss is NaN or infinite); lower train.lr")
        seconds = time.perf_counter() - start
        return EpochStats(epoch, losses, preds, margins, seconds, self.optimizer.param_groups[0]["lr"])

    @torch.no_grad()
    def _epoch_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The epoch's per-example losses, predictions and margins as host arrays: predictions
        and margins from the kept logits in one pass, then one host transfer (one sync) for all
        three. Predictions travel as float32, exact for any class index below 2**24."""
        if self._logits is not None:
            self._pred = self._logits.argmax(1)
            self._margin = logit_margins(self._logits, self.data.y_train)
        host = torch.stack([self._loss, self._margin, self._pred.float()]).cpu().numpy()  # a fresh tensor: no aliasing
        return host[0], host[2].astype(np.int64), host[1]

    @torch.no_grad()
    def _track(self, pos: torch.Tensor, losses: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Keep the step's per-example losses and logits (prediction and margin follow at the
        end of the epoch); reduce the logits now when the whole set's would be too large."""
        self._loss[pos] = losses.detach()
        if self._logits is None and self.data.num_train * logits.shape[1] <= KEEP_LOGITS_MAX:
            self._logits = torch.zeros(self.data.num_train, logits.shape[1], device=logits.device)
        if self._logits is not None:
            self._logits[pos] = logits.detach().float()
            return
        lf = logits.detach().float()
        self._pred[pos] = lf.argmax(1)
        self._margin[pos] = logit_margins(lf, y)
