"""Reproduce the paper's four verified claims on the CPU: claim, paper, measured, verdict.

Maini et al., "Can Neural Network Memorization Be Localized?", ICML 2023 (arXiv 2307.09542).
Three settings: the digits default (small CNN), MNIST with ResNet-9 at quarter width on a
subset, and CIFAR-10 (the JPEG q75 copy in ../shared/data) with ResNet-9 at quarter width
on a subset. Each setting trains two runs with the same seed and noise: a plain run
(gradient accounting, rewinding, retraining, neuron flipping, all with default options) and
an example-tied-dropout run. The rules, fixed before any run, are in docs/reproduction.md
and bench/repro_rules.py; nothing is tuned to make a claim pass.

Runs are kept in --home: a completed run whose resolved config equals the one wanted is
reused, not retrained. --reanalyze NAME re-runs one analysis on those runs first (a changed
engine is re-measured without retraining). --write-doc regenerates the table section of
docs/reproduction.md. --quick runs every setting at a tiny size to check the script end to
end (its numbers mean nothing and never go into the doc).

Run: python bench/reproduce.py [--home DIR] [--only SETTING] [--reanalyze NAME] [--write-doc] [--no-train] [--quick] [--data DIR] [--role plain|ETD]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the repro_* helpers beside this file

import duckdb  # noqa: E402

# Imported now, so that a long run keeps the code it started with when the tree changes under
# it (the analyses import these lazily, after training).
import memscope.analysis.flipping_engine  # noqa: E402,F401
import memscope.models.evaluation  # noqa: E402,F401
from memscope.config import RunConfig, load_config  # noqa: E402
from memscope.errors import MemscopeError  # noqa: E402
from memscope.plugins import PluginHost  # noqa: E402
from memscope.results.source import open_run  # noqa: E402
from memscope.store.home import Home  # noqa: E402
from memscope.train.reanalyze import analyze  # noqa: E402
from memscope.train.runner import Run  # noqa: E402

import repro_rules as rules  # noqa: E402
import repro_store as store  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reproduction.md"
PAPER_ANALYSES = ["gradient_accounting", "rewinding", "retraining", "neuron_flipping"]
QUICK_FLIPS = ["analysis.neuron_flipping.num_noisy=3", "analysis.neuron_flipping.num_clean=3", "analysis.neuron_flipping.reference_batch=16",
               "analysis.neuron_flipping.max_neurons=10", "analysis.neuron_flipping.eval_clean=50", "analysis.neuron_flipping.eval_noisy=20",
               "analysis.neuron_flipping.eval_test=50", "analysis.retraining.epochs=1"]


@dataclass(frozen=True)
class Setting:
    name: str
    label: str  # data and model, as the doc names them
    config: str  # relative to the checkout
    data_files: tuple[str, ...] = ()  # under --data, joined with '+' into data.path
    overrides: tuple[str, ...] = ()
    quick: tuple[str, ...] = field(default=())  # appended with --quick (later overrides win)
    # The ETD run's layers, pinned so that a run trained under another default is never reused
    # (empty: the model's default, for models whose default has not changed).
    etd_layers: tuple[str, ...] = ()


SETTINGS = {
    s.name: s
    for s in (
        Setting("digits", "sklearn digits 8x8 (1438 train), small CNN", "sample_configs/digits.toml",
                overrides=("analysis.neuron_flipping.num_noisy=60", "analysis.neuron_flipping.num_clean=60",
                           "analysis.neuron_flipping.reference_batch=128", "analysis.retraining.epochs=10"),
                quick=("train.epochs=3", "train.checkpoint_every=1", *QUICK_FLIPS)),
        Setting("mnist", "MNIST (4000-example subset), ResNet-9 width 0.25", "sample_configs/mnist_resnet9_cpu.toml", ("mnist.npz",),
                overrides=("data.train_subset=4000", "data.test_subset=1000", "train.epochs=40", "train.checkpoint_every=4",
                           "analysis.neuron_flipping.num_noisy=30", "analysis.neuron_flipping.num_clean=30",
                           "analysis.neuron_flipping.reference_batch=64", "analysis.retraining.epochs=6"),
                quick=("data.train_subset=300", "data.test_subset=100", "train.epochs=2", "train.checkpoint_every=1", *QUICK_FLIPS),
                etd_layers=("conv1", "conv2", "res1_b", "conv3", "res2_b", "conv4"),),
        Setting("cifar10", "CIFAR-10 (JPEG q75 copy; seeded random subset), ResNet-9 width 0.25", "sample_configs/cifar10_resnet9_cpu.toml",
                ("cifar10_jpeg_train_part1.npz", "cifar10_jpeg_train_part2.npz", "cifar10_jpeg_test.npz"),
                quick=("data.train_subset=300", "data.test_subset=100", "train.epochs=2", "train.checkpoint_every=1", *QUICK_FLIPS),
                etd_layers=("conv1", "conv2", "res1_b", "conv3", "res2_b", "conv4"),),
    )
}

CLAIMS = (
    ("1 gradients", "noisy 10% pull as hard as the clean 90%, in the opposite direction",
     "aggregate noisy gradient norm comparable to the clean one; clean/noisy cosine strongly negative during memorization"),
    ("2 layers", "most single layers redundant; those that matter are not the last",
     "rewinding or retraining single layers: most are redundant, the critical ones are not the final layer"),
    ("3 neurons", "few parameters, spread over layers; noisy need fewer than clean",
     "about 5 channels flip a memorized CIFAR-10 example (ResNet-9); clean examples need more; spread over layers"),
    ("4 ETD", "dropping the memorization channels removes memorization, gap shrinks",
     "noisy-train accuracy 100% -> about 3% after dropping; generalization gap reduced"),
)


# --------------------------------------------------------------------------- running


def resolved(setting: Setting, data_dir: Path, quick: bool) -> tuple[RunConfig, RunConfig] | str:
    """(plain config, ETD config), or why the setting cannot run."""
    overrides = list(setting.overrides)
    if setting.data_files:
        paths = [data_dir / f for f in setting.data_files]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            return f"data not found: {missing[0]} (pass --data DIR)"
        overrides.append('data.path="' + "+".join(str(p.resolve()) for p in paths) + '"')
    if quick:
        overrides += setting.quick
    config = str(ROOT / setting.config)
    as_list = lambda names: "[" + ", ".join(f'"{n}"' for n in names) + "]"  # noqa: E731
    plain = load_config(config, [*overrides, f"analyses={as_list(PAPER_ANALYSES)}"])
    pinned = [f"etd.layers={as_list(setting.etd_layers)}"] if setting.etd_layers else []
    etd = load_config(config, [*[o for o in overrides if not o.startswith("analysis.")], "etd.enabled=true", *pinned, f"analyses={as_list(['etd'])}"])
    return plain, etd


class NotTrained(Exception):
    """--no-train and no completed run matches."""


def obtain(home: Home, host: PluginHost, config: RunConfig, role: str, reanalyze: str | None, train: bool = True) -> str:
    """The run for ``config``: reused when a completed one matches, else trained now."""
    run_id = store.find_finished_run(home, config)
    if run_id is None and not train:
        raise NotTrained(f"no completed {role} run with this config in {home.root} (--no-train)")
    if run_id is None:
        run = Run(config, home, host, progress=False)
        run_id = run.start()
        started = time.perf_counter()
        result = run.execute()
        failed = {n: e.get("error") for n, e in result.analyses.items() if e.get("status") == "failed"}
        print(f"  {role} run {run_id}: trained, {result.status} in {time.perf_counter() - started:.0f}s"
              + (f"; failed analyses: {failed}" if failed else ""), flush=True)
    else:
        print(f"  {role} run {run_id}: reused (same resolved config)", flush=True)
        if reanalyze and reanalyze in config.analyses:
            started = time.perf_counter()
            outcome = analyze(home, host, run_id, [reanalyze], [], progress=False)[reanalyze]
            print(f"  {role} run {run_id}: re-ran {reanalyze}: {outcome.get('status')} in {time.perf_counter() - started:.0f}s"
                  + (f" ({outcome['error']})" if outcome.get("error") else ""), flush=True)
    return run_id


def print_phases(home: Home, run_id: str, role: str) -> dict[str, float]:
    with open_run(home, run_id) as run:
        seconds = store.phase_seconds(run)
    print(f"  {role} wall time: " + ", ".join(f"{k} {v:.0f}s" for k, v in seconds.items()), flush=True)
    return seconds


# --------------------------------------------------------------------------- measuring


def judge(fn, *args) -> rules.Verdict:
    try:
        return fn(*args)
    except (duckdb.Error, MemscopeError, KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        return rules.Verdict(f"could not be measured: {exc.__class__.__name__}: {exc}", rules.NOT_MEASURED)


def unfinished(role: str) -> rules.Verdict:
    return rules.Verdict(f"the {role} run has not finished yet (--no-train)", rules.NOT_MEASURED)


def failed_analyses(home: Home, run_id: str) -> list[str]:
    return [f"analysis {name} {entry.get('status')}: {entry.get('error') or 'no error recorded'}"
            for name, entry in (store.run_info(home, run_id).get("analyses") or {}).items() if entry.get("status") != "completed"]


def measure_plain(home: Home, plain: str | None) -> tuple[dict, list[rules.Verdict], list[str]]:
    """(final accuracies of the plain run, verdicts of claims 1-3, notes)."""
    if plain is None:
        return {}, [unfinished("plain")] * 3, []
    with open_run(home, plain) as run:
        final = {k: run.info.get(k) for k in ("clean_train_acc", "noisy_train_acc", "test_acc")}
        per_epoch, curve = store.gradient_rows(run)
        rewinds, retrains = store.layer_rows(run)
        flips, steps, final_layer, notes = store.flip_rows(run)
        candidates = store.flip_candidates(run)
    verdicts = [
        judge(rules.judge_gradients, per_epoch, curve, final["noisy_train_acc"]),
        judge(rules.judge_layers, final, rewinds, retrains),
        judge(rules.judge_neurons, flips, steps, final_layer, final["noisy_train_acc"]),
    ]
    notes.append("flipping candidates: " + (", ".join(candidates) or "units (recorded before the candidates column)"))
    return final, verdicts, notes + failed_analyses(home, plain)


def measure_etd(home: Home, etd: str | None) -> tuple[rules.Verdict, list[str]]:
    """(verdict of claim 4, notes)."""
    if etd is None:
        return unfinished("ETD"), []
    with open_run(home, etd) as run:
        by_mode, n_clean, n_noisy = store.etd_rows(run)
    return judge(rules.judge_etd, by_mode, n_clean, n_noisy), failed_analyses(home, etd)


# --------------------------------------------------------------------------- output


def verdict_text(v: rules.Verdict) -> str:
    return v.verdict + (f": {'; '.join(v.reasons)}" if v.reasons else "")


def markdown(results: list[dict]) -> str:
    """The generated section of docs/reproduction.md: settings, then claims."""
    cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    out = ["| setting | data and model | plain run: clean / noisy / test acc (eval mode) | memorized? | runs | wall time |", "|---|---|---|---|---|---|"]
    for r in results:
        if "skipped" in r:
            out.append(f"| {r['name']} | {cell(r['label'])} | not run: {cell(r['skipped'])} | | | |")
            continue
        wall = "; ".join(f"{role}: " + ", ".join(f"{k} {v:.0f}s" for k, v in secs.items()) for role, secs in r["seconds"].items())
        ids = ", ".join(f"{role} `{r[key]}`" if r[key] else f"{role} not finished" for role, key in (("plain", "plain"), ("ETD", "etd")))
        f = r["final"]
        if not f:
            out.append(f"| {r['name']} | {cell(r['label'])} | plain run not finished | | {ids} | {cell(wall)} |")
            continue
        memorized = "yes" if (f["noisy_train_acc"] or 0) >= rules.MEMORIZED else f"no: did not memorize (noisy-train acc {rules.fmt(f['noisy_train_acc'])})"
        out.append(f"| {r['name']} | {cell(r['label'])} | {rules.fmt(f['clean_train_acc'])} / {rules.fmt(f['noisy_train_acc'])} / {rules.fmt(f['test_acc'])} "
                   f"| {memorized} | {ids} | {cell(wall)} |")
    out += ["", "| setting | claim | paper (CIFAR-10, ResNet-9) | measured | verdict |", "|---|---|---|---|---|"]
    for r in results:
        if "skipped" in r:
            continue
        for (claim, statement, paper), v in zip(CLAIMS, r["verdicts"]):
            out.append(f"| {r['name']} | {claim}: {cell(statement)} | {cell(paper)} | {cell(v.measured)} | **{cell(verdict_text(v))}** |")
    notes = [f"- {r['name']}: " + "; ".join(r["notes"]) for r in results if r.get("notes")]
    if notes:
        out += ["", "Notes on the measured rows:", *notes]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="keep the runs in this home and reuse them (default: a temporary one)")
    parser.add_argument("--only", choices=sorted(SETTINGS), help="one setting")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="folder with mnist.npz and the CIFAR-10 parts (default: ../shared/data)")
    parser.add_argument("--reanalyze", metavar="NAME", help="re-run this analysis on reused runs before measuring (e.g. neuron_flipping)")
    parser.add_argument("--write-doc", action="store_true", help="rewrite the table section of docs/reproduction.md")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script end to end (numbers mean nothing)")
    parser.add_argument("--no-train", action="store_true", help="measure only the completed runs in --home; train nothing")
    parser.add_argument("--role", choices=("plain", "ETD"), help="train (or reuse) only this run of each setting, and measure nothing: "
                        "to spread one setting's two runs over two processes in the same --home")
    args = parser.parse_args()
    if args.write_doc and (args.quick or args.only or args.role):
        print("reproduce.py: --write-doc measures every setting at full size; drop --quick, --only and --role", file=sys.stderr)
        return 2
    if args.reanalyze and args.reanalyze not in (*PAPER_ANALYSES, "etd"):
        print(f"reproduce.py: --reanalyze {args.reanalyze}: not one of {', '.join((*PAPER_ANALYSES, 'etd'))}", file=sys.stderr)
        return 2
    tmp = tempfile.TemporaryDirectory()
    home = Home(args.home or tmp.name).ensure()
    host = PluginHost(None)
    results = []
    for setting in SETTINGS.values():
        if args.only and setting.name != args.only:
            continue
        print(f"{setting.name}: {setting.label}", flush=True)
        configs = resolved(setting, Path(args.data), args.quick)
        if isinstance(configs, str):
            print(f"  skipped: {configs}", flush=True)
            results.append({"name": setting.name, "label": setting.label, "skipped": configs})
            continue
        try:
            if args.role:
                run_id = obtain(home, host, configs[args.role == "ETD"], args.role, args.reanalyze)
                print_phases(home, run_id, args.role)
                continue
            runs = {}
            for role, config in (("plain", configs[0]), ("ETD", configs[1])):
                try:
                    runs[role] = obtain(home, host, config, role, args.reanalyze, not args.no_train)
                except NotTrained as exc:
                    print(f"  {exc}", flush=True)
                    runs[role] = None
        except MemscopeError as exc:
            print(f"  failed: {exc.message}", flush=True)
            results.append({"name": setting.name, "label": setting.label, "skipped": f"run failed: {exc.message}"})
            continue
        plain, etd = runs["plain"], runs["ETD"]
        seconds = {role: print_phases(home, run_id, role) for role, run_id in runs.items() if run_id}
        started = time.perf_counter()
        final, verdicts, notes = measure_plain(home, plain)
        etd_verdict, etd_notes = measure_etd(home, etd)
        verdicts, notes = [*verdicts, etd_verdict], notes + etd_notes
        print(f"  measuring: {time.perf_counter() - started:.1f}s", flush=True)
        results.append({"name": setting.name, "label": setting.label, "plain": plain, "etd": etd, "final": final,
                        "verdicts": verdicts, "notes": notes, "seconds": seconds})
    if args.role:
        return 0  # one run per setting: nothing to judge
    print()
    print(f"{'setting':<8} | {'claim':<12} | verdict")
    print("-" * 100)
    for r in results:
        if "skipped" in r:
            print(f"{r['name']:<8} | {'':<12} | not run: {r['skipped']}")
            continue
        for (claim, _, _), v in zip(CLAIMS, r["verdicts"]):
            print(f"{r['name']:<8} | {claim:<12} | {verdict_text(v)}\n{'':<8} | {'':<12} |   measured: {v.measured}")
        for note in r["notes"]:
            print(f"{r['name']:<8} | {'note':<12} | {note}")
    if args.write_doc:
        store.write_table(DOC, markdown(results))
        print(f"\nwrote the table in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
