"""The sweep process: plan the grid, record it, run it through an executor, keep sweep.json.

``plan`` checks every cell before anything runs (an unknown key or name in any cell is the
usual config error, exit 2). ``create_sweep`` records ``<home>/sweeps/<id>/sweep.json``
with every entry ``pending``. ``drive`` is the sweep process itself, in the foreground or
detached (``python -m memscope.sweep drive``): a queue of entries, at most ``capacity``
running, a failed attempt re-queued at the back until its retries are spent (the other
entries go on), SIGTERM/SIGINT = cancel (running runs get SIGTERM and mark themselves
cancelled; pending entries are marked cancelled).

Exit codes of ``drive``: 0 every run completed, 4 some run failed, 130 cancelled.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Protocol

from memscope.child import python_command
from memscope.config import load_config, resolve_config_path
from memscope.errors import ConfigError, ExitCode, MemscopeError, StoreError
from memscope.store.home import Home
from memscope.store.runinfo import now_iso, read_run_info
from memscope.sweep import store
from memscope.sweep.grid import GridAxis, cells, toml_string
from memscope.sweep.store import SWEEP_JSON, read_sweep_json, write_sweep_json

EXECUTORS = ("local", "ray")
HEARTBEAT_SECONDS = 5.0
DISCOVER_SECONDS = 1.0
#: How long cancelled runs get to finish their part in flight before SIGKILL.
CANCEL_GRACE_SECONDS = 60.0
DETACH_START_TIMEOUT = 30.0


# --------------------------------------------------------------------------- planning


class NameChecker(Protocol):
    """What a sweep needs from the plugin host: refuse a cell whose dataset, noise model, model
    or analysis is not installed. The front end passes its host (``memscope.plugins.get_host``),
    so the sweep itself never loads plugins (nor, through them, the engine)."""

    def check_names(self, config: Any, source: str) -> None: ...


def tags_override(tags: dict[str, str]) -> str:
    """``tags={"sweep_id" = "...", "noise.rate" = "0.1"}``: one --set for every tag (dotted keys too)."""
    return "tags={" + ", ".join(f"{toml_string(k)} = {toml_string(str(v))}" for k, v in tags.items()) + "}"


def cell_overrides(entry: dict[str, Any]) -> list[str]:
    return [f"{k}={v}" for k, v in entry["overrides"].items()]


def plan(config: Path, axes: list[GridAxis], overrides: list[str], host: NameChecker | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """Check every cell (config keys, types, ranges, names); return the base config and entries."""
    base = load_config(config, overrides)
    probe_tags = tags_override({**base.tags, "sweep_id": "x"})
    entries = []
    for index, cell in enumerate(cells(axes)):
        texts = {k: v.text for k, v in cell.items()}
        tags = {k: v.tag for k, v in cell.items()}
        cfg = load_config(config, [*overrides, probe_tags, *(f"{k}={t}" for k, t in texts.items())])
        if host is not None:
            host.check_names(cfg, str(config))
        entries.append(
            {
                "index": index,
                "overrides": texts,
                "tags": tags,
                "device": cfg.device,
                "status": "pending",
                "run_id": None,
                "attempts": 0,
                "attempt_runs": [],
                "error": None,
                "started_at": None,
                "finished_at": None,
                "seconds": None,
                "log": None,
            }
        )
    return base, entries


def create_sweep(
    home: Home,
    *,
    config: Path,
    axes: list[GridAxis],
    overrides: list[str],
    executor: str = "local",
    workers: int | None = None,
    retries: int = 1,
    ray_address: str | None = None,
    cpus_per_run: float | None = None,
    gpus_per_run: float | None = None,
    plugins_dir: Path | None = None,
    host: NameChecker | None = None,
) -> str:
    """Check the grid and record the sweep (every entry pending); return its id."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if retries < 0:
        raise ConfigError(f"--retries {retries}: must be 0 or more")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: must be at least 1")
    if cpus_per_run is not None and cpus_per_run <= 0:
        raise ConfigError(f"--cpus-per-run {cpus_per_run:g}: must be positive")
    if gpus_per_run is not None and gpus_per_run < 0:
        raise ConfigError(f"--gpus-per-run {gpus_per_run:g}: must be 0 or more")
    config = resolve_config_path(Path(config).expanduser()).absolute()  # a sample's name works too
    base, entries = plan(config, axes, overrides, host)
    home.ensure()
    sweep_id = store.new_sweep_id(base.label)
    folder = store.sweep_dir(home, sweep_id, must_exist=False)
    try:
        (folder / "logs").mkdir(parents=True)
        shutil.copyfile(config, folder / "config.toml")  # runs read this snapshot, not the live file
    except OSError as exc:
        raise StoreError(f"cannot create the sweep folder {folder}: {exc.strerror or exc}") from None
    record = {
        "sweep_id": sweep_id,
        "status": "pending",
        "config": str(config),
        "config_snapshot": str(folder / "config.toml"),
        "label": base.label,
        "grid": {a.key: a.as_json() for a in axes},
        "overrides": list(overrides),
        "base_tags": dict(base.tags),
        "executor": executor,
        "workers": workers,
        "retries": retries,
        "ray_address": ray_address,
        "cpus_per_run": cpus_per_run,
        "gpus_per_run": gpus_per_run,
        "plugins_dir": str(Path(plugins_dir).absolute()) if plugins_dir else None,
        "home": str(home.root),
        "pid": None,
        "hostname": socket.gethostname(),
        "created_at": now_iso(),
        "started_at": None,
        "finished_at": None,
        "updated_at": now_iso(),
        "error": None,
        "runs": entries,
    }
    write_sweep_json(folder / SWEEP_JSON, record)
    return sweep_id


