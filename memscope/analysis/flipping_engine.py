"""Neuron flipping, batched: many targets in one forward pass through per-target edits.

The algorithm (docs: ALGORITHMS.md, "Neuron flipping") for a target training example ``i``
with observed label ``y_i``, in eval mode, on the final weights:

1. ``R``: ``B`` other training examples, a fresh seeded draw per target (``draw_target``).
   The batch is ``[i, *R]`` (the target first).
2. ``copies`` noisy copies of that batch, each with Gaussian noise whose L2 norm is
   ``noise_scale * ||batch||`` (per copy); the robust logits are the mean of the copies'
   logits (``copies = 0``: the plain logits of the clean batch). ``R`` and the noise are drawn
   once per target and reused at every step, so a target's search is a deterministic function
   of (run seed, example id).
3. Stop when ``argmax`` of ``i``'s robust logits differs from ``y_i``. The number of edits
   so far is ``neurons_to_flip``. A target whose robust prediction is not ``y_i`` at the start
   is not fitted (not memorized): it is never searched (``stop_reason = "unfitted"``, no count,
   no collateral evaluation) and costs only that first test.
4. ``J = mean over R of loss_j - loss_i``, cross-entropy against the observed labels, computed
   from the *robust* (copy-averaged) logits, the same logits the stop test reads. The
   candidates are either parameters (the default, ``flipping_parameters.ParameterCandidates``:
   conv filters and single elements of every other parameter, each scored ``w * dJ/dw``, a
   filter's summed; the edit zeroes them) or whole units (``UnitCandidates``, described here).
   Each candidate unit's score is ``sum over its parameters of p * dJ/dp``: for a conv, an output
   channel's filter (in-channels x kernel); for a linear, an output unit's row; plus the
   unit's bias when the module has one (so that the score is the first-order estimate of
   exactly the edit that is made: zeroing the unit's weights *and* bias, i.e. its output).
   The unit with the highest score is zeroed, if that score is positive (units already zeroed
   are excluded; exact ties go to the lowest candidate index: groups in model order, a group's
   neuron modules in declared order, units in order). No positive score left: the search
   stops, not flipped. At most ``max_neurons`` units; not flipped by then: not flipped.

Batching (parameter candidates: the same idea, per parameter kind, in ``flipping_parameters``).
A target's edit is a set of zeroed output units. Instead of editing weights, each
neuron module gets a forward hook that multiplies its output by a per-target mask (1 = kept,
0 = zeroed), broadcast over that target's examples. Zeroing a unit's output is the same as
zeroing its weights and bias (a conv before BatchNorm included: the BN shift still applies,
exactly as after zeroing the filter). And at mask = 1, with ``o_u`` the unit's output,

    dJ/dm_u = sum over examples and positions of o_u * dJ/do_u
            = sum over the unit's weights of w * dJ/dw  (+ b * dJ/db with a bias),

because ``o_u`` is linear in ``(w_u, b_u)`` and homogeneous of degree one. So one backward
pass to the unit outputs scores every candidate unit of every target at once, and never
computes a weight gradient; the hooks keep each site's output and ``UnitMasks.scores`` forms
``sum(o * dJ/do)``, so a site none of whose units is zeroed is not multiplied at all. Each step first runs the stop test on the targets' own ``copies`` rows only
(eval mode: an example's logits do not depend on the rest of its batch), so the step that
finds the flip never forwards a reference batch. Then the forward of the ``T`` targets still
going is one batch of ``T x copies x (B + 1)`` examples, chunked by ``chunk_examples``
(whole targets per pass when one fits, else one target's batch in slices whose gradients are
summed; 0 = as many examples as fit their activations, times 3 for the backward, in 40% of
the free CUDA memory or in 96 MiB on other devices, measured by a probe forward); targets
that finish leave the pool and waiting targets take their place.

Collateral damage depends on the edit alone, so each distinct edit (set of zeroed units) is
evaluated once per run, however many targets end with it; the unedited model is evaluated
first (``before``), on the same samples.

Memory: the pool holds ``batch_targets x copies x (B + 1)`` input examples on the device.
The model is never modified: hooks are removed afterwards and no parameter is written.
Runs in the model's dtype without autocast (fp32 for a run's model).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memscope.models.base import LayerGroup
from memscope.models.groups import neuron_sites


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
    index_of = {g.name: i for i, g in enumerate(groups)}
    chosen = [g for g in groups if not layers or g.name in layers]
    sites: list[Site] = []
    offset = 0
    group_offset: dict[str, int] = {}
    for group, path, module, units in neuron_sites(model, chosen):
        start = group_offset.get(group.name, 0)
        sites.append(Site(index_of[group.name], group.name, path, module, units, start, offset))
        group_offset[group.name] = start + units
        offset += units
    return sites


@dataclass(frozen=True)
class Edit:
    """Where one step's edit sits: a row of ``neuron_flip_steps`` without its example and step."""

    layer_index: int
    layer: str
    module: str  # path of the edited module
    unit: int  # units mode: the unit in its group; parameters mode: a filter's channel, else the flat element index
    kind: str  # unit | conv_filter | weight | bias | norm_weight | norm_bias
    parameter: str | None = None  # the zeroed named parameter (parameters mode)
    coords: tuple[int, ...] | None = None  # the element's coordinates in the parameter (parameters mode)


