"""Sweep records: ``<home>/sweeps/<sweep_id>/sweep.json`` (torch-free, DuckDB-free).

Layout::

    <home>/sweeps/<sweep_id>/sweep.json        the record (rewritten atomically)
    <home>/sweeps/<sweep_id>/sweep.log         the detached sweep process's own output
    <home>/sweeps/<sweep_id>/logs/<i>-<attempt>.log   each run attempt's stderr and stdout

``sweeps/`` sits beside ``runs/``: the catalog's globs (``runs/*/...``) never see it, and a
sweep's runs are ordinary run directories under ``runs/``, tagged with ``sweep_id`` and
one tag per grid key.

Only the sweep process writes its sweep.json while it lives; ``memscope sweeps cancel``
writes it only when that process is gone. Entry statuses: ``pending``, ``running``,
``completed``, ``failed`` (after its retries), ``cancelled``. Sweep statuses: ``pending``
(recorded, process not started yet), ``running``, ``completed`` (every run completed),
``failed`` (some run failed), ``cancelled``; a sweep whose process died without saying so
reads as ``crashed`` (same rule as runs: pid on this host, else the heartbeat).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from memscope.errors import MemscopeError, StoreError
from memscope.store.home import Home
from memscope.store.runinfo import effective_status, now_iso, pid_alive, write_json_atomic

SWEEPS_DIR = "sweeps"
SWEEP_JSON = "sweep.json"
ENTRY_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
SWEEP_STATUSES = ("pending", "running", "completed", "failed", "cancelled", "crashed")
FINAL_SWEEP_STATUSES = ("completed", "failed", "cancelled")
#: How long a recorded-but-not-started sweep may stay ``pending`` before it reads ``crashed``.
PENDING_GRACE_SECONDS = 120.0
#: The run.json fields ``sweeps show`` copies next to each entry.
RUN_FIELDS = ("epoch", "epochs", "clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc", "device")


def sweeps_root(home: Home) -> Path:
    return home.root / SWEEPS_DIR


def new_sweep_id(label: str) -> str:
    """Sortable and readable: ``20261128-111502-digits-cnn-sweep-3fa2``."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40] or "run"
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{slug}-sweep-{secrets.token_hex(2)}"


def _unknown(sweep_id: str) -> MemscopeError:
    return MemscopeError(f"no sweep '{sweep_id}' in this home; see the ids with 'memscope sweeps list'")


def sweep_dir(home: Home, sweep_id: str, *, must_exist: bool = True) -> Path:
    if not sweep_id or "/" in sweep_id or "\\" in sweep_id or sweep_id.startswith((".", "_")):
        raise _unknown(sweep_id)
    path = sweeps_root(home) / sweep_id
    if must_exist and not (path / SWEEP_JSON).is_file():
        raise _unknown(sweep_id)
    return path


def write_sweep_json(path: Path, data: dict[str, Any]) -> None:
    """Write to a hidden temporary name, then rename: readers see the old or the new file."""
    write_json_atomic(path, data)


def read_sweep_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{path} is missing") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path} is unreadable ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path} is not a JSON object")
    return data


def sweep_process_alive(data: dict[str, Any]) -> bool | None:
    """True/False for a sweep process on this host; None when it runs elsewhere or has no pid."""
    pid = data.get("pid")
    if not isinstance(pid, int) or data.get("hostname") != socket.gethostname():
        return None
    return pid_alive(pid)


def effective_sweep_status(data: dict[str, Any]) -> str:
    status = data.get("status", "crashed")
    if status == "pending":
        try:
            age = time.time() - datetime.fromisoformat(data.get("created_at")).timestamp()
        except (TypeError, ValueError):
            return "crashed"
        return "pending" if age < PENDING_GRACE_SECONDS else "crashed"
    if status != "running":
        return status
    return effective_status(data)  # pid on this host, else the heartbeat


def counts(data: dict[str, Any]) -> dict[str, int]:
    out = {s: 0 for s in ENTRY_STATUSES}
    for entry in data.get("runs", []):
        status = entry.get("status", "pending")
        out[status] = out.get(status, 0) + 1
    return out


def cell_label(overrides: dict[str, str], skip: tuple[str, ...] = ()) -> str:
    return " ".join(f"{k}={v}" for k, v in overrides.items() if k not in skip) or "(all)"


