"""A small CNN that trains in seconds on CPU (8x8 digits up to 32x32 images)."""

from __future__ import annotations

from torch import Tensor, nn

from memscope.models.base import LayerGroup, linear_group, scaled


class ConvBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, channels: tuple[int, int, int], pool_first: bool):
        super().__init__()
        c1, c2, c3 = channels
        self.conv1 = ConvBNReLU(in_channels, c1)
        # Halving early keeps 28x28/32x32 inputs cheap; 8x8 inputs skip it to keep resolution.
        self.pool1 = nn.MaxPool2d(2) if pool_first else nn.Identity()
        self.conv2 = ConvBNReLU(c1, c2)
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = ConvBNReLU(c2, c3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c3, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = self.conv3(x)
        return self.fc(self.flatten(self.pool(x)))

    def layer_groups(self) -> list[LayerGroup]:
        groups = [
            LayerGroup(name, (name,), (f"{name}.conv",), name, "conv", block.conv.out_channels)
            for name, block in (("conv1", self.conv1), ("conv2", self.conv2), ("conv3", self.conv3))
        ]
        groups.append(linear_group("fc", self.fc.out_features))
        return groups


def make_cnn(
    num_classes: int,
    in_channels: int,
    image_size: int,
    width: float = 1.0,
    *,
    channels: tuple[int, int, int] = (32, 64, 128),
    pool_first: bool | None = None,
) -> SmallCNN:
    """conv-BN-ReLU x3 (32, 64, 128 channels times ``width``), max pools, global average pool, linear.

    ``pool_first`` (default: when image_size >= 16) adds a max pool after the first block.
    Works from 2x2 inputs up.
    """
    if len(channels) != 3:
        raise ValueError(f"cnn: channels must have 3 entries, got {tuple(channels)}")
    if pool_first is None:
        pool_first = image_size >= 16
    if image_size < (4 if pool_first else 2):
        raise ValueError(f"cnn: image_size {image_size} is too small (pooling would leave nothing)")
    c = tuple(scaled(int(ch), width) for ch in channels)
    return SmallCNN(num_classes, in_channels, c, bool(pool_first))  # type: ignore[arg-type]
