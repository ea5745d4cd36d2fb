"""``memscope runs list | show | rm``: the runs in the home, read straight from run directories.

These commands read ``run.json`` files with Python (no DuckDB), so they also work while the
catalog is being rebuilt. The rules (run ids, live status, copies, deleting a running run,
tags and notes) are :mod:`memscope.results.runs`', the same the app applies.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from memscope.cli.common import RUN_ID_HELP, HomeOption, JsonFlag, complete_run_id, eprint, handle_errors, print_table
from memscope.errors import MemscopeError
from memscope.store.runinfo import STATUSES  # stdlib only: cheap at start-up

runs_app = typer.Typer(
    name="runs",
    help="List, inspect, tag, annotate and delete runs.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

LIST_COLUMNS = (
    "run_id", "status", "dataset", "model", "noise_model", "noise_rate", "seed",
    "epoch", "epochs", "test_acc", "noisy_train_acc", "created_at",
)


def _home(home: Path | None):
    from memscope.cli.common import get_home

    return get_home(home)


def _info(home, run_id: str) -> dict[str, Any]:
    """run.json with ``status`` replaced by the live status (unreadable = crashed) and the
    recorded one kept beside it."""
    from memscope.results.runs import read_run

    run = read_run(home, run_id)
    return {**run.info, "status": run.status, "recorded_status": run.info.get("status")}


@runs_app.command("list")
@handle_errors
def list_runs(
    json_: JsonFlag = False,
    status: Annotated[
        Optional[str],
        typer.Option("--status", help=f"Only runs with this status: {', '.join(STATUSES)}.", show_default=False),
    ] = None,
    home: HomeOption = None,
) -> None:
    """List runs, newest first."""
    if status is not None and status not in STATUSES:
        raise MemscopeError(f"unknown status '{status}'; choose one of {', '.join(STATUSES)}")
    from memscope.results.runs import list_runs

    resolved = _home(home)

    def copy_found(row) -> None:
        eprint(f"memscope: warning: runs/{row.run_id} is a copy of run {row.info['run_id']} (not listed); see 'memscope runs check'")

    infos = [_info(resolved, row.run_id) for row in list_runs(resolved, on_copy=copy_found)]
    if status is not None:
        infos = [i for i in infos if i.get("status") == status]
    if json_:
        print(json.dumps(infos, indent=1, default=str))
        return
    if not infos:
        eprint("memscope: no runs" + (f" with status {status}" if status else "") + f" in {resolved.root}")
        return
    from memscope.format import accuracy

    # accuracies as the app shows them: three decimals, '—' when not measured yet
    shown = lambda i, c: accuracy(i.get(c)) if c.endswith("_acc") else i.get(c)  # noqa: E731
    print_table(list(LIST_COLUMNS), [[shown(i, c) for c in LIST_COLUMNS] for i in infos])


def _config(home, run_id: str) -> tuple[str | None, dict[str, Any] | None]:
    import tomllib

    from memscope.results.configs import read_config_text

    text = read_config_text(home, run_id)
    try:
        return text, tomllib.loads(text) if text is not None else None
    except tomllib.TOMLDecodeError:
        return text, None


@runs_app.command("show")
@handle_errors
def show(
    run_id: Annotated[str, typer.Argument(help=RUN_ID_HELP, autocompletion=complete_run_id)],
    json_: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Show one run: run.json, its config, and rows per table."""
    from memscope.results.runs import resolve_run

    resolved = _home(home)
    run_id = resolve_run(resolved, run_id)  # a prefix, suffix or 'latest' becomes the full id
    info = _info(resolved, run_id)
    config_text, config = _config(resolved, run_id)
    counts = resolved.table_row_counts(run_id)
    if json_:
        payload = {"run": info, "config": config, "tables": counts, "run_dir": str(resolved.run_dir(run_id))}
        print(json.dumps(payload, indent=1, default=str))
        return
    out = sys.stdout
    out.write(f"run {run_id}  ({resolved.run_dir(run_id)})\n\n")
    width = max(len(k) for k in info) if info else 0
    for key, value in info.items():
        if key == "config":  # run.json's copy of config.toml, printed in full below
            continue
        if isinstance(value, (dict, list)):
            value = json.dumps(value, default=str)
        out.write(f"  {key:<{width}}  {'' if value is None else value}\n")
    out.write("\ntables (rows)\n")
    if counts:
        twidth = max(len(k) for k in counts)
        for table, rows in counts.items():
            out.write(f"  {table:<{twidth}}  {rows}\n")
    else:
        out.write("  (none yet)\n")
    out.write("\nconfig.toml\n")
    out.write("".join(f"  {line}\n" for line in (config_text or "(missing)").splitlines()))


