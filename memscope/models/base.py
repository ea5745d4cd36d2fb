"""Layer groups: the paper's "layers", as a model declares them.

Torch-free on purpose: the CLI and the config validator import this without paying for torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GROUP_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
KINDS = ("conv", "linear")


@dataclass(frozen=True)
class LayerGroup:
    """One "layer" of a model: the unit of rewinding, retraining and gradient accounting.

    ``num_neurons`` is the width of ``output_module``'s output (what example-tied dropout
    masks). Each neuron module has its own width (its output channels or units), which
    ``memscope.models.groups.neuron_sites`` reports; for most groups the two agree.
    """

    name: str  # SQL-safe: lowercase letters, digits, underscores, starting with a letter
    modules: tuple[str, ...]  # module paths whose parameters (recursively) belong to this group
    neuron_modules: tuple[str, ...]  # Conv2d/Linear modules whose output units are neurons
    output_module: str  # module whose output is the group's activation
    kind: str  # "conv": channels on dim 1; "linear": units on the last dim
    num_neurons: int  # channels (or units) of output_module's output
    # Single parameters held directly by a module that cannot be listed whole (e.g. a ViT's
    # cls_token on the root module); qualified names as in model.named_parameters().
    parameters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept lists from callers but store tuples, so groups stay hashable and immutable.
        for f in ("modules", "neuron_modules", "parameters"):
            value = getattr(self, f)
            if isinstance(value, str):
                raise TypeError(f"LayerGroup.{f} must be a sequence of paths, not a string")
            object.__setattr__(self, f, tuple(value))
        if not isinstance(self.name, str) or not GROUP_NAME_RE.match(self.name):
            raise ValueError(
                f"layer group name {self.name!r} must be SQL-safe: lowercase letters, digits "
                "and underscores, starting with a letter"
            )
        if self.kind not in KINDS:
            raise ValueError(f"layer group {self.name!r}: kind {self.kind!r} must be one of {KINDS}")
        if not isinstance(self.num_neurons, int) or self.num_neurons < 1:
            raise ValueError(f"layer group {self.name!r}: num_neurons must be a positive int")
        if not self.modules and not self.parameters:
            raise ValueError(f"layer group {self.name!r} has no modules and no parameters")
        if "" in self.modules:
            # "" is the root module: it would claim every parameter of the model.
            raise ValueError(f"layer group {self.name!r}: the root module '' cannot be a group module")


def linear_group(path: str, units: int) -> LayerGroup:
    """A classifier-style group: one Linear module (``fc``), its own output, ``units`` wide."""
    return LayerGroup(path, (path,), (path,), path, "linear", units)


def scaled(channels: int, width: float) -> int:
    """A channel count times a width multiplier, rounded, at least 1."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return max(1, int(round(channels * width)))
