"""Neuron flipping, batched: many targets in one forward pass through per-target channel masks.

The algorithm (docs: ALGORITHMS.md, "Neuron flipping") for a target training example ``i``
with observed label ``y_i``, in eval mode, on the final weights:

1. ``R``: ``B`` other training examples, a fresh seeded draw per target (``draw_target``).
   The batch is ``[i, *R]`` (the target first).
2. ``copies`` noisy copies of that batch, each with Gaussian noise whose L2 norm is
   ``noise_scale * ||batch||`` (per copy); the robust logits are the mean of the copies'
   logits (``copies = 0``: the plain logits of the clean batch). ``R`` and the noise are drawn
   once per target and reused at every step, so a target's search is a deterministic function
   of (run seed, example id).
3. Stop when ``argmax`` of ``i``'s robust logits differs from ``y_i``. The number of units
   zeroed so far is ``neurons_to_flip`` (0 when ``i`` is already misclassified).
4. ``J = mean over R of loss_j - loss_i``, cross-entropy against the observed labels, computed
   from the *robust* (copy-averaged) logits, the same logits the stop test reads. Each
   candidate unit's score is ``sum over its parameters of p * dJ/dp``: for a conv, an output
   channel's filter (in-channels x kernel); for a linear, an output unit's row; plus the
   unit's bias when the module has one (so that the score is the first-order estimate of
   exactly the edit that is made: zeroing the unit's weights *and* bias, i.e. its output).
   The unit with the highest score is zeroed, if that score is positive (units already zeroed
   are excluded; exact ties go to the lowest candidate index: groups in model order, a group's
   neuron modules in declared order, units in order). No positive score left: the search
   stops, not flipped. At most ``max_neurons`` units; not flipped by then: not flipped.

Batching. A target's edit is a set of zeroed output units. Instead of editing weights, each
neuron module gets a forward hook that multiplies its output by a per-target mask (1 = kept,
0 = zeroed), broadcast over that target's examples. Zeroing a unit's output is the same as
zeroing its weights and bias (a conv before BatchNorm included: the BN shift still applies,
exactly as after zeroing the filter). And at mask = 1, with ``o_u`` the unit's output,

    dJ/dm_u = sum over examples and positions of o_u * dJ/do_u
            = sum over the unit's weights of w * dJ/dw  (+ b * dJ/db with a bias),

because ``o_u`` is linear in ``(w_u, b_u)`` and homogeneous of degree one. So one backward
pass to the masks scores every candidate unit of every target at once, and never computes a
weight gradient. The forward of ``T`` targets is one batch of ``T x copies x (B + 1)``
examples, chunked by ``chunk_examples`` (whole targets per chunk; 0 = as many examples as
fit their activations, times 3 for the backward, in 40% of the free CUDA memory or in 256 MiB
on other devices, measured by a probe forward); targets that finish leave the pool and
waiting targets take their place.

Memory: the pool holds ``batch_targets x copies x (B + 1)`` input examples on the device.
The model is never modified: hooks are removed afterwards and no parameter is written.
Runs in the model's dtype without autocast (fp32 for a run's model).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memscope.models.base import LayerGroup
from memscope.models.groups import units_of


@dataclass(eq=False)
class Site:
    """One neuron module: a block of candidate units."""

    layer_index: int  # index of its layer group in the model's groups
    layer: str  # the group's name
    path: str  # module path
    module: nn.Module
    units: int
    group_offset: int  # index of its first unit among its group's units (several neuron modules per group)
    offset: int  # index of its first unit in the concatenated candidate vector

    @property
    def is_conv(self) -> bool:
        return isinstance(self.module, nn.Conv2d)


def candidate_sites(model: nn.Module, groups: Sequence[LayerGroup], layers: Sequence[str] = ()) -> list[Site]:
    """The neuron modules of the chosen groups (all when ``layers`` is empty), in model order."""
    chosen = set(layers) if layers else None
    sites: list[Site] = []
    offset = 0
    for index, group in enumerate(groups):
        if chosen is not None and group.name not in chosen:
            continue
        group_offset = 0
        for path in group.neuron_modules:
            module = model.get_submodule(path)
            units = units_of(module)
            sites.append(Site(index, group.name, path, module, units, group_offset, offset))
            group_offset += units
            offset += units
    return sites


@dataclass(frozen=True)
class FlipSettings:
    reference_batch: int = 512
    noise_copies: int = 5
    noise_scale: float = 0.01
    max_neurons: int = 200
    batch_targets: int = 64
    chunk_examples: int = 0  # 0 = automatic (auto_chunk_examples)
    reference_stream: str = "flip_reference"


CPU_BUDGET = 256 << 20  # bytes of activations per forward+backward on the CPU (and MPS): cache-friendly chunks
GPU_SHARE = 0.4  # share of the free CUDA memory for one forward+backward
BACKWARD_FACTOR = 3  # saved tensors, masked copies and their gradients, per activation byte


def activation_bytes(model: nn.Module, example: Tensor) -> int:
    """Bytes of module outputs one example produces in a forward pass (a probe on 2 examples)."""
    total = [0]

    def count(_module, _inputs, output) -> None:
        if isinstance(output, Tensor):
            total[0] += output.numel() * output.element_size()

    handles = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(example.unsqueeze(0).expand(2, *example.shape))
    finally:
        for h in handles:
            h.remove()
    return max(1, total[0] // 2)


def auto_chunk_examples(model: nn.Module, example: Tensor) -> int:
    """How many examples one forward+backward may hold: a share of free GPU memory, or CPU_BUDGET."""
    budget = CPU_BUDGET
    if example.device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(example.device)
        budget = int(free * GPU_SHARE)
    return max(1, budget // (BACKWARD_FACTOR * activation_bytes(model, example)))


GeneratorFactory = Callable[..., torch.Generator]  # (stream name, *ints) -> CPU generator, e.g. ctx.torch_generator


def draw_target(
    make_generator: GeneratorFactory, stream: str, example_id: int, position: int, x_train: Tensor,
    reference_batch: int, copies: int, noise_scale: float,
) -> tuple[Tensor, Tensor]:
    """A target's batch positions ``[position, *R]`` and its inputs ``(max(copies, 1), B + 1, ...)``.

    Drawn on the CPU from the generator ``make_generator(stream, example_id)``: first
    ``R = randperm(N - 1)[:B]`` shifted past ``position`` (so the target is never in R;
    ``B`` is capped at ``N - 1``), then ``randn(copies, B + 1, ...)`` in ``x_train``'s dtype,
    each copy rescaled to L2 norm ``noise_scale * ||x_batch||``.
    """
    n = int(x_train.shape[0])
    g = make_generator(stream, int(example_id))
    b = min(int(reference_batch), n - 1)
    perm = torch.randperm(n - 1, generator=g)[:b]
    others = perm + (perm >= position).to(perm.dtype)
    batch = torch.cat([torch.tensor([position], dtype=torch.long), others])
    x = x_train[batch.to(x_train.device)]
    if copies <= 0:
        return batch, x.unsqueeze(0)
    noise = torch.randn((copies, *x.shape), generator=g, dtype=x.dtype).to(x.device)
    scale = noise_scale * torch.linalg.vector_norm(x) / torch.linalg.vector_norm(noise.flatten(1), dim=1)
    return batch, x.unsqueeze(0) + noise * scale.view(-1, *([1] * x.dim()))


def robust_logits(logits: Tensor, targets: int, copies: int, batch: int) -> Tensor:
    """(targets, B + 1, K): the copies' mean of logits laid out (targets x copies x batch, K)."""
    return logits.view(targets, max(copies, 1), batch, -1).mean(1)


