"""``memscope run``: train and analyse headless, with progress on stderr."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from memscope.cli import common
from memscope.errors import ConfigError


def run_command(
    config: Annotated[Optional[Path], typer.Argument(help="A TOML run config, or the name of a sample config (see 'memscope samples').", show_default=False)] = None,
    set_: common.SetOption = None,
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue RUN_ID from its last checkpoint (a prefix, suffix or 'latest' works too).", autocompletion=common.complete_run_id)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    home: common.HomeOption = None,
    plugins_dir: common.PluginsDirOption = None,
) -> None:
    """Train a model and run its analyses; prints the run id on stdout.

    Examples:

      memscope run digits

      memscope run digits --set noise.rate=0.2 --set train.epochs=10

      memscope run my_config.toml

      memscope run --resume 20261128-111502-digits-cnn-3fa2
    """
    _run(config, set_ or [], resume, quiet, home, plugins_dir)


@common.handle_errors
def _run(config: Path | None, overrides: list[str], resume: str | None, quiet: bool, home: Path | None, plugins_dir: Path | None) -> None:
    from memscope.config import load_config, resolve_config_path

    if config is None and resume is None:
        raise ConfigError("give a config file or sample name (e.g. memscope run digits; see 'memscope samples') or --resume RUN_ID")
    store = common.get_home(home)
    host = common.get_host(plugins_dir, home=store.root)
    if resume is not None:
        from memscope.results.runs import require_finished

        # a prefix, suffix or 'latest' becomes the full id; refusing a running run here is an
        # early answer: the writer lock taken by Run.resume is what guarantees one writer
        resume = require_finished(store, resume, "resume", "wait for it to finish, or cancel it first")
        run_dir = store.run_dir(resume)
        if not (run_dir / "config.toml").is_file():
            raise ConfigError(f"no run '{resume}' to resume in {store.root}; see 'memscope runs list'")
        source = str(run_dir / "config.toml")
        cfg = load_config(run_dir / "config.toml", overrides)
        if overrides:
            from memscope.train.resume_policy import check_resume_overrides

            check_resume_overrides(load_config(run_dir / "config.toml", []), cfg, source)
    else:
        cfg = load_config(config, overrides)
        source = str(resolve_config_path(config))  # a sample name is reported as its file
    for name, error in host.errors():
        common.eprint(f"memscope: warning: plugin {name} failed: {error}")

    from memscope.train.runner import Run  # torch is imported here, not at start-up

    stdout = sys.stdout  # the run id only: whatever plugins or analyses print goes to stderr
    with contextlib.redirect_stdout(sys.stderr):
        run = Run(cfg, store, host, progress=not quiet, source=source)
        run_id = run.resume(resume, overrides) if resume is not None else run.start()
        if not quiet:
            common.eprint(f"run {run_id}: {cfg.label} on {run.device}, {run.info.data['num_train']} train examples "
                          f"({run.info.data['num_noisy']} noisy), {cfg.train.epochs} epochs")
        try:
            result = run.execute()
        finally:
            print(run_id, file=stdout, flush=True)
    if not quiet:
        _summary(result, store, cfg.etd.enabled)


def _summary(result, store, etd_enabled: bool = False) -> None:
    from memscope.report.memorization import evaluation_mode, memorization_phrase

    f = result.final
    lines = [
        "",
        f"run {result.run_id} {result.status}",
        f"  clean-train acc {f.get('clean_train_acc', float('nan')):.3f}   noisy-train acc {f.get('noisy_train_acc', float('nan')):.3f}"
        f"   test acc {f.get('test_acc', float('nan')):.3f}",
        f"  {memorization_phrase(f.get('noisy_train_acc'), evaluation_mode(etd_enabled))}",
    ]
    for name, entry in result.analyses.items():
        status = entry.get("status", "?")
        lines.append(f"  analysis {name}: {status}" + (f" ({entry['error']})" if entry.get("error") else ""))
    lines += [
        f"  results: {result.run_dir}",
        "try next:",
        f"  memscope query \"SELECT epoch, clean_train_acc, noisy_train_acc, test_acc FROM epochs WHERE run_id = '{result.run_id}'\"",
        "  memscope query \"SELECT is_noisy, avg(loss) AS mean_loss FROM example_epochs JOIN examples USING (run_id, example) "
        f"WHERE run_id = '{result.run_id}' AND split = 'train' GROUP BY is_noisy\"",
        f"  memscope report {result.run_id}",
    ]
    common.eprint("\n".join(lines))
    failed = [n for n, e in result.analyses.items() if e.get("status") == "failed"]
    if failed:
        from memscope.errors import ExitCode

        raise typer.Exit(int(ExitCode.RUN_FAILED))


def register(app: typer.Typer) -> None:
    app.command("run", no_args_is_help=False)(run_command)
