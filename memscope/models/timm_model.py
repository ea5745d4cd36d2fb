"""Any timm model by name (never pretrained), with layer groups derived automatically."""

from __future__ import annotations

import re
from typing import Any

from torch import nn

from memscope.models.base import LayerGroup
from memscope.models.groups import _NORMS, FixedLayerGroups, units_of


def _is_norm(m: nn.Module) -> bool:
    # Class-name fallback catches timm's own norms (RmsNorm, ...) that subclass nn.Module.
    return isinstance(m, _NORMS) or "norm" in type(m).__name__.lower()


def _has_direct_params(m: nn.Module) -> bool:
    return next(m.parameters(recurse=False), None) is not None


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + ".")


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def _group_name(path: str, taken: set[str]) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "root"
    if not name[0].isalpha():
        name = "m_" + name
    base, k = name, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def derive_layer_groups(model: nn.Module) -> list[LayerGroup]:
    """One group per Conv2d/Linear (with a directly following sibling norm), in registration order.

    "Directly following" means the next module holding parameters, under the same parent; so
    conv-BN pairs join but a pre-norm transformer's next-block LayerNorm does not. Parameters
    left over (cls tokens, position embeddings, lone norms, layer scales) go to the nearest
    preceding group, or to the first group when none precedes them.
    """
    mods = list(model.named_modules())
    anchors: list[dict[str, Any]] = []
    claimed: set[str] = set()  # paths whose whole subtree belongs to some group

    def is_claimed(path: str) -> bool:
        parts = path.split(".")
        return any(".".join(parts[:k]) in claimed for k in range(1, len(parts) + 1))

    for i, (path, m) in enumerate(mods):
        if not path or is_claimed(path) or not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        g = {"path": path, "index": i, "modules": [path], "params": [], "output": path,
             "kind": "conv" if isinstance(m, nn.Conv2d) else "linear", "units": units_of(m)}
        claimed.add(path)
        nxt = next(((p, n) for p, n in mods[i + 1:] if not _under(p, path) and _has_direct_params(n)), None)
        joins = nxt is not None and _is_norm(nxt[1]) and _parent(nxt[0]) == _parent(path)
        if joins and not is_claimed(nxt[0]):
            g["modules"].append(nxt[0])
            g["output"] = nxt[0]
            claimed.add(nxt[0])
        anchors.append(g)
    if not anchors:
        raise ValueError(f"{type(model).__name__} has no Conv2d or Linear module to group")

    for i, (path, m) in enumerate(mods):
        if (path and is_claimed(path)) or not _has_direct_params(m):
            continue
        before = [g for g in anchors if g["index"] < i]
        g = before[-1] if before else anchors[0]
        if path and not any(c.startswith(path + ".") for c in claimed):
            g["modules"].append(path)  # nothing inside is grouped elsewhere: take the subtree
            claimed.add(path)
        else:
            prefix = path + "." if path else ""
            g["params"].extend(prefix + n for n, _ in m.named_parameters(recurse=False))

    taken: set[str] = set()
    return [
        LayerGroup(_group_name(g["path"], taken), tuple(g["modules"]), (g["path"],), g["output"], g["kind"],
                   g["units"], parameters=tuple(g["params"]))
        for g in anchors
    ]


def make_timm_model(
    timm_name: str,
    num_classes: int,
    in_channels: int,
    image_size: int,
    width: float = 1.0,
    **options: Any,
) -> nn.Module:
    """``timm.create_model(timm_name, pretrained=False, ...)`` with ``layer_groups()`` attached.

    ``img_size=image_size`` is passed when the model accepts it (ViTs and the like) unless
    ``options`` sets it; other options go to timm (an unknown one raises timm's TypeError).
    """
    import timm

    if width != 1.0:
        raise ValueError(f"timm:{timm_name}: width {width} is not supported (only 1.0)")
    if "pretrained" in options:
        raise ValueError(f"timm:{timm_name}: memscope never loads pretrained weights; drop 'pretrained'")
    kwargs = dict(num_classes=num_classes, in_chans=in_channels, **options)
    if "img_size" in options:
        model = timm.create_model(timm_name, pretrained=False, **kwargs)
    else:
        try:
            model = timm.create_model(timm_name, pretrained=False, img_size=image_size, **kwargs)
        except TypeError as exc:
            if "img_size" not in str(exc):
                raise
            model = timm.create_model(timm_name, pretrained=False, **kwargs)
    # An instance attribute keeps timm's class and state_dict keys untouched.
    model.layer_groups = FixedLayerGroups(derive_layer_groups(model))
    return model
