"""The built-in datasets (loaders are imported when registration happens, not at start-up)."""

from memscope import hookimpl


@hookimpl
def register_datasets(register):
    from memscope.data import sources

    register("digits", sources.load_digits, description="scikit-learn's 8x8 digits, bundled: no download (1438 train / 359 test)")
    register("mnist", sources.make_standard_loader("mnist", sources.DIGIT_CLASSES), description="MNIST 28x28 (torchvision download, or data.path to a Keras-style .npz)", reads_path=True)
    register("cifar10", sources.make_standard_loader("cifar10", sources.CIFAR10_CLASSES), description="CIFAR-10 32x32x3 (torchvision download, or data.path to a Keras-style .npz)", reads_path=True)
    register("svhn", sources.make_standard_loader("svhn", sources.DIGIT_CLASSES), description="SVHN 32x32x3 (torchvision download, or data.path to a Keras-style .npz)", reads_path=True)
    register("npz", sources.load_npz, description="your own arrays: data.path to a .npz with x_train, y_train, x_test, y_test", needs_path=True)
    register("synthetic", sources.load_synthetic, description="a tiny 4-class set of noisy 8x8 patterns (tests)")
