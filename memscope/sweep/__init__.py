"""Sweeps: grids of ordinary runs, on this machine (a local queue) or on Ray.

A sweep is the cartesian product of ``--grid`` overrides on one config; each cell is a
normal run (its own ``runs/<run_id>/`` directory) tagged with ``sweep_id`` and one tag per
grid key. The sweep itself is recorded in ``<home>/sweeps/<sweep_id>/sweep.json``.

The torch-free API for other front ends (the TUI)::

    from memscope.sweep import list_sweeps, load_sweep, sweep_progress

    list_sweeps(home)                 # [{sweep_id, status, executor, runs, completed, ...}]
    load_sweep(home, sweep_id)        # sweep.json, status made effective, counts
    sweep_progress(home, sweep_id)    # ... with each entry's run.json summary merged in
    launch_sweep(home, "cfg.toml", ["noise.rate=0.1,0.2"], workers=2, host=host)  # detached; -> id
                                      # (host: memscope.plugins.get_host(...), the caller's)
    cancel_sweep(home, sweep_id)      # SIGTERM the sweep process (and its runs); pending -> cancelled

A sweep's report and its learning curves over seeds are in ``memscope.report.sweep``
(``sweep_report``, ``sweep_curves``). Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any

from memscope.sweep.store import list_sweeps, load_sweep, sweep_progress

__all__ = [
    "cancel_sweep",
    "launch_sweep",
    "list_sweeps",
    "load_sweep",
    "sweep_progress",
]


def __getattr__(name: str) -> Any:
    if name in ("launch_sweep", "cancel_sweep"):
        from memscope.sweep import control

        return getattr(control, name)
    raise AttributeError(f"module 'memscope.sweep' has no attribute {name!r}")
