"""torchvision's ResNet-50, untrained; the ImageNet stem is kept even on 32x32 (as in the paper)."""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from memscope.models.base import LayerGroup, linear_group


class ResNet50(ResNet):
    """torchvision ``resnet50(weights=None)`` with ``layer_groups``; identical parameters."""

    def __init__(self, num_classes: int, in_channels: int = 3):
        super().__init__(Bottleneck, [3, 4, 6, 3], num_classes=num_classes)
        if in_channels != 3:
            # Same stem shape, only the input channels change; init matches torchvision's loop.
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")

    def etd_layers(self) -> list[str]:
        """Example-tied dropout's default layers: the outputs of layer2 and layer3.

        As in the authors' code: pratyushmaini/localizing-memorization,
        ``models/resnet18_custom.py``, ``ResNet.forward`` (shared by its ResNet18 and ResNet50)
        applies ``ExampleTiedDropout`` after layer2 and layer3; the calls after layer1 and
        layer4 are commented out. (Its ResNet50 factory defaults to p_fixed = 0.5, p_mem = 0.2;
        memscope's ``etd.p_gen`` / ``etd.p_mem`` defaults are its own config's.)
        """
        return ["layer2", "layer3"]

    def layer_groups(self) -> list[LayerGroup]:
        stem_width = self.conv1.out_channels
        groups = [LayerGroup("stem", ("conv1", "bn1"), ("conv1",), "maxpool", "conv", stem_width)]
        for name in ("layer1", "layer2", "layer3", "layer4"):
            layer = self.get_submodule(name)
            convs = tuple(f"{name}.{p}" for p, m in layer.named_modules() if isinstance(m, nn.Conv2d))
            out = layer[-1].bn3.num_features  # the last bottleneck's expansion width
            groups.append(LayerGroup(name, (name,), convs, name, "conv", out))
        groups.append(linear_group("fc", self.fc.out_features))
        return groups


def make_resnet50(num_classes: int, in_channels: int, image_size: int, width: float = 1.0) -> ResNet50:
    """ResNet-50 (23.5M parameters for 10 classes); works from 1x1 inputs up. No width multiplier."""
    if width != 1.0:
        raise ValueError(f"resnet50: width {width} is not supported (only 1.0); use resnet9 or cnn to scale")
    return ResNet50(num_classes, in_channels)
