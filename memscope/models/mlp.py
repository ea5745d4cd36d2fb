"""A multilayer perceptron: flatten, ReLU hidden layers, a linear classifier."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from memscope.models.base import LayerGroup, linear_group, scaled


class MLP(nn.Module):
    def __init__(self, num_classes: int, in_features: int, hidden: Sequence[int]):
        super().__init__()
        self.flatten = nn.Flatten()
        self.hidden = nn.ModuleList()
        prev = in_features
        for h in hidden:
            # Linear and ReLU as separate children so the ReLU output can be hooked/masked.
            self.hidden.append(nn.Sequential(nn.Linear(prev, h), nn.ReLU()))
            prev = h
        self.fc = nn.Linear(prev, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.flatten(x)
        for layer in self.hidden:
            x = layer(x)
        return self.fc(x)

    def layer_groups(self) -> list[LayerGroup]:
        groups = [
            LayerGroup(f"hidden{i + 1}", (f"hidden.{i}",), (f"hidden.{i}.0",), f"hidden.{i}", "linear",
                       layer[0].out_features)
            for i, layer in enumerate(self.hidden)
        ]
        groups.append(linear_group("fc", self.fc.out_features))
        return groups


def make_mlp(
    num_classes: int,
    in_channels: int,
    image_size: int,
    width: float = 1.0,
    *,
    hidden: Sequence[int] = (512, 512),
) -> MLP:
    """MLP on flattened images; ``hidden`` sizes are multiplied by ``width``."""
    sizes = [scaled(int(h), width) for h in hidden]
    return MLP(num_classes, in_channels * image_size * image_size, sizes)
