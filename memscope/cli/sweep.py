"""``memscope sweep`` (run a grid of runs) and ``memscope sweeps list | show | cancel | report``.

A sweep is the cartesian product of ``--grid`` overrides on one config; each cell is an
ordinary ``memscope run`` with its own run directory, tagged with the sweep id and its grid
values. Nothing here imports torch: the runs are separate processes (or Ray tasks).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from memscope.cli import common
from memscope.errors import ConfigError, ExitCode, MemscopeError

sweeps_app = typer.Typer(
    name="sweeps",
    help="List, inspect, cancel and report sweeps.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

LIST_COLUMNS = ("sweep_id", "status", "executor", "runs", "completed", "failed", "running", "pending", "cancelled", "created_at")


def _root_param(ctx: typer.Context | None, name: str) -> Any:
    if ctx is None:
        return None
    return ctx.find_root().params.get(name)


def _home(ctx: typer.Context | None, home: Path | None, *, create: bool = True):
    return common.get_home(home or _root_param(ctx, "home"), create=create)


def _echo(progress=None):
    def echo(message: str) -> None:
        line = f"{datetime.now():%H:%M:%S} sweep: {message}"
        if progress is not None:
            progress.message(line)  # above the bar on a terminal
        else:
            common.eprint(line)

    return echo


def _sweep_progress():
    """The sweep's overall bar (runs ended of all, ETA) on a terminal; in a log, a line each
    time a run ends (the driver reports 0 ended at the start: the ETA counts from there)."""
    from memscope.progress import Progress  # torch-free

    return Progress(0, every_s=0.0)


# --------------------------------------------------------------------------- memscope sweep


def sweep_command(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="The TOML run config every run starts from, or a sample's name (see 'memscope samples').", show_default=False)],
    grid: Annotated[
        Optional[list[str]],
        typer.Option("--grid", "-g", help="KEY=V1,V2,... : one axis of the grid (repeatable), e.g. --grid noise.rate=0.05,0.1,0.2 --grid seed=4,5,6."),
    ] = None,
    grid_file: Annotated[
        Optional[Path], typer.Option("--grid-file", help='A TOML file with a [grid] table, e.g. "noise.rate" = [0.05, 0.1].', show_default=False)
    ] = None,
    set_: common.SetOption = None,
    executor: Annotated[str, typer.Option("--executor", "-e", help="local (a queue on this machine) or ray.")] = "local",
    workers: Annotated[
        Optional[int],
        typer.Option("--workers", "-w", help="Runs at a time (default: local 1 per GPU or 1 on CPU; ray what the cluster fits).", show_default=False),
    ] = None,
    retries: Annotated[int, typer.Option("--retries", help="Re-run a failed run this many times before reporting it.")] = 1,
    ray_address: Annotated[
        Optional[str], typer.Option("--ray-address", help="A running Ray cluster (default: $RAY_ADDRESS, else a local instance).", show_default=False)
    ] = None,
    cpus_per_run: Annotated[
        Optional[float], typer.Option("--cpus-per-run", help="CPU threads (local) / Ray CPUs each run gets (default: cores/workers locally, 1 on Ray).", show_default=False)
    ] = None,
    gpus_per_run: Annotated[
        Optional[float], typer.Option("--gpus-per-run", help="Ray GPUs each run asks for (default: 1 when the cluster has GPUs and the device allows CUDA).", show_default=False)
    ] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run the sweep in the background (survives closing the terminal); prints its id.")] = False,
    home: common.HomeOption = None,
    plugins_dir: common.PluginsDirOption = None,
) -> None:
    """Run a grid of runs: the cartesian product of --grid values; prints the sweep id on stdout.

    Examples:

      memscope sweep sample_configs/digits.toml --grid noise.rate=0.05,0.1,0.2 --grid seed=4,5,6

      memscope sweep cfg.toml --grid-file sweep.toml --workers 2 --detach

      memscope sweep cfg.toml --grid model.name=resnet9,vit --executor ray --ray-address auto

    Exit codes: 0 every run completed, 2 bad grid or config, 4 some run failed after its
    retries, 130 cancelled.
    """
    _sweep(
        ctx, config, grid or [], grid_file, set_ or [], executor, workers, retries, ray_address,
        cpus_per_run, gpus_per_run, detach, home, plugins_dir,
    )


@common.handle_errors
def _sweep(ctx, config, grid, grid_file, overrides, executor, workers, retries, ray_address, cpus_per_run, gpus_per_run, detach, home, plugins_dir) -> None:
    from memscope.plugin_dirs import resolve_plugins_dir
    from memscope.sweep import driver
    from memscope.sweep.executors import RAY_HINT, probe_ray_address, ray_available
    from memscope.sweep.grid import build_grid

    if executor not in driver.EXECUTORS:
        raise ConfigError(f"--executor {executor!r}: choose one of {', '.join(driver.EXECUTORS)}")
    if executor == "ray" and not ray_available():
        raise ConfigError(RAY_HINT)
    if executor != "ray" and (ray_address or gpus_per_run is not None):
        raise ConfigError("--ray-address and --gpus-per-run need --executor ray")
    axes = build_grid(grid, grid_file)
    if executor == "ray":
        probe_ray_address(ray_address or os.environ.get("RAY_ADDRESS"))
    store = _home(ctx, home)
    plugins = resolve_plugins_dir(plugins_dir or _root_param(ctx, "plugins_dir"), home=store.root)
    host = common.get_host(plugins, home=store.root)
    for name, error in host.errors():
        common.eprint(f"memscope: warning: plugin {name} failed: {error}")
    sweep_id = driver.create_sweep(
        store,
        config=config,
        axes=axes,
        overrides=overrides,
        executor=executor,
        workers=workers,
        retries=retries,
        ray_address=ray_address,
        cpus_per_run=cpus_per_run,
        gpus_per_run=gpus_per_run,
        plugins_dir=plugins,
        host=host,
    )
    print(sweep_id, flush=True)
    if detach:
        pid = driver.spawn_detached(store, sweep_id)
        common.eprint(
            f"memscope: sweep {sweep_id} runs in the background (pid {pid}); "
            f"follow it with 'memscope sweeps show {sweep_id}', stop it with 'memscope sweeps cancel {sweep_id}'"
        )
        return
    progress = _sweep_progress()
    try:
        code = driver.drive(store, sweep_id, _echo(progress), lambda ended, total: progress.steps("sweep", ended, total, "runs"))
    finally:
        progress.close()
    common.eprint(f"  memscope sweeps show {sweep_id}\n  memscope sweeps report {sweep_id}")
    if code:
        raise typer.Exit(code)


# --------------------------------------------------------------------------- memscope sweeps


@sweeps_app.command("list")
@common.handle_errors
def list_command(ctx: typer.Context, json_: common.JsonFlag = False, home: common.HomeOption = None) -> None:
    """List sweeps, newest first, with their runs per status."""
    from memscope.sweep.store import list_sweeps

    resolved = _home(ctx, home)
    sweeps = list_sweeps(resolved)
    if json_:
        print(json.dumps(sweeps, indent=1, default=str))
        return
    if not sweeps:
        common.eprint(f"memscope: no sweeps in {resolved.root}")
        return
    rows = [[s.get(c) for c in LIST_COLUMNS] + [" x ".join(s.get("grid") or {})] for s in sweeps]
    common.print_table([*LIST_COLUMNS, "grid"], rows)


@sweeps_app.command("show")
@common.handle_errors
def show_command(
    ctx: typer.Context,
    sweep_id: Annotated[str, typer.Argument(help="The sweep's id (see 'memscope sweeps list').")],
    json_: common.JsonFlag = False,
    home: common.HomeOption = None,
) -> None:
    """Show a sweep's progress: each run's status, run id, attempts and accuracies."""
    from memscope.sweep.store import sweep_progress

    resolved = _home(ctx, home)
    data = sweep_progress(resolved, sweep_id)
    if json_:
        print(json.dumps(data, indent=1, default=str))
        return
    c = data["counts"]
    out = sys.stdout
    out.write(f"sweep {sweep_id}  {data['status']}\n")
    for key in ("config", "executor_detail", "executor", "retries", "created_at", "started_at", "finished_at", "error"):
        value = data.get(key)
        if value not in (None, ""):
            out.write(f"  {key:<16} {value}\n")
    grid = " x ".join(k + "=" + ",".join(v) for k, v in data.get("grid", {}).items())
    out.write(f"  {'grid':<16} {grid}\n")
    if data.get("overrides"):
        out.write(f"  {'overrides':<16} {' '.join(data['overrides'])}\n")
    out.write(f"  {'runs':<16} {len(data['runs'])}: " + ", ".join(f"{n} {s}" for s, n in c.items() if n) + "\n\n")
    out.flush()
    keys = list(data.get("grid", {}))
    columns = ["#", *keys, "status", "attempts", "run_id", "epoch", "clean_acc", "noisy_acc", "test_acc", "error"]
    rows = []
    for e in data["runs"]:
        epoch = f"{e.get('epoch')}/{e.get('epochs')}" if e.get("epochs") else None
        rows.append(
            [e["index"] + 1, *(e.get("tags", {}).get(k) for k in keys), e.get("status"), e.get("attempts"), e.get("run_id"),
             epoch, e.get("clean_train_acc"), e.get("noisy_train_acc"), e.get("test_acc"), e.get("error")]
        )
    common.print_table(columns, rows)


@sweeps_app.command("cancel")
@common.handle_errors
def cancel_command(
    ctx: typer.Context,
    sweep_id: Annotated[str, typer.Argument(help="The sweep's id (see 'memscope sweeps list').")],
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the sweep to stop.")] = 90.0,
    home: common.HomeOption = None,
) -> None:
    """Cancel a sweep: SIGTERM to the sweep process and its running runs; pending runs are marked cancelled."""
    from memscope.sweep.store import FINAL_SWEEP_STATUSES, load_sweep

    resolved = _home(ctx, home)
    data = load_sweep(resolved, sweep_id)
    if data["status"] in FINAL_SWEEP_STATUSES:
        common.eprint(f"memscope: sweep {sweep_id} already {data['status']}; nothing to cancel")
        return
    from memscope.sweep.control import cancel_sweep

    cancel_sweep(resolved, sweep_id, wait=wait)
    final = load_sweep(resolved, sweep_id)
    c = final["counts"]
    common.eprint(f"memscope: sweep {sweep_id} {final['status']}: " + ", ".join(f"{n} {s}" for s, n in c.items() if n))
    if final["status"] not in FINAL_SWEEP_STATUSES:
        raise MemscopeError(f"sweep {sweep_id} did not stop within {wait:g}s; try again, or kill pid {final.get('pid')}", exit_code=ExitCode.RUN_FAILED)


@sweeps_app.command("report")
@common.handle_errors
def report_command(
    ctx: typer.Context,
    sweep_id: Annotated[str, typer.Argument(help="The sweep's id (see 'memscope sweeps list').")],
    width: Annotated[Optional[int], typer.Option("--width", help="Width in columns (default: the terminal's, or 120).", show_default=False)] = None,
    home: common.HomeOption = None,
) -> None:
    """The paper's figures for a sweep: mean and std over seeds per grid cell, as tables and terminal plots."""
    from memscope.report.sweep import print_sweep_report

    print_sweep_report(_home(ctx, home), sweep_id, width=width)


def register(app: typer.Typer) -> None:
    app.command("sweep", no_args_is_help=True)(sweep_command)
    app.add_typer(sweeps_app, name="sweeps")
