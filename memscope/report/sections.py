"""The report's sections, one function per section: ``builder(data) -> Section | None``.

A builder returns ``None`` when its tables have no rows for the run, so a section appears
only when there is something to show. ``SECTIONS`` is the ordered list ``build_report``
runs; a plugin (or the TUI) adds its own with :func:`register_section`.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime
from typing import Any, Callable

from memscope.report.blocks import Column, Fields, Note, Plot, Section, Series, Table
from memscope.report.data import RunData
from memscope.report.flips import GROUPS, SKIP_REASONS, placement_sql, targets_sql
from memscope.report.flips import placement as flip_placement
from memscope.report.flips import skipped_text as skipped_flips_text
from memscope.report.flips import summarize as summarize_flips
from memscope.report.gradient_windows import WINDOW, combine_layers, window_labels, windows
from memscope.report.memorization import evaluation_mode, memorization_phrase
from memscope.store.catalog import sql_identifier
from memscope.store.schemas import CORE_TABLES

SectionBuilder = Callable[[RunData], "Section | None"]

ACC = ".3f"
EPOCH_ROWS = 10  # the accuracy table shows about this many epochs
MAX_CHECKPOINT_COLUMNS = 11  # rewinding tables show at most this many checkpoints


# --------------------------------------------------------------------------- helpers


def spread(n: int, k: int) -> list[int]:
    """About ``k`` indices spread evenly over ``range(n)``, always with the first and the last."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def ratio(a: Any, b: Any) -> float | None:
    return a / b if finite(a) and finite(b) and b != 0 else None


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {sec:02d}s" if hours else f"{minutes}m {sec:02d}s"


def parse_time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def short_time(text: Any) -> str:
    t = parse_time(text)
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else "–"


def checkpoint_label(epoch: int) -> str:
    return "init" if epoch == 0 else f"ep {epoch}"


def final_accuracies(data: RunData) -> dict[str, float]:
    """The final model's eval-mode accuracies (run.json), else the last epoch's."""
    keys = ("clean_train_acc", "noisy_train_acc", "test_acc")
    if all(finite(data.info.get(k)) for k in keys):
        return {k: float(data.info[k]) for k in keys}
    if data.has("epochs"):
        rows = data.rows(f"SELECT {', '.join(keys)} FROM epochs ORDER BY epoch DESC LIMIT 1")
        if rows and all(finite(rows[0][k]) for k in keys):
            return {k: float(rows[0][k]) for k in keys}
    return {}


# --------------------------------------------------------------------------- sections


