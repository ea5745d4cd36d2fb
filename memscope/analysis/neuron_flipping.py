"""Neuron flipping (Maini et al. section 4.3): how few edits flip a memorized example?

For sampled noisy and clean training targets that the model fits, zero the candidate with the
highest first-order score ``w * dJ/dw`` one at a time, where ``J = mean over a reference batch
of loss_j - loss_i``, until the target's robust prediction (averaged over noisy copies) leaves
its observed label. The paper's claim: mislabeled examples need fewer edits than clean ones,
spread over many layers. The search is ``memscope.analysis.flipping_engine``; this module only
declares the analysis (torch is imported inside ``run``, so ``memscope plugins`` stays torch-free).

Candidates (``candidates``):

- ``"parameters"`` (default), as in the authors' code (``get_most_activated_node`` and
  ``modify_weights`` in ``experiments/neuron_flipping/attribution_utils.py``): every named
  parameter of the candidate layer groups; a 4-D conv weight offers one candidate per output
  channel (its filter), every other parameter (linear weight entries, biases, norm gamma and
  beta) one per element (``memscope.analysis.flipping_parameters``). The classifier offers
  single weights, never a whole class logit.
- ``"units"``: whole output units of the neuron modules (a conv channel, a linear unit with its
  bias). Zeroing the observed class's logit is then often the best single edit.

Where memscope departs from the authors' code, and why:

- Only fitted targets are searched: a noisy target counts only if the unedited model's robust
  prediction is its observed label at the start (memorized), a clean one only if it is its
  label. The others get a row with status ``not_memorized`` / ``not_fitted`` and no count (the
  authors count them as flipped with 0 edits, which pulls the noisy median down).
- A fresh seeded reference batch of ``reference_batch`` other examples per target (the authors
  use the other examples of the loader batch the target is in); ``J`` weighs each reference
  loss by ``1/B`` (theirs: ``1/(B+1)``).
- Robust logits: ``J`` and the stop test use the mean of the copies' logits, each copy with its
  own noise of 1% of the batch norm (the authors add the noise cumulatively, average the copies'
  gradients, and stop on the last copy's prediction).
- A cap of ``max_neurons`` edits, and a stop when no candidate has a positive score left: such
  targets are ``not_flipped`` (the authors loop until the prediction flips).
- Collateral damage on fixed samples (``eval_*``), beside the unedited model's accuracies on the
  same samples (the authors evaluate the whole training set after each edit).
- Parameters no per-target hook can edit (a ViT's ``cls_token`` and ``pos_embed``, anything
  outside a Conv2d, Linear, BatchNorm, GroupNorm or LayerNorm) are not candidates; the progress
  line names them.

Tables:

- ``neuron_flips``: one row per drawn target (never dropped): ``status`` (``flipped`` |
  ``not_flipped`` | ``not_memorized`` | ``not_fitted``), ``flipped``, ``neurons_to_flip`` (the
  number of edits; null unless flipped), ``new_pred`` (the robust prediction at the end; for a
  skipped target, at the start), ``candidates``, and the plain (noise-free) accuracy on fixed
  samples of clean, noisy (observed labels) and test examples after the edit
  (``*_acc_after``: the collateral damage; null for skipped targets and for an empty sample)
  and of the unedited model (``*_acc_before``, the same in every row). The same samples serve
  every target (a target may be among them).
- ``neuron_flip_steps``: one row per edit of a counted target: ``example``, ``step`` from 1, the
  layer group (``layer_index``, ``layer``), ``module`` (the edited module's path), ``kind``
  (``conv_filter`` | ``weight`` | ``bias`` | ``norm_weight`` | ``norm_bias`` | ``unit``),
  ``parameter`` (the named parameter, e.g. ``conv3.conv.weight``; null in units mode),
  ``unit`` (parameters: a filter's channel, else the flat element index in the parameter;
  units: the unit's index in its group, numbered across its modules), ``coords`` (the element's
  coordinates in the parameter, ``[channel]`` for a filter; null in units mode) and the
  candidate's ``score`` when chosen.
- ``example_scores``: ``analysis = "neuron_flipping"``, ``metric = "neurons_to_flip"``, one
  row per counted target: the count for flipped targets, ``max_neurons + 1`` for targets not
  flipped (a censored value that keeps every counted target rankable: fewer = easier to flip =
  more likely mislabeled); skipped targets have no row.

Targets and the evaluation samples are drawn without replacement from the run's named
streams (``target_stream``, ``eval_stream``); each target's reference batch and input noise
come from ``reference_stream`` and its example id, so any subset of targets gives the same
per-target result. With ``[etd] enabled`` the model runs in example-tied dropout's "kept"
mode, as in the run's final evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from memscope.analysis.base import Analysis
from memscope.errors import ConfigError
from memscope.store.schemas import CORE_TABLES

METRIC = "neurons_to_flip"
CANDIDATES = ("parameters", "units")


@dataclass(frozen=True)
class NeuronFlippingOptions:
    reference_batch: int = 512  # B: other training examples in each target's reference batch (a fresh seeded draw per target; capped at N - 1)
    noise_copies: int = 5  # noisy copies of (reference batch + target) whose logits are averaged; 0 = plain logits
    noise_scale: float = 0.01  # L2 norm of each copy's Gaussian noise, relative to the norm of the batch tensor
    max_neurons: int = 200  # cap: a target still not flipped after zeroing this many units is recorded as not flipped
    num_noisy: int = 500  # targets drawn from the noisy (mislabeled) training examples (capped at what exists)
    num_clean: int = 500  # targets drawn from the clean training examples (capped at what exists)
    eval_noisy: int = 500  # fixed sample of noisy training examples for the collateral damage (observed labels)
    eval_clean: int = 500  # fixed sample of clean training examples for the collateral damage
    eval_test: int = 500  # fixed sample of test examples for the collateral damage
    candidates: str = "parameters"  # what an edit zeroes: "parameters" (the authors': a conv filter, or one element of any other parameter) | "units" (a whole conv channel or linear unit)
    layers: tuple[str, ...] = ()  # candidate layer groups whose parameters (or units) may be zeroed; empty = all groups
    batch_targets: int = 64  # targets searched together (device memory: batch_targets x copies x (B + 1) inputs)
    chunk_examples: int = 0  # most examples in one forward pass (whole targets when they fit, else slices of one target's batch); 0 = automatic: activations in 40% of free GPU memory, 96 MiB on CPU
    target_stream: str = "flip_targets"  # named random stream that draws the targets
    reference_stream: str = "flip_reference"  # named stream (with the example id) for each target's reference batch and noise
    eval_stream: str = "flip_eval"  # named stream that draws the collateral-damage samples

    def __post_init__(self) -> None:
        problem = range_problem(self)
        if problem:
            raise ValueError(problem)


def range_problem(o: NeuronFlippingOptions) -> str:
    """The first out-of-range option, as a message ('' when all are fine)."""
    if o.candidates not in CANDIDATES:
        return f"candidates = {o.candidates!r} must be one of {', '.join(map(repr, CANDIDATES))}"
    if o.max_neurons < 1:
        return f"max_neurons = {o.max_neurons} must be at least 1"
    if o.reference_batch < 1:
        return f"reference_batch = {o.reference_batch} must be at least 1"
    for key in ("noise_copies", "num_noisy", "num_clean", "eval_noisy", "eval_clean", "eval_test"):
        if getattr(o, key) < 0:
            return f"{key} = {getattr(o, key)} must be 0 or more"
    if o.noise_scale < 0:
        return f"noise_scale = {o.noise_scale} must be 0 or more"
    if o.batch_targets < 1:
        return f"batch_targets = {o.batch_targets} must be at least 1"
    if o.chunk_examples < 0:
        return f"chunk_examples = {o.chunk_examples} must be 0 (automatic) or more"
    for key in ("target_stream", "reference_stream", "eval_stream"):
        if not getattr(o, key):
            return f"{key} must not be empty"
    return ""


def _draw(rng: np.random.Generator, pool: np.ndarray, count: int) -> np.ndarray:
    count = min(count, len(pool))
    return np.sort(rng.choice(pool, size=count, replace=False)) if count else pool[:0]


def sample_targets(is_noisy: np.ndarray, options: NeuronFlippingOptions, rng: np.random.Generator) -> np.ndarray:
    """Training positions of the targets: noisy ones, then clean ones (each sorted)."""
    is_noisy = np.asarray(is_noisy, dtype=bool)
    noisy = _draw(rng, np.flatnonzero(is_noisy), options.num_noisy)
    clean = _draw(rng, np.flatnonzero(~is_noisy), options.num_clean)
    return np.concatenate([noisy, clean]).astype(np.int64)


def sample_eval(is_noisy: np.ndarray, num_test: int, options: NeuronFlippingOptions, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Positions of the fixed collateral-damage samples: clean / noisy training, test."""
    is_noisy = np.asarray(is_noisy, dtype=bool)
    return {
        "clean": _draw(rng, np.flatnonzero(~is_noisy), options.eval_clean),
        "noisy": _draw(rng, np.flatnonzero(is_noisy), options.eval_noisy),
        "test": _draw(rng, np.arange(num_test), options.eval_test),
    }


