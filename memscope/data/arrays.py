"""The torch-free dataset contract and its validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memscope.errors import DataError


@dataclass(frozen=True)
class DatasetRequest:
    name: str  # the registered dataset name
    path: str = ""  # a .npz file, when the dataset reads one
    data_dir: Path = Path(".")  # where downloadable datasets live
    download: bool = True  # may torchvision download into data_dir


@dataclass
class DatasetArrays:
    x_train: np.ndarray  # (N, H, W, C) uint8 0..255 or float32 0..1
    y_train: np.ndarray  # (N,) integer labels
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    source: str = ""  # where the arrays came from (shown in run.json)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width)."""
        _, h, w, c = self.x_train.shape
        return c, h, w

    def validated(self, what: str) -> "DatasetArrays":
        """Normalize shapes/dtypes and check labels; a DataError names what is wrong."""
        x_train, x_test = _as_nhwc(self.x_train, what, "x_train"), _as_nhwc(self.x_test, what, "x_test")
        y_train, y_test = _as_labels(self.y_train, what, "y_train"), _as_labels(self.y_test, what, "y_test")
        if len(x_train) != len(y_train):
            raise DataError(f"{what}: x_train has {len(x_train)} examples but y_train has {len(y_train)}")
        if len(x_test) != len(y_test):
            raise DataError(f"{what}: x_test has {len(x_test)} examples but y_test has {len(y_test)}")
        if len(x_train) == 0:
            raise DataError(f"{what}: the training set is empty")
        if len(x_test) == 0:  # every test accuracy would be NaN, and the run would still "complete"
            raise DataError(f"{what}: the test set is empty; give x_test/y_test at least one example")
        if x_train.shape[1:] != x_test.shape[1:]:
            raise DataError(f"{what}: train images are {x_train.shape[1:]} but test images are {x_test.shape[1:]}")
        k = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
        if len(self.class_names) > MAX_CLASSES:
            raise DataError(f"{what}: {len(self.class_names)} class names; at most {MAX_CLASSES} classes are supported")
        names = list(self.class_names) or [str(i) for i in range(k)]
        if len(names) < k:
            raise DataError(f"{what}: labels go up to {k - 1} but only {len(names)} class names are given")
        if min(y_train.min(initial=0), y_test.min(initial=0)) < 0:
            raise DataError(f"{what}: labels must be in [0, {len(names)}), found a negative label")
        if len(names) < 2:
            raise DataError(f"{what}: at least 2 classes are needed, found {len(names)}")
        return DatasetArrays(x_train, y_train, x_test, y_test, [str(n) for n in names], self.source)


#: Labels must be below this (and class names fewer): a label of 2**40 would otherwise ask
#: for that many class names, and a float 1e30 would wrap to a negative int64.
MAX_CLASSES = 100_000
#: The most channels an image may have; it is how the channel axis of a 4-D array is told.
MAX_CHANNELS = 4


def _as_nhwc(x: np.ndarray, what: str, key: str) -> np.ndarray:
    """(N, H, W, C). A 4-D array's channel axis is the one of axes 1 and 3 with at most
    MAX_CHANNELS entries: (N, 32, 32, 3) is channels-last, (N, 3, 32, 32) and (N, 4, 8, 8)
    channels-first; when both have so few, the one with 1 or 3 entries ((N, 4, 4, 3) is
    channels-last). Any other layout is ambiguous: an error, never a guess."""
    x = np.asarray(x)
    if x.dtype.kind not in "uif" or x.dtype == np.bool_:
        raise DataError(f"{what}: '{key}' must hold numbers, got dtype {x.dtype}")
    if x.ndim == 2:  # (N, D): treat as a 1-row image
        x = x[:, None, :, None]
    elif x.ndim == 3:  # (N, H, W): greyscale
        x = x[..., None]
    elif x.ndim == 4:
        first, last = x.shape[1] <= MAX_CHANNELS, x.shape[3] <= MAX_CHANNELS
        if first and last:  # tiny images: the usual channel counts decide
            first, last = x.shape[1] in (1, 3), x.shape[3] in (1, 3)
        if first == last:
            raise DataError(
                f"{what}: '{key}' has shape {x.shape}: cannot tell its channel axis (the one of axes 1 and 3 "
                f"with at most {MAX_CHANNELS} entries); store (N, H, W, C) or (N, C, H, W) images"
            )
        if first:  # NCHW -> NHWC
            x = x.transpose(0, 2, 3, 1)
    else:
        raise DataError(f"{what}: '{key}' must be (N, H, W), (N, H, W, C) or (N, D); got shape {x.shape}")
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{what}: '{key}' contains NaN or infinite values")
    peak = float(x.max(initial=0.0))
    return np.ascontiguousarray(x / 255.0 if peak > 1.0 else x)


def _as_labels(y: np.ndarray, what: str, key: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{what}: '{key}' must be a 1-D array of labels, got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(np.equal(np.mod(y, 1), 0)):
            raise DataError(f"{what}: '{key}' must hold integer labels")
    elif y.dtype.kind not in "iu":
        raise DataError(f"{what}: '{key}' must hold integer labels, got dtype {y.dtype}")
    if y.size and y.max() >= MAX_CLASSES:  # checked before the cast: 1e30 must not wrap around
        top = y.max()
        raise DataError(f"{what}: '{key}' has label {top:g}; labels must be in [0, {MAX_CLASSES})" if y.dtype.kind == "f"
                        else f"{what}: '{key}' has label {top}; labels must be in [0, {MAX_CLASSES})")
    return y.astype(np.int64)