def run_section(data: RunData) -> Section:
    from memscope.store.runinfo import effective_status

    info = data.info
    cfg = data.config_value
    items: list[tuple[str, str]] = []
    name = info.get("name")
    items.append(("run", data.run_id + (f"  ({name})" if name and name != data.run_id else "")))
    if data.info_error:
        items.append(("status", f"unknown: {data.info_error}"))
    else:
        status = effective_status(info)
        items.append(("status", status + (f": {info['error']}" if info.get("error") else "")))
    dataset = info.get("dataset") or cfg("data.dataset", "?")
    rate = info.get("noise_rate", cfg("noise.rate"))
    noise = info.get("noise_model") or cfg("noise.model", "?")
    parts = []
    if info.get("num_train") is not None:
        noisy = info.get("num_noisy")
        parts.append(f"{info['num_train']} train" + (f" ({noisy} noisy)" if noisy is not None else ""))
    if info.get("num_test") is not None:
        parts.append(f"{info['num_test']} test")
    if info.get("num_classes"):
        parts.append(f"{info['num_classes']} classes")
    items.append(("data", f"{dataset}" + (f": {', '.join(parts)}" if parts else "") + (f"  [{info['data_source']}]" if info.get("data_source") else "")))
    rate_text = f"{rate:.0%} " if finite(rate) else ""
    items.append(("noise", f"{rate_text}{noise}" + (" (paper's off-by-one)" if cfg("noise.paper_off_by_one") else "")))
    model = info.get("model") or cfg("model.name", "?")
    width = cfg("model.width", 1.0)
    options = cfg("model.options") or {}
    extra = ([f"width {width:g}"] if finite(width) and width != 1.0 else []) + [f"{k}={v}" for k, v in options.items()]
    items.append(("model", model + (f" ({', '.join(extra)})" if extra else "")))
    total = info.get("epochs", cfg("train.epochs"))
    done = info.get("epoch")
    train_bits = [f"{done if done is not None else '?'}/{total if total is not None else '?'} epochs"]
    if cfg("train.batch_size"):
        train_bits.append(f"batch {cfg('train.batch_size')}")
    if cfg("train.lr") is not None:
        train_bits.append(f"lr {cfg('train.lr'):g} {cfg('train.schedule', '')}".rstrip())
    if cfg("data.augment"):
        train_bits.append("augmented")
    if cfg("train.precision") and cfg("train.precision") != "fp32":
        train_bits.append(str(cfg("train.precision")))
    items.append(("training", ", ".join(train_bits)))
    if cfg("etd.enabled"):
        layers = cfg("etd.layers") or ["the model's default"]
        items.append(("example-tied dropout", f"p_gen {cfg('etd.p_gen', 0.4):g}, p_mem {cfg('etd.p_mem', 0.1):g}, layers: {', '.join(layers)}"))
    items.append(("seed", str(info.get("seed", cfg("seed", "?")))))
    items.append(("device", str(info.get("device", "?")) + (f" on {info['hostname']}" if info.get("hostname") else "")))
    started, finished = parse_time(info.get("started_at")), parse_time(info.get("finished_at"))
    times = f"created {short_time(info.get('created_at'))}"
    if finished:
        times += f", finished {short_time(info.get('finished_at'))}"
    items.append(("time", times))
    timing = []
    if started and finished:
        timing.append(f"wall {duration((finished - started).total_seconds())}")
    if data.has("epochs"):
        rows = data.rows("SELECT sum(seconds) AS s, count(*) AS n FROM epochs")
        if rows and finite(rows[0]["s"]):
            timing.append(f"training {duration(rows[0]['s'])} ({duration(rows[0]['s'] / max(rows[0]['n'], 1))}/epoch)")
    analysis_seconds = sum(float(e.get("seconds") or 0) for e in (info.get("analyses") or {}).values() if isinstance(e, dict))
    if analysis_seconds:
        timing.append(f"analyses {duration(analysis_seconds)}")
    if timing:
        items.append(("timings", ", ".join(timing)))
    final = final_accuracies(data)
    if final:
        items.append(
            (
                "final accuracy",
                f"clean-train {final['clean_train_acc']:.3f}, noisy-train {final['noisy_train_acc']:.3f}, "
                f"test {final['test_acc']:.3f}; {memorization_phrase(final['noisy_train_acc'], evaluation_mode(cfg('etd.enabled')))}",
            )
        )
    versions = [f"memscope {info['memscope_version']}" if info.get("memscope_version") else "", f"torch {info['torch_version']}" if info.get("torch_version") else "", f"git {info['git_sha']}" if info.get("git_sha") else ""]
    if any(versions):
        items.append(("versions", ", ".join(v for v in versions if v)))
    for error in info.get("plugin_errors") or []:
        items.append(("plugin error", str(error)))
    blocks: list[Any] = [Fields(items)]
    analyses = info.get("analyses") or {}
    if analyses:
        rows = []
        for name, entry in analyses.items():
            entry = entry if isinstance(entry, dict) else {}
            rows.append([name, entry.get("status", "?"), entry.get("seconds"), entry.get("error") or ""])
        blocks.append(
            Table(
                [Column("analysis", justify="left"), Column("status", justify="left"), Column("seconds", ".1f"), Column("error", justify="left")],
                rows,
                title="Analyses",
            )
        )
    return Section("run", f"Run {data.run_id}", blocks)


def training_section(data: RunData) -> Section | None:
    if not data.has("epochs"):
        return None
    rows = data.rows(
        "SELECT epoch, lr, train_loss, clean_train_acc, noisy_train_acc, noisy_train_true_acc, test_acc, seconds "
        "FROM epochs ORDER BY epoch"
    )
    picked = [rows[i] for i in spread(len(rows), EPOCH_ROWS)]
    table = Table(
        [
            Column("epoch", "d"),
            Column("lr", ".3g"),
            Column("loss", ".3f"),
            Column("clean-train acc", ACC, heat=True),
            Column("noisy-train acc", ACC, heat=True),
            Column("noisy vs true label", ACC, heat=True),
            Column("test acc", ACC, heat=True),
            Column("seconds", ".1f"),
        ],
        [[r["epoch"], r["lr"], r["train_loss"], r["clean_train_acc"], r["noisy_train_acc"], r["noisy_train_true_acc"], r["test_acc"], r["seconds"]] for r in picked],
        caption=f"{len(picked)} of {len(rows)} epochs shown" if len(picked) < len(rows) else "",
    )
    blocks: list[Any] = [table]
    series = []
    for key, label in (("clean_train_acc", "clean-train"), ("noisy_train_acc", "noisy-train"), ("test_acc", "test")):
        pts = [(r["epoch"], r[key]) for r in rows if finite(r[key])]
        if pts:
            series.append(Series(label, [p[0] for p in pts], [p[1] for p in pts]))
    if series:
        blocks.append(Plot("line", series, title="accuracy per epoch (training pass; noisy-train against the observed labels)", xlabel="epoch", ylim=(0.0, 1.0)))
    last = rows[-1]
    tests = [(r["test_acc"], r["epoch"]) for r in rows if finite(r["test_acc"])]
    if finite(last["noisy_train_acc"]) and tests:
        best, neg_epoch = max((acc, -epoch) for acc, epoch in tests)  # the earliest epoch on ties
        best_epoch = -neg_epoch
        mode = evaluation_mode(data.config_value("etd.enabled"))
        blocks.append(
            Note(
                f"At the last epoch the model {memorization_phrase(last['noisy_train_acc'], mode)}; "
                f"test accuracy peaks at {best:.3f} in epoch {best_epoch} and ends at {last['test_acc']:.3f}."
            )
        )
    return Section("training", "Training", blocks, ("epochs",))


