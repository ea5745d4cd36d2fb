"""The verdict rules of bench/reproduce.py: pure functions over plain rows (no store, no torch).

Each ``judge_*`` takes the rows one claim needs (lists of dicts, as SQL returns them) and
returns a :class:`Verdict`. The thresholds below were fixed, and written into
docs/reproduction.md, before any run of this version; they are never tuned to a result.
A claim whose data is missing is "not measured"; one whose rule fails is "not reproduced"
with the reason. tests/bench/test_repro_rules.py checks each rule on hand-made tables.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

MEMORIZED = 0.9  # noisy-train accuracy (observed labels) at which a model has memorized its noisy labels
# claim 1
MIN_NORM_RATIO = 0.25  # aggregate noisy / clean gradient norm over the memorization phase ("comparable")
# claim 2
MATTERS_GAP = 0.3  # a layer matters when (noisy-acc drop) - (clean-acc drop) on rewinding it is at least this
RECOVERED_WITHIN = 0.3  # retraining on clean data "brings noisy accuracy back": within this of the final noisy acc
# claim 3
MIN_LAYER_GROUPS = 3  # the noisy targets' zeroed parameters span at least this many layer groups
MAX_FINAL_LAYER_SHARE = 0.5  # at most this share of them in the final layer group
# claim 4
MAX_DROPPED_NOISY = 0.2  # noisy-train accuracy with the memorization channels dropped

REPRODUCED, NOT_REPRODUCED, NOT_MEASURED = "reproduced", "not reproduced", "not measured"
COUNTED = ("flipped", "not_flipped")  # neuron-flipping targets the model fitted at the start


@dataclass
class Verdict:
    measured: str
    verdict: str
    reasons: list[str] = field(default_factory=list)  # why not reproduced (empty when reproduced)

    @classmethod
    def judged(cls, measured: str, failures: list[str]) -> "Verdict":
        return cls(measured, NOT_REPRODUCED if failures else REPRODUCED, failures)


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "> cap"
    return f"{x:.{digits}f}"


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else None


def not_memorized(noisy_acc: float | None) -> list[str]:
    """The precondition of claims 1-3: the plain run memorized its noisy labels."""
    if noisy_acc is None or noisy_acc < MEMORIZED:
        return [f"did not memorize: noisy-train acc {fmt(noisy_acc)} < {MEMORIZED}"]
    return []


# --------------------------------------------------------------------------- claim 1


def judge_gradients(per_epoch: list[dict], noisy_curve: dict[int, float], final_noisy_acc: float | None) -> Verdict:
    """Claim 1: the noisy 10%'s aggregate gradient is comparable in norm to the clean 90%'s and
    points the opposite way while memorization happens.

    ``per_epoch``: {epoch, clean_norm, noisy_norm, cosine} over all layers (norms of the
    epoch-summed gradients, cosine of the concatenated parameters). ``noisy_curve``: the
    epoch's noisy-train accuracy. The memorization phase is epochs 1..e, e the first epoch
    with noisy-train acc >= MEMORIZED (all epochs when none). Reproduced when the median
    noisy/clean norm ratio over the phase >= MIN_NORM_RATIO and the median cosine < 0.
    """
    if not per_epoch:
        return Verdict("no gradient accounting rows", NOT_MEASURED)
    last = max(r["epoch"] for r in per_epoch)
    memorized_at = min((e for e, a in noisy_curve.items() if a is not None and a >= MEMORIZED), default=last)
    phase = [r for r in per_epoch if r["epoch"] <= memorized_at] or per_epoch
    ratio = median([r["noisy_norm"] / r["clean_norm"] for r in phase if r["clean_norm"]])
    cosine = median([r["cosine"] for r in phase])
    ordered = sorted(per_epoch, key=lambda r: r["epoch"])
    curve = " ".join(fmt(r["cosine"], 2) for r in ordered[:: max(1, len(ordered) // 8)])
    measured = (f"epochs 1-{memorized_at} (until noisy acc >= {MEMORIZED}): noisy/clean aggregate norm {fmt(ratio, 2)}, "
                f"cosine median {fmt(cosine, 2)}; cosine over training: {curve}")
    failures = not_memorized(final_noisy_acc)
    if ratio is None or ratio < MIN_NORM_RATIO:
        failures.append(f"norm ratio {fmt(ratio, 2)} < {MIN_NORM_RATIO}")
    if cosine is None or cosine >= 0:
        failures.append(f"cosine median {fmt(cosine, 2)} is not negative")
    return Verdict.judged(measured, failures)


# --------------------------------------------------------------------------- claim 2


def judge_layers(final: dict, rewinds: list[dict], retrains: list[dict]) -> Verdict:
    """Claim 2: most single layers are redundant for memorization, and the layers that matter
    are in general not the last one.

    ``final``: the trained model's {clean_train_acc, noisy_train_acc} (eval mode).
    ``rewinds``: one row per layer group, in layer order, rewound alone to the earliest
    checkpoint: {layer, clean_train_acc, noisy_train_acc}. ``retrains``: per layer, the last
    retraining epoch (reset, retrained on clean examples only): {layer, noisy_train_acc}.

    gap(L) = (final noisy - rewound noisy) - (final clean - rewound clean). L matters when
    gap >= MATTERS_GAP (a layer whose rewinding destroys clean accuracy too has a small gap:
    it is needed for everything, not for memorization). Retraining L on clean data brings
    noisy accuracy back when it reaches final noisy - RECOVERED_WITHIN: the memorization is
    then held elsewhere. L holds memorization when it matters and retraining does not bring
    noisy accuracy back (or was not measured for L). Reproduced when at least one layer
    matters, the layers holding memorization are at most half of all layers, and the layer
    with the largest gap is not the last one.
    """
    if not rewinds:
        return Verdict("no rewinding rows", NOT_MEASURED)
    fc, fn = final.get("clean_train_acc"), final.get("noisy_train_acc")
    if fc is None or fn is None:
        return Verdict("no final accuracies", NOT_MEASURED)
    gaps = {r["layer"]: (fn - r["noisy_train_acc"]) - (fc - r["clean_train_acc"]) for r in rewinds}
    back = {r["layer"]: r["noisy_train_acc"] >= fn - RECOVERED_WITHIN for r in retrains if r.get("noisy_train_acc") is not None}
    matters = [name for name, gap in gaps.items() if gap >= MATTERS_GAP]
    holds = [name for name in matters if not back.get(name, False)]
    last = rewinds[-1]["layer"]
    largest = max(gaps, key=lambda name: gaps[name])
    rewound = ", ".join(f"{r['layer']} {fmt(r['noisy_train_acc'], 2)}/{fmt(r['clean_train_acc'], 2)} (gap {gaps[r['layer']]:+.2f})" for r in rewinds)
    retrained = ", ".join(f"{r['layer']} {fmt(r['noisy_train_acc'], 2)}" for r in retrains) or "not measured"
    measured = (f"final noisy/clean {fmt(fn, 2)}/{fmt(fc, 2)}; rewind each layer to init -> noisy/clean: {rewound}; "
                f"retrain each layer on clean data -> noisy: {retrained}; matter (gap >= {MATTERS_GAP}): {', '.join(matters) or 'none'}; "
                f"hold memorization (matter, noisy not back on retraining): {', '.join(holds) or 'none'} of {len(rewinds)}; largest gap: {largest}")
    failures = not_memorized(fn)
    if not matters:
        failures.append(f"no single layer matters (largest gap {gaps[largest]:+.2f} < {MATTERS_GAP})")
    elif largest == last:
        failures.append(f"the largest gap is at the last layer ({last})")
    if len(holds) > len(rewinds) / 2:
        failures.append(f"{len(holds)} of {len(rewinds)} layers hold memorization (more than half)")
    return Verdict.judged(measured, failures)


# --------------------------------------------------------------------------- claim 3


def _median_to_flip(targets: list[dict]) -> float | None:
    """Median edits to flip over counted targets; one not flipped within the cap counts as inf."""
    values = [float(t["neurons_to_flip"]) if t["status"] == "flipped" else math.inf for t in targets]
    return statistics.median(values) if values else None


def _collateral(targets: list[dict], key: str) -> float | None:
    """Median collateral damage (``test_drop`` or ``clean_drop``) of a group's targets, each
    as ``memscope.results.analyses.flipping.targets`` defines it (accuracy before - after the
    edit, flipped targets only): the one definition the report and the app use too."""
    return median([t[key] for t in targets if t.get(key) is not None])


def _skips(by_reason: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(by_reason.items())) or "none"


def judge_neurons(flips: list[dict], noisy_steps: list[dict], final_layer: str, final_noisy_acc: float | None) -> Verdict:
    """Claim 3: memorization of an example is confined to few parameters spread over layers;
    mislabeled examples need fewer edits to flip than clean ones.

    ``flips``: one row per target {is_noisy, status, neurons_to_flip, test_drop, clean_drop}
    (``memscope.results.analyses.flipping.targets``); counted targets have status 'flipped'
    or 'not_flipped' (the others were not fitted at the start and are only counted as skipped).
    ``noisy_steps``: one row {layer} per edit of a counted noisy target. Reproduced when the
    median edits of noisy targets < that of clean ones (a target not flipped within the cap
    ranks above every flipped one), the noisy edits span >= MIN_LAYER_GROUPS layer groups,
    and at most MAX_FINAL_LAYER_SHARE of them are in the final layer group.
    """
    if not flips:
        return Verdict("no neuron flipping rows", NOT_MEASURED)
    groups = {True: [], False: []}
    skipped = {True: {}, False: {}}
    for row in flips:
        if row["status"] in COUNTED:
            groups[bool(row["is_noisy"])].append(row)
        else:
            skipped[bool(row["is_noisy"])][row["status"]] = skipped[bool(row["is_noisy"])].get(row["status"], 0) + 1
    if not groups[True] or not groups[False]:
        noisy = not groups[True]
        return Verdict(f"no counted {'noisy' if noisy else 'clean'} targets (skipped: {_skips(skipped[noisy])})", NOT_MEASURED)
    parts = []
    for noisy, label in ((True, "noisy"), (False, "clean")):
        targets = groups[noisy]
        not_flipped = sum(t["status"] == "not_flipped" for t in targets)
        parts.append(f"{label}: median {fmt(_median_to_flip(targets), 1)} (n={len(targets)}, not flipped {not_flipped}, skipped: {_skips(skipped[noisy])}); "
                     f"collateral median drop test {fmt(_collateral(targets, 'test_drop'))}, clean-train {fmt(_collateral(targets, 'clean_drop'))}")
    layers = {s["layer"] for s in noisy_steps}
    final_share = sum(s["layer"] == final_layer for s in noisy_steps) / len(noisy_steps) if noisy_steps else None
    parts.append(f"noisy edits span {len(layers)} layer groups, {fmt(final_share, 2)} in the final one ({final_layer})")
    measured = "; ".join(parts)
    noisy_med, clean_med = _median_to_flip(groups[True]), _median_to_flip(groups[False])
    failures = not_memorized(final_noisy_acc)
    if not noisy_med < clean_med:
        failures.append(f"noisy median {fmt(noisy_med, 1)} is not below clean median {fmt(clean_med, 1)}")
    if len(layers) < MIN_LAYER_GROUPS:
        failures.append(f"noisy edits span {len(layers)} layer groups (< {MIN_LAYER_GROUPS})")
    if final_share is None or final_share > MAX_FINAL_LAYER_SHARE:
        failures.append(f"{fmt(final_share, 2)} of the noisy edits are in the final layer (> {MAX_FINAL_LAYER_SHARE})")
    return Verdict.judged(measured, failures)


# --------------------------------------------------------------------------- claim 4


def judge_etd(by_mode: dict[str, dict], num_clean: int, num_noisy: int) -> Verdict:
    """Claim 4: example-tied dropout; dropping the memorization channels takes noisy-train
    accuracy from about 100% to a few percent and reduces the generalization gap.

    ``by_mode``: etd_evals rows by mode ('example': each training example through its own
    mask, the model as trained; 'kept'; 'dropped'). The gap is train accuracy against the
    observed (noisy) labels minus test accuracy. Reproduced when the model as trained
    memorized (noisy-train >= MEMORIZED in 'example' mode, else 'kept'), the gap after
    dropping is smaller than before, and noisy-train accuracy after dropping <= MAX_DROPPED_NOISY.
    """
    if "dropped" not in by_mode or not ({"example", "kept"} & set(by_mode)):
        return Verdict("no example-tied dropout rows", NOT_MEASURED)
    before_mode = "example" if "example" in by_mode else "kept"
    before, after = by_mode[before_mode], by_mode["dropped"]
    total = num_clean + num_noisy

    def gap(row: dict) -> float:
        train = (num_clean * row["clean_train_acc"] + num_noisy * row["noisy_train_acc"]) / total
        return train - row["test_acc"]

    g0, g1 = gap(before), gap(after)
    measured = (f"noisy-train {fmt(before['noisy_train_acc'])} ({before_mode} mode) -> {fmt(after['noisy_train_acc'])} dropped "
                f"(kept {fmt(by_mode.get('kept', {}).get('noisy_train_acc'))}); noisy vs true labels dropped {fmt(after['noisy_train_true_acc'])}; "
                f"clean-train {fmt(before['clean_train_acc'])} -> {fmt(after['clean_train_acc'])}; test {fmt(before['test_acc'])} -> {fmt(after['test_acc'])}; "
                f"generalization gap {g0:+.3f} -> {g1:+.3f}")
    failures = []
    if before["noisy_train_acc"] < MEMORIZED:
        failures.append(f"did not memorize: noisy-train acc {fmt(before['noisy_train_acc'])} ({before_mode} mode) < {MEMORIZED}")
    if not g1 < g0:
        failures.append(f"the gap did not shrink ({g0:+.3f} -> {g1:+.3f})")
    if after["noisy_train_acc"] > MAX_DROPPED_NOISY:
        failures.append(f"noisy-train acc after dropping {fmt(after['noisy_train_acc'])} > {MAX_DROPPED_NOISY}")
    return Verdict.judged(measured, failures)
