"""Example-tied dropout evaluation (Maini et al. section 5), after training.

The run trains with example-tied dropout (``[etd] enabled = true``: the masks live in
``memscope.models.example_tied_dropout``). This analysis evaluates the final model twice:

- ``example``: each training example with its own training mask (its memorization channels
  as during training; test examples, which have no mask, in ``kept`` mode): the paper's
  "before dropping" number, where noisy-train accuracy is near 100%;
- ``kept``: every channel on, memorization channels scaled by ``p_mem``;
- ``dropped``: memorization channels zeroed, generalization channels scaled by
  ``(p_gen + p_mem) / p_gen`` (or ``etd.dropped_scale``),

and writes one ``etd_evals`` row per mode (clean-train, noisy-train against the observed
labels, noisy-train against the true labels, test accuracy). The paper's claim: dropping
the memorization channels takes noisy-train accuracy from about 100% to a few percent
while clean and test accuracy hold.

It also writes, per training example, whether the dropped-mode model predicts the
observed label (``dropped_correct``, 0/1) and its margin (``dropped_margin``: logit of the
observed label minus the largest other logit) to ``example_scores``, so an example the
model gets right only through its memorization channels can be ranked as a label error.

Example-tied dropout and the localization analyses do not mix: a run trained with it
refuses rewinding, retraining and neuron flipping (``memscope.config.LOCALIZING_ANALYSES``,
a config error naming the fix: a separate run without ``[etd]``), because those would read
the kept-mode network, where the memorization the masks carry is averaged away. The masked
layers default per model as in the authors' code (``memscope.models.example_tied_dropout.default_etd_groups``).

Torch is imported inside methods so that listing plugins stays torch-free.
"""

from __future__ import annotations

from typing import Any

from memscope.analysis.base import Analysis
from memscope.errors import ConfigError
from memscope.store.schemas import CORE_TABLES

MODES = ("example", "kept", "dropped")


class ExampleTiedDropout(Analysis):
    """Accuracy with the memorization channels kept (scaled) and dropped."""

    name = "etd"
    version = "0.1"
    tables = {"etd_evals": CORE_TABLES["etd_evals"], "example_scores": CORE_TABLES["example_scores"]}

    def validate(self, ctx: Any) -> None:
        cfg = ctx.config.etd
        if ctx.etd is None or not cfg.enabled:
            raise ConfigError(
                "analysis 'etd' evaluates a model trained with example-tied dropout: set [etd] enabled = true "
                "(e.g. --set etd.enabled=true)"
            )
        for layer in cfg.layers:
            ctx.group(layer)  # ConfigError naming the layers when it does not exist
        if not 0.0 < cfg.p_gen < 1.0 or not 0.0 < cfg.p_mem <= 1.0 or cfg.p_gen + cfg.p_mem > 1.0:
            raise ConfigError(
                f"etd: p_gen = {cfg.p_gen:g} must be in (0, 1), p_mem = {cfg.p_mem:g} in (0, 1], and their sum at most 1"
            )
        if cfg.dropped_scale < 0:
            raise ConfigError(f"etd.dropped_scale = {cfg.dropped_scale:g} must be 0 (automatic) or positive")

    def run(self, ctx: Any) -> None:
        import numpy as np

        from memscope.models.evaluation import accuracies, logit_margins, predict

        etd, data = ctx.etd, ctx.data
        batch, autocast = ctx.config.train.eval_batch_size, ctx.autocast()
        with etd.use_mode("kept"):
            kept = ctx.evaluate_splits()
        with etd.use_mode("dropped"):  # one pass each: the dropped accuracies and the per-example scores share it
            train_logits, train_pred = predict(ctx.model, data.x_train, batch, autocast)
            _, test_pred = predict(ctx.model, data.x_test, batch, autocast)
        by_mode = {
            "example": {**accuracies(self._own_mask_predictions(ctx), test_pred, data), "test_acc": kept["test_acc"]},
            "kept": kept,
            "dropped": accuracies(train_pred, test_pred, data),
        }
        rows: dict[str, list] = {"mode": [], "clean_train_acc": [], "noisy_train_acc": [], "noisy_train_true_acc": [], "test_acc": []}
        for mode in MODES:
            accs = by_mode[mode]
            rows["mode"].append(mode)
            for key in ("clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc"):
                rows[key].append(float(accs[key]))
            ctx.progress(
                f"{mode}: clean {accs['clean_train_acc']:.3f} noisy {accs['noisy_train_acc']:.3f} "
                f"noisy-true {accs['noisy_train_true_acc']:.3f} test {accs['test_acc']:.3f}"
            )
        ctx.write("etd_evals", rows)

        margin = logit_margins(train_logits, data.y_train).double().cpu().numpy()
        correct = (train_pred == data.y_train).double().cpu().numpy()
        ids = np.asarray(ctx.prepared.train_ids, dtype=np.int64)
        n = len(ids)
        ctx.write(
            "example_scores",
            {
                "analysis": [self.name] * (2 * n),
                "example": np.concatenate([ids, ids]),
                "metric": ["dropped_correct"] * n + ["dropped_margin"] * n,
                "value": np.concatenate([correct, margin]),
            },
        )

    @staticmethod
    def _own_mask_predictions(ctx: Any):
        """Training examples through their own masks (eval-mode BatchNorm): the "before" of the paper.
        The example row's test accuracy is kept mode's (a test example has no mask of its own)."""
        import torch

        etd, data, model = ctx.etd, ctx.data, ctx.model
        batch = ctx.config.train.eval_batch_size
        was_training = model.training
        model.eval()
        preds = []
        try:
            with torch.no_grad(), etd.use_mode("train"):
                for start in range(0, data.num_train, batch):
                    with etd.batch(data.train_ids[start : start + batch]), ctx.autocast():
                        preds.append(model(data.x_train[start : start + batch]).float().argmax(1))
        finally:
            model.train(was_training)
        return torch.cat(preds)