def examples_section(data: RunData) -> Section | None:
    """When clean and noisy examples are learned: the first epoch from which each stays correct."""
    if not data.has("example_epochs", "examples"):
        return None
    per = data.rows(
        "WITH ex AS (SELECT example, any_value(is_noisy) AS is_noisy FROM examples WHERE split = 'train' GROUP BY example), "
        "bounds AS (SELECT min(epoch) AS first, max(epoch) AS last FROM example_epochs), "
        "wrong AS (SELECT example, max(epoch) AS last_wrong FROM example_epochs WHERE NOT correct GROUP BY example), "
        "final AS (SELECT example, loss, margin FROM example_epochs WHERE epoch = (SELECT last FROM bounds)) "
        "SELECT ex.is_noisy, CASE WHEN w.last_wrong IS NULL THEN (SELECT first FROM bounds) "
        "WHEN w.last_wrong >= (SELECT last FROM bounds) THEN NULL ELSE w.last_wrong + 1 END AS learned, "
        "f.loss, f.margin FROM ex LEFT JOIN wrong w USING (example) JOIN final f USING (example)"
    )
    if not per:
        return None
    bounds = data.rows("SELECT min(epoch) AS first, max(epoch) AS last FROM example_epochs")[0]
    groups = [(label, [r for r in per if r["is_noisy"] is flag]) for label, flag in (("clean", False), ("noisy", True))]
    groups = [(label, rs) for label, rs in groups if rs]
    table_rows = []
    series = []
    epochs = list(range(int(bounds["first"]), int(bounds["last"]) + 1))
    for label, rs in groups:
        learned = [r["learned"] for r in rs if r["learned"] is not None]
        losses = [r["loss"] for r in rs if finite(r["loss"])]
        margins = [r["margin"] for r in rs if finite(r["margin"])]
        table_rows.append(
            [
                label,
                len(rs),
                len(learned) / len(rs),
                statistics.median(learned) if learned else None,
                statistics.fmean(learned) if learned else None,
                statistics.fmean(losses) if losses else None,
                statistics.fmean(margins) if margins else None,
            ]
        )
        series.append(Series(label, epochs, [sum(1 for v in learned if v <= e) / len(rs) for e in epochs]))
    blocks: list[Any] = [
        Table(
            [
                Column("examples", justify="left"),
                Column("n", ","),
                Column("learned", ".1%", heat=True),
                Column("median epoch", ".1f"),
                Column("mean epoch", ".1f"),
                Column("final loss", ".3f"),
                Column("final margin", "+.3f"),
            ],
            table_rows,
            title="training examples: the epoch from which each is predicted as its (observed) label for good",
            caption="learned: share correct from some epoch to the end; final: mean over the last epoch's training pass",
        )
    ]
    if len(epochs) > 1:
        blocks.append(Plot("line", series, title="share of examples learned for good, by epoch", xlabel="epoch", ylim=(0.0, 1.0), height=12))
    return Section("examples", "Examples: when they are learned", blocks, ("example_epochs",))