# --------------------------------------------------------------------------- detaching


def spawn_detached(home: Home, sweep_id: str) -> int:
    """Start the sweep process in its own session (closing the terminal or TUI does not stop
    it) and wait until it has taken over sweep.json; return its pid."""
    folder = store.sweep_dir(home, sweep_id)
    log = open(folder / "sweep.log", "ab")
    try:
        proc = subprocess.Popen(
            python_command("-m", "memscope.sweep", "drive", "--home", str(home.root), sweep_id),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()
    deadline = time.monotonic() + DETACH_START_TIMEOUT
    while time.monotonic() < deadline:
        rc = proc.poll()
        try:
            data = read_sweep_json(folder / SWEEP_JSON)
        except StoreError:
            data = {}
        if data.get("status") not in (None, "pending") or data.get("pid") == proc.pid:
            return proc.pid
        if rc is not None:
            lines = [l for l in (folder / "sweep.log").read_text(errors="replace").splitlines() if l.strip()]
            raise MemscopeError(
                f"the sweep process exited at once (exit {rc}): {lines[-1] if lines else 'no output'}; "
                f"see {folder / 'sweep.log'}",
                exit_code=ExitCode(rc) if rc in ExitCode._value2member_map_ else ExitCode.RUN_FAILED,
            )
        time.sleep(0.05)
    return proc.pid


# --------------------------------------------------------------------------- the sweep process


def _error_line(stderr: str) -> str | None:
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    for line in reversed(lines):
        if line.startswith("memscope: error:"):
            return line[len("memscope: error:"):].strip()
    return lines[-1][:500] if lines else None


def _run_id_from(stdout: str, home: Home) -> str | None:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line and "/" not in line and home.run_dir(line).is_dir():
            return line
    return None


class SweepDriver:
    def __init__(self, home: Home, sweep_id: str, echo: Callable[[str], None] | None = None,
                 on_progress: Callable[[int, int], None] | None = None):
        self.home = home
        self.on_progress = on_progress or (lambda done, total: None)  # (runs ended, runs): a bar with an ETA
        self.sweep_id = sweep_id
        self.folder = store.sweep_dir(home, sweep_id)
        self.path = self.folder / SWEEP_JSON
        self.data = read_sweep_json(self.path)
        self.echo = echo or (lambda message: None)
        self.cancelled = False
        self.force = False
        self.executor = None
        self._last_save = 0.0
        self._last_discover = 0.0
        self._previous_handlers: dict[int, Any] = {}
        self._since: dict[int, str] = {}  # entry -> run-id prefix to scan from
        self.active: dict[int, Any] = {}

    # ------------------------------------------------------------------ bookkeeping

    def save(self) -> None:
        self.data["updated_at"] = now_iso()
        write_sweep_json(self.path, self.data)
        self._last_save = time.monotonic()

    def entries(self) -> list[dict[str, Any]]:
        return self.data["runs"]

    def label(self, entry: dict[str, Any]) -> str:
        n = len(self.entries())
        return f"run {entry['index'] + 1}/{n} [{store.cell_label(entry['tags'])}]"

    def argv(self, entry: dict[str, Any]) -> list[str]:
        d = self.data
        tags = {**d.get("base_tags", {}), "sweep_id": self.sweep_id, **entry["tags"]}
        argv = ["run", d.get("config_snapshot") or d["config"], "--quiet", "--home", d.get("home") or str(self.home.root)]
        if d.get("plugins_dir"):
            argv += ["--plugins-dir", d["plugins_dir"]]
        for text in [*d.get("overrides", []), tags_override(tags), *cell_overrides(entry)]:
            argv += ["--set", text]
        return argv

    # ------------------------------------------------------------------ signals

    def request_cancel(self, *_: Any) -> None:
        """First SIGTERM/SIGINT: cancel (runs get SIGTERM and a grace period); second: kill them."""
        self.force = self.cancelled
        self.cancelled = True
        if self.executor is not None:
            self.executor.wake()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.signal(sig, self.request_cancel)
            self._previous_handlers.setdefault(sig, previous)

    def _restore_signals(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()

    # ------------------------------------------------------------------ executors

    def make_executor(self):
        from memscope.sweep import executors

        d = self.data
        devices = {e.get("device", "auto") for e in self.entries()}
        device = "cuda" if "cuda" in devices else "auto" if "auto" in devices else next(iter(devices), "cpu")
        env = {k: v for k, v in os.environ.items() if k.startswith("MEMSCOPE_") and k != "MEMSCOPE_HOME"}
        if d["executor"] == "ray":
            return executors.RayExecutor(
                d.get("ray_address"), d.get("workers"), d.get("cpus_per_run"), d.get("gpus_per_run"), device, env=env
            )
        gpus = executors.detect_gpus() if device in ("auto", "cuda") else []
        workers = d.get("workers") or executors.default_workers(device, gpus)
        threads = int(d["cpus_per_run"]) if d.get("cpus_per_run") else None
        return executors.LocalExecutor(workers, gpus, threads, env=env)

    # ------------------------------------------------------------------ the loop

    def run(self) -> int:
        d = self.data
        if d.get("status") != "pending":
            raise MemscopeError(f"sweep {self.sweep_id} is {d.get('status')}; only a pending sweep can start")
        self._install_signals()
        d.update(status="running", pid=os.getpid(), hostname=socket.gethostname(), started_at=now_iso())
        self.save()
        try:
            self.executor = self.make_executor()
            self._install_signals()  # again: ray.init installs its own SIGTERM handler
            d["executor_detail"] = self.executor.describe()
            self.save()
            self.echo(f"{len(self.entries())} runs, {d['executor_detail']}")
            self._report_progress()
            self._loop()
        except KeyboardInterrupt:  # signal handlers not installed (not the main thread)
            self.cancelled = True
            self._abort(None)
        except MemscopeError as exc:
            self._abort(exc.message)
            self._finish()
            raise
        except BaseException as exc:
            self._abort(f"{exc.__class__.__name__}: {exc}")
            self._finish()
            raise
        finally:
            if self.executor is not None:
                self.executor.close()
            self._restore_signals()
        return self._finish()

    def _loop(self) -> None:
        queue = deque(e["index"] for e in self.entries() if e["status"] == "pending")
        ex = self.executor
        while not self.cancelled:
            while queue and len(self.active) < ex.capacity and not self.cancelled:
                index = queue.popleft()
                self.active[index] = self._launch(self.entries()[index])
            if not self.active:
                break
            for handle, result in ex.wait(list(self.active.values()), timeout=0.5):
                del self.active[handle.index]
                if self._settle(handle, result):
                    queue.append(handle.index)
            self._tick()
        if self.cancelled:
            self._cancel_all()

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._last_discover >= DISCOVER_SECONDS:
            self._last_discover = now
            if self._discover():
                self.save()
        if time.monotonic() - self._last_save >= HEARTBEAT_SECONDS:
            self.save()

    def _launch(self, entry: dict[str, Any]):
        entry["attempts"] += 1
        attempt = entry["attempts"]
        log_path = self.folder / "logs" / f"{entry['index']}-{attempt}.log"
        out_path = self.folder / "logs" / f"{entry['index']}-{attempt}.out"
        entry.update(status="running", run_id=None, error=None, started_at=now_iso(), finished_at=None, seconds=None, log=str(log_path))
        self._since[entry["index"]] = store.stamp_before(120)
        handle = self.executor.start(entry["index"], attempt, self.argv(entry), log_path, out_path)
        self.save()
        self.echo(f"{self.label(entry)} started" + (f" (attempt {attempt})" if attempt > 1 else ""))
        return handle

    def _discover(self) -> bool:
        """Fill in the run id of running entries from their run directories (for show/cancel)."""
        changed = False
        for index in list(self.active):
            entry = self.entries()[index]
            if entry.get("run_id"):
                continue
            info = store.find_sweep_run(self.home, self.sweep_id, entry["tags"], set(entry["attempt_runs"]), self._since.get(entry["index"]))
            if info is not None:
                entry["run_id"] = info.get("run_id")
                changed = True
        return changed

    def _settle(self, handle, result) -> bool:
        """Record an ended attempt; True when the entry goes back in the queue for a retry."""
        entry = self.entries()[handle.index]
        run_id = _run_id_from(result.stdout, self.home) or entry.get("run_id")
        if run_id is None:
            info = store.find_sweep_run(self.home, self.sweep_id, entry["tags"], set(entry["attempt_runs"]), self._since.get(entry["index"]))
            run_id = info.get("run_id") if info else None
        if run_id and run_id not in entry["attempt_runs"]:
            entry["attempt_runs"].append(run_id)
        seconds = round(time.monotonic() - handle.started, 3)
        entry.update(run_id=run_id, finished_at=now_iso(), seconds=seconds)
        retry = False
        if result.rc == 0:
            entry.update(status="completed", error=None)
            self.echo(f"{self.label(entry)} completed in {seconds:.1f}s: {run_id}{self._accuracy(run_id)}")
        elif self.cancelled or result.cancelled or result.rc in (int(ExitCode.INTERRUPTED), -signal.SIGTERM, -signal.SIGINT):
            entry.update(status="cancelled", error=entry.get("error") or "cancelled")
            self.echo(f"{self.label(entry)} cancelled")
        else:
            message = result.error or _error_line(result.stderr) or f"exit code {result.rc}"
            if result.rc is not None and result.rc < 0:
                message = f"killed by signal {-result.rc}" + (f" ({message})" if message else "")
            entry["error"] = message
            if entry["attempts"] <= int(self.data.get("retries", 0)):
                entry["status"] = "pending"
                retry = True
                self.echo(f"{self.label(entry)} failed (attempt {entry['attempts']}): {message}; retrying")
            else:
                entry["status"] = "failed"
                self.echo(f"{self.label(entry)} failed after {entry['attempts']} attempt(s): {message}; log: {handle.log_path}")
        self.save()
        if not retry:
            self._report_progress()
        return retry

    def _report_progress(self) -> None:
        ended = sum(e["status"] in ("completed", "failed", "cancelled") for e in self.entries())
        self.on_progress(ended, len(self.entries()))

    def _accuracy(self, run_id: str | None) -> str:
        if not run_id:
            return ""
        try:
            info = read_run_info(self.home.run_dir(run_id))
        except StoreError:
            return ""
        parts = [f"{name} {info[key]:.3f}" for key, name in (("test_acc", "test acc"), ("noisy_train_acc", "noisy-train acc")) if isinstance(info.get(key), (int, float))]
        return f" ({', '.join(parts)})" if parts else ""

    def _stop_active(self) -> None:
        """SIGTERM the running attempts, wait out the grace period (cut short by a second signal),
        kill what is left, and record every attempt that ended."""
        ex = self.executor
        active = self.active
        if ex is None or not active:
            return
        self._discover()
        ex.terminate(list(active.values()))
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        while active and time.monotonic() < deadline and not self.force:
            for handle, result in ex.wait(list(active.values()), timeout=0.5):
                del active[handle.index]
                self._settle(handle, result)
        if active:
            self.echo(f"killing {len(active)} run(s) that did not stop" + (" (second signal)" if self.force else ""))
            ex.kill(list(active.values()))
            for handle, result in ex.wait(list(active.values()), timeout=10):
                del active[handle.index]
                self._settle(handle, result)

    def _cancel_all(self) -> None:
        if self.active:
            self.echo(f"cancelling: stopping {len(self.active)} running run(s)")
        self._stop_active()
        for entry in self.entries():
            if entry["status"] == "pending":
                entry.update(status="cancelled", error="cancelled before it started" if not entry["attempts"] else "cancelled before its retry")
            elif entry["status"] == "running":
                entry.update(status="cancelled", error="cancelled")
        self.save()

    def _abort(self, error: str | None) -> None:
        """An error in the sweep process itself: stop what runs, record why."""
        self._stop_active()
        for entry in self.entries():
            if entry["status"] in ("pending", "running"):
                entry.update(status="cancelled", error="cancelled" if error is None else "sweep stopped: " + error)
        if error is not None:
            self.data["error"] = error

    def _finish(self) -> int:
        c = store.counts(self.data)
        if self.cancelled:
            status, code = "cancelled", ExitCode.INTERRUPTED
        elif self.data.get("error") or c["failed"] or c["cancelled"]:
            status, code = "failed", ExitCode.RUN_FAILED
        else:
            status, code = "completed", ExitCode.OK
        self.data.update(status=status, finished_at=now_iso())
        self.save()
        summary = ", ".join(f"{n} {s}" for s, n in c.items() if n)
        self.echo(f"{status}: {summary}")
        return int(code)


def drive(home: Home, sweep_id: str, echo: Callable[[str], None] | None = None,
          on_progress: Callable[[int, int], None] | None = None) -> int:
    """Run a recorded (pending) sweep to the end in this process; return the exit code.
    ``on_progress(ended, total)`` is called at the start and whenever a run ends for good."""
    return SweepDriver(home, sweep_id, echo, on_progress).run()
