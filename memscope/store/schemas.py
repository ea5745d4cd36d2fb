"""Arrow schemas of the core tables. Every row carries ``run_id`` (added by the writer).

Plugins declare their own tables the same way (``Analysis.tables``); a plugin's table is
named ``<plugin>_<table>``. Tables are plural snake_case nouns.
"""

from __future__ import annotations

import pyarrow as pa

RUN_ID = pa.field("run_id", pa.string())


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([RUN_ID, *(pa.field(name, dtype) for name, dtype in fields)])


CORE_TABLES: dict[str, pa.Schema] = {
    # run x example: one row per training and test example
    "examples": _schema(
        ("example", pa.int64()),  # the example id used everywhere: train index i, test N_train + j (memscope.data.example_ids)
        ("split", pa.string()),  # train | test
        ("true_label", pa.int32()),
        ("observed_label", pa.int32()),  # the label training saw (after noise)
        ("is_noisy", pa.bool_()),
    ),
    # run x epoch: the learning curves
    "epochs": _schema(
        ("epoch", pa.int32()),
        ("lr", pa.float64()),  # learning rate at the end of the epoch
        ("seconds", pa.float64()),  # wall time of the epoch's training steps
        ("train_loss", pa.float64()),  # mean over all train examples (observed labels)
        ("clean_train_loss", pa.float64()),
        ("clean_train_acc", pa.float64()),
        ("noisy_train_loss", pa.float64()),  # against the observed (noisy) labels
        ("noisy_train_acc", pa.float64()),  # memorization: accuracy on the noisy labels
        ("noisy_train_true_acc", pa.float64()),  # noisy examples against their true labels
        ("test_loss", pa.float64()),
        ("test_acc", pa.float64()),
    ),
    # run x epoch x train example, from the training forward pass (free to collect)
    "example_epochs": _schema(
        ("epoch", pa.int32()),
        ("example", pa.int64()),
        ("loss", pa.float32()),
        ("correct", pa.bool_()),  # prediction == observed label
        ("margin", pa.float32()),  # logit of the observed label minus the largest other logit
        ("pred", pa.int32()),
    ),
    # run x layer group
    "layers": _schema(
        ("layer_index", pa.int32()),
        ("layer", pa.string()),
        ("kind", pa.string()),  # conv | linear
        ("num_params", pa.int64()),
        ("num_neurons", pa.int64()),
    ),
    # run x epoch x layer group: gradient accounting
    "layer_epochs": _schema(
        ("epoch", pa.int32()),
        ("layer_index", pa.int32()),
        ("layer", pa.string()),
        ("clean_norm", pa.float64()),  # L2 norm of the epoch-summed clean gradient
        ("noisy_norm", pa.float64()),
        ("total_norm", pa.float64()),
        ("clean_norm_paper", pa.float64()),  # sum over tensors of ||g_p|| / sqrt(numel p)
        ("noisy_norm_paper", pa.float64()),
        ("total_norm_paper", pa.float64()),
        ("clean_norm_per_example", pa.float64()),  # clean_norm / number of clean examples
        ("noisy_norm_per_example", pa.float64()),
        ("cosine", pa.float64()),  # clean vs noisy, parameters concatenated
        ("cosine_paper", pa.float64()),  # mean of per-tensor cosines
    ),
    # run x layer group x checkpoint: layer rewinding
    "layer_rewinds": _schema(
        ("layer_index", pa.int32()),
        ("layer", pa.string()),
        ("checkpoint_epoch", pa.int32()),  # 0 = initial weights
        ("clean_train_acc", pa.float64()),
        ("noisy_train_acc", pa.float64()),
        ("test_acc", pa.float64()),
    ),
    # run x layer group x retraining epoch: layer retraining
    "layer_retrains": _schema(
        ("layer_index", pa.int32()),
        ("layer", pa.string()),
        ("reset_epoch", pa.int32()),  # the checkpoint the layer was reset to (0 = init)
        ("retrain_epoch", pa.int32()),  # 0 = right after the reset, before retraining
        ("clean_train_acc", pa.float64()),
        ("noisy_train_acc", pa.float64()),
        ("test_acc", pa.float64()),
    ),
    # run x target example: neuron flipping
    "neuron_flips": _schema(
        ("example", pa.int64()),
        ("is_noisy", pa.bool_()),
        ("flipped", pa.bool_()),
        ("neurons_to_flip", pa.int32()),  # null when not flipped within the cap
        ("new_pred", pa.int32()),  # prediction after the edit
        ("clean_acc_after", pa.float64()),  # collateral damage on the clean sample
        ("noisy_acc_after", pa.float64()),
        ("test_acc_after", pa.float64()),  # the *_after columns are null for skipped targets
        # flipped | not_flipped (hit the cap or no positive score left) | not_memorized (a noisy
        # target not predicted as its observed label at the start) | not_fitted (the same, clean)
        ("status", pa.string()),
        ("candidates", pa.string()),  # parameters | units: what an edit zeroes
        ("clean_acc_before", pa.float64()),  # the unedited model on the same fixed samples
        ("noisy_acc_before", pa.float64()),
        ("test_acc_before", pa.float64()),
    ),
    # run x target example x step
    "neuron_flip_steps": _schema(
        ("example", pa.int64()),
        ("step", pa.int32()),
        ("layer_index", pa.int32()),
        ("layer", pa.string()),
        ("unit", pa.int32()),  # units mode: the unit in its group; parameters mode: the channel of a conv filter, else the flat element index in the parameter
        ("score", pa.float64()),
        ("module", pa.string()),  # the edited module's path; null in parts written before it was recorded
        ("parameter", pa.string()),  # the zeroed named parameter (e.g. conv3.conv.weight); null in units mode
        ("kind", pa.string()),  # conv_filter | weight | bias | norm_weight | norm_bias | unit
        ("coords", pa.list_(pa.int32())),  # the element's coordinates in the parameter ([channel] for a conv filter); null in units mode
    ),
    # run x mode: example-tied dropout evaluation
    "etd_evals": _schema(
        ("mode", pa.string()),  # kept | dropped
        ("clean_train_acc", pa.float64()),
        ("noisy_train_acc", pa.float64()),  # against the observed labels
        ("noisy_train_true_acc", pa.float64()),  # noisy examples against their true labels
        ("test_acc", pa.float64()),
    ),
    # run x analysis x example x metric: the long format any plugin can write
    "example_scores": _schema(
        ("analysis", pa.string()),
        ("example", pa.int64()),
        ("metric", pa.string()),
        ("value", pa.float64()),
    ),
}
