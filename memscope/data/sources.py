"""Built-in dataset loaders: each returns ``DatasetArrays`` (numpy; torch only for downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memscope.data.arrays import DatasetArrays, DatasetRequest
from memscope.errors import DataError

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DIGIT_CLASSES = [str(i) for i in range(10)]


#: The 8x8 digits (1797 images, pixel counts 0..16, labels 0..9), shipped with memscope so the
#: default dataset needs neither a download nor scikit-learn: see DIGITS-LICENSE.txt beside it.
DIGITS_FILE = Path(__file__).with_name("digits.npz")


def load_digits(request: DatasetRequest) -> DatasetArrays:
    """The UCI 8x8 handwritten digits (1797 images, 16 grey levels), shipped: no download.

    A fixed, stratified 80/20 split (1438 train, 359 test) keeps runs comparable.
    """
    with np.load(DIGITS_FILE, allow_pickle=False) as archive:
        counts, target = archive["images"], archive["target"]
    images = (counts / 16.0).astype(np.float32)  # (1797, 8, 8) in [0, 1]
    labels = target.astype(np.int64)
    rng = np.random.default_rng(20230717)  # fixed: the split is part of the dataset
    test = np.zeros(len(labels), dtype=bool)
    for k in range(10):
        members = np.flatnonzero(labels == k)
        test[rng.choice(members, size=round(0.2 * len(members)), replace=False)] = True
    return DatasetArrays(images[~test], labels[~test], images[test], labels[test], DIGIT_CLASSES, "digits (UCI, shipped)")


def load_synthetic(request: DatasetRequest) -> DatasetArrays:
    """A tiny, instant 4-class set of 8x8 patterns with pixel noise (for tests)."""
    rng = np.random.default_rng(7)
    protos = rng.random((4, 8, 8)).astype(np.float32)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 4
        x = protos[y] + 0.35 * rng.standard_normal((n, 8, 8)).astype(np.float32)
        return np.clip(x, 0, 1).astype(np.float32), y.astype(np.int64)

    x_train, y_train = make(256)
    x_test, y_test = make(128)
    return DatasetArrays(x_train, y_train, x_test, y_test, ["a", "b", "c", "d"], "synthetic")


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_npz(path: str | Path, what: str) -> DatasetArrays:
    """A Keras-style archive: x_train, y_train, x_test, y_test (and optional class_names).

    Also accepts several files joined with ``+`` (e.g. two halves of a training set).
    """
    parts = [Path(p).expanduser() for p in str(path).split("+")]
    xs, ys, x_test, y_test, names = [], [], None, None, None
    for part in parts:
        if not part.is_file():
            raise DataError(f"{what}: file not found: {part} (set data.path to a .npz with {', '.join(NPZ_KEYS)})")
        try:
            archive = np.load(part, allow_pickle=False)
            keys = set(archive.files)
        except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError...
            raise DataError(f"{what}: {part} is not a readable .npz archive ({exc.__class__.__name__})") from None
        if "x_train" in keys and "y_train" in keys:
            xs.append(archive["x_train"])
            ys.append(archive["y_train"])
        if "x_test" in keys and "y_test" in keys:
            x_test, y_test = archive["x_test"], archive["y_test"]
        if "class_names" in keys:
            names = [str(n) for n in archive["class_names"]]
        if not keys & set(NPZ_KEYS):
            raise DataError(f"{what}: {part} has keys {sorted(keys)}; expected {', '.join(NPZ_KEYS)}")
    if not xs:
        raise DataError(f"{what}: no x_train/y_train in {path}")
    if x_test is None:
        raise DataError(f"{what}: no x_test/y_test in {path}")
    try:
        x_train, y_train = np.concatenate(xs), np.concatenate(ys)
    except ValueError as exc:
        raise DataError(f"{what}: the training parts do not fit together: {exc}") from None
    return DatasetArrays(x_train, y_train, x_test, y_test, names or [], f"npz:{path}")


def load_npz(request: DatasetRequest) -> DatasetArrays:
    """Your own arrays from a .npz (data.path)."""
    if not request.path:
        raise DataError("dataset 'npz' needs data.path = \"/path/to/arrays.npz\" (keys x_train, y_train, x_test, y_test)")
    return read_npz(request.path, "dataset 'npz'")


def _torchvision(request: DatasetRequest, name: str) -> DatasetArrays:
    """Read a torchvision dataset from data_dir, downloading it if allowed."""
    root = Path(request.data_dir)
    try:
        import torchvision.datasets as tvd
    except ImportError:  # pragma: no cover - torchvision is a dependency
        raise DataError("torchvision is not installed: pip install torchvision") from None
    hint = (
        f"the {name} files are not in {root} and could not be downloaded; either connect to the network "
        f"(download = true), put torchvision's {name} files under {root}, or set data.path to a Keras-style "
        f".npz (x_train, y_train, x_test, y_test)"
    )
    try:
        root.mkdir(parents=True, exist_ok=True)
        if name == "mnist":
            train = tvd.MNIST(root, train=True, download=request.download)
            test = tvd.MNIST(root, train=False, download=request.download)
            return DatasetArrays(
                train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy(), DIGIT_CLASSES, f"torchvision:{root}"
            )
        if name == "cifar10":
            train = tvd.CIFAR10(root, train=True, download=request.download)
            test = tvd.CIFAR10(root, train=False, download=request.download)
            return DatasetArrays(
                train.data, np.array(train.targets), test.data, np.array(test.targets), CIFAR10_CLASSES, f"torchvision:{root}"
            )
        if name == "svhn":
            train = tvd.SVHN(root, split="train", download=request.download)
            test = tvd.SVHN(root, split="test", download=request.download)
            return DatasetArrays(
                train.data.transpose(0, 2, 3, 1), train.labels, test.data.transpose(0, 2, 3, 1), test.labels, DIGIT_CLASSES, f"torchvision:{root}"
            )
    except DataError:
        raise
    except (RuntimeError, OSError, ValueError) as exc:
        raise DataError(f"dataset '{name}': {hint} ({exc.__class__.__name__})") from None
    except Exception as exc:  # urllib errors and friends when offline
        raise DataError(f"dataset '{name}': {hint} ({exc.__class__.__name__})") from None
    raise DataError(f"dataset '{name}' has no torchvision loader")


def make_standard_loader(name: str, class_names: list[str]):
    """mnist / cifar10 / svhn: a Keras-style .npz when data.path is set, else torchvision."""

    def load(request: DatasetRequest) -> DatasetArrays:
        if request.path:
            arrays = read_npz(request.path, f"dataset '{name}'")
            if not arrays.class_names:
                arrays.class_names = list(class_names)
            return arrays
        return _torchvision(request, name)

    load.__doc__ = f"{name.upper()} (torchvision download into data_dir, or a Keras-style .npz via data.path)"
    return load