class UnitCandidates:
    """Whole output units of the neuron modules (the ``units`` option): the edit zeroes a
    conv's output channel or a linear's output unit (its weights and bias)."""

    mode = "units"

    def __init__(self, sites: Sequence[Site]):
        self.sites = list(sites)
        self.size = sum(s.units for s in self.sites)
        self.skipped: list[str] = []

    def describe(self, index: int) -> Edit:
        for site in self.sites:
            if index < site.offset + site.units:
                return Edit(site.layer_index, site.layer, site.path, site.group_offset + index - site.offset, "unit")
        raise IndexError(index)

    def layers(self) -> set[str]:
        return {s.layer for s in self.sites}

    def masks(self) -> UnitMasks:
        return UnitMasks(self.sites)


@dataclass(frozen=True)
class FlipSettings:
    reference_batch: int = 512
    noise_copies: int = 5
    noise_scale: float = 0.01
    max_neurons: int = 200
    batch_targets: int = 64
    chunk_examples: int = 0  # 0 = automatic (auto_chunk_examples)
    reference_stream: str = "flip_reference"


CPU_BUDGET = 96 << 20  # bytes of activations per forward+backward on the CPU (and MPS): cache-sized passes (measured: 320-example passes beat whole 2565-example targets by 25% on the digits CNN)
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


def objective_weights(batch: int, dtype: torch.dtype, device: torch.device | str = "cpu") -> Tensor:
    """(B + 1,): ``J``'s weight on each example's loss: ``-1`` for the target (position 0),
    ``1/B`` for each reference example."""
    weights = torch.full((batch,), 1.0 / max(batch - 1, 1), dtype=dtype, device=device)
    weights[0] = -1.0
    return weights


def objective(avg_logits: Tensor, labels: Tensor, weights: Tensor | None = None) -> Tensor:
    """Per target: mean over the reference examples of their loss, minus the target's loss.

    ``avg_logits`` (T, B + 1, K) with the target at position 0; ``labels`` (T, B + 1). For a
    slice of the batch's columns, pass the matching slice of ``objective_weights`` (J is a sum
    over examples, so the slices' values add up to J).
    """
    t, b1, k = avg_logits.shape
    loss = F.cross_entropy(avg_logits.reshape(-1, k), labels.reshape(-1), reduction="none").view(t, b1)
    if weights is None:
        weights = objective_weights(b1, loss.dtype, loss.device)
    return (loss * weights).sum(1)


