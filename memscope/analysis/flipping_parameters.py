"""Neuron flipping's default candidates, as the authors define them: the model's parameters.

In the authors' code (``experiments/neuron_flipping/attribution_utils.py``,
``get_most_activated_node`` and ``modify_weights``) every named parameter is a candidate:

- a 4-D conv weight offers one candidate per output channel, scored by the sum over
  in-channels and kernel of ``w * dJ/dw``; the edit zeroes that filter (``conv_filter``);
- every other parameter offers one candidate per element, scored ``w * dJ/dw``; the edit
  zeroes that element: linear weight entries (``weight``), biases (``bias``), and a norm's
  gamma and beta (``norm_weight``, ``norm_bias``).

The flat candidate vector holds the parameters of the chosen layer groups in the model's
``named_parameters`` order (a conv's filters, then its bias, ...); ties go to the lowest index.

Per-target edits without copying the model. ``ParamMasks`` hooks each module that owns a
candidate and, for the ``T`` targets of a pass (laid out target-major), replaces exactly the
outputs an edit changes and leaves every other output bitwise as the module computed it:

- conv: a zeroed filter's output channel becomes its bias (or 0); a zeroed bias on a kept
  filter is recomputed without it;
- linear: an output unit with a zeroed entry or bias is recomputed per target from the
  module's input with the masked weight row (a batched matmul);
- norm (BatchNorm in eval mode with running statistics, GroupNorm, LayerNorm): an affected
  channel is ``xhat * gamma_t + beta_t``, ``xhat`` the normalized input.

The scores come from one backward pass to the modules' outputs (no weight gradient is
formed for a conv): with ``o`` a module's (edited) output and ``g = dJ/do`` per target,

- conv filter c: ``sum (o_c - b_c) * g_c`` over examples and positions (a conv is linear and
  homogeneous in its filter, so this is ``sum over the filter of w * dJ/dw``);
- linear weight: ``W * (g^T x)`` per target (the weight gradient of that target's rows);
- bias: ``b * sum g``; norm gamma: ``gamma * sum xhat * g``; norm beta: ``beta * sum g``.

Parameters outside these modules (a ViT's ``cls_token`` and ``pos_embed``, attention
weights inside ``nn.MultiheadAttention``, other conv or norm kinds) cannot be edited per
target this way; they are left out of the candidates and named in ``skipped``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memscope.analysis.flipping_engine import Edit, SiteHooks
from memscope.models.base import LayerGroup
from memscope.models.groups import owned_parameters

_CHANNEL_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)


@dataclass(eq=False)
class Block:
    """One candidate parameter: ``count`` candidates from ``offset`` in the flat vector."""

    layer_index: int
    layer: str
    name: str  # qualified parameter name, e.g. conv3.conv.weight
    kind: str  # conv_filter | weight | bias | norm_weight | norm_bias
    shape: tuple[int, ...]
    offset: int
    count: int


@dataclass(eq=False)
class ParamSite:
    """A module owning candidate parameters: its weight and/or bias blocks."""

    path: str
    module: nn.Module
    family: str  # conv | linear | norm
    weight: Block | None = None
    bias: Block | None = None

    @property
    def blocks(self) -> list[Block]:
        return [b for b in (self.weight, self.bias) if b is not None]

    @property
    def channels(self) -> int:
        """Candidates per target along the output's unit axis (C of ``(t, -1, C, rest)``)."""
        m = self.module
        if self.family == "conv":
            return int(m.out_channels)
        if self.family == "linear":
            return int(m.out_features)
        if isinstance(m, nn.LayerNorm):
            return int(np.prod(m.normalized_shape))
        return int(m.weight.shape[0] if m.weight is not None else m.bias.shape[0])

    def shaped(self, tensor: Tensor, t: int) -> Tensor:
        """``tensor`` (a module output or input) as ``(t, -1, C, rest)``: target, rows, units, positions."""
        c = self.channels
        if self.family == "conv" or isinstance(self.module, _CHANNEL_NORMS):  # channels on dim 1
            return tensor.reshape(t, -1, c, tensor[0, 0].numel())
        return tensor.reshape(t, -1, c, 1)  # units on the last dim(s)


