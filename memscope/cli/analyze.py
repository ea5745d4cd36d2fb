"""``memscope analyze``: re-run post-training analyses on a finished run."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from memscope.cli import common


def analyze_command(
    run_id: Annotated[str, typer.Argument(help="The run to analyse: " + common.RUN_ID_HELP, autocompletion=common.complete_run_id)],
    analysis: Annotated[Optional[list[str]], typer.Option("--analysis", "-a", help="Analysis to run (repeatable); default: the run's own.")] = None,
    set_: common.SetOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    home: common.HomeOption = None,
    plugins_dir: common.PluginsDirOption = None,
) -> None:
    """Re-run analyses on a finished run from its checkpoints, replacing their earlier rows.

    Example: memscope analyze RUN_ID -a neuron_flipping --set analysis.neuron_flipping.max_neurons=50
    """
    _analyze(run_id, analysis or [], set_ or [], quiet, home, plugins_dir)


@common.handle_errors
def _analyze(run_id, names, overrides, quiet, home, plugins_dir) -> None:
    from memscope.errors import ExitCode
    from memscope.results.runs import require_finished

    store = common.get_home(home)
    run_id = require_finished(store, run_id, "analyse", "analyse it when it has finished")  # the full id
    host = common.get_host(plugins_dir, home=store.root)
    from memscope.train.reanalyze import analyze

    results = analyze(store, host, run_id, names, overrides, progress=not quiet)
    failed = {n: e for n, e in results.items() if e.get("status") != "completed"}
    for name, entry in results.items():
        common.eprint(f"analysis {name}: {entry.get('status')}" + (f" ({entry['error']})" if entry.get("error") else ""))
    if failed:
        raise typer.Exit(int(ExitCode.RUN_FAILED))


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze_command)
