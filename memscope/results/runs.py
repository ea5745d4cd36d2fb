"""The runs in a home, read straight from their run directories (no DuckDB), with one set of
rules shared by ``memscope runs ...``, ``memscope run --resume``, ``memscope analyze`` and
the app:

- a run is named by its full id, ``latest``, a unique prefix or its short random suffix
  (:func:`resolve_run`, the rule of :meth:`memscope.store.home.Home.require_run`);
- its status is the live one (:func:`memscope.store.runinfo.effective_status` with the run
  directory, so the writer lock tells a killed run at once); unreadable run.json = crashed;
- a running run is not deleted unless forced, and is not resumed or re-analysed
  (:func:`refuse_running`);
- a folder whose run.json names another run is a copy, listed once as that run.

Every function may block on file reads or process signals: the app calls them from workers.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from memscope.errors import ConfigError, MemscopeError, StoreError
from memscope.store.home import Home
from memscope.store.runinfo import effective_status, parse_time, read_run_info


@dataclass
class RunRow:
    """One run: its run.json with the live status."""

    run_id: str
    status: str
    info: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        value = self.info.get(key, default)
        return default if value is None else value

    @property
    def label(self) -> str:
        return str(self.get("name", self.run_id))

    @property
    def epoch(self) -> int:
        return int(self.get("epoch", 0) or 0)

    @property
    def epochs(self) -> int:
        return int(self.get("epochs", 0) or 0)

    @property
    def analyses(self) -> dict[str, dict[str, Any]]:
        value = self.info.get("analyses") or {}
        return value if isinstance(value, dict) else {}

    @property
    def tags(self) -> dict[str, str]:
        value = self.info.get("tags") or {}
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    @property
    def notes(self) -> str:
        return str(self.info.get("notes") or "")

    @property
    def is_copy(self) -> bool:
        """A folder whose run.json names another run (a backup copy of that run)."""
        named = self.info.get("run_id")
        return isinstance(named, str) and named != self.run_id

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds left, from the time per epoch so far (None before the first epoch)."""
        if self.status != "running" or self.epoch < 1 or self.epochs <= self.epoch:
            return None
        started = parse_time(self.info.get("resumed_at") or self.info.get("started_at"))
        if started is None:
            return None
        now = time.time() if now is None else now
        first = int(self.info.get("resume_epoch", 0) or 0)
        done = max(1, self.epoch - first)
        return (now - started) / done * (self.epochs - self.epoch)


def resolve_run(home: Home, run_id: str) -> str:
    """The full id ``run_id`` names: itself, ``latest``, a unique prefix or the short suffix.
    A one-line user error when it names no run or several."""
    return home.require_run(run_id).name


def read_run(home: Home, run_id: str) -> RunRow:
    """The run in folder ``runs/<run_id>`` (an exact id) with its live status."""
    run_dir = home.run_dir(run_id)
    try:
        info = read_run_info(run_dir)
    except StoreError as exc:
        return RunRow(run_id, "crashed", {"run_id": run_id, "error": exc.message})
    info.setdefault("run_id", run_id)
    return RunRow(run_id, effective_status(info, run_dir), info)


def list_runs(home: Home, on_copy: Callable[[RunRow], None] | None = None) -> list[RunRow]:
    """Every run in the home, newest first (run ids sort by their start time); a copy of
    another run is left out and passed to ``on_copy``."""
    rows = []
    for run_id in reversed(home.run_ids()):
        row = read_run(home, run_id)
        if row.is_copy:
            if on_copy is not None:
                on_copy(row)
            continue
        rows.append(row)
    return rows


def refuse_running(home: Home, run_ids: Iterable[str], doing: str, way_out: str) -> None:
    """A user error naming the runs of ``run_ids`` still running, e.g. ``doing`` = "delete",
    ``way_out`` = "cancel them first"."""
    running = [r for r in dict.fromkeys(run_ids) if read_run(home, r).status == "running"]
    if running:
        subject = "it is" if len(running) == 1 else "they are"
        raise ConfigError(f"cannot {doing} {', '.join(running)}: {subject} still running; {way_out}")


def require_finished(home: Home, run_id: str, doing: str, way_out: str) -> str:
    """The full id of a run that is not running and whose run.json reads (``StoreError``,
    exit 3, when it does not): what resuming or re-analysing a run needs."""
    full = resolve_run(home, run_id)
    read_run_info(home.run_dir(full))  # an unreadable run.json is a broken store here, not a crash
    refuse_running(home, [full], doing, way_out)
    return full


def delete_runs(home: Home, run_ids: Iterable[str], *, force: bool = False) -> list[str]:
    """Delete runs (each moved out of ``runs/`` in one rename, so a query sees all of it or
    none); refuses before deleting any when one is running, unless ``force``. Returns the
    full ids deleted, in order."""
    ids = list(dict.fromkeys(resolve_run(home, r) for r in run_ids))
    if not force:
        refuse_running(home, ids, "delete", "cancel it first, or delete it anyway with 'memscope runs rm --force'")
    for run_id in ids:
        home.remove_run(run_id)
    return ids


def cancel_run(home: Home, run_id: str) -> int:
    """Send SIGTERM to a running run's process; it finishes the step in flight and says 'cancelled'."""
    run = read_run(home, resolve_run(home, run_id))
    if run.status != "running":
        raise MemscopeError(f"run {run.run_id} is {run.status}, not running")
    pid = run.info.get("pid")
    if run.info.get("hostname") != socket.gethostname() or not isinstance(pid, int):
        raise MemscopeError(f"run {run.run_id} runs on {run.info.get('hostname') or 'another host'}; cancel it there")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        raise MemscopeError(f"run {run.run_id}: process {pid} is gone") from None
    except PermissionError:
        raise MemscopeError(f"run {run.run_id}: not allowed to signal process {pid}") from None
    return pid


def tag_run(home: Home, run_id: str, tags: Iterable[str]) -> RunRow:
    """Set ``KEY=VALUE`` tags on a run (``KEY=`` removes one); stored in its run.json."""
    from memscope.store.annotate import annotate_run, parse_tag

    parsed = dict(parse_tag(t) for t in tags)
    if not parsed:
        raise ConfigError("no tag given; write KEY=VALUE (KEY= removes a tag)")
    full = resolve_run(home, run_id)
    annotate_run(home.run_dir(full), tags=parsed)
    return read_run(home, full)


def note_run(home: Home, run_id: str, text: str, *, append: bool = False) -> RunRow:
    """Write (or, with ``append``, add a line to) a run's note; an empty text clears it."""
    from memscope.store.annotate import annotate_run

    full = resolve_run(home, run_id)
    annotate_run(home.run_dir(full), note=text, append=append)
    return read_run(home, full)


def parts_signature(home: Home, run_id: str, tables: Iterable[str]) -> tuple:
    """Cheap change detection: the part files of some tables of a run."""
    sig = []
    run_dir: Path = home.run_dir(run_id)
    for table in tables:
        folder = run_dir / table
        try:
            sig.append((table, tuple(sorted(p.name for p in folder.iterdir() if p.name.endswith(".parquet")))))
        except OSError:
            sig.append((table, ()))
    return tuple(sig)
