"""ResNet-9 exactly as in Maini et al. (2023), with a width multiplier for CPU runs."""

from __future__ import annotations

from torch import Tensor, nn

from memscope.models.base import LayerGroup, linear_group, scaled
from memscope.models.cnn import ConvBNReLU


class Residual(nn.Module):
    """x + b(a(x)) with two 3x3 conv-BN-ReLU blocks."""

    def __init__(self, channels: int):
        super().__init__()
        self.a = ConvBNReLU(channels, channels)
        self.b = ConvBNReLU(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.b(self.a(x))


class Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class ResNet9(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, width: float = 1.0, final_padding: int = 0):
        super().__init__()
        c64, c128, c256 = scaled(64, width), scaled(128, width), scaled(256, width)
        self.conv1 = ConvBNReLU(in_channels, c64)
        self.conv2 = ConvBNReLU(c64, c128, kernel_size=5, stride=2, padding=2)
        self.res1 = Residual(c128)
        self.conv3 = ConvBNReLU(c128, c256)
        self.pool = nn.MaxPool2d(2)
        self.res2 = Residual(c256)
        self.conv4 = ConvBNReLU(c256, c128, padding=final_padding)
        self.gpool = nn.AdaptiveMaxPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c128, num_classes, bias=False)
        self.scale = Scale(0.2)

    def forward(self, x: Tensor) -> Tensor:
        x = self.res1(self.conv2(self.conv1(x)))
        x = self.res2(self.pool(self.conv3(x)))
        x = self.gpool(self.conv4(x))
        return self.scale(self.fc(self.flatten(x)))

    def etd_layers(self) -> list[str]:
        """Example-tied dropout's default layers: the output of every conv block (the residual
        blocks' sums), not the classifier.

        As in the authors' code: pratyushmaini/localizing-memorization, ``models.py``,
        ``ResNet9_dropout.forward`` applies its dropout module after conv1, conv2, res1, conv3,
        res2 and conv4 (its ``get_dropout`` returns ``ExampleTiedDropout`` in a commented-out
        line; ``models/dropout.py`` defines ``ExampleTiedDropout`` with p_fixed = 0.2,
        p_mem = 0.1). memscope's ``etd.p_gen`` / ``etd.p_mem`` defaults are its own config's.
        """
        return ["conv1", "conv2", "res1_b", "conv3", "res2_b", "conv4"]

    def layer_groups(self) -> list[LayerGroup]:
        def block(name: str, path: str, output: str) -> LayerGroup:
            m = self.get_submodule(path)
            return LayerGroup(name, (path,), (f"{path}.conv",), output, "conv", m.conv.out_channels)

        return [
            block("conv1", "conv1", "conv1"),
            block("conv2", "conv2", "conv2"),
            block("res1_a", "res1.a", "res1.a"),
            # The second block's activation is the residual sum: what the next layer sees.
            block("res1_b", "res1.b", "res1"),
            block("conv3", "conv3", "conv3"),
            block("res2_a", "res2.a", "res2.a"),
            block("res2_b", "res2.b", "res2"),
            block("conv4", "conv4", "conv4"),
            linear_group("fc", self.fc.out_features),
        ]


def min_image_size(final_padding: int = 0) -> int:
    """The smallest square input whose last conv still has a 1x1 output."""
    s = 1
    while not _fits(s, final_padding):
        s += 1
    return s


def _fits(size: int, final_padding: int) -> bool:
    s = (size + 2 * 2 - 5) // 2 + 1  # 5x5 stride 2 pad 2
    s //= 2  # max pool 2
    return s >= 1 and s + 2 * final_padding - 2 >= 1  # 3x3 conv with final_padding


def make_resnet9(
    num_classes: int,
    in_channels: int,
    image_size: int,
    width: float = 1.0,
    *,
    final_padding: int = 0,
) -> ResNet9:
    """The paper's ResNet-9; 2,274,880 parameters for 3 channels, 10 classes, width 1.

    Needs image_size >= 11 (32x32 and 28x28 work). Smaller inputs such as 8x8 digits
    need ``final_padding=1`` (pad the last 3x3 conv; same parameters), which works from 3x3 up.
    """
    if final_padding < 0:
        raise ValueError(f"resnet9: final_padding must be >= 0, got {final_padding}")
    if not _fits(image_size, final_padding):
        hint = " (or set model option final_padding = 1)" if final_padding == 0 else ""
        raise ValueError(
            f"resnet9: image_size {image_size} is too small: the last 3x3 conv (padding "
            f"{final_padding}) would have no output; need image_size >= "
            f"{min_image_size(final_padding)}{hint}"
        )
    return ResNet9(num_classes, in_channels, width, final_padding)