def load_sweep(home: Home, sweep_id: str) -> dict[str, Any]:
    """sweep.json with ``status`` made effective (``recorded_status`` keeps the file's)."""
    data = read_sweep_json(sweep_dir(home, sweep_id) / SWEEP_JSON)
    data.setdefault("sweep_id", sweep_id)
    data["recorded_status"] = data.get("status")
    data["status"] = effective_sweep_status(data)
    data["counts"] = counts(data)
    return data


def list_sweeps(home: Home) -> list[dict[str, Any]]:
    """One summary per sweep, newest first (unreadable records show as ``crashed``)."""
    root = sweeps_root(home)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.iterdir(), reverse=True):
        if not path.is_dir() or path.name.startswith((".", "_")) or not (path / SWEEP_JSON).is_file():
            continue
        try:
            data = load_sweep(home, path.name)
        except (StoreError, MemscopeError) as exc:
            out.append({"sweep_id": path.name, "status": "crashed", "error": exc.message})
            continue
        c = data["counts"]
        out.append(
            {
                "sweep_id": data["sweep_id"],
                "status": data["status"],
                "executor": data.get("executor"),
                "runs": len(data.get("runs", [])),
                **c,
                "grid": data.get("grid", {}),
                "config": data.get("config"),
                "created_at": data.get("created_at"),
                "finished_at": data.get("finished_at"),
            }
        )
    return out


def run_summary(home: Home, run_id: str | None) -> dict[str, Any]:
    """The run.json fields a sweep view shows, with the run's effective status."""
    if not run_id:
        return {}
    from memscope.store.runinfo import read_run_info

    try:
        info = read_run_info(home.run_dir(run_id))
    except StoreError:
        return {"run_status": "missing"}
    out = {k: info.get(k) for k in RUN_FIELDS}
    out["run_status"] = effective_status(info)
    return out


def sweep_progress(home: Home, sweep_id: str) -> dict[str, Any]:
    """:func:`load_sweep` with each entry's run.json summary merged in (``sweeps show``)."""
    data = load_sweep(home, sweep_id)
    entries = []
    for entry in data.get("runs", []):
        merged = dict(entry)
        merged.update(run_summary(home, entry.get("run_id")))
        if data["status"] == "crashed" and entry.get("status") == "running":
            merged["status"] = merged.get("run_status") or "crashed"
        entries.append(merged)
    data["runs"] = entries
    return data


def find_sweep_run(home: Home, sweep_id: str, overrides: dict[str, str], exclude: set[str], since: str | None) -> dict[str, Any] | None:
    """The newest run directory tagged with this sweep and cell, not in ``exclude``.

    ``since`` (a run-id prefix ``YYYYmmdd-HHMMSS``) skips older directories by name alone,
    so the scan stays cheap in a home with many runs.
    """
    runs_dir = home.runs_dir
    if not runs_dir.is_dir():
        return None
    best = None
    try:
        names = sorted((e.name for e in os.scandir(runs_dir) if e.is_dir()), reverse=True)
    except OSError:
        return None
    for name in names:
        if name.startswith(("_", ".")) or name in exclude:
            continue
        if since is not None and name < since:
            break
        try:
            info = json.loads((runs_dir / name / "run.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        tags = info.get("tags") or {}
        if tags.get("sweep_id") == sweep_id and all(tags.get(k) == v for k, v in overrides.items()):
            best = info
            break
    return best


def stamp_before(seconds: float) -> str:
    """A run-id prefix for ``seconds`` ago (local time, like run ids)."""
    return datetime.fromtimestamp(time.time() - seconds).strftime("%Y%m%d-%H%M%S")


__all__ = [
    "ENTRY_STATUSES",
    "SWEEP_JSON",
    "SWEEP_STATUSES",
    "cell_label",
    "counts",
    "effective_sweep_status",
    "find_sweep_run",
    "list_sweeps",
    "load_sweep",
    "new_sweep_id",
    "now_iso",
    "read_sweep_json",
    "run_summary",
    "sweep_dir",
    "sweep_process_alive",
    "sweep_progress",
    "sweeps_root",
    "write_sweep_json",
]