def objective(avg_logits: Tensor, labels: Tensor) -> Tensor:
    """Per target: mean over the reference examples of their loss, minus the target's loss.

    ``avg_logits`` (T, B + 1, K) with the target at position 0; ``labels`` (T, B + 1).
    """
    t, b1, k = avg_logits.shape
    loss = F.cross_entropy(avg_logits.reshape(-1, k), labels.reshape(-1), reduction="none").view(t, b1)
    if b1 == 1:
        return -loss[:, 0]
    return loss[:, 1:].mean(1) - loss[:, 0]


class UnitMasks:
    """Forward hooks that multiply each site's output by a per-target mask.

    Set ``masks`` to one ``(T, units)`` tensor per site before a forward of ``T`` targets'
    examples laid out target-major (each target's examples contiguous, the same count for
    every target); ``None`` leaves the outputs alone.
    """

    def __init__(self, sites: Sequence[Site]):
        self.sites = list(sites)
        self.masks: list[Tensor] | None = None
        self._handles: list = []

    def __enter__(self) -> UnitMasks:
        for i, site in enumerate(self.sites):
            self._handles.append(site.module.register_forward_hook(self._hook(i)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.masks = None

    def _hook(self, i: int):
        site = self.sites[i]

        def hook(_module: nn.Module, _inputs, output: Tensor) -> Tensor | None:
            if self.masks is None:
                return None
            mask = self.masks[i].to(output.dtype)
            t = mask.shape[0]
            if output.shape[0] % t:
                raise RuntimeError(
                    f"neuron flipping: module {site.path!r} output {tuple(output.shape)} does not start with the "
                    f"batch dimension ({t} targets); its units cannot be masked per example"
                )
            if site.is_conv:  # (N, C, H, W): channels on dim 1
                shaped = output.reshape(t, -1, site.units, output[0, 0].numel())
                return (shaped * mask.view(t, 1, site.units, 1)).view(output.shape)
            shaped = output.reshape(t, -1, site.units)  # (N, ..., units): units on the last dim
            return (shaped * mask.view(t, 1, site.units)).view(output.shape)

        return hook

    def set(self, zeroed: Tensor, dtype: torch.dtype, requires_grad: bool = False) -> list[Tensor]:
        """Masks from a (T, U) bool tensor of zeroed units; returns them (leaves when requires_grad)."""
        keep = (~zeroed).to(dtype)
        self.masks = [keep[:, s.offset : s.offset + s.units].clone().requires_grad_(requires_grad) for s in self.sites]
        return self.masks


@dataclass
class FlipResult:
    position: int
    example: int
    flipped: bool = False
    neurons_to_flip: int | None = None
    new_pred: int = -1
    steps: list[tuple[int, int, float]] = field(default_factory=list)  # (site index, unit in site, score)
    stop_reason: str = ""  # flipped | cap | no_positive_score
    correct: dict[str, int] = field(default_factory=dict)  # collateral: correct count per eval split


@dataclass(eq=False)
class _Target:
    result: FlipResult
    labels: Tensor  # (B + 1,) observed labels of the batch
    inputs: Tensor  # (copies or 1, B + 1, ...)
    zeroed: Tensor  # (U,) bool, on the CPU (one copy to the device per step, not one write per unit)
    done: bool = False


class FlipEngine:
    """Runs neuron flipping for many targets on one model (left as it was found)."""

    def __init__(
        self,
        model: nn.Module,
        sites: Sequence[Site],
        x_train: Tensor,
        y_train: Tensor,
        settings: FlipSettings,
        make_generator: GeneratorFactory,
        eval_sets: dict[str, tuple[Tensor, Tensor]] | None = None,
        progress: Callable[[str], None] | None = None,
        progress_every_s: float = 10.0,
    ):
        if not sites:
            raise ValueError("neuron flipping: no candidate units (the chosen layers have no neuron modules)")
        self.model = model
        self.sites = list(sites)
        self.num_units = sum(s.units for s in self.sites)
        self.x_train = x_train
        self.y_train = y_train
        self.settings = settings
        self.make_generator = make_generator
        self.eval_sets = dict(eval_sets or {})
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.device = x_train.device
        self.dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), x_train.dtype)
        self.copies = max(settings.noise_copies, 0)
        self.batch = min(settings.reference_batch, int(x_train.shape[0]) - 1) + 1  # B + 1
        self.forwards = 0  # forward passes run (for benchmarks)
        self.chunk_examples = settings.chunk_examples

    # ------------------------------------------------------------------ public

    def run(self, positions: Sequence[int], example_ids: Sequence[int]) -> list[FlipResult]:
        """Flip every target; results in the order of ``positions``."""
        if len(positions) != len(example_ids):
            raise ValueError("positions and example_ids differ in length")
        s = self.settings
        pending = deque(range(len(positions)))
        results: list[FlipResult | None] = [None] * len(positions)
        active: list[tuple[int, _Target]] = []
        started = last_report = time.perf_counter()
        done_count = 0
        was_training = self.model.training
        self.model.eval()
        try:
            if self.chunk_examples <= 0 and len(positions):
                self.chunk_examples = auto_chunk_examples(self.model, self.x_train[0].to(self.dtype))
            per_chunk = max(1, self.chunk_examples // (max(self.copies, 1) * self.batch))
            with UnitMasks(self.sites) as masks:
                while pending or active:
                    while len(active) < s.batch_targets and pending:
                        k = pending.popleft()
                        active.append((k, self._start(int(positions[k]), int(example_ids[k]))))
                    for start in range(0, len(active), per_chunk):
                        self._step(masks, [t for _, t in active[start : start + per_chunk]])
                    finished = [(k, t) for k, t in active if t.done]
                    active = [(k, t) for k, t in active if not t.done]
                    self._evaluate(masks, [t for _, t in finished])
                    for k, t in finished:
                        results[k] = t.result
                    done_count += len(finished)
                    now = time.perf_counter()
                    if self.progress is not None and finished and (now - last_report >= self.progress_every_s or not (pending or active)):
                        last_report = now
                        self.progress(f"{done_count}/{len(positions)} targets done ({now - started:.0f}s)")
        finally:
            self.model.train(was_training)
        return [r for r in results if r is not None]

    def site_unit(self, site_index: int, unit: int) -> tuple[int, str, int]:
        """(layer_index, layer, unit within the layer group) of a step's unit."""
        site = self.sites[site_index]
        return site.layer_index, site.layer, site.group_offset + unit

    # ------------------------------------------------------------------ steps

    def _start(self, position: int, example: int) -> _Target:
        s = self.settings
        batch, inputs = draw_target(
            self.make_generator, s.reference_stream, example, position, self.x_train,
            s.reference_batch, self.copies, s.noise_scale,
        )
        return _Target(
            FlipResult(position, example),
            labels=self.y_train[batch.to(self.y_train.device)].to(self.device),
            inputs=inputs.to(self.dtype),
            zeroed=torch.zeros(self.num_units, dtype=torch.bool),
        )

    def _locate(self, flat: int) -> tuple[int, int]:
        for i, site in enumerate(self.sites):
            if flat < site.offset + site.units:
                return i, flat - site.offset
        raise IndexError(flat)

    def _step(self, masks: UnitMasks, chunk: list[_Target]) -> None:
        """One forward (and, for targets still going, one backward) for a chunk of targets."""
        t = len(chunk)
        x = torch.stack([tg.inputs for tg in chunk])
        x = x.view(-1, *x.shape[3:])
        labels = torch.stack([tg.labels for tg in chunk])
        zeroed = torch.stack([tg.zeroed for tg in chunk]).to(self.device)
        cap = self.settings.max_neurons
        with torch.enable_grad():
            leaves = masks.set(zeroed, self.dtype, requires_grad=True)
            avg = robust_logits(self.model(x), t, self.copies, self.batch)
            self.forwards += 1
            pred = avg[:, 0].argmax(-1)
            flipped = pred != labels[:, 0]
            n_steps = torch.tensor([len(tg.result.steps) for tg in chunk], device=self.device)
            going = ~flipped & (n_steps < cap)
            best = torch.full((t,), -torch.inf, dtype=self.dtype, device=self.device)
            index = torch.zeros(t, dtype=torch.long, device=self.device)
            if bool(going.any()):
                j = objective(avg, labels)
                grads = torch.autograd.grad(j[going].sum(), leaves, allow_unused=True)
                grads = [torch.zeros_like(m) if g is None else g for g, m in zip(grads, leaves)]
                scores = torch.cat(grads, dim=1).masked_fill(zeroed, -torch.inf)
                best, index = scores.max(dim=1)  # ties: the first (lowest) index
        masks.masks = None
        flipped_l, pred_l, best_l, index_l = (v.tolist() for v in (flipped.cpu(), pred.cpu(), best.detach().cpu(), index.cpu()))
        for k, tg in enumerate(chunk):
            r = tg.result
            if flipped_l[k]:
                r.flipped, r.neurons_to_flip, r.new_pred, r.stop_reason = True, len(r.steps), int(pred_l[k]), "flipped"
                tg.done = True
            elif len(r.steps) >= cap or not best_l[k] > 0:
                r.new_pred = int(pred_l[k])
                r.stop_reason = "cap" if len(r.steps) >= cap else "no_positive_score"
                tg.done = True
            else:
                site, unit = self._locate(int(index_l[k]))
                r.steps.append((site, unit, float(best_l[k])))
                tg.zeroed[int(index_l[k])] = True
            if tg.done:
                tg.inputs = tg.inputs.new_empty(0)  # free the pool's memory early

    @torch.no_grad()
    def _evaluate(self, masks: UnitMasks, finished: list[_Target]) -> None:
        """Collateral damage: each finished target's edit on the fixed evaluation samples."""
        if not finished:
            return
        for split, (x, y) in self.eval_sets.items():
            n = int(x.shape[0])
            if n == 0:
                for tg in finished:
                    tg.result.correct[split] = 0
                continue
            x = x.to(self.dtype)
            piece = max(1, min(n, self.chunk_examples))
            per = max(1, self.chunk_examples // piece)
            for start in range(0, len(finished), per):
                group = finished[start : start + per]
                zeroed = torch.stack([tg.zeroed for tg in group]).to(self.device)
                correct = torch.zeros(len(group), dtype=torch.long, device=self.device)
                masks.set(zeroed, self.dtype)
                for lo in range(0, n, piece):
                    xs, ys = x[lo : lo + piece], y[lo : lo + piece]
                    batch = xs.unsqueeze(0).expand(len(group), *xs.shape).reshape(-1, *xs.shape[1:])
                    pred = self.model(batch).argmax(-1).view(len(group), -1)
                    correct += (pred == ys.view(1, -1)).sum(1)
                masks.masks = None
                for tg, c in zip(group, correct.tolist()):
                    tg.result.correct[split] = int(c)