class SiteHooks:
    """A forward hook on every site for the life of a ``with`` block; ``clear`` (each
    subclass's) drops the per-pass state when the block ends."""

    sites: list

    def __enter__(self):
        for i, site in enumerate(self.sites):
            self._handles.append(site.module.register_forward_hook(self._hook(i)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.clear()


class UnitMasks(SiteHooks):
    """Forward hooks that zero each target's chosen units, and read the units' scores.

    Set ``masks`` (through ``set``) before a forward of ``T`` targets' examples laid out
    target-major (each target's examples contiguous, the same count for every target);
    ``None`` leaves the outputs alone. A site none of whose units is zeroed in the chunk is
    not multiplied at all (at the first step, none is).

    Scores: with ``track=True`` the hooks keep each site's (masked) output ``o``, and
    ``scores(J)`` returns ``sum over examples and positions of o_u * dJ/do_u`` per target and
    unit, which at mask = 1 is ``dJ/dm_u`` (see the module docstring) without a mask in the
    graph. A site whose output a later module changes in place (``_version`` moved) is
    copied in the hook from then on (``probe`` finds them before the first real pass).
    """

    def __init__(self, sites: Sequence[Site]):
        self.sites = list(sites)
        self.masks: list[Tensor] | None = None
        self.track = False
        self._active: list[bool] = [True] * len(self.sites)
        self._copy: list[bool] = [False] * len(self.sites)
        self._outputs: list[tuple[Tensor, int] | None] = [None] * len(self.sites)
        self._handles: list = []

    def clear(self) -> None:
        self.masks = None
        self.track = False
        self._outputs = [None] * len(self.sites)

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
            out = output
            if self._active[i] or mask.requires_grad:
                if site.is_conv:  # (N, C, H, W): channels on dim 1
                    shaped = output.reshape(t, -1, site.units, output[0, 0].numel())
                    out = (shaped * mask.view(t, 1, site.units, 1)).view(output.shape)
                else:
                    shaped = output.reshape(t, -1, site.units)  # (N, ..., units): units on the last dim
                    out = (shaped * mask.view(t, 1, site.units)).view(output.shape)
            if self.track:
                self._outputs[i] = (out, out._version)
                if self._copy[i]:  # a later module writes into what we return: hand it a copy
                    return out.clone()
            return None if out is output else out

        return hook

    def set(self, zeroed: Tensor, dtype: torch.dtype, requires_grad: bool = False, track: bool = False) -> list[Tensor]:
        """Masks from a (T, U) bool tensor of zeroed units; returns them (leaves when requires_grad).

        ``track``: keep the sites' outputs for ``scores``.
        """
        any_zeroed = zeroed.any(0).cpu()  # one host transfer, not one per site
        self._active = [bool(any_zeroed[s.offset : s.offset + s.units].any()) for s in self.sites]
        keep = (~zeroed).to(dtype)
        self.masks = [keep[:, s.offset : s.offset + s.units].clone().requires_grad_(requires_grad) for s in self.sites]
        self.track = track
        self._outputs = [None] * len(self.sites)
        return self.masks

    def _changed_in_place(self) -> list[int]:
        return [i for i, kept in enumerate(self._outputs) if kept is not None and kept[0]._version != kept[1]]

    def probe(self, model: nn.Module, example: Tensor) -> None:
        """Find the sites whose outputs a later module modifies in place (a forward of one example)."""
        self.set(torch.zeros(1, sum(s.units for s in self.sites), dtype=torch.bool), example.dtype, track=True)
        try:
            with torch.no_grad():
                model(example.unsqueeze(0))
            for i in self._changed_in_place():
                self._copy[i] = True
        finally:
            self.clear()

    def scores(self, j: Tensor, targets: int) -> Tensor:
        """(T, U): each unit's ``sum(o * dJ/do)`` from the tracked outputs of the last forward."""
        changed = self._changed_in_place()
        if changed:
            raise RuntimeError(
                f"neuron flipping: the output of {self.sites[changed[0]].path!r} was changed in place after its "
                "hook ran (probe the model first)"
            )
        kept = [(i, k[0]) for i, k in enumerate(self._outputs) if k is not None and k[0].requires_grad]
        grads = torch.autograd.grad(j, [o for _, o in kept], allow_unused=True) if kept else ()
        parts = [torch.zeros(targets, s.units, dtype=j.dtype, device=j.device) for s in self.sites]
        for (i, o), g in zip(kept, grads):
            if g is None:
                continue
            site = self.sites[i]
            if site.is_conv:
                parts[i] = (o * g).reshape(targets, -1, site.units, o[0, 0].numel()).sum((1, 3))
            else:
                parts[i] = (o * g).reshape(targets, -1, site.units).sum(1)
        return torch.cat(parts, dim=1)


@dataclass
class FlipResult:
    position: int
    example: int
    flipped: bool = False
    neurons_to_flip: int | None = None
    new_pred: int = -1
    steps: list[tuple[int, float]] = field(default_factory=list)  # (candidate index, score): ``candidates.describe(index)``
    stop_reason: str = ""  # flipped | cap | no_positive_score | unfitted (not predicted as its label at the start: never searched)
    correct: dict[str, int] = field(default_factory=dict)  # collateral: correct count per eval split (empty when unfitted)

    @property
    def searched(self) -> bool:
        """The target was fitted at the start, so its search counts."""
        return self.stop_reason != "unfitted"


@dataclass(eq=False)
class _Target:
    result: FlipResult
    labels: Tensor  # (B + 1,) observed labels of the batch
    inputs: Tensor  # (copies or 1, B + 1, ...)
    zeroed: Tensor  # (U,) bool, on the CPU (one copy to the device per step, not one write per unit)
    done: bool = False
    checked: bool = False  # the first stop test (is it fitted at all?) has run


class FlipEngine:
    """Runs neuron flipping for many targets on one model (left as it was found)."""

    def __init__(
        self,
        model: nn.Module,
        candidates: UnitCandidates | Any | Sequence[Site],
        x_train: Tensor,
        y_train: Tensor,
        settings: FlipSettings,
        make_generator: GeneratorFactory,
        eval_sets: dict[str, tuple[Tensor, Tensor]] | None = None,
        progress: Callable[[str], None] | None = None,
        progress_every_s: float = 10.0,
        on_targets: Callable[[int, int], None] | None = None,  # (targets done, targets) for a progress bar
    ):
        if isinstance(candidates, (list, tuple)):
            candidates = UnitCandidates(candidates)
        if not candidates.size:
            raise ValueError(f"neuron flipping: no candidates ({candidates.mode}) in the chosen layers")
        self.model = model
        self.candidates = candidates  # UnitCandidates or flipping_parameters.ParameterCandidates
        self.num_units = candidates.size
        self.x_train = x_train
        self.y_train = y_train
        self.settings = settings
        self.make_generator = make_generator
        self.eval_sets = dict(eval_sets or {})
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.on_targets = on_targets
        self.device = x_train.device
        self.dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), x_train.dtype)
        self.copies = max(settings.noise_copies, 0)
        self.batch = min(settings.reference_batch, int(x_train.shape[0]) - 1) + 1  # B + 1
        self.forwards = 0  # forward passes run (for benchmarks)
        self.columns = self.batch  # batch examples per pass (fewer when one target exceeds chunk_examples)
        self._collateral: dict[bytes, dict[str, int]] = {}  # edit (zeroed units) -> correct counts per eval split
        self.before: dict[str, int] = {}  # the unedited model's correct counts per eval split (set by run)
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
            copies = max(self.copies, 1)
            # A pass holds whole targets when one fits; otherwise one target, a slice of its batch.
            self.columns = min(self.batch, max(1, self.chunk_examples // copies))
            per_chunk = max(1, self.chunk_examples // (copies * self.batch)) if self.columns == self.batch else 1
            with self.candidates.masks() as masks:
                if len(positions):
                    masks.probe(self.model, self.x_train[0].to(self.dtype))
                unedited = torch.zeros(self.num_units, dtype=torch.bool)
                self.before = self._correct_counts(masks, unedited.unsqueeze(0))[0]
                self._collateral[unedited.numpy().tobytes()] = self.before
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
                    if finished and self.on_targets is not None:
                        self.on_targets(done_count, len(positions))
                    now = time.perf_counter()
                    if self.progress is not None and finished and (now - last_report >= self.progress_every_s or not (pending or active)):
                        last_report = now
                        self.progress(f"{done_count}/{len(positions)} targets done ({now - started:.0f}s)")
        finally:
            self.model.train(was_training)
        return [r for r in results if r is not None]

    def describe(self, index: int) -> Edit:
        """Where a step's candidate sits (layer group, module, parameter, unit, coordinates)."""
        return self.candidates.describe(index)

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

    def _stop_test(self, masks: UnitMasks, chunk: list[_Target]) -> list[int]:
        """The targets' robust predictions under their current edits, from their own rows only.

        In eval mode every example's logits depend on that example alone, so the stop test
        needs only the target's ``copies`` rows, not the whole ``copies x (B + 1)`` batch: the
        final step of every search (the one that finds the flip) costs almost nothing.
        """
        t = len(chunk)
        x = torch.stack([tg.inputs[:, 0] for tg in chunk])  # (T, copies, ...)
        zeroed = torch.stack([tg.zeroed for tg in chunk]).to(self.device)
        with torch.no_grad():
            masks.set(zeroed, self.dtype)
            avg = robust_logits(self.model(x.view(-1, *x.shape[2:])), t, self.copies, 1)
        masks.clear()
        return avg[:, 0].argmax(-1).tolist()

    def _step(self, masks: UnitMasks, chunk: list[_Target]) -> None:
        """A stop test for a chunk of targets; then, for those still going, one forward and one
        backward over their reference batches that choose each one's next unit."""
        cap = self.settings.max_neurons
        going: list[_Target] = []
        for tg, pred in zip(chunk, self._stop_test(masks, chunk)):
            r = tg.result
            first, tg.checked = not tg.checked, True
            if first and pred != int(tg.labels[0]):  # never fitted (memorized): nothing to flip
                r.new_pred, r.stop_reason, tg.done = int(pred), "unfitted", True
            elif pred != int(tg.labels[0]):
                r.flipped, r.neurons_to_flip, r.new_pred, r.stop_reason = True, len(r.steps), int(pred), "flipped"
                tg.done = True
            elif len(r.steps) >= cap:
                r.new_pred, r.stop_reason, tg.done = int(pred), "cap", True
            else:
                r.new_pred = int(pred)
                going.append(tg)
        if going:
            self._choose_units(masks, going)
        for tg in chunk:
            if tg.done:
                tg.inputs = tg.inputs.new_empty(0)  # free the pool's memory early

    def _choose_units(self, masks: UnitMasks, chunk: list[_Target]) -> None:
        """Score every candidate unit of every target by dJ/dmask; zero each one's best unit.

        ``J`` is a sum over the batch's examples (weight ``-1`` for the target, ``1/B`` for
        each reference example), so its gradient is accumulated over slices of the batch
        (``self.columns`` examples, all their copies, per pass) when a whole target does not
        fit in ``chunk_examples``.
        """
        t = len(chunk)
        labels = torch.stack([tg.labels for tg in chunk])
        zeroed = torch.stack([tg.zeroed for tg in chunk]).to(self.device)
        weights = objective_weights(self.batch, self.dtype, self.device)
        scores = torch.zeros(t, self.num_units, dtype=self.dtype, device=self.device)
        for lo in range(0, self.batch, self.columns):
            hi = min(lo + self.columns, self.batch)
            x = torch.stack([tg.inputs[:, lo:hi] for tg in chunk])
            x = x.view(-1, *x.shape[3:])
            with torch.enable_grad():
                masks.set(zeroed, self.dtype, track=True)
                avg = robust_logits(self.model(x), t, self.copies, hi - lo)
                self.forwards += 1
                scores += masks.scores(objective(avg, labels[:, lo:hi], weights[lo:hi]).sum(), t)
            masks.clear()
        scores.masked_fill_(zeroed, -torch.inf)
        best, index = scores.max(dim=1)  # ties: the first (lowest) index
        for tg, b, i in zip(chunk, best.tolist(), index.tolist()):
            if not b > 0:
                tg.result.stop_reason, tg.done = "no_positive_score", True
                continue
            tg.result.steps.append((int(i), float(b)))
            tg.zeroed[int(i)] = True

    def _evaluate(self, masks: UnitMasks, finished: list[_Target]) -> None:
        """Collateral damage: each finished target's edit on the fixed evaluation samples.

        Targets often end with the same edit (zeroing their observed class's logit, say), and
        the counts depend on the edit alone: each distinct edit is evaluated once per run.
        """
        edits: dict[bytes, list[_Target]] = {}
        for tg in finished:
            if not tg.result.searched:
                continue  # no edit was made: its row keeps only the unedited model's accuracies
            key = tg.zeroed.numpy().tobytes()
            if key in self._collateral:
                tg.result.correct = dict(self._collateral[key])
            else:
                edits.setdefault(key, []).append(tg)
        if not edits:
            return
        keys = list(edits)
        counts = self._correct_counts(masks, torch.stack([edits[k][0].zeroed for k in keys]))
        for key, correct in zip(keys, counts):
            self._collateral[key] = correct
            for tg in edits[key]:
                tg.result.correct = dict(correct)

    @torch.no_grad()
    def _correct_counts(self, masks: UnitMasks, zeroed: Tensor) -> list[dict[str, int]]:
        """Per edit (a row of the (E, U) ``zeroed``): correct predictions on each eval split."""
        out: list[dict[str, int]] = [{} for _ in range(zeroed.shape[0])]
        for split, (x, y) in self.eval_sets.items():
            n = int(x.shape[0])
            if n == 0:
                for row in out:
                    row[split] = 0
                continue
            x = x.to(self.dtype)
            piece = max(1, min(n, self.chunk_examples))
            per = max(1, self.chunk_examples // piece)
            for start in range(0, zeroed.shape[0], per):
                group = zeroed[start : start + per].to(self.device)
                correct = torch.zeros(group.shape[0], dtype=torch.long, device=self.device)
                masks.set(group, self.dtype)
                for lo in range(0, n, piece):
                    xs, ys = x[lo : lo + piece], y[lo : lo + piece]
                    batch = xs.unsqueeze(0).expand(group.shape[0], *xs.shape).reshape(-1, *xs.shape[1:])
                    pred = self.model(batch).argmax(-1).view(group.shape[0], -1)
                    correct += (pred == ys.view(1, -1)).sum(1)
                masks.clear()
                for row, c in zip(out[start : start + per], correct.tolist()):
                    row[split] = int(c)
        return out
