"""Start and stop sweeps from any front end (the CLI, the TUI): torch-free, typer-free.

    from memscope.plugin_dirs import resolve_plugins_dir
    from memscope.plugins import get_host

    plugins = resolve_plugins_dir(None, home=home.root)
    host = get_host(plugins, home=home.root)  # the front end loads the plugins, not the sweep
    sweep_id = launch_sweep(home, "cfg.toml", ["noise.rate=0.1,0.2", "seed=1,2,3"], workers=2, host=host, plugins_dir=plugins)
    cancel_sweep(home, sweep_id)

``launch_sweep`` checks the grid (a ``ConfigError`` names a bad key or value; ``host`` names
an unknown dataset, model or analysis), records the sweep and starts its process detached
(its own session: closing the terminal or the TUI does not stop it). The caller's ``host``
is the seam that keeps this module torch-free: loading plugins is the front end's business.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memscope.errors import MemscopeError
from memscope.store.home import Home
from memscope.store.runinfo import effective_status, now_iso, pid_alive, read_run_info
from memscope.sweep.store import (
    FINAL_SWEEP_STATUSES,
    SWEEP_JSON,
    effective_sweep_status,
    find_sweep_run,
    read_sweep_json,
    sweep_dir,
    sweep_process_alive,
    write_sweep_json,
)

if TYPE_CHECKING:
    from memscope.sweep.driver import NameChecker


def launch_sweep(
    home: Home,
    config: str | Path,
    grid: list[str] | tuple[str, ...] = (),
    overrides: list[str] | tuple[str, ...] = (),
    *,
    grid_file: str | Path | None = None,
    executor: str = "local",
    workers: int | None = None,
    retries: int = 1,
    ray_address: str | None = None,
    cpus_per_run: float | None = None,
    gpus_per_run: float | None = None,
    plugins_dir: str | Path | None = None,
    host: NameChecker,
) -> str:
    """Check, record and start a sweep in the background; return its id. ``host`` checks the
    names each cell uses (the plugin host of ``plugins_dir``, which every run will load)."""
    from memscope.errors import ConfigError
    from memscope.plugin_dirs import resolve_plugins_dir
    from memscope.sweep import driver
    from memscope.sweep.executors import RAY_HINT, probe_ray_address, ray_available
    from memscope.sweep.grid import build_grid

    if executor == "ray" and not ray_available():
        raise ConfigError(RAY_HINT)
    axes = build_grid(list(grid), grid_file)
    if executor == "ray":
        probe_ray_address(ray_address or os.environ.get("RAY_ADDRESS"))
    plugins = resolve_plugins_dir(plugins_dir, home=home.root)
    sweep_id = driver.create_sweep(
        home, config=Path(config), axes=axes, overrides=list(overrides), executor=executor, workers=workers,
        retries=retries, ray_address=ray_address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run,
        plugins_dir=plugins, host=host,
    )
    driver.spawn_detached(home, sweep_id)
    return sweep_id


def cancel_sweep(home: Home, sweep_id: str, wait: float = 90.0) -> int:
    """Stop a sweep (also usable from the TUI); returns how many runs this call sent SIGTERM.

    A live sweep process on this host gets SIGTERM: it stops launching, sends SIGTERM to its
    running runs (each finishes the part in flight and marks itself cancelled) and records the
    cancellation. When the sweep process is gone (crashed, or never started), its running runs
    get SIGTERM from here and sweep.json is finished here.
    """
    path = sweep_dir(home, sweep_id) / SWEEP_JSON
    data = read_sweep_json(path)
    alive = sweep_process_alive(data)
    if alive is None and data.get("status") == "running" and data.get("hostname") != socket.gethostname():
        raise MemscopeError(f"sweep {sweep_id} runs on host {data.get('hostname')} (pid {data.get('pid')}); cancel it there")
    if alive:
        try:
            os.kill(int(data["pid"]), signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            data = read_sweep_json(path)
            status = effective_sweep_status(data)
            if status in FINAL_SWEEP_STATUSES:
                return 0
            if status == "crashed":
                break  # it died instead of finishing: finish for it below
            time.sleep(0.1)
        else:
            return 0  # still stopping; the caller reports it
    stopped = stop_runs(home, sweep_id, data)
    for entry in data.get("runs", []):
        if entry.get("status") in ("pending", "running"):
            entry.update(status="cancelled", error="cancelled", finished_at=entry.get("finished_at") or now_iso())
    data.update(status="cancelled", finished_at=now_iso(), updated_at=now_iso())
    write_sweep_json(path, data)
    return stopped


def stop_runs(home: Home, sweep_id: str, data: dict[str, Any]) -> int:
    """SIGTERM the live runs of a sweep's running entries (found by run id, else by tags)."""
    stopped = 0
    for entry in data.get("runs", []):
        if entry.get("status") != "running":
            continue
        run_id = entry.get("run_id")
        if not run_id:
            found = find_sweep_run(home, sweep_id, entry.get("tags", {}), set(entry.get("attempt_runs", [])), None)
            run_id = found.get("run_id") if found else None
            entry["run_id"] = run_id
        if not run_id:
            continue
        try:
            info = read_run_info(home.run_dir(run_id))
        except MemscopeError:
            continue
        pid = info.get("pid")
        if info.get("hostname") == socket.gethostname() and isinstance(pid, int) and effective_status(info) == "running" and pid_alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
                stopped += 1
            except OSError:
                pass
    return stopped
