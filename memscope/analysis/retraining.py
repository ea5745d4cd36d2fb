"""Layer retraining (Maini et al. section 4.2): can a layer relearn without the noisy examples?

For each layer group L: start from the final weights, reset L's *parameters* to the
``reset_epoch`` checkpoint (0 = initial weights), freeze everything else, and retrain only
L on the clean training examples (observed label == true label) with plain SGD. Each
retraining epoch records clean-train, noisy-train (against the observed labels) and test
accuracy; epoch 0 is right after the reset (it equals rewinding L to ``reset_epoch``). If
noisy-train accuracy comes back although no noisy example was shown, the rest of the
network holds the memorization.

Choices, where the paper is silent or its released code departs from its text:

- Frozen means frozen: parameters outside L have ``requires_grad = False`` and are not in
  the optimizer, *and* every module outside L runs in eval mode during retraining, so
  BatchNorm running statistics outside L do not move (a BatchNorm in train mode changes its
  buffers even with frozen weights). L's own modules train normally (their BatchNorm
  statistics adapt, their dropout is active). The released code trains the wrong subset and
  freezes nothing; memscope implements the paper's text.
- Only L's parameters are reset; buffers (running statistics) start from their final values,
  as in rewinding.
- The learning rate is constant (no schedule); the batch order of retraining epoch ``e`` of
  layer ``i`` comes from the named stream ``("retrain", i, e)``; with ``data.augment`` on,
  the batches are augmented as in training (stream ``("retrain_augment", i, e)``).
- Early stop: after ``patience`` consecutive retraining epochs (epoch 0 not counted) with
  100% clean-train accuracy; ``patience = 0`` always runs ``epochs`` epochs.
- Example-tied dropout runs are refused (a config error naming the fix, a run without
  ``[etd]``; ``memscope.config.LOCALIZING_ANALYSES``): their memorization sits in
  per-example masks that retraining would not apply. The "kept"-mode handling below is
  what the code does should an ETD model reach it anyway.
- The run's model is never touched: the work happens on a separate copy built from the
  run's architecture, so analyses after this one see the final weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from memscope.analysis.base import Analysis
from memscope.analysis.rewinding import check_epochs_available, selected_groups
from memscope.errors import MemscopeError
from memscope.store.schemas import CORE_TABLES

ACC_KEYS = ("clean_train_acc", "noisy_train_acc", "test_acc")


@dataclass(frozen=True)
class RetrainingOptions:
    epochs: int = 20  # most retraining epochs per layer
    lr: float = 0.01  # SGD learning rate (constant)
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 weight decay on the retrained layer
    batch_size: int = 512  # examples per retraining step (clean examples only)
    patience: int = 3  # stop after this many consecutive epochs at 100% clean-train accuracy; 0 = never stop early
    reset_epoch: int = 0  # checkpoint the layer is reset to (0 = initial weights)
    layers: tuple[str, ...] = ()  # layer groups to retrain; empty = every group

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs = {self.epochs} must be 0 or more")
        if self.lr <= 0:
            raise ValueError(f"lr = {self.lr} must be positive")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum = {self.momentum} must be in [0, 1)")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay = {self.weight_decay} must be 0 or more")
        if self.batch_size < 1:
            raise ValueError(f"batch_size = {self.batch_size} must be at least 1")
        if self.patience < 0:
            raise ValueError(f"patience = {self.patience} must be 0 (no early stop) or more")
        if self.reset_epoch < 0:
            raise ValueError(f"reset_epoch = {self.reset_epoch} must be 0 (initial weights) or a checkpoint epoch")


def set_frozen_modes(model: Any, group: Any) -> None:
    """Eval mode everywhere except the modules of ``group`` (which train)."""
    model.eval()
    for path in group.modules:
        model.get_submodule(path).train()


class LayerRetraining(Analysis):
    """Reset one layer group, freeze the rest, retrain it on the clean examples only."""

    name = "retraining"
    version = "1.0"
    Options = RetrainingOptions
    tables = {"layer_retrains": CORE_TABLES["layer_retrains"]}

    def validate(self, ctx: Any) -> None:
        selected_groups(ctx, self.options.layers)
        check_epochs_available([self.options.reset_epoch], ctx.config, "analysis.retraining.reset_epoch")

    def working_copy(self, ctx: Any):
        """(model, etd): a separate model holding the final weights, with ETD hooks when the run has them."""
        import torch

        # build_model() re-seeds torch's global generator for the initial weights: fork it so
        # that retraining leaves the global random stream of later analyses as it found it.
        cuda = [ctx.device.index or 0] if ctx.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            model = ctx.build_model()
        model.load_state_dict(ctx.model.state_dict())
        etd = None
        if getattr(ctx, "etd", None) is not None:
            from memscope.models.example_tied_dropout import ExampleTiedDropout

            src = ctx.etd
            etd = ExampleTiedDropout(model, src.groups, src.seed, src.p_gen, src.p_mem, src.dropped_scale)
        return model, etd

    def run(self, ctx: Any) -> None:
        groups = selected_groups(ctx, self.options.layers)
        reset_state = ctx.load_state(self.options.reset_epoch)  # names the saved epochs when it is missing
        final_state = {k: v.detach().clone() for k, v in ctx.model.state_dict().items()}
        model, etd = self.working_copy(ctx)
        total = len(groups) * self.options.epochs
        ctx.progress_steps(0, total, "layer-epochs")
        try:
            for position, (index, group) in enumerate(groups):
                model.load_state_dict(final_state)
                base = position * self.options.epochs
                rows = self.retrain_layer(ctx, model, index, group, reset_state, etd,
                                          on_epoch=lambda epoch, base=base: ctx.progress_steps(base + epoch, total, "layer-epochs"))
                ctx.progress_steps(base + self.options.epochs, total, "layer-epochs")  # patience may stop a layer early
                ctx.write("layer_retrains", rows)
                last = {k: rows[k][-1] for k in ACC_KEYS}
                ctx.progress(
                    f"{group.name}: {rows['retrain_epoch'][-1]} epochs, clean {last['clean_train_acc']:.3f} "
                    f"noisy {last['noisy_train_acc']:.3f} test {last['test_acc']:.3f}"
                )
        finally:
            if etd is not None:
                etd.remove()

    def retrain_layer(self, ctx: Any, model: Any, index: int, group: Any, reset_state: dict, etd: Any = None,
                      on_epoch: Any = None) -> dict[str, list]:
        """Reset ``group`` in ``model`` to ``reset_state``, retrain it on the clean examples, return the rows.

        Leaves ``model`` holding the retrained layer; every parameter and buffer outside the group is unchanged.
        """
        import torch
        import torch.nn.functional as F

        from memscope.models.groups import group_parameters, load_group_state
        from memscope.models.example_tied_dropout import kept_mode
        from memscope.data.augmentation import augment_batch

        opts = self.options
        own = group_parameters(model, group)
        own_ids = {id(p) for _, p in own}
        load_group_state(own, reset_state, f"retraining: checkpoint epoch {opts.reset_epoch}")
        previous = {id(p): p.requires_grad for p in model.parameters()}
        for p in model.parameters():
            p.requires_grad_(id(p) in own_ids)
        params = [p for _, p in own]
        rows: dict[str, list] = {k: [] for k in ("layer_index", "layer", "reset_epoch", "retrain_epoch", *ACC_KEYS)}

        def record(epoch: int) -> dict[str, float]:
            with kept_mode(etd):
                acc = ctx.evaluate_splits(model)
            rows["layer_index"].append(index)
            rows["layer"].append(group.name)
            rows["reset_epoch"].append(opts.reset_epoch)
            rows["retrain_epoch"].append(epoch)
            for key in ACC_KEYS:
                rows[key].append(acc[key])
            return acc

        data = ctx.data
        clean = torch.nonzero(~data.is_noisy, as_tuple=False).flatten()
        augment = bool(ctx.config.data.augment)
        try:
            record(0)
            if not params or clean.numel() == 0:
                return rows  # nothing to train (a parameter-free group, or no clean example)
            optimizer = torch.optim.SGD(params, lr=opts.lr, momentum=opts.momentum, weight_decay=opts.weight_decay)
            streak = 0
            for epoch in range(1, opts.epochs + 1):
                set_frozen_modes(model, group)
                order = torch.randperm(clean.numel(), generator=ctx.torch_generator("retrain", index, epoch))
                positions = clean[order.to(clean.device)]
                aug_gen = ctx.torch_generator("retrain_augment", index, epoch) if augment else None
                with kept_mode(etd):
                    for start in range(0, positions.numel(), opts.batch_size):
                        pos = positions[start : start + opts.batch_size]
                        x, y = data.x_train[pos], data.y_train[pos]
                        if aug_gen is not None:
                            x = augment_batch(x, aug_gen)
                        with ctx.autocast():
                            logits = model(x)
                        loss = F.cross_entropy(logits.float(), y)
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        optimizer.step()
                    if not torch.isfinite(loss.detach()):
                        raise MemscopeError(
                            f"retraining {group.name} diverged in epoch {epoch} (loss is NaN or infinite); "
                            "lower analysis.retraining.lr"
                        )
                acc = record(epoch)
                if on_epoch is not None:
                    on_epoch(epoch)
                streak = streak + 1 if acc["clean_train_acc"] >= 1.0 else 0
                if opts.patience and streak >= opts.patience:
                    break
        finally:
            for p in model.parameters():
                p.requires_grad_(previous[id(p)])
            model.eval()
        return rows

