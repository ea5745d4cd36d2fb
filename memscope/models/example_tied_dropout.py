"""Example-tied dropout masks (Maini et al. section 5), computed on the device per batch.

In each chosen layer group's output, the first ``floor(p_gen * C)`` channels are
generalization channels (always on); example ``i`` keeps each remaining (memorization)
channel ``c`` with probability ``p_mem``, decided by a counter-based hash of
``(seed, i, c)``. That makes the mask a pure function of the example id: no per-example
Python loop, no N x C x H x W table, identical on every device and after a resume.
"""

from __future__ import annotations

import math
from contextlib import contextmanager, nullcontext
from typing import Iterator

import torch

from memscope.models.base import LayerGroup

MASK32 = 0xFFFFFFFF
MODES = ("train", "kept", "dropped", "off")


def _mix32(x):
    """A 32-bit integer finalizer (xor-shift-multiply), on int64 tensors holding [0, 2^32) or on
    Python ints (the same arithmetic; the seed mixes on the host)."""
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & MASK32
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & MASK32
    return x ^ (x >> 16)


def keep_hashes(seed: int, example_ids: torch.Tensor, num_channels: int, salt: int = 0) -> torch.Tensor:
    """(B, num_channels) int64 hashes in [0, 2^32), a pure function of (seed, example id, channel, salt)."""
    ids = example_ids.to(torch.int64).reshape(-1, 1) & MASK32
    channels = torch.arange(num_channels, device=example_ids.device, dtype=torch.int64).reshape(1, -1)
    # The seed and salt mix on the host: no per-call host-to-device copy of a scalar.
    base = _mix32(ids ^ _mix32((seed * 0x9E3779B1 + salt * 0x85EBCA6B) & MASK32))
    return _mix32((base + channels * 0x27D4EB2F) & MASK32)


def keep_uniforms(seed: int, example_ids: torch.Tensor, num_channels: int, salt: int = 0) -> torch.Tensor:
    """(B, num_channels) uniforms in [0, 1), a pure function of (seed, example id, channel, salt)."""
    return keep_hashes(seed, example_ids, num_channels, salt).to(torch.float64) / float(1 << 32)


def keep_threshold(p_mem: float) -> int:
    """The integer ``t`` with ``hash < t`` exactly when ``hash / 2^32 < p_mem`` (no float64 on the device)."""
    return math.ceil(p_mem * (1 << 32))


class ExampleTiedDropout:
    """Forward hooks that multiply chosen groups' outputs by per-example channel masks."""

    def __init__(self, model: torch.nn.Module, groups: list[LayerGroup], seed: int, p_gen: float, p_mem: float, dropped_scale: float = 0.0):
        self.groups = groups
        self.seed = seed
        self.p_gen = p_gen
        self.p_mem = p_mem
        self.dropped_scale = dropped_scale or (p_gen + p_mem) / p_gen
        self.mode = "train"
        self.example_ids: torch.Tensor | None = None
        self._handles = []
        for salt, group in enumerate(groups):
            module = model.get_submodule(group.output_module)
            self._handles.append(module.register_forward_hook(self._hook(group, salt)))

    def generalization_channels(self, group: LayerGroup) -> int:
        return math.floor(self.p_gen * group.num_neurons)

    def channel_mask(self, group: LayerGroup, salt: int, batch: int, device: torch.device) -> torch.Tensor:
        """(B or 1, C) multiplier for the current mode."""
        c = group.num_neurons
        n_gen = self.generalization_channels(group)
        is_gen = torch.arange(c, device=device) < n_gen
        if self.mode == "kept":
            return torch.where(is_gen, 1.0, self.p_mem).reshape(1, c)
        if self.mode == "dropped":
            return torch.where(is_gen, self.dropped_scale, 0.0).reshape(1, c)
        if self.example_ids is None or self.example_ids.numel() != batch:
            raise RuntimeError("example-tied dropout in train mode needs the batch's example ids (use .batch(ids))")
        keep = keep_hashes(self.seed, self.example_ids.to(device), c, salt) < keep_threshold(self.p_mem)
        return (keep | is_gen.reshape(1, c)).to(torch.float32)

    def _hook(self, group: LayerGroup, salt: int):
        def hook(module, inputs, output):
            if self.mode == "off":
                return output
            mask = self.channel_mask(group, salt, output.shape[0], output.device).to(output.dtype)
            if group.kind == "conv":  # (B, C, H, W)
                return output * mask.reshape(mask.shape[0], -1, *([1] * (output.dim() - 2)))
            # linear: units on the last dim, (B, C) or tokens (B, T, C)
            return output * mask.reshape(mask.shape[0], *([1] * (output.dim() - 2)), -1)

        return hook

    @contextmanager
    def batch(self, example_ids: torch.Tensor) -> Iterator[None]:
        self.example_ids = example_ids
        try:
            yield
        finally:
            self.example_ids = None

    @contextmanager
    def use_mode(self, mode: str) -> Iterator[None]:
        if mode not in MODES:
            raise ValueError(f"unknown example-tied dropout mode {mode!r}; one of {MODES}")
        previous, self.mode = self.mode, mode
        try:
            yield
        finally:
            self.mode = previous

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def kept_mode(etd: "ExampleTiedDropout | None"):
    """The network every evaluation reads: example-tied dropout's "kept" mode (every channel
    on, memorization channels scaled by p_mem) when the model has ETD hooks, else a no-op."""
    return etd.use_mode("kept") if etd is not None else nullcontext()


def default_etd_groups(groups: list[LayerGroup], model: torch.nn.Module | None = None) -> list[LayerGroup]:
    """The layer groups example-tied dropout masks when ``etd.layers`` is empty.

    A model that declares ``etd_layers()`` (group names) gets those: the places the authors'
    code puts its dropout module (``memscope.models.resnet9``, ``memscope.models.resnet50``
    cite where). Any other model (the CPU CNN and MLP, the ViT and timm models, for which the
    authors' code has no example-tied dropout) gets the two groups around the middle of the
    network, the classifier left out.
    """
    declared = getattr(model, "etd_layers", None)
    if callable(declared):
        by_name = {g.name: g for g in groups}
        return [by_name[name] for name in declared() if name in by_name]
    hidden = [g for g in groups[:-1]] or groups
    mid = len(hidden) // 2
    return hidden[max(mid - 1, 0) : mid + 1]