def gradients_section(data: RunData) -> Section | None:
    if not data.has("layer_epochs"):
        return None
    rows = data.rows(
        "SELECT epoch, layer_index, layer, clean_norm, noisy_norm, clean_norm_per_example, noisy_norm_per_example, "
        "cosine, cosine_paper FROM layer_epochs ORDER BY epoch, layer_index"
    )
    epochs = sorted({r["epoch"] for r in rows})
    layers: dict[int, str] = {}
    for r in rows:
        layers.setdefault(r["layer_index"], r["layer"])
    by_epoch: dict[int, list[dict]] = {}
    for r in rows:
        by_epoch.setdefault(r["epoch"], []).append(r)

    whole = combine_layers

    mean_cos: dict[int, float | None] = {}
    for index in layers:
        vals = [r["cosine"] for r in rows if r["layer_index"] == index and finite(r["cosine"])]
        mean_cos[index] = statistics.fmean(vals) if vals else None
    last = epochs[-1]
    table_rows = []
    for r in by_epoch[last]:
        table_rows.append(
            [
                r["layer"],
                r["clean_norm"],
                r["noisy_norm"],
                ratio(r["noisy_norm"], r["clean_norm"]),
                r["clean_norm_per_example"],
                r["noisy_norm_per_example"],
                ratio(r["noisy_norm_per_example"], r["clean_norm_per_example"]),
                r["cosine"],
                r["cosine_paper"],
                mean_cos[r["layer_index"]],
            ]
        )
    totals = whole(by_epoch[last])
    all_cos = [whole(by_epoch[e])["cosine"] for e in epochs]
    all_cos_f = [c for c in all_cos if finite(c)]
    table_rows.append(
        [
            "all layers",
            totals["clean_norm"],
            totals["noisy_norm"],
            ratio(totals["noisy_norm"], totals["clean_norm"]),
            totals["clean_norm_per_example"],
            totals["noisy_norm_per_example"],
            ratio(totals["noisy_norm_per_example"], totals["clean_norm_per_example"]),
            totals["cosine"],
            None,
            statistics.fmean(all_cos_f) if all_cos_f else None,
        ]
    )
    table = Table(
        [
            Column("layer", justify="left", wrap=False),
            Column("clean", ".3g"),
            Column("noisy", ".3g"),
            Column("ratio", ".2f"),
            Column("clean/ex", ".3g"),
            Column("noisy/ex", ".3g"),
            Column("ratio/ex", ".1f"),
            Column("cosine", "+.3f"),
            Column("cos paper", "+.3f"),
            Column("cos mean", "+.3f"),
        ],
        table_rows,
        title=f"epoch {last}: norms of the epoch-summed gradients of the clean and the noisy examples, and their cosine",
        caption="ratio: noisy / clean; /ex: norm / number of examples; cos paper: mean of per-tensor cosines; cos mean: cosine averaged over all epochs",
    )
    blocks: list[Any] = [*window_tables(rows), table]
    if len(epochs) > 1:
        series = []
        for index, name in sorted(layers.items()):
            pts = [(r["epoch"], r["cosine"]) for r in rows if r["layer_index"] == index and finite(r["cosine"])]
            if pts:
                series.append(Series(name, [p[0] for p in pts], [p[1] for p in pts]))
        pts = [(e, c) for e, c in zip(epochs, all_cos) if finite(c)]
        if pts:
            series.append(Series("all layers", [p[0] for p in pts], [p[1] for p in pts]))
        if series:
            blocks.append(Plot("line", series, title="cosine between the clean and the noisy gradient, per layer", xlabel="epoch", ylim=(-1.0, 1.0), height=18))
    return Section("gradients", "Gradients: clean vs noisy examples", blocks, ("layer_epochs",))


def window_tables(rows: list[dict[str, Any]]) -> list[Table]:
    """The whole training by 5-epoch windows: cosine, and noisy / clean gradient norm per example."""
    width = WINDOW
    ws = windows(rows, width)
    labels = window_labels(ws)
    if len(labels) > MAX_CHECKPOINT_COLUMNS:  # very long runs: wider windows, same table width
        width = WINDOW * math.ceil(len(labels) / MAX_CHECKPOINT_COLUMNS)
        ws = windows(rows, width)
        labels = window_labels(ws)
    cell = {(w.layer_index, w.start): w for w in ws}
    layers = list(dict.fromkeys((w.layer_index, w.layer) for w in ws))
    span = f"{width}-epoch windows"
    tables = []
    for what, value, fmt in (
        ("cosine between the clean and the noisy gradient", lambda w: w.cosine, "+.2f"),
        ("noisy / clean norm of the summed gradients (all noisy vs all clean examples)", lambda w: w.ratio, ".2f"),
        ("noisy / clean gradient norm per example", lambda w: w.ratio_per_example, ".1f"),
    ):
        tables.append(
            Table(
                [Column("layer", justify="left", wrap=False)] + [Column(f"ep {label}", fmt) for _, label in labels],
                [[name] + [value(cell[(index, start)]) if (index, start) in cell else None for start, _ in labels] for index, name in layers],
                title=f"{what}, over the whole training ({span}, mean of the epochs)",
            )
        )
    tables[-1].caption = "each epoch's values are of that epoch's summed gradients; a window shows their mean"
    return tables