def _family(module: nn.Module) -> str | None:
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "norm" if module.running_mean is not None else None  # batch statistics in eval: not per target
    if isinstance(module, (nn.GroupNorm, nn.LayerNorm)):
        return "norm"
    return None


def _kind(family: str, attr: str, param: Tensor) -> str | None:
    if attr not in ("weight", "bias"):
        return None
    if family == "norm":
        return f"norm_{attr}"
    if family == "conv" and attr == "weight":
        return "conv_filter" if param.dim() == 4 else None
    return attr


class ParameterCandidates:
    """The candidate parameters of the chosen layer groups (all when ``layers`` is empty)."""

    mode = "parameters"

    def __init__(self, model: nn.Module, groups: Sequence[LayerGroup], layers: Sequence[str] = ()):
        index_of = {g.name: i for i, g in enumerate(groups)}
        chosen = [g for g in groups if not layers or g.name in layers]
        self.blocks: list[Block] = []
        self.skipped: list[str] = []  # candidate-group parameters no module hook can edit per target
        sites: dict[str, ParamSite] = {}
        offset = 0
        for group, name, param in owned_parameters(model, chosen):
            path, _, attr = name.rpartition(".")
            module = model.get_submodule(path) if path else model
            family = _family(module) if path else None
            kind = _kind(family, attr, param) if family else None
            if kind is None:
                self.skipped.append(name)
                continue
            count = int(param.shape[0]) if kind == "conv_filter" else int(param.numel())
            block = Block(index_of[group.name], group.name, name, kind, tuple(param.shape), offset, count)
            offset += count
            self.blocks.append(block)
            site = sites.setdefault(path, ParamSite(path, module, family))
            setattr(site, attr, block)
        self.sites = list(sites.values())
        self.size = offset
        self._starts = [b.offset for b in self.blocks]

    def describe(self, index: int) -> Edit:
        block = self.blocks[bisect.bisect_right(self._starts, index) - 1]
        local = index - block.offset
        coords = (local,) if block.kind == "conv_filter" else tuple(int(c) for c in np.unravel_index(local, block.shape))
        path = block.name.rpartition(".")[0]
        return Edit(block.layer_index, block.layer, path, local, block.kind, block.name, coords)

    def layers(self) -> set[str]:
        return {b.layer for b in self.blocks}

    def masks(self) -> ParamMasks:
        return ParamMasks(self.sites)


@dataclass
class _Tracked:
    out: Tensor
    out_version: int
    extra: Tensor | None = None  # linear: the input x; norm: xhat
    extra_version: int = 0


