"""Dataset loaders: the embedded digits, .npz files, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memscope.data import DatasetRequest
from memscope.data import sources
from memscope.errors import DataError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_digits_is_embedded_and_split():
    arrays = sources.load_digits(DatasetRequest("digits")).validated("digits")
    assert arrays.x_train.shape == (1438, 8, 8, 1) and arrays.x_test.shape == (359, 8, 8, 1)
    assert arrays.num_classes == 10 and arrays.x_train.max() <= 1.0


def test_digits_load_without_scikit_learn():
    import subprocess
    import sys

    # sklearn blocked: importing it would raise, so the shipped file must be all it reads
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "from memscope.data import DatasetRequest, sources\n"
        "a = sources.load_digits(DatasetRequest('digits'))\n"
        "print(len(a.y_train) + len(a.y_test), sorted(set(a.y_train.tolist())))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(maxsplit=1) == ["1797", str(list(range(10))) + "\n"]


def test_shipped_digits_are_scikit_learns_copy():
    sk_datasets = pytest.importorskip("sklearn.datasets")
    bunch = sk_datasets.load_digits()
    with np.load(sources.DIGITS_FILE) as archive:
        np.testing.assert_array_equal(archive["images"], bunch.images)
        np.testing.assert_array_equal(archive["target"], bunch.target)


def test_npz_round_trip(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=np.zeros((6, 4, 4), np.uint8), y_train=np.arange(6) % 3, x_test=np.zeros((3, 4, 4), np.uint8), y_test=np.arange(3))
    arrays = sources.load_npz(DatasetRequest("npz", str(path))).validated("npz")
    assert arrays.image_shape == (1, 4, 4) and arrays.num_classes == 3


def test_npz_needs_a_path():
    with pytest.raises(DataError, match="data.path"):
        sources.load_npz(DatasetRequest("npz"))


def test_missing_npz(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        sources.load_npz(DatasetRequest("npz", str(tmp_path / "none.npz")))


def test_malformed_npz(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        sources.load_npz(DatasetRequest("npz", str(path)))


def test_wrong_keys(tmp_path):
    path = tmp_path / "keys.npz"
    np.savez(path, images=np.zeros((2, 2)))
    with pytest.raises(DataError, match="expected x_train"):
        sources.load_npz(DatasetRequest("npz", str(path)))


@pytest.mark.parametrize(
    "change,words",
    [
        ({"y_train": np.array([0, 1, -1, 0])}, "negative label"),
        ({"y_train": np.array([0, 1])}, "but y_train has 2"),
        ({"x_train": np.array(["a", "b", "c", "d"])}, "must hold numbers"),
        ({"y_train": np.array([0.5, 1, 0, 1])}, "integer labels"),
        ({"x_train": np.zeros((0, 4, 4)), "y_train": np.zeros(0, np.int64)}, "empty"),
    ],
)
def test_bad_arrays_are_named(change, words):
    base = dict(x_train=np.zeros((4, 4, 4), np.float32), y_train=np.array([0, 1, 0, 1]), x_test=np.zeros((2, 4, 4), np.float32), y_test=np.array([0, 1]))
    base.update(change)
    with pytest.raises(DataError, match=words):
        sources.DatasetArrays(**base).validated("npz").x_train


@pytest.mark.skipif(not (SHARED / "mnist.npz").is_file(), reason="shared MNIST not present")
def test_mnist_from_the_shared_npz():
    load = sources.make_standard_loader("mnist", sources.DIGIT_CLASSES)
    arrays = load(DatasetRequest("mnist", str(SHARED / "mnist.npz"))).validated("mnist")
    assert arrays.x_train.shape == (60000, 28, 28, 1) and arrays.num_classes == 10


def test_offline_torchvision_dataset_says_where_to_put_files(tmp_path):
    load = sources.make_standard_loader("svhn", sources.DIGIT_CLASSES)
    with pytest.raises(DataError, match="data.path"):
        load(DatasetRequest("svhn", "", tmp_path, download=False))


# --------------------------------------------------------------------------- issue 12: image layouts


@pytest.mark.parametrize(
    "shape,image_shape",
    [((5, 4, 8, 8), (4, 8, 8)), ((5, 8, 8, 4), (4, 8, 8)), ((5, 3, 32, 32), (3, 32, 32)),
     ((5, 32, 32, 3), (3, 32, 32)), ((5, 4, 4, 3), (3, 4, 4)), ((5, 1, 4, 4), (1, 4, 4))],
)
def test_the_channel_axis_follows_one_documented_rule(shape, image_shape):
    import numpy as np

    from memscope.data.arrays import DatasetArrays

    x = np.zeros(shape, np.float32)
    y = np.arange(shape[0]) % 2
    arrays = DatasetArrays(x, y, x, y).validated("test")
    assert arrays.image_shape == image_shape  # (channels, height, width)


@pytest.mark.parametrize("shape", [(5, 8, 8, 8), (5, 4, 4, 4), (5, 3, 2, 3)])
def test_an_ambiguous_image_layout_is_an_error(shape):
    import numpy as np

    from memscope.data.arrays import DatasetArrays
    from memscope.errors import DataError

    x = np.zeros(shape, np.float32)
    y = np.arange(shape[0]) % 2
    with pytest.raises(DataError, match="cannot tell its channel axis"):
        DatasetArrays(x, y, x, y).validated("test")