def rewinding_section(data: RunData) -> Section | None:
    if not data.has("layer_rewinds"):
        return None
    rows = data.rows(
        "SELECT layer_index, layer, checkpoint_epoch, clean_train_acc, noisy_train_acc, test_acc "
        "FROM layer_rewinds ORDER BY layer_index, checkpoint_epoch"
    )
    all_epochs = sorted({r["checkpoint_epoch"] for r in rows})
    epochs = [all_epochs[i] for i in spread(len(all_epochs), MAX_CHECKPOINT_COLUMNS)]
    layers: dict[int, str] = {}
    cell: dict[tuple[int, int], dict] = {}
    for r in rows:
        layers.setdefault(r["layer_index"], r["layer"])
        cell[(r["layer_index"], r["checkpoint_epoch"])] = r
    final = final_accuracies(data)
    caption = f"{len(epochs)} of {len(all_epochs)} checkpoints shown" if len(epochs) < len(all_epochs) else ""
    blocks: list[Any] = []
    for key, what in (("noisy_train_acc", "noisy-train accuracy (against the noisy labels)"), ("clean_train_acc", "clean-train accuracy")):
        columns = [Column("layer", justify="left", wrap=False)] + [Column(checkpoint_label(e), ACC, heat=True) for e in epochs]
        if final:
            columns.append(Column("final", ACC, heat=True))
        table_rows = []
        for index, name in sorted(layers.items()):
            row: list[Any] = [name] + [cell.get((index, e), {}).get(key) for e in epochs]
            if final:
                row.append(final[key])
            table_rows.append(row)
        blocks.append(Table(columns, table_rows, title=f"{what} after rewinding one layer to a checkpoint", caption=caption))
    first = all_epochs[0]
    at_first = [cell[(i, first)] for i in sorted(layers) if (i, first) in cell and finite(cell[(i, first)]["noisy_train_acc"])]
    if at_first and final:
        worst = min(at_first, key=lambda r: r["noisy_train_acc"])
        drop = final["noisy_train_acc"] - worst["noisy_train_acc"]
        where = f"Rewound to {checkpoint_label(first)}"
        if drop > 0.05:
            text = (
                f"{where}, {worst['layer']} lowers noisy-train accuracy the most: {final['noisy_train_acc']:.3f} -> "
                f"{worst['noisy_train_acc']:.3f}, with clean-train {final['clean_train_acc']:.3f} -> {worst['clean_train_acc']:.3f}."
            )
            redundant = [r["layer"] for r in at_first if r["noisy_train_acc"] >= final["noisy_train_acc"] - 0.05]
            if redundant:
                text += f" Redundant for memorization (noisy-train accuracy within 0.05 of final): {', '.join(redundant)}."
        else:
            text = f"{where}, no single layer lowers noisy-train accuracy by more than 0.05 (final: {final['noisy_train_acc']:.3f})."
        blocks.append(Note(text))
    return Section("rewinding", "Layer rewinding", blocks, ("layer_rewinds",))


def retraining_section(data: RunData) -> Section | None:
    if not data.has("layer_retrains"):
        return None
    rows = data.rows(
        "SELECT layer_index, layer, reset_epoch, retrain_epoch, clean_train_acc, noisy_train_acc, test_acc "
        "FROM layer_retrains ORDER BY layer_index, reset_epoch, retrain_epoch"
    )
    runs: dict[tuple[int, str, int], list[dict]] = {}
    for r in rows:
        runs.setdefault((r["layer_index"], r["layer"], r["reset_epoch"]), []).append(r)
    table_rows = []
    for (index, name, reset), seq in runs.items():
        first, last = seq[0], seq[-1]
        table_rows.append(
            [
                name,
                checkpoint_label(reset),
                last["retrain_epoch"],
                first["clean_train_acc"],
                first["noisy_train_acc"],
                first["test_acc"],
                last["clean_train_acc"],
                last["noisy_train_acc"],
                last["test_acc"],
            ]
        )
    table = Table(
        [
            Column("layer", justify="left", wrap=False),
            Column("reset to", justify="left"),
            Column("epochs", "d"),
            Column("reset clean", ACC, heat=True),
            Column("reset noisy", ACC, heat=True),
            Column("reset test", ACC, heat=True),
            Column("retrained clean", ACC, heat=True),
            Column("retrained noisy", ACC, heat=True),
            Column("retrained test", ACC, heat=True),
        ],
        table_rows,
        title="one layer reset and retrained on the clean examples only (others frozen)",
        caption="reset: right after the reset; retrained: after the last retraining epoch; noisy: against the noisy labels",
    )
    blocks: list[Any] = [table]
    series = [
        Series(f"{name}" + (f" (from {checkpoint_label(reset)})" if len({k[2] for k in runs}) > 1 else ""), [r["retrain_epoch"] for r in seq], [r["noisy_train_acc"] for r in seq])
        for (index, name, reset), seq in runs.items()
        if len(seq) > 1 and all(finite(r["noisy_train_acc"]) for r in seq)
    ]
    if series:
        blocks.append(Plot("line", series, title="noisy-train accuracy while retraining one layer", xlabel="retraining epoch", ylim=(0.0, 1.0)))
    blocks.append(
        Note("No noisy example is shown during retraining: where noisy-train accuracy comes back, the rest of the network holds the memorization.")
    )
    return Section("retraining", "Layer retraining", blocks, ("layer_retrains",))