@runs_app.command("tag")
@handle_errors
def tag(
    run_id: Annotated[str, typer.Argument(help=RUN_ID_HELP, autocompletion=complete_run_id)],
    tags: Annotated[list[str], typer.Argument(help="KEY=VALUE pairs to set; KEY= removes a tag.", show_default=False)],
    home: HomeOption = None,
) -> None:
    """Tag a run after the fact (stored in its run.json; the runs view's tags column).

    Examples:

      memscope runs tag latest arch=wide

      memscope runs tag 3fa2 arch=
    """
    from memscope.results.runs import tag_run

    run = tag_run(_home(home), run_id, tags)
    eprint(f"memscope: {run.run_id} tags: {json.dumps(run.tags)}")


@runs_app.command("note")
@handle_errors
def note(
    run_id: Annotated[str, typer.Argument(help=RUN_ID_HELP, autocompletion=complete_run_id)],
    text: Annotated[str, typer.Argument(help="The note (an empty string clears it).")],
    append: Annotated[bool, typer.Option("--append", "-a", help="Add a line to the note instead of replacing it.")] = False,
    home: HomeOption = None,
) -> None:
    """Write a note on a run (stored in its run.json; the runs view's notes column).

    Example:

      memscope runs note latest "lr too high: diverged after warmup"
    """
    from memscope.results.runs import note_run

    run = note_run(_home(home), run_id, text, append=append)
    eprint(f"memscope: {run.run_id} note: {run.notes or '(none)'}")


@runs_app.command("rm")
@handle_errors
def rm(
    run_ids: Annotated[list[str], typer.Argument(help="One or more runs. " + RUN_ID_HELP, autocompletion=complete_run_id)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Also delete runs that are still running.")] = False,
    home: HomeOption = None,
) -> None:
    """Delete runs (their directories, checkpoints and results)."""
    from memscope.results.runs import delete_runs, refuse_running, resolve_run

    resolved = _home(home)
    unique = list(dict.fromkeys(resolve_run(resolved, r) for r in run_ids))
    if not force:  # asked before the confirmation; delete_runs asks again after it
        refuse_running(resolved, unique, "delete", "cancel it first, or pass --force")
    if not yes:
        if not typer.confirm(f"Delete {len(unique)} run(s): {', '.join(unique)}?", default=False, err=True):
            eprint("memscope: nothing deleted")
            return
    for run_id in delete_runs(resolved, unique, force=force):
        eprint(f"memscope: deleted {run_id}")


@runs_app.command("check")
@handle_errors
def check(
    run_ids: Annotated[Optional[list[str]], typer.Argument(help="Runs to check (default: every run).", show_default=False, autocompletion=complete_run_id)] = None,
    repair: Annotated[bool, typer.Option("--repair", help="Move bad parts to runs/<id>/.quarantine/ and delete stray temporary files.")] = False,
    json_: JsonFlag = False,
    home: HomeOption = None,
) -> None:
    """Find Parquet parts that would break queries (truncated, not Parquet, wrong column types).

    Prints one line per bad file on stdout and exits 3 when any is left; --repair moves each
    bad part to runs/<id>/.quarantine/<table>/ (nothing is deleted) so every query works again.
    """
    from memscope.errors import ExitCode
    from memscope.store.check import check_home, quarantine

    from memscope.results.runs import resolve_run

    resolved = _home(home)
    run_ids = [resolve_run(resolved, r) for r in run_ids or []]
    problems = check_home(resolved, list(run_ids) if run_ids else None)
    fixed = quarantine(resolved, problems) if repair else []
    if json_:
        print(json.dumps([p.as_dict() for p in problems], indent=1))
    else:
        for p in problems:
            action = f"  -> moved to {p.moved_to}" if p.moved_to else ("  -> removed" if p in fixed else "")
            print(f"{p.path}: {p.reason}{action}")
    bad = [p for p in problems if not p.harmless and p not in fixed]
    if bad:
        eprint(f"memscope: {len(bad)} bad part(s); run 'memscope runs check --repair' to move them aside, "
               f"or delete the run with 'memscope runs rm {bad[0].run_id}'")
        raise typer.Exit(int(ExitCode.STORE_UNAVAILABLE))
    if not problems:
        eprint(f"memscope: every part in {resolved.root} is readable")
    elif fixed:
        eprint(f"memscope: moved {sum(not p.harmless for p in fixed)} bad part(s) aside, removed {sum(p.harmless for p in fixed)} stray temporary file(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
