"""``run.json``: a run's status, process, heartbeat and summary, rewritten atomically.

Statuses: ``running``, ``completed``, ``cancelled``, ``failed``; a run whose process died
without saying so reads as ``crashed``. Liveness, best first: the run directory's writer
lock (:mod:`memscope.store.lock`: held = alive, at once after a ``kill -9``), the pid on
this host, then the heartbeat (``updated_at`` older than ``STALE_SECONDS``). The catalog's
``runs`` view applies the heartbeat rule in SQL for plain DuckDB clients; ``memscope
query`` and the app apply this function.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from memscope.errors import StoreError

RUN_JSON = "run.json"
STATUSES = ("running", "completed", "cancelled", "failed", "crashed")
#: The statuses a run never leaves (every one but ``running``): its results are final.
FINISHED_STATUSES = tuple(s for s in STATUSES if s != "running")
HEARTBEAT_SECONDS = 3.0
#: A plain DuckDB client sees a killed run as ``crashed`` this long after its last heartbeat.
STALE_SECONDS = 15.0
#: Above any real pid (Linux caps pid_max at 2**22); a larger value in run.json is garbage.
MAX_PID = 2**31 - 1


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def parse_time(value: Any) -> float | None:
    """A run.json time stamp (ISO 8601, as :func:`now_iso` writes it) as POSIX seconds; a
    stamp without a zone is UTC; None when ``value`` is not a time stamp."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        return stamp.timestamp()
    except (ValueError, OverflowError, OSError):  # not a stamp, or outside the platform's range
        return None


def new_run_id(label: str) -> str:
    """Sortable and readable: ``20261128-111502-digits-cnn-3fa2``."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40] or "run"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{slug}-{secrets.token_hex(2)}"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to a hidden temporary name beside ``path``, then rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # a read-only home (EROFS) refuses the clean-up too
            tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
    write_json_atomic(Path(run_dir) / RUN_JSON, info)


def read_run_info(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / RUN_JSON
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"no run at {run_dir} (run.json is missing)") from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or not UTF-8
        raise StoreError(f"{path} is unreadable ({exc.__class__.__name__}); remove the run with 'memscope runs rm'") from None
    if not isinstance(info, dict):
        raise StoreError(f"{path} is not a JSON object ({type(info).__name__}); remove the run with 'memscope runs rm'")
    return info


def pid_alive(pid: int) -> bool:
    if not 0 < pid <= MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by its parent) counts as dead
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def effective_status(info: dict[str, Any], run_dir: Path | None = None) -> str:
    """The status a reader should show; ``run_dir`` lets the writer lock decide liveness."""
    status = info.get("status", "crashed")
    if status not in STATUSES:
        return "crashed"  # a hand-edited or garbage value
    if status != "running":
        return status
    if run_dir is not None:
        from memscope.store.lock import writer_alive

        alive = writer_alive(run_dir)
        if alive:
            return "running"
        if alive is False and info.get("hostname") == socket.gethostname():
            return "crashed"  # a free lock on another host's run may only mean flock does not cross hosts
    pid = info.get("pid")
    if info.get("hostname") == socket.gethostname() and isinstance(pid, int):
        return "running" if pid_alive(pid) else "crashed"
    beat = parse_time(info.get("updated_at"))
    if beat is None:
        return "crashed"
    return "running" if time.time() - beat < STALE_SECONDS else "crashed"


class RunInfo:
    """The run process's handle on its run.json: updates are merged and written atomically,
    and a heartbeat thread refreshes ``updated_at`` so readers can tell a live run from a dead one."""

    def __init__(self, run_dir: Path, initial: dict[str, Any]):
        self.run_dir = Path(run_dir)
        self._lock = threading.Lock()
        self._info = dict(initial)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.update()

    @property
    def data(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._info)

    def update(self, **fields: Any) -> None:
        with self._lock:
            self._info.update(fields)
            self._info["updated_at"] = now_iso()
            write_run_info(self.run_dir, self._info)

    def start_heartbeat(self, every: float = HEARTBEAT_SECONDS) -> None:
        def beat() -> None:
            while not self._stop.wait(every):
                with contextlib.suppress(StoreError):  # a full disk must not kill training; the next beat retries
                    self.update()

        self._thread = threading.Thread(target=beat, name="memscope-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
