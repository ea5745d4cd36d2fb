"""From config to training tensors: load arrays, draw subsets, apply noise, move to the device.

The whole dataset lives on the training device as tensors (airbench style): no DataLoader
on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from memscope.config import RunConfig
from memscope.data import DatasetArrays, DatasetRequest
from memscope.errors import DataError, MemscopeError
from memscope.registry import Registries
from memscope.seeding import numpy_stream


@dataclass
class PreparedData:
    """Arrays after subsetting and noise (numpy: written to the ``examples`` table)."""

    arrays: DatasetArrays
    train_ids: np.ndarray  # example id of each kept training example (its index in the full split)
    test_ids: np.ndarray  # index of each kept test example in the full test split (its id: test_example_ids)
    y_train_true: np.ndarray
    y_train_observed: np.ndarray
    is_noisy: np.ndarray

    @property
    def num_classes(self) -> int:
        return self.arrays.num_classes

    @property
    def test_example_ids(self) -> np.ndarray:
        """The test examples' ids in the store: after every training id (``memscope.data.example_ids``)."""
        from memscope.data.example_ids import ids_of_test_examples

        return ids_of_test_examples(len(self.arrays.y_train), self.test_ids)


@dataclass
class DeviceData:
    """Normalized float tensors on the training device, in example-id order of ``PreparedData``."""

    x_train: torch.Tensor  # (N, C, H, W)
    y_train: torch.Tensor  # observed labels (what training sees)
    y_train_true: torch.Tensor
    is_noisy: torch.Tensor  # (N,) bool
    x_test: torch.Tensor
    y_test: torch.Tensor
    train_ids: torch.Tensor  # (N,) int64 example ids
    num_classes: int

    @property
    def num_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])


def load_arrays(config: RunConfig, registries: Registries, data_dir: Path) -> DatasetArrays:
    loader = registries.datasets.get(config.data.dataset)
    request = DatasetRequest(config.data.dataset, config.data.path, data_dir, config.data.download)
    try:
        arrays = loader(request)
    except MemscopeError:
        raise
    except Exception as exc:  # a plugin's loader that raises
        raise DataError(f"dataset '{config.data.dataset}' failed to load: {exc.__class__.__name__}: {exc}") from None
    if not isinstance(arrays, DatasetArrays):
        raise DataError(f"dataset '{config.data.dataset}' returned {type(arrays).__name__}, not DatasetArrays")
    return arrays.validated(f"dataset '{config.data.dataset}'")


def _subset(n: int, keep: int, rng: np.random.Generator) -> np.ndarray:
    if keep == 0 or keep >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=keep, replace=False))


def prepare(config: RunConfig, registries: Registries, data_dir: Path) -> PreparedData:
    arrays = load_arrays(config, registries, data_dir)
    train_ids = _subset(len(arrays.y_train), config.data.train_subset, numpy_stream(config.seed, "train_subset"))
    test_ids = _subset(len(arrays.y_test), config.data.test_subset, numpy_stream(config.seed, "test_subset"))
    y_true = arrays.y_train[train_ids]
    apply_noise = registries.noise_models.get(config.noise.model)
    try:
        observed = np.asarray(
            apply_noise(y_true.copy(), arrays.num_classes, config.noise.rate, numpy_stream(config.seed, "noise"), config.noise),
            dtype=np.int64,
        )
    except MemscopeError:
        raise
    except Exception as exc:
        raise MemscopeError(f"noise model '{config.noise.model}' failed: {exc.__class__.__name__}: {exc}") from None
    if observed.shape != y_true.shape or observed.min(initial=0) < 0 or observed.max(initial=0) >= arrays.num_classes:
        raise MemscopeError(f"noise model '{config.noise.model}' returned labels of the wrong shape or range")
    return PreparedData(arrays, train_ids, test_ids, y_true, observed, observed != y_true)


def _to_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x))
    t = t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()
    return t.permute(0, 3, 1, 2).contiguous().to(device)  # NHWC -> NCHW


def to_device(prepared: PreparedData, device: torch.device) -> DeviceData:
    arrays = prepared.arrays
    x_train = _to_tensor(arrays.x_train[prepared.train_ids], device)
    x_test = _to_tensor(arrays.x_test[prepared.test_ids], device)
    # per-channel normalization with the (kept) training set's statistics
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    x_train.sub_(mean).div_(std)
    x_test.sub_(mean).div_(std)
    as_long = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)  # noqa: E731
    return DeviceData(
        x_train=x_train,
        y_train=as_long(prepared.y_train_observed),
        y_train_true=as_long(prepared.y_train_true),
        is_noisy=torch.as_tensor(prepared.is_noisy, device=device),
        x_test=x_test,
        y_test=as_long(arrays.y_test[prepared.test_ids]),
        train_ids=as_long(prepared.train_ids),
        num_classes=prepared.num_classes,
    )


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise MemscopeError("device = 'cuda' but no CUDA GPU is available; use device = 'auto' or 'cpu'")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise MemscopeError("device = 'mps' but MPS is not available; use device = 'auto' or 'cpu'")
    return torch.device(requested)