class NeuronFlipping(Analysis):
    """Zero the highest-scoring units one at a time until each target's prediction flips."""

    name = "neuron_flipping"
    version = "1.0"
    Options = NeuronFlippingOptions
    tables = {
        "neuron_flips": CORE_TABLES["neuron_flips"],
        "neuron_flip_steps": CORE_TABLES["neuron_flip_steps"],
        "example_scores": CORE_TABLES["example_scores"],
    }

    def validate(self, ctx: Any) -> None:
        o = self.options
        problem = range_problem(o)
        if problem:
            raise ConfigError(f"analysis.neuron_flipping: {problem}")
        names = [g.name for g in ctx.groups]
        for layer in o.layers:
            if layer not in names:
                raise ConfigError(
                    f"analysis.neuron_flipping.layers: layer '{layer}' does not exist in model "
                    f"'{ctx.config.model.name}'; layers: {', '.join(names)}"
                )
        chosen = [g for g in ctx.groups if not o.layers or g.name in o.layers]
        if o.candidates == "units" and not any(g.neuron_modules for g in chosen):
            raise ConfigError("analysis.neuron_flipping.layers: the chosen layers have no neuron modules (no units to zero)")
        if o.candidates == "parameters" and not make_candidates(ctx, o).size:
            raise ConfigError(
                "analysis.neuron_flipping.layers: the chosen layers have no parameter a flip can zero (conv, linear "
                "or norm weights and biases); choose other layers or candidates = \"units\""
            )

    def run(self, ctx: Any) -> None:
        from memscope.analysis.flipping_engine import FlipEngine, FlipSettings
        from memscope.models.example_tied_dropout import kept_mode

        o = self.options
        data, prepared = ctx.data, ctx.prepared
        positions = sample_targets(prepared.is_noisy, o, ctx.rng(o.target_stream))
        evals = sample_eval(prepared.is_noisy, int(data.x_test.shape[0]), o, ctx.rng(o.eval_stream))
        eval_sets = {}
        for split, pos in evals.items():
            x, y = (data.x_test, data.y_test) if split == "test" else (data.x_train, data.y_train)
            index = _index(pos, x.device)
            eval_sets[split] = (x[index], y[index])
        settings = FlipSettings(
            reference_batch=o.reference_batch, noise_copies=o.noise_copies, noise_scale=o.noise_scale,
            max_neurons=o.max_neurons, batch_targets=o.batch_targets, chunk_examples=o.chunk_examples,
            reference_stream=o.reference_stream,
        )
        candidates = make_candidates(ctx, o)
        engine = FlipEngine(ctx.model, candidates, data.x_train, data.y_train, settings, ctx.torch_generator, eval_sets, progress=ctx.progress,
                            on_targets=lambda done, total: ctx.progress_steps(done, total, "targets"))
        ctx.progress_steps(0, len(positions), "targets")
        ids = ctx.example_ids(positions)
        ctx.progress(
            f"{len(positions)} targets ({int(prepared.is_noisy[positions].sum())} noisy), "
            f"{engine.num_units} candidate {o.candidates} in {len(candidates.layers())} layers"
            + (f"; not editable per target, left out: {', '.join(candidates.skipped)}" if candidates.skipped else "")
        )
        with kept_mode(getattr(ctx, "etd", None)):
            results = engine.run(positions.tolist(), ids.tolist())
        self._write(ctx, engine, results, {k: len(v) for k, v in evals.items()})

    def _write(self, ctx: Any, engine: Any, results: list, eval_sizes: dict[str, int]) -> None:
        is_noisy = ctx.prepared.is_noisy
        results = sorted(results, key=lambda r: r.example)
        noisy = [bool(is_noisy[r.position]) for r in results]

        def acc(correct: dict[str, int], split: str) -> float | None:
            return correct[split] / eval_sizes[split] if eval_sizes.get(split) and split in correct else None

        columns: dict[str, list] = {
            "example": [r.example for r in results],
            "is_noisy": noisy,
            "flipped": [r.flipped for r in results],
            "neurons_to_flip": [r.neurons_to_flip for r in results],
            "new_pred": [r.new_pred for r in results],
        }
        for split in ("clean", "noisy", "test"):
            columns[f"{split}_acc_after"] = [acc(r.correct, split) for r in results]
        columns["status"] = [status(r, n) for r, n in zip(results, noisy)]
        columns["candidates"] = [self.options.candidates] * len(results)
        for split in ("clean", "noisy", "test"):
            columns[f"{split}_acc_before"] = [acc(engine.before, split)] * len(results)
        ctx.write("neuron_flips", columns)
        keys = ("example", "step", "layer_index", "layer", "unit", "score", "module", "parameter", "kind", "coords")
        steps: dict[str, list] = {k: [] for k in keys}
        for r in results:
            for n, (index, score) in enumerate(r.steps, start=1):
                e = engine.describe(index)
                coords = list(e.coords) if e.coords is not None else None
                values = (r.example, n, e.layer_index, e.layer, e.unit, score, e.module, e.parameter, e.kind, coords)
                for key, value in zip(keys, values, strict=True):
                    steps[key].append(value)
        ctx.write("neuron_flip_steps", steps)
        counted = [r for r in results if r.searched]
        cap = self.options.max_neurons
        ctx.write(
            "example_scores",
            {
                "analysis": [self.name] * len(counted),
                "example": [r.example for r in counted],
                "metric": [METRIC] * len(counted),
                "value": [float(r.neurons_to_flip if r.flipped else cap + 1) for r in counted],
            },
        )
        ctx.progress(summary(results, is_noisy))


