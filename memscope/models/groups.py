"""Torch-side helpers over a model's layer groups: parameters, neuron sites, checks."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from memscope.errors import MemscopeError
from memscope.models.base import LayerGroup

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


def layer_groups(model: nn.Module) -> list[LayerGroup]:
    """The model's ordered layer groups, with a clear error for a model that has none."""
    fn = getattr(model, "layer_groups", None)
    if not callable(fn):
        raise ValueError(f"{type(model).__name__} has no layer_groups() method")
    return list(fn())


def _owns(group: LayerGroup, name: str) -> bool:
    return name in group.parameters or any(name.startswith(p + ".") for p in group.modules)


def group_parameters(model: nn.Module, group: LayerGroup) -> list[tuple[str, nn.Parameter]]:
    """The group's parameters with qualified names, in the model's parameter order."""
    return [(n, p) for n, p in model.named_parameters() if _owns(group, n)]


def load_group_state(pairs: list[tuple[str, nn.Parameter]], state: dict, where: str) -> None:
    """Copy a checkpoint's values into a group's ``(qualified name, parameter)`` pairs;
    ``where`` names the checkpoint in the error when one is missing."""
    with torch.no_grad():
        for qualified, p in pairs:
            if qualified not in state:
                raise MemscopeError(f"{where} has no parameter '{qualified}'")
            p.copy_(state[qualified])


def parameter_groups(model: nn.Module) -> dict[str, str]:
    """Map every parameter's qualified name to its group's name (after check_layer_groups)."""
    out: dict[str, str] = {}
    groups = layer_groups(model)
    for name, _ in model.named_parameters():
        for g in groups:
            if _owns(g, name):
                out[name] = g.name
                break
    return out


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def units_of(module: nn.Module) -> int:
    """Output channels of a Conv2d, output units of a Linear."""
    if isinstance(module, nn.Conv2d):
        return int(module.out_channels)
    if isinstance(module, nn.Linear):
        return int(module.out_features)
    raise TypeError(f"{type(module).__name__} is not a Conv2d or Linear neuron module")


def neuron_sites(model: nn.Module, groups: list[LayerGroup] | None = None) -> list[tuple[LayerGroup, str, nn.Module, int]]:
    """(group, path, module, units) for every neuron module of every group (the model's, or
    ``groups`` when given), in order."""
    sites = []
    for g in layer_groups(model) if groups is None else groups:
        for path in g.neuron_modules:
            module = model.get_submodule(path)
            sites.append((g, path, module, units_of(module)))
    return sites


def _width_of(module: nn.Module) -> int | None:
    """The output width of a module whose width is knowable without a forward pass."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        return units_of(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return int(module.num_features)
    if isinstance(module, nn.GroupNorm):
        return int(module.num_channels)
    if isinstance(module, nn.LayerNorm):
        return int(module.normalized_shape[-1])
    return None


def _submodule(model: nn.Module, group: LayerGroup, path: str, role: str) -> nn.Module:
    try:
        return model.get_submodule(path)
    except AttributeError:
        msg = f"layer group {group.name!r}: {role} {path!r} is not a module of the model"
        raise ValueError(msg) from None


def check_layer_groups(model: nn.Module, example_input: torch.Tensor | None = None) -> None:
    """Raise ValueError unless the model's groups are consistent with the model.

    Checks: unique names; every path exists; every parameter is in exactly one group; neuron
    modules are Conv2d (kind "conv") or Linear (kind "linear") whose weights the group owns;
    num_neurons matches output_module where its width is static. With ``example_input``, also
    runs one eval-mode forward and checks the output and neuron-module activations' widths.
    """
    groups = layer_groups(model)
    if not groups:
        raise ValueError(f"{type(model).__name__} declares no layer groups")
    names = [g.name for g in groups]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"layer group names are not unique: {dupes}")

    params = dict(model.named_parameters())
    for g in groups:
        for path in g.modules:
            _submodule(model, g, path, "module")
        for pname in g.parameters:
            if pname not in params:
                raise ValueError(f"layer group {g.name!r}: parameter {pname!r} is not in the model")
        out = _submodule(model, g, g.output_module, "output_module")
        width = _width_of(out)
        if width is not None and width != g.num_neurons:
            raise ValueError(
                f"layer group {g.name!r}: num_neurons={g.num_neurons} but output_module "
                f"{g.output_module!r} has width {width}"
            )
        want = nn.Conv2d if g.kind == "conv" else nn.Linear
        for path in g.neuron_modules:
            m = _submodule(model, g, path, "neuron module")
            if not isinstance(m, want):
                raise ValueError(
                    f"layer group {g.name!r} of kind {g.kind!r}: neuron module {path!r} is a "
                    f"{type(m).__name__}, expected {want.__name__}"
                )
            if not _owns(g, f"{path}.weight"):
                raise ValueError(
                    f"layer group {g.name!r}: neuron module {path!r} is not among its parameters"
                )

    owners: dict[str, list[str]] = {n: [] for n in params}
    for g in groups:
        for n in params:
            if _owns(g, n):
                owners[n].append(g.name)
    orphans = [n for n, o in owners.items() if not o]
    if orphans:
        raise ValueError(f"parameters in no layer group: {orphans[:10]}{' ...' if len(orphans) > 10 else ''}")
    doubles = {n: o for n, o in owners.items() if len(o) > 1}
    if doubles:
        raise ValueError(f"parameters in more than one layer group: {dict(list(doubles.items())[:10])}")

    if example_input is not None:
        _check_activations(model, groups, example_input)


def _check_activations(model: nn.Module, groups: list[LayerGroup], x: torch.Tensor) -> None:
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()

    def hook_for(g: LayerGroup, path: str, width: int, role: str):
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            seen.add((g.name, path))
            if not isinstance(output, torch.Tensor):
                problems.append(f"{g.name}: {role} {path!r} returned {type(output).__name__}, not a tensor")
                return
            dim = 1 if g.kind == "conv" else -1
            if output.dim() < 2 or output.shape[dim] != width:
                problems.append(
                    f"{g.name}: {role} {path!r} output {tuple(output.shape)} has not {width} "
                    f"{'channels on dim 1' if g.kind == 'conv' else 'units on the last dim'}"
                )

        return hook

    handles = []
    expected: set[tuple[str, str]] = set()
    for g in groups:
        handles.append(
            model.get_submodule(g.output_module).register_forward_hook(
                hook_for(g, g.output_module, g.num_neurons, "output_module")
            )
        )
        expected.add((g.name, g.output_module))
        for path in g.neuron_modules:
            m = model.get_submodule(path)
            handles.append(m.register_forward_hook(hook_for(g, path, units_of(m), "neuron module")))
            expected.add((g.name, path))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    for g_name, path in sorted(expected - seen):
        problems.append(f"{g_name}: module {path!r} was never called in the forward pass")
    if problems:
        raise ValueError("layer groups do not match the activations: " + "; ".join(problems))


class FixedLayerGroups:
    """A picklable ``layer_groups`` callable to attach to a model instance (e.g. a timm model)."""

    def __init__(self, groups: list[LayerGroup]):
        self.groups = tuple(groups)

    def __call__(self) -> list[LayerGroup]:
        return list(self.groups)


def owned_parameters(model: nn.Module, groups: list[LayerGroup]) -> list[tuple[LayerGroup, str, nn.Parameter]]:
    """(group, qualified name, parameter) for every parameter of ``groups``, in the model's
    parameter order (not the groups' order)."""
    out = []
    for name, p in model.named_parameters():
        owner = next((g for g in groups if _owns(g, name)), None)
        if owner is not None:
            out.append((owner, name, p))
    return out