FLIP_BINS = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, 200), (201, None))


def _bin_label(lo: int, hi: int | None) -> str:
    if hi is None:
        return f">{lo - 1}"
    return str(lo) if lo == hi else f"{lo}-{hi}"


def flipping_section(data: RunData) -> Section | None:
    """Neuron flipping over the targets it counts (the model fitted them at the start), each
    count beside its collateral damage, then where the zeroed parameters sit."""
    has_flips, has_steps = data.has("neuron_flips"), data.has("neuron_flip_steps")
    if not has_flips:
        return None
    flip_columns = data.columns("neuron_flips")
    groups = summarize_flips(data.rows(targets_sql(flip_columns)))
    table_rows = []
    for label, g in groups.items():
        table_rows.append(
            [
                label,
                g.targets,
                g.skipped_total,
                g.counted,
                len(g.flipped),
                g.median_neurons,
                statistics.fmean(g.flipped) if g.flipped else None,
                min(g.flipped) if g.flipped else None,
                max(g.flipped) if g.flipped else None,
                g.median_test_drop,
                g.median_clean_drop,
            ]
        )
    blocks: list[Any] = [
        Table(
            [
                Column("targets", justify="left"),
                Column("n", "d"),
                Column("skipped", "d"),
                Column("counted", "d"),
                Column("flipped", "d"),
                Column("median", ".1f"),
                Column("mean", ".2f"),
                Column("min", "d"),
                Column("max", "d"),
                Column("test drop", "+.3f"),
                Column("clean drop", "+.3f"),
            ],
            table_rows,
            title="parameters zeroed until the target's prediction flips (counted targets only)",
            caption="median/mean/min/max over flipped targets; drop: median over counted targets of accuracy before - after the edit (test, clean-train samples)",
        )
    ]
    skipped = skipped_flips_text(groups)
    reasons = sorted({r for g in groups.values() for r in g.skipped})
    if skipped:
        why = " ".join(f"{r.replace('_', ' ').capitalize()}: {SKIP_REASONS.get(r, r)}." for r in reasons)
        blocks.append(Note(f"{skipped.capitalize()}; skipped targets get no neuron count. {why}"))
    if not any(g.test_drops for g in groups.values()) and any(g.counted for g in groups.values()):
        blocks.append(Note("Collateral damage not measured: these rows have no accuracy before the edit (an older neuron_flipping)."))
    counts_all = [n for g in groups.values() for n in g.flipped]
    if counts_all:
        top = max(counts_all)
        bins = [b for b in FLIP_BINS if b[0] <= top]
        categories = [_bin_label(lo, hi) for lo, hi in bins] + ["not flipped"]
        series = []
        for label, g in groups.items():
            if not g.counted:
                continue
            shares = [sum(1 for n in g.flipped if n >= lo and (hi is None or n <= hi)) / g.counted for lo, hi in bins]
            shares.append(g.not_flipped / g.counted)
            series.append(Series(label, list(range(len(categories))), shares))
        blocks.append(Plot("bars", series, title="parameters to flip: share of counted targets", xlabel="parameters zeroed", categories=categories, height=14))
    if has_steps:
        place = flip_placement(data.rows(placement_sql(flip_columns, data.columns("neuron_flip_steps"))))
        if place.layers:
            rows = [
                [name, place.edits.get((index, "noisy"), 0), place.share(index, "noisy"), place.edits.get((index, "clean"), 0), place.share(index, "clean")]
                for index, name in place.layers
            ]
            blocks.append(
                Table(
                    [Column("layer", justify="left", wrap=False), Column("noisy edits", "d"), Column("share", ".1%"), Column("clean edits", "d"), Column("share", ".1%")],
                    rows,
                    title="where the zeroed parameters sit, by layer group",
                    caption="edits of flipped targets only (targets that hit the cap or were skipped are left out)",
                )
            )
        if place.kinds:
            kinds = sorted({k for k, _ in place.kinds})
            total = {g: sum(n for (_, gg), n in place.kinds.items() if gg == g) for g in GROUPS}
            blocks.append(
                Table(
                    [Column("kind", justify="left"), Column("noisy edits", "d"), Column("share", ".1%"), Column("clean edits", "d"), Column("share", ".1%")],
                    [[k, place.kinds.get((k, "noisy"), 0), ratio(place.kinds.get((k, "noisy"), 0), total["noisy"]),
                      place.kinds.get((k, "clean"), 0), ratio(place.kinds.get((k, "clean"), 0), total["clean"])] for k in kinds],
                    title="what was zeroed: conv filters, single weights, biases, norm parameters",
                )
            )
    return Section("flipping", "Neuron flipping", blocks, ("neuron_flips", "neuron_flip_steps"))