def status(result: Any, noisy: bool) -> str:
    """flipped | not_flipped | not_memorized (noisy, not fitted at the start) | not_fitted (clean)."""
    if not result.searched:
        return "not_memorized" if noisy else "not_fitted"
    return "flipped" if result.flipped else "not_flipped"


def make_candidates(ctx: Any, o: NeuronFlippingOptions) -> Any:
    """The candidate set the options ask for, on the run's model and groups."""
    if o.candidates == "units":
        from memscope.analysis.flipping_engine import UnitCandidates, candidate_sites

        return UnitCandidates(candidate_sites(ctx.model, ctx.groups, o.layers))
    from memscope.analysis.flipping_parameters import ParameterCandidates

    return ParameterCandidates(ctx.model, ctx.groups, o.layers)


def summary(results: list, is_noisy: np.ndarray) -> str:
    """One line: over the counted (fitted) targets, flipped share and median edits, noisy vs clean."""
    parts = []
    for label, want, reason in (("noisy", True, "not memorized"), ("clean", False, "not fitted")):
        group = [r for r in results if bool(is_noisy[r.position]) == want]
        if not group:
            continue
        counted = [r for r in group if r.searched]
        counts = [r.neurons_to_flip for r in counted if r.flipped]
        median = f"{float(np.median(counts)):g}" if counts else "-"
        skipped = len(group) - len(counted)
        parts.append(
            f"{label}: {len(counts)}/{len(counted)} flipped, median {median} edits"
            + (f" ({skipped} skipped: {reason})" if skipped else "")
        )
    return "; ".join(parts) or "no targets"


def _index(positions: np.ndarray, device: Any):
    import torch

    return torch.as_tensor(np.asarray(positions, dtype=np.int64), device=device)