class ParamMasks(SiteHooks):
    """Forward hooks that apply each target's zeroed parameters, and read the candidates' scores.

    The same interface as ``flipping_engine.UnitMasks``: ``set`` a ``(T, U)`` bool tensor of
    zeroed candidates before a forward of ``T`` targets' examples (target-major), ``scores``
    after a forward with ``track=True``, ``probe`` once to find outputs a later module
    changes in place (those are handed on as copies).
    """

    def __init__(self, sites: Sequence[ParamSite]):
        self.sites = list(sites)
        self.keep: list[dict[str, Tensor]] | None = None  # per site: block attr -> (T, count) 1 = kept
        self._zeroed: list[dict[str, Tensor]] = []  # per site: block attr -> (T, C) bool (whole filters/rows/channels affected)
        self._active: list[bool] = [False] * len(self.sites)
        self._copy: list[bool] = [False] * len(self.sites)
        self._copy_extra: list[bool] = [False] * len(self.sites)
        self._tracked: list[_Tracked | None] = [None] * len(self.sites)
        self.track = False
        self.targets = 0
        self._handles: list = []

    def clear(self) -> None:
        self.keep = None
        self.track = False
        self._tracked = [None] * len(self.sites)

    def set(self, zeroed: Tensor, dtype: torch.dtype, track: bool = False) -> None:
        """Apply a (T, U) bool tensor of zeroed candidates; ``track``: keep what ``scores`` needs."""
        t = zeroed.shape[0]
        any_zeroed = zeroed.any(0).cpu()  # one host transfer
        keep = (~zeroed).to(dtype)
        self.keep, self._zeroed, self._active = [], [], []
        for site in self.sites:
            masks: dict[str, Tensor] = {}
            affected: dict[str, Tensor] = {}
            active = False
            for attr in ("weight", "bias"):
                block = getattr(site, attr)
                if block is None:
                    continue
                sl = slice(block.offset, block.offset + block.count)
                masks[attr] = keep[:, sl]
                if bool(any_zeroed[sl].any()):
                    active = True
                    # per output unit: is anything of it zeroed (a linear row: any of its entries)
                    affected[attr] = zeroed[:, sl].reshape(t, site.channels, -1).any(2)
            self.keep.append(masks)
            self._zeroed.append(affected)
            self._active.append(active)
        self.track = track
        self.targets = t
        self._tracked = [None] * len(self.sites)

    # ------------------------------------------------------------------ the forward

    def _hook(self, i: int):
        site = self.sites[i]
        edit = {"conv": self._conv, "linear": self._linear, "norm": self._norm}[site.family]

        def hook(module: nn.Module, args, output: Tensor) -> Tensor | None:
            if self.keep is None:
                return None
            t = self.targets
            if output.shape[0] % t:
                raise RuntimeError(
                    f"neuron flipping: module {site.path!r} output {tuple(output.shape)} does not start with the "
                    f"batch dimension ({t} targets); its parameters cannot be edited per example"
                )
            x = args[0]
            extra = None
            if site.family == "norm" and self._active[i]:
                extra = _normalized(module, x)  # with its graph: an edited channel's gradient flows through it
            elif site.family == "norm" and self.track:
                with torch.no_grad():
                    extra = _normalized(module, x)  # for gamma's score only
            out = edit(i, site, x, output, extra) if self._active[i] else output
            if site.family == "linear":
                extra = x
            if self.track:
                extra = extra.detach() if extra is not None else None
                if extra is not None and self._copy_extra[i]:
                    extra = extra.clone()
                self._tracked[i] = _Tracked(out, out._version, extra, extra._version if extra is not None else 0)
                if self._copy[i]:  # a later module writes into what we return: hand it a copy
                    return out.clone()
            return None if out is output else out

        return hook

    def _conv(self, i: int, site: ParamSite, x: Tensor, output: Tensor, _extra) -> Tensor:
        t, m = self.targets, site.module
        shaped = site.shaped(output, t)
        zf = self._zeroed[i].get("weight")
        zb = self._zeroed[i].get("bias")
        if m.bias is None:
            new = shaped * self.keep[i]["weight"].view(t, 1, -1, 1) if zf is not None else shaped
            return new.view(output.shape)
        bias = self._bias(i, site, t)  # (t, 1, C, 1), zeroed entries 0
        new = shaped
        if zf is not None:  # a zeroed filter's output is its bias alone
            new = torch.where(zf.view(t, 1, -1, 1), bias, new)
        if zb is not None:
            redo = zb if zf is None else zb & ~zf
            if bool(redo.any()):
                raw = site.shaped(m._conv_forward(x, m.weight, None), t)
                new = torch.where(redo.view(t, 1, -1, 1), raw, new)
        return new.view(output.shape)

    def _linear(self, i: int, site: ParamSite, x: Tensor, output: Tensor, _extra) -> Tensor:
        t, m = self.targets, site.module
        keep = self.keep[i]
        weight = m.weight.unsqueeze(0)
        if "weight" in keep:
            weight = weight * keep["weight"].view(t, m.out_features, m.in_features)
        raw = torch.matmul(x.reshape(t, -1, m.in_features), weight.transpose(1, 2).expand(t, -1, -1))
        if m.bias is not None:
            raw = raw + self._bias(i, site, t).view(t, 1, -1)
        affected = None
        for z in self._zeroed[i].values():
            affected = z if affected is None else affected | z
        new = torch.where(affected.view(t, 1, -1), raw, output.reshape(t, -1, m.out_features))
        return new.view(output.shape)

    def _norm(self, i: int, site: ParamSite, _x: Tensor, output: Tensor, xhat: Tensor) -> Tensor:
        t, m = self.targets, site.module
        keep = self.keep[i]
        new = site.shaped(xhat, t)
        if m.weight is not None:
            gamma = m.weight.reshape(1, -1) * keep["weight"] if "weight" in keep else m.weight.reshape(1, -1)
            new = new * gamma.reshape(-1, 1, site.channels, 1)
        if m.bias is not None:
            beta = m.bias.reshape(1, -1) * keep["bias"] if "bias" in keep else m.bias.reshape(1, -1)
            new = new + beta.reshape(-1, 1, site.channels, 1)
        affected = None
        for z in self._zeroed[i].values():
            affected = z if affected is None else affected | z
        new = torch.where(affected.view(t, 1, -1, 1), new, site.shaped(output, t))
        return new.view(output.shape)

    def _bias(self, i: int, site: ParamSite, t: int) -> Tensor:
        """(t, 1, C, 1): the module's bias per target, zeroed entries 0."""
        bias = site.module.bias.reshape(1, -1)
        if "bias" in self.keep[i]:
            bias = bias * self.keep[i]["bias"]
        return bias.expand(t, -1).reshape(t, 1, -1, 1)

    # ------------------------------------------------------------------ probe and scores

    def _changed_in_place(self) -> tuple[list[int], list[int]]:
        outs, extras = [], []
        for i, k in enumerate(self._tracked):
            if k is None:
                continue
            if k.out._version != k.out_version:
                outs.append(i)
            if k.extra is not None and k.extra._version != k.extra_version:
                extras.append(i)
        return outs, extras

    def probe(self, model: nn.Module, example: Tensor) -> None:
        """Find the modules whose outputs (or inputs kept for scoring) a later module changes in place."""
        size = max((b.offset + b.count for s in self.sites for b in s.blocks), default=0)
        self.set(torch.zeros(1, size, dtype=torch.bool), example.dtype, track=True)
        try:
            with torch.no_grad():
                model(example.unsqueeze(0))
            outs, extras = self._changed_in_place()
            for i in outs:
                self._copy[i] = True
            for i in extras:
                self._copy_extra[i] = True
        finally:
            self.clear()

    def scores(self, j: Tensor, targets: int) -> Tensor:
        """(T, U): each candidate's ``w * dJ/dw`` (a filter's sum) for every target, from the last forward."""
        outs, extras = self._changed_in_place()
        if outs or extras:
            path = self.sites[(outs or extras)[0]].path
            raise RuntimeError(f"neuron flipping: a tensor of {path!r} was changed in place after its hook ran (probe the model first)")
        size = max((b.offset + b.count for s in self.sites for b in s.blocks), default=0)
        out = torch.zeros(targets, size, dtype=j.dtype, device=j.device)
        kept = [(i, k) for i, k in enumerate(self._tracked) if k is not None and k.out.requires_grad]
        grads = torch.autograd.grad(j, [k.out for _, k in kept], allow_unused=True) if kept else ()
        for (i, k), g in zip(kept, grads):
            if g is not None:
                self._score_site(i, k, g, out, targets)
        return out

    def _score_site(self, i: int, k: _Tracked, g: Tensor, out: Tensor, t: int) -> None:
        site = self.sites[i]
        m = site.module
        gs = site.shaped(g, t)  # (t, rows, C, positions)
        w, b = site.weight, site.bias
        if b is not None:
            out[:, b.offset : b.offset + b.count] = m.bias.detach().reshape(1, -1) * gs.sum((1, 3))
        if w is None:
            return
        sl = slice(w.offset, w.offset + w.count)
        if site.family == "conv":
            o = site.shaped(k.out.detach(), t)
            if m.bias is not None:
                o = o - self._bias(i, site, t)
            out[:, sl] = (o * gs).sum((1, 3))
        elif site.family == "linear":
            x = k.extra.reshape(t, -1, m.in_features)
            grad_w = torch.bmm(gs.squeeze(3).transpose(1, 2), x)  # (t, out, in): this target's weight gradient
            out[:, sl] = (m.weight.detach().unsqueeze(0) * grad_w).reshape(t, -1)
        else:
            out[:, sl] = m.weight.detach().reshape(1, -1) * (site.shaped(k.extra, t) * gs).sum((1, 3))


def _normalized(module: nn.Module, x: Tensor) -> Tensor:
    """The norm's input normalized, without its affine parameters (eval mode for BatchNorm)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return F.batch_norm(x, module.running_mean, module.running_var, None, None, False, 0.0, module.eps)
    if isinstance(module, nn.GroupNorm):
        return F.group_norm(x, module.num_groups, None, None, module.eps)
    return F.layer_norm(x, module.normalized_shape, None, None, module.eps)