def etd_section(data: RunData) -> Section | None:
    if not data.has("etd_evals"):
        return None
    rows = data.rows("SELECT mode, clean_train_acc, noisy_train_acc, noisy_train_true_acc, test_acc FROM etd_evals")
    order = {"example": 0, "kept": 1, "dropped": 2}
    rows.sort(key=lambda r: (order.get(r["mode"], 2), str(r["mode"])))
    blocks: list[Any] = [
        Table(
            [
                Column("mode", justify="left"),
                Column("clean-train acc", ACC, heat=True),
                Column("noisy-train acc", ACC, heat=True),
                Column("noisy vs true label", ACC, heat=True),
                Column("test acc", ACC, heat=True),
            ],
            [[r["mode"], r["clean_train_acc"], r["noisy_train_acc"], r["noisy_train_true_acc"], r["test_acc"]] for r in rows],
            title="example-tied dropout: own masks (example), all channels kept (scaled), memorization channels dropped",
        )
    ]
    by_mode = {r["mode"]: r for r in rows}
    before = "example" if "example" in by_mode else "kept"  # each example with its own mask, when recorded
    if before in by_mode and "dropped" in by_mode:
        k, d = by_mode[before], by_mode["dropped"]
        if all(finite(x[c]) for x in (k, d) for c in ("clean_train_acc", "noisy_train_acc", "test_acc")):
            mode = "each example with its own mask" if before == "example" else "kept mode"
            blocks.append(
                Note(
                    f"Before dropping, the model {memorization_phrase(k['noisy_train_acc'], mode)}. "
                    f"Dropping the memorization channels: noisy-train {k['noisy_train_acc']:.3f} -> {d['noisy_train_acc']:.3f}, "
                    f"clean-train {k['clean_train_acc']:.3f} -> {d['clean_train_acc']:.3f}, test {k['test_acc']:.3f} -> {d['test_acc']:.3f}."
                )
            )
    return Section("etd", "Example-tied dropout", blocks, ("etd_evals",))


def example_scores_section(data: RunData) -> Section | None:
    if not data.has("example_scores"):
        return None
    split = data.has("examples")
    if split:
        sql = (
            "SELECT s.analysis, s.metric, count(*) AS n, avg(s.value) AS mean, median(s.value) AS median, "
            "min(s.value) AS min, max(s.value) AS max, "
            "avg(s.value) FILTER (WHERE e.is_noisy = false) AS mean_clean, avg(s.value) FILTER (WHERE e.is_noisy) AS mean_noisy "
            "FROM example_scores s LEFT JOIN (SELECT example, any_value(is_noisy) AS is_noisy FROM examples "
            "WHERE split = 'train' GROUP BY example) e USING (example) GROUP BY ALL ORDER BY s.analysis, s.metric"
        )
    else:
        sql = (
            "SELECT analysis, metric, count(*) AS n, avg(value) AS mean, median(value) AS median, min(value) AS min, "
            "max(value) AS max FROM example_scores GROUP BY ALL ORDER BY analysis, metric"
        )
    rows = data.rows(sql)
    columns = [
        Column("analysis", justify="left"),
        Column("metric", justify="left"),
        Column("examples", "d"),
        Column("mean", ".4g"),
        Column("median", ".4g"),
        Column("min", ".4g"),
        Column("max", ".4g"),
    ]
    if split:
        columns += [Column("mean clean", ".4g"), Column("mean noisy", ".4g")]
    keys = ["analysis", "metric", "n", "mean", "median", "min", "max"] + (["mean_clean", "mean_noisy"] if split else [])
    return Section(
        "example_scores",
        "Per-example scores",
        [Table(columns, [[r[k] for k in keys] for r in rows], title="example_scores by analysis and metric")],
        ("example_scores",),
    )


