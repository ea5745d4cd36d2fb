"""``memscope report``: everything one run holds, as a terminal report on stdout."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from memscope.cli import common

FORMATS = ("text", "markdown")
DEFAULT_WIDTH = 100  # when stdout is not a terminal and $COLUMNS is unset


def report_command(
    run_id: Annotated[Optional[str], typer.Argument(help="The run to report on: " + common.RUN_ID_HELP, show_default=False, autocompletion=common.complete_run_id)] = None,
    sweep: Annotated[Optional[str], typer.Option("--sweep", help="Report a sweep instead: mean and spread over seeds (see 'memscope sweeps list').")] = None,
    width: Annotated[Optional[int], typer.Option("--width", "-w", min=40, help="Width in characters (default: the terminal's, else $COLUMNS, else 100).")] = None,
    format_: Annotated[str, typer.Option("--format", "-f", help="text (tables and plots) or markdown.")] = "text",
    no_plots: Annotated[bool, typer.Option("--no-plots", help="Leave the plots out.")] = False,
    home: common.HomeOption = None,
) -> None:
    """Print a report of a run: learning curves, gradients, rewinding, retraining, neuron flipping, ETD, plugin tables.

    Sections appear when the run has rows for them; the report reads the run through
    DuckDB while it may still be running.

    Examples:

      memscope report 20261128-111502-digits-cnn-3fa2

      memscope report RUN_ID --width 140 | less -R

      memscope report RUN_ID --format markdown > report.md

      memscope report --sweep SWEEP_ID
    """
    if sweep is not None:
        _sweep_report(sweep, width, format_, no_plots, home)
    else:
        _report(run_id, width, format_, no_plots, home)


@common.handle_errors
def _sweep_report(sweep_id: str, width: int | None, format_: str, no_plots: bool, home) -> None:
    from memscope.errors import ConfigError
    from memscope.report.sweep import print_sweep_report

    if format_ not in FORMATS:
        raise ConfigError(f"--format {format_!r}: choose one of {', '.join(FORMATS)}")
    print_sweep_report(common.get_home(home), sweep_id, width=width, format_=format_, plots=not no_plots)


def _width(explicit: int | None) -> int:
    if explicit:
        return explicit
    if common.stdout_is_terminal():
        import shutil

        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    try:
        return max(40, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return DEFAULT_WIDTH


@common.handle_errors
def _report(run_id: str, width: int | None, format_: str, no_plots: bool, home) -> None:
    from memscope.errors import ConfigError
    from memscope.report import build_report, render_markdown, render_text

    if run_id is None:
        raise ConfigError("give a run id (see 'memscope runs list') or --sweep SWEEP_ID")
    if format_ not in FORMATS:
        raise ConfigError(f"--format {format_!r}: choose one of {', '.join(FORMATS)}")
    store = common.get_home(home, create=False)
    run_id = store.require_run(run_id).name  # a prefix, suffix or 'latest' becomes the full id
    report = build_report(store, run_id)
    columns = _width(width)
    if format_ == "markdown":
        sys.stdout.write(render_markdown(report, columns, plots=not no_plots))
    else:
        from rich.console import Console

        console = Console(file=sys.stdout, width=columns, highlight=False, emoji=False, soft_wrap=False)
        render_text(report, console, plots=not no_plots)
    sys.stdout.flush()
    for warning in report.warnings:
        common.eprint(f"memscope: warning: {warning}")


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
