"""``memscope analyze``: run post-training analyses again on a finished run, from its checkpoints.

The run's config.toml stays what was trained; run.json records what was analysed, with
which options (``analyzed``).
"""

from __future__ import annotations

from pathlib import Path

from memscope.config import RunConfig, apply_overrides, config_from_dict, config_to_dict, read_toml
from memscope.errors import MemscopeError
from memscope.plugins import PluginHost
from memscope.store.home import Home
from memscope.store.lock import RunLock
from memscope.store.runinfo import RunInfo, now_iso, read_run_info
from memscope.train import checkpoints
from memscope.train.isolated_analysis import clear_before_rerun, run_analysis
from memscope.train.runner import Run


def analyze(home: Home, host: PluginHost, run_id: str, names: list[str], overrides: list[str], progress: bool = True) -> dict[str, dict]:
    """Re-run post-training analyses on a finished run from its checkpoints."""
    run_dir = home.run_dir(run_id)
    if not run_dir.is_dir():
        raise MemscopeError(f"no run '{run_id}' in {home.root}; see 'memscope runs list'")
    read_run_info(run_dir)  # a run without a readable run.json stops here, with its own error
    data = read_toml(run_dir / "config.toml")
    requested = list(dict.fromkeys(names or data.get("analyses", [])))
    # Only the requested analyses are built: another one of the run's (a plugin not loaded
    # now) must not stop this one. config.toml stays what was trained; run.json records this.
    data["analyses"] = requested
    data["analysis"] = {k: v for k, v in dict(data.get("analysis") or {}).items() if k in requested}
    data = apply_overrides(data, overrides)
    config = config_from_dict(data, source=str(run_dir / "config.toml"), overrides=overrides)
    run = Run(config, home, host, progress=progress, source="memscope analyze")
    with RunLock(run_dir):  # one writer per run directory, from the first write to the last
        return _analyze_locked(run, run_dir, run_id, config, requested)


def _analyze_locked(run: Run, run_dir: Path, run_id: str, config: RunConfig, requested: list[str]) -> dict[str, dict]:
    info_data = read_run_info(run_dir)  # again, under the lock: a resume may have just finished
    trained = int(info_data.get("epoch") or 0)
    if trained < config.train.epochs:  # the analysis would read a half-trained model and call it final
        raise MemscopeError(
            f"run {run_id} trained {trained} of {config.train.epochs} epochs; finish it first with "
            f"'memscope run --resume {run_id}' (it runs its analyses too)"
        )
    run._build(run_id)
    _check_checkpoints(run_dir, config, int(info_data.get("epoch") or 0))
    final_epoch = run.ctx.final_epoch()
    checkpoints.apply_weights(run.model, run.ctx.load_state(final_epoch), f"checkpoint epoch {final_epoch}")
    run._declare_tables()
    selected = [a for a in run.analyses if a.name in requested]
    for analysis in selected:
        if not analysis.runs_after_training():
            raise MemscopeError(f"analysis '{analysis.name}' runs during training only; start a new run with it instead")
    info = RunInfo(run_dir, info_data)
    for analysis in selected:
        clear_before_rerun(run.writer, analysis)
        run_analysis(run.ctx, analysis, info, run.progress)
    run.progress.close()
    analyzed = {"at": now_iso(), "analyses": {a.name: config_to_dict(a.options) for a in selected}}
    info.update(analyzed=[*info.data.get("analyzed", []), analyzed])  # what `memscope analyze` ran, with its options
    return {a.name: info.data["analyses"].get(a.name, {}) for a in selected}


def _check_checkpoints(run_dir: Path, config: RunConfig, last_epoch: int) -> None:
    """Every checkpoint the run saved must still be there: with one missing, an analysis would
    silently read other weights (the last one left would pass for the final model)."""
    every = config.train.checkpoint_every
    expected = [0, *(e for e in range(1, last_epoch + 1) if checkpoints.checkpoint_due(e, config.train.epochs, every))]
    have = set(checkpoints.saved_epochs(run_dir))
    missing = [e for e in expected if e not in have]
    if missing:
        path = checkpoints.checkpoint_dir(run_dir) / f"epoch-{missing[0]:04d}.pt"
        raise MemscopeError(
            f"checkpoint {path} is missing (the run finished epoch {last_epoch}; saved: "
            f"{', '.join(map(str, sorted(have))) or 'none'}); an analysis would read the wrong weights: "
            "restore the file or train the run again"
        )
