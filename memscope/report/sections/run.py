"""The run's header (config, status, timings, final accuracy, analyses) and what else the run
could show ("Not in this run yet")."""

from __future__ import annotations

from typing import Any

from memscope.report.blocks import Column, Fields, Note, Section, Table
from memscope.report.memorization import evaluation_mode, memorization_phrase
from memscope.report.sections.common import duration, final_accuracies, finite, parse_time, short_time
from memscope.results.analyses import training
from memscope.results.source import RunResults


def run_section(data: RunResults) -> Section:
    epochs = training.epochs(data).to_pylist() if data.has("epochs") else []
    items = _what_items(data) + _when_items(data, epochs)
    blocks: list[Any] = [Fields(items)]
    analyses = data.info.get("analyses") or {}
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


def _what_items(data: RunResults) -> list[tuple[str, str]]:
    """The run, its status, data, noise, model, training and ETD settings."""
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
    return items


def _when_items(data: RunResults, epochs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Seed, device, times, timings, final accuracy, versions and plugin errors."""
    info = data.info
    cfg = data.config_value
    items: list[tuple[str, str]] = []
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
    seconds = [r["seconds"] for r in epochs if finite(r["seconds"])]
    if seconds:
        timing.append(f"training {duration(sum(seconds))} ({duration(sum(seconds) / len(epochs))}/epoch)")
    analysis_seconds = sum(float(e.get("seconds") or 0) for e in (info.get("analyses") or {}).values() if isinstance(e, dict))
    if analysis_seconds:
        timing.append(f"analyses {duration(analysis_seconds)}")
    if timing:
        items.append(("timings", ", ".join(timing)))
    final = final_accuracies(data, epochs)
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
    return items



PAPER_ANALYSES = (
    ("rewinding", "layer_rewinds"),
    ("retraining", "layer_retrains"),
    ("neuron_flipping", "neuron_flips"),
    ("etd", "etd_evals"),
)


def next_section(data: RunResults) -> Section | None:
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
