"""Layer rewinding (Maini et al. section 4.1): which layers does memorization live in?

For each layer group L and each chosen checkpoint epoch e, the final model gets L's
*parameters* back from epoch e (every other parameter, and every BatchNorm running
statistic including L's own, stays final) and is evaluated in eval mode on the
un-augmented training set against the observed labels (clean-train and noisy-train
accuracy) and on the test set. Memorization is "in" L when rewinding L drops noisy-train
accuracy while clean-train accuracy stays high.

Cost: each checkpoint is loaded once; the group's tensors are swapped into the live model
in place, evaluated, and restored (no model is rebuilt per cell).

A run trained with example-tied dropout refuses this analysis (a config error: its model
memorizes through per-example masks that rewinding would not apply; run it without
``[etd]``, see ``memscope.config.LOCALIZING_ANALYSES``). The "kept"-mode evaluation below
only keeps older ETD runs re-analyzed by hand from failing on the live hooks.

Torch is imported inside the methods: declaring this analysis (``memscope plugins``) stays
torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from memscope.analysis.base import Analysis
from memscope.errors import ConfigError, MemscopeError
from memscope.store.schemas import CORE_TABLES

DEFAULT_FRACTIONS = tuple(k / 10 for k in range(10))  # init and every 10% of training


@dataclass(frozen=True)
class RewindingOptions:
    epochs: tuple[int, ...] = ()  # checkpoint epochs to rewind to; empty = init and the saved epochs nearest 10%, 20%, ... 90% of training
    layers: tuple[str, ...] = ()  # layer groups to rewind; empty = every group

    def __post_init__(self) -> None:
        negative = [e for e in self.epochs if e < 0]
        if negative:
            raise ValueError(f"epochs: {negative[0]} is negative; 0 means the initial weights")


def planned_checkpoints(config: Any) -> list[int]:
    """The checkpoint epochs a run of ``config`` saves: init, every ``checkpoint_every``, the last."""
    total, every = config.train.epochs, config.train.checkpoint_every
    return sorted({0, total, *range(every, total + 1, every)})


def nearest_epochs(saved: list[int], total: int, fractions=DEFAULT_FRACTIONS) -> list[int]:
    """For each fraction f, the saved epoch nearest to f * total (ties go to the earlier one), deduplicated."""
    if not saved:
        return []
    chosen = {min(saved, key=lambda e: (abs(e - f * total), e)) for f in fractions}
    return sorted(chosen)


def check_epochs_available(requested, config: Any, option: str) -> None:
    """ConfigError (before training) when a requested checkpoint will not be saved."""
    planned = planned_checkpoints(config)
    missing = [e for e in requested if e not in planned]
    if not missing:
        return
    total, every = config.train.epochs, config.train.checkpoint_every
    if missing[0] > total:
        raise ConfigError(f"{option}: epoch {missing[0]} is past the end of training (train.epochs = {total})")
    raise ConfigError(
        f"{option}: no checkpoint will exist for epoch {missing[0]}: train.checkpoint_every = {every} saves "
        f"epochs 0, {every}, {2 * every}, ... and {total}; choose among those or set train.checkpoint_every = 1"
    )


def selected_groups(ctx: Any, names: tuple[str, ...]) -> list[tuple[int, Any]]:
    """(layer_index, group) of the named groups (all when empty), in model order."""
    if not names:
        return list(enumerate(ctx.groups))
    wanted = set(names)
    for name in names:
        ctx.group(name)  # ConfigError naming the layers that exist
    return [(i, g) for i, g in enumerate(ctx.groups) if g.name in wanted]


class LayerRewinding(Analysis):
    """Rewind one layer group at a time to an earlier checkpoint and measure clean/noisy/test accuracy."""

    name = "rewinding"
    version = "1.0"
    Options = RewindingOptions
    tables = {"layer_rewinds": CORE_TABLES["layer_rewinds"]}

    def validate(self, ctx: Any) -> None:
        selected_groups(ctx, self.options.layers)
        if self.options.epochs:
            check_epochs_available(self.options.epochs, ctx.config, "analysis.rewinding.epochs")

    def checkpoint_epochs(self, ctx: Any) -> list[int]:
        """The epochs to rewind to, among the checkpoints on disk."""
        saved = ctx.checkpoint_epochs()
        if self.options.epochs:
            requested = sorted(set(self.options.epochs))
            missing = [e for e in requested if e not in saved]
            if missing:
                raise MemscopeError(
                    f"rewinding: no checkpoint for epoch {missing[0]} in {ctx.run_dir / 'checkpoints'} "
                    f"(saved epochs: {', '.join(map(str, saved)) or 'none'})"
                )
            return requested
        return nearest_epochs(saved, ctx.final_epoch())

    def run(self, ctx: Any) -> None:
        import torch

        from memscope.models.groups import group_parameters, load_group_state
        from memscope.models.example_tied_dropout import kept_mode

        model = ctx.model
        groups = selected_groups(ctx, self.options.layers)
        epochs = self.checkpoint_epochs(ctx)
        params = {g.name: group_parameters(model, g) for _, g in groups}
        final = {name: [p.detach().clone() for _, p in pairs] for name, pairs in params.items()}
        total = len(epochs) * len(groups)
        ctx.progress_steps(0, total, "layer rewinds")
        for step, epoch in enumerate(epochs):
            state = ctx.load_state(epoch)
            rows: dict[str, list] = {k: [] for k in ("layer_index", "layer", "checkpoint_epoch", "clean_train_acc", "noisy_train_acc", "test_acc")}
            for index, group in groups:
                pairs = params[group.name]
                try:
                    load_group_state(pairs, state, f"rewinding: checkpoint epoch {epoch}")
                    with kept_mode(getattr(ctx, "etd", None)):
                        acc = ctx.evaluate_splits(model)
                finally:
                    with torch.no_grad():
                        for (_, p), saved in zip(pairs, final[group.name]):
                            p.copy_(saved)
                rows["layer_index"].append(index)
                rows["layer"].append(group.name)
                rows["checkpoint_epoch"].append(epoch)
                for key in ("clean_train_acc", "noisy_train_acc", "test_acc"):
                    rows[key].append(acc[key])
                ctx.progress_steps(step * len(groups) + len(rows["layer"]), total, "layer rewinds")
            del state
            ctx.write("layer_rewinds", rows)
            ctx.progress(
                f"epoch {epoch}: noisy-train acc by layer "
                + " ".join(f"{n}={a:.2f}" for n, a in zip(rows["layer"], rows["noisy_train_acc"]))
            )
