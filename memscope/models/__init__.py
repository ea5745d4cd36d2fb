"""Model architectures and their layer groups.

Importing this package does not import torch: factories are named as "module:function"
strings and imported on first use, so the CLI can list and register them cheaply.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, Callable

from memscope.models.base import LayerGroup

TIMM_PREFIX = "timm:"

# name -> ("module:function", description); every factory has the signature
# factory(num_classes, in_channels, image_size, width=1.0, **options) -> nn.Module.
BUILTIN_MODELS: dict[str, tuple[str, str]] = {
    "mlp": ("memscope.models.mlp:make_mlp", "MLP on flattened pixels (hidden=(512, 512) x width)"),
    "cnn": ("memscope.models.cnn:make_cnn", "small 3-block conv-BN-ReLU CNN, fast on CPU"),
    "resnet9": ("memscope.models.resnet9:make_resnet9", "the paper's ResNet-9 (2.27M parameters at width 1)"),
    "resnet50": ("memscope.models.resnet50:make_resnet50", "torchvision ResNet-50 with the ImageNet stem"),
    "vit": ("memscope.models.vit:make_vit", "small ViT (patch 4, dim 512, depth 6, 8 heads)"),
}


def load_factory(spec: str) -> Callable[..., Any]:
    """Import a factory from "package.module:function", or resolve "timm:<name>"."""
    if spec.startswith(TIMM_PREFIX):
        return resolve_timm(spec[len(TIMM_PREFIX):])
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"model factory {spec!r} must look like 'package.module:function' or 'timm:<name>'")
    factory = getattr(importlib.import_module(module_name), attr, None)
    if not callable(factory):
        raise ValueError(f"model factory {spec!r}: {module_name} has no callable {attr!r}")
    return factory


def resolve_timm(name: str) -> Callable[..., Any]:
    """A factory for the timm model ``name`` (imports timm to check that the name exists)."""
    import timm

    from memscope.errors import UnknownNameError

    if name.startswith(TIMM_PREFIX):
        name = name[len(TIMM_PREFIX):]
    if not timm.is_model(name):
        close = timm.list_models(f"*{name}*")[:10]
        hint = f"; similar: {', '.join(close)}" if close else "; see timm.list_models()"
        raise UnknownNameError(f"unknown timm model {name!r}{hint}")
    from memscope.models.timm_model import make_timm_model

    return functools.partial(make_timm_model, name)


__all__ = ["BUILTIN_MODELS", "TIMM_PREFIX", "LayerGroup", "load_factory", "resolve_timm"]
