"""``memscope figures``: the paper's figures of a run or a sweep as PNG, SVG or PDF files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from memscope.cli import common


def figures_command(
    run_id: Annotated[Optional[str], typer.Argument(help="The run to draw: " + common.RUN_ID_HELP, show_default=False, autocompletion=common.complete_run_id)] = None,
    sweep: Annotated[Optional[str], typer.Option("--sweep", help="Draw a sweep instead: each grid cell's mean ± std over its seeds (see 'memscope sweeps list').")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder to write to (default: ./figures/<run or sweep id>).", show_default=False)] = None,
    format_: Annotated[str, typer.Option("--format", "-f", help="png, svg or pdf.")] = "png",
    home: common.HomeOption = None,
) -> None:
    """Draw the paper's figures of a run: gradient norms and cosine, rewinding, retraining, neuron flipping, ETD.

    One file per figure the run has data for (per grid cell for a sweep); a figure whose
    analysis has not run is skipped with a note on stderr. Prints each file written.
    Needs matplotlib: pip install 'memscope-explorer[figures]'.

    Examples:

      memscope figures latest

      memscope figures RUN_ID -o figs --format pdf

      memscope figures --sweep SWEEP_ID --format svg
    """
    _figures(run_id, sweep, out, format_, home)


@common.handle_errors
def _figures(run_id: str | None, sweep_id: str | None, out: Path | None, fmt: str, home: Path | None) -> None:
    from memscope.errors import ConfigError
    from memscope.figures.build import FIGURES, check_format, default_out_dir, require_matplotlib, write_figures
    from memscope.results.source import open_run, open_sweep

    if run_id is not None and sweep_id is not None:
        raise ConfigError("give a run id or --sweep SWEEP_ID, not both")
    if run_id is None and sweep_id is None:
        raise ConfigError("give a run id (see 'memscope runs list') or --sweep SWEEP_ID")
    check_format(fmt)
    require_matplotlib()
    store = common.get_home(home, create=False)
    source = open_run(store, run_id) if sweep_id is None else open_sweep(store, sweep_id)
    with source:
        subject = source.run_id if sweep_id is None else source.sweep_id
        written = write_figures(source, out or default_out_dir(subject), fmt, on_file=lambda path: print(path, flush=True))
    for note in written.skipped:
        common.eprint(f"memscope: note: {note}")
    if not written.files:
        analyses = ", ".join(dict.fromkeys(f.analysis for f in FIGURES))
        what = f"run {subject}" if sweep_id is None else f"sweep {subject} (completed runs)"
        raise ConfigError(f"nothing to draw: {what} has no results of the analyses {analyses}; "
                          "run them with 'memscope analyze RUN_ID -a NAME' (etd needs a run trained with [etd] enabled = true)")


def register(app: typer.Typer) -> None:
    app.command("figures")(figures_command)