SMALL_TABLE_ROWS = 30


def plugin_tables_section(data: RunData) -> Section | None:
    """Plugin tables small enough to read whole (a leaderboard, per-group summaries), in full."""
    blocks: list[Any] = []
    shown: list[str] = []
    for table in sorted(data.tables):
        if table in CORE_TABLES or not 0 < data.count(table) <= SMALL_TABLE_ROWS:
            continue
        names = [c for c in data.columns(table) if c != "run_id"]
        rows = data.rows(f'SELECT {", ".join(sql_identifier(n) for n in names)} FROM {sql_identifier(table)}')
        sample = rows[0] if rows else {}
        columns = [
            Column(n, ".4g" if isinstance(sample.get(n), float) else "", justify="right" if isinstance(sample.get(n), (int, float)) else "left")
            for n in names
        ]
        blocks.append(Table(columns, [[r[n] for n in names] for r in rows], title=table))
        shown.append(table)
    if not blocks:
        return None
    return Section("plugin_tables", "Plugin tables", blocks, tuple(shown))


def tables_section(data: RunData, shown: dict[str, str]) -> Section | None:
    """Every table holding rows for this run: row counts, and where the report shows it."""
    if not data.tables:
        return None
    rows = []
    for table in sorted(data.tables):
        columns = [c for c in data.columns(table) if c != "run_id"]
        listed = ", ".join(columns)
        if len(listed) > 48:
            listed = listed[:47] + "…"
        rows.append([table, "core" if table in CORE_TABLES else "plugin", data.count(table), len(data.tables[table]), shown.get(table, "–"), listed])
    return Section(
        "tables",
        "Tables",
        [
            Table(
                [Column("table", justify="left", wrap=False), Column("kind", justify="left"), Column("rows", ","), Column("parts", "d"), Column("shown in", justify="left"), Column("columns", justify="left")],
                rows,
                caption=f"query any of them: memscope query \"SELECT * FROM <table> WHERE run_id = '{data.run_id}' LIMIT 20\"",
            )
        ],
    )


PAPER_ANALYSES = (
    ("rewinding", "layer_rewinds"),
    ("retraining", "layer_retrains"),
    ("neuron_flipping", "neuron_flips"),
    ("etd", "etd_evals"),
)


def next_section(data: RunData) -> Section | None:
    """What else could be looked at: the paper's analyses this run has no rows for."""
    from memscope.store.runinfo import effective_status

    if data.info_error or effective_status(data.info) != "completed":
        return None
    etd = bool(data.config_value("etd.enabled"))
    # an ETD-trained run refuses the localizing analyses (memscope.config.LOCALIZING_ANALYSES)
    possible = [(name, table) for name, table in PAPER_ANALYSES if (name == "etd") == etd]
    missing = [name for name, table in possible if not data.has(table)]
    lines = [f"memscope analyze {data.run_id} -a {name}" for name in missing]
    if etd:
        lines.append("rewinding, retraining and neuron flipping need a run trained without example-tied dropout (e.g. memscope run digits)")
    if not data.has("layer_epochs"):
        lines.append("gradient accounting runs during training: add \"gradient_accounting\" to analyses in a new run")
    if not lines:
        return None
    return Section("next", "Not in this run yet", [Note("\n".join(lines))])


SECTIONS: list[tuple[str, SectionBuilder]] = [
    ("run", run_section),
    ("training", training_section),
    ("examples", examples_section),
    ("gradients", gradients_section),
    ("rewinding", rewinding_section),
    ("retraining", retraining_section),
    ("flipping", flipping_section),
    ("etd", etd_section),
    ("example_scores", example_scores_section),
    ("plugin_tables", plugin_tables_section),
]


def register_section(key: str, builder: SectionBuilder, *, before: str | None = None) -> None:
    """Add a section builder (``builder(data) -> Section | None``), at the end or before ``key``.

    The built-in "tables" and "next" sections always come last.
    """
    if any(k == key for k, _ in SECTIONS):
        raise ValueError(f"report section {key!r} is already registered")
    if before is None:
        SECTIONS.append((key, builder))
        return
    for i, (k, _) in enumerate(SECTIONS):
        if k == before:
            SECTIONS.insert(i, (key, builder))
            return
    raise ValueError(f"no report section {before!r} to insert {key!r} before; sections: {', '.join(k for k, _ in SECTIONS)}")
