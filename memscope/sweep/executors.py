"""Where a sweep's runs execute: ``local`` (subprocesses on this machine) or ``ray``.

Both run every attempt as the ordinary ``memscope run CONFIG --quiet --set ...`` in a
fresh process, so a run inside a sweep is exactly a run outside one: it writes only its own
directory, marks itself cancelled on SIGTERM, and exits with the documented code.

An executor has ``capacity`` (how many attempts may run at once), ``start`` (one attempt),
``wait`` (the attempts that ended, within a timeout), ``terminate`` / ``kill`` and
``close``. The sweep driver (:mod:`memscope.sweep.driver`) owns the queue, the retries and
sweep.json; executors own only processes or Ray tasks.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memscope.child import python_command
from memscope.errors import ConfigError, MemscopeError

#: How a child process starts the CLI (no console script needed, same interpreter).
CLI_MAIN = "from memscope.cli.app import main; main()"
RAY_HINT = 'the ray executor needs Ray: pip install "memscope[ray]"'
TAIL_CHARS = 4000


@dataclass
class AttemptResult:
    rc: int | None  # the run process's exit code (negative: killed by that signal); None = no process result
    stdout: str = ""
    stderr: str = ""  # the tail
    error: str | None = None  # the executor's own failure (worker crashed, task cancelled)
    cancelled: bool = False
    hostname: str = ""


@dataclass
class Handle:
    index: int  # the sweep entry
    attempt: int
    log_path: Path
    out_path: Path
    started: float = field(default_factory=time.monotonic)
    proc: subprocess.Popen | None = None
    slot: int = -1
    ref: Any = None  # Ray ObjectRef
    files: tuple = ()


# --------------------------------------------------------------------------- helpers


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def detect_gpus() -> list[str]:
    """GPU ids visible to this process, without importing torch.

    ``CUDA_VISIBLE_DEVICES`` when set (empty or -1 = none); else ``nvidia-smi -L``.
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [g.strip() for g in env.split(",") if g.strip()]
        return [] if not ids or ids[0] == "-1" else ids
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return [str(i) for i, line in enumerate(l for l in out.stdout.splitlines() if l.startswith("GPU "))]


def default_workers(device: str, gpus: list[str]) -> int:
    """1 per GPU when runs may use CUDA, else 1."""
    if device in ("auto", "cuda") and gpus:
        return len(gpus)
    return 1


def thread_env(threads: int) -> dict[str, str]:
    """Cap each run's CPU threads so parallel runs share the cores instead of fighting."""
    n = str(max(1, int(threads)))
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def tail(text: str, chars: int = TAIL_CHARS) -> str:
    return text if len(text) <= chars else text[-chars:]


def _read(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def child_command(argv: list[str]) -> list[str]:
    return python_command("-c", CLI_MAIN, *argv)


# --------------------------------------------------------------------------- local


class LocalExecutor:
    """A queue on this machine: at most ``workers`` run processes at a time.

    Each process gets ``cores / workers`` CPU threads and, when GPUs are present, one GPU
    (``CUDA_VISIBLE_DEVICES``) by worker slot.
    """

    name = "local"

    def __init__(self, workers: int, gpus: list[str] | None = None, threads: int | None = None, env: dict[str, str] | None = None):
        self.capacity = max(1, workers)
        self.gpus = list(gpus or [])
        self.threads = threads or max(1, cpu_count() // self.capacity)
        self.extra_env = dict(env or {})
        self._slots: set[int] = set()
        self._wake = threading.Event()

    def describe(self) -> str:
        gpu = f", GPUs {','.join(self.gpus)}" if self.gpus else ""
        return f"local executor, {self.capacity} at a time, {self.threads} CPU thread(s) per run{gpu}"

    def start(self, index: int, attempt: int, argv: list[str], log_path: Path, out_path: Path) -> Handle:
        slot = next(i for i in itertools.count() if i not in self._slots)
        self._slots.add(slot)
        env = self.child_env(slot)
        err = open(log_path, "w", encoding="utf-8")
        out = open(out_path, "w", encoding="utf-8")
        try:
            proc = subprocess.Popen(child_command(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        except OSError:
            err.close()
            out.close()
            self._slots.discard(slot)
            raise
        return Handle(index, attempt, log_path, out_path, proc=proc, slot=slot, files=(err, out))

    def child_env(self, slot: int) -> dict[str, str]:
        """The run process's environment: capped threads, and its worker slot's GPU."""
        env = dict(os.environ, **self.extra_env, **thread_env(self.threads))
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        return env

    def wait(self, handles: list[Handle], timeout: float) -> list[tuple[Handle, AttemptResult]]:
        deadline = time.monotonic() + timeout
        while True:
            done = []
            for h in handles:
                rc = h.proc.poll()
                if rc is not None:
                    done.append((h, self._result(h, rc)))
            if done or time.monotonic() >= deadline:
                return done
            self._wake.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            self._wake.clear()

    def _result(self, h: Handle, rc: int) -> AttemptResult:
        for f in h.files:
            f.close()
        self._slots.discard(h.slot)
        return AttemptResult(rc, _read(h.out_path), tail(_read(h.log_path)), hostname=socket.gethostname())

    def wake(self) -> None:
        self._wake.set()

    def terminate(self, handles: list[Handle]) -> None:
        for h in handles:
            if h.proc.poll() is None:
                try:
                    h.proc.send_signal(signal.SIGTERM)
                except OSError:
                    pass

    def kill(self, handles: list[Handle]) -> None:
        for h in handles:
            if h.proc.poll() is None:
                try:
                    h.proc.kill()
                except OSError:
                    pass

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- ray


def run_attempt(argv: list[str], env_updates: dict[str, str], log_path: str, out_path: str) -> dict[str, Any]:
    """One attempt inside a Ray task: the same ``memscope run`` subprocess as the local queue.

    ``ray.cancel`` raises KeyboardInterrupt here: the run gets SIGTERM (it finishes the part
    in flight and marks itself cancelled), then the interrupt goes on to Ray.
    """
    env = dict(os.environ, **env_updates)
    paths = []
    for wanted in (log_path, out_path):
        try:
            Path(wanted).parent.mkdir(parents=True, exist_ok=True)
            handle = open(wanted, "w", encoding="utf-8")
        except OSError:  # the sweep folder is not shared with this node: keep a local copy
            handle = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False, encoding="utf-8")
        paths.append((handle, Path(handle.name)))
    (err, err_path), (out, out_path_) = paths
    proc = subprocess.Popen(child_command(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
    try:
        # poll, not wait(): Ray delivers the cancellation between bytecodes, never inside waitpid
        while (rc := proc.poll()) is None:
            time.sleep(0.2)
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    finally:
        err.close()
        out.close()
    return {"rc": rc, "stdout": _read(out_path_), "stderr": tail(_read(err_path)), "hostname": socket.gethostname()}


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def probe_ray_address(address: str | None, timeout: float = 5.0) -> None:
    """Fail fast on a ``host:port`` (or ``ray://host:port``) nobody listens on: ``ray.init``
    would retry for minutes. ``auto``, ``local`` and no address are left to Ray."""
    if not address or address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1].rstrip("/")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc.__class__.__name__}") from None


def require_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_HINT) from None
    return ray


class RayExecutor:
    """Ray tasks on a running cluster (``address``) or a local instance started for the sweep.

    Each task asks for ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs (default: 1 when the
    runs may use CUDA and the cluster has GPUs, else 0). At most ``capacity`` tasks are in
    flight: ``workers`` if given, else what the cluster's resources fit.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None,
        workers: int | None,
        cpus_per_run: float | None,
        gpus_per_run: float | None,
        device: str,
        env: dict[str, str] | None = None,
        init_options: dict[str, Any] | None = None,
    ):
        ray = require_ray()
        self.ray = ray
        options = {"include_dashboard": False, "log_to_driver": False, **(init_options or {})}
        try:
            ray.init(address=address or None, **options)
        except Exception as exc:  # a wrong address, a cluster that is down, a version mismatch
            lines = [line for line in str(exc).splitlines() if line.strip()]
            where = f"the Ray cluster at {address}" if address else "Ray"
            raise MemscopeError(f"cannot start or reach {where}: {exc.__class__.__name__}: {lines[0] if lines else ''}") from None
        resources = ray.cluster_resources()
        cluster_cpus = float(resources.get("CPU", 1.0))
        cluster_gpus = float(resources.get("GPU", 0.0))
        self.cpus = float(cpus_per_run) if cpus_per_run else 1.0
        if gpus_per_run is None:
            gpus_per_run = 1.0 if device in ("auto", "cuda") and cluster_gpus >= 1 else 0.0
        self.gpus = float(gpus_per_run)
        if self.gpus > cluster_gpus:
            ray.shutdown()
            raise ConfigError(f"each run asks for {self.gpus:g} GPU(s) but the Ray cluster has {cluster_gpus:g}")
        if self.cpus > cluster_cpus:
            ray.shutdown()
            raise ConfigError(f"each run asks for {self.cpus:g} CPU(s) but the Ray cluster has {cluster_cpus:g}")
        fit = cluster_cpus / self.cpus
        if self.gpus:
            fit = min(fit, cluster_gpus / self.gpus)
        self.capacity = max(1, workers if workers else int(math.floor(fit + 1e-9)))
        self.cluster = f"{cluster_cpus:g} CPU, {cluster_gpus:g} GPU"
        self.env = {**dict(env or {}), **thread_env(max(1, int(self.cpus)))}
        self.remote = ray.remote(run_attempt).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)

    def describe(self) -> str:
        return (
            f"ray executor ({self.cluster}), {self.capacity} at a time, "
            f"{self.cpus:g} CPU / {self.gpus:g} GPU per run"
        )

    def start(self, index: int, attempt: int, argv: list[str], log_path: Path, out_path: Path) -> Handle:
        ref = self.remote.remote(argv, self.env, str(log_path), str(out_path))
        return Handle(index, attempt, log_path, out_path, ref=ref)

    def wait(self, handles: list[Handle], timeout: float) -> list[tuple[Handle, AttemptResult]]:
        if not handles:
            return []
        by_ref = {h.ref: h for h in handles}
        ready, _ = self.ray.wait(list(by_ref), num_returns=1, timeout=timeout)
        done = []
        for ref in ready:
            h = by_ref[ref]
            done.append((h, self._result(h, ref)))
        return done

    def _result(self, h: Handle, ref) -> AttemptResult:
        from ray import exceptions as rex

        try:
            value = self.ray.get(ref)
        except rex.TaskCancelledError:
            return AttemptResult(None, error="cancelled", cancelled=True)
        except rex.RayError as exc:
            lines = [line for line in str(exc).splitlines() if line.strip()]
            return AttemptResult(None, error=f"{exc.__class__.__name__}: {lines[-1] if lines else exc}")
        result = AttemptResult(value["rc"], value["stdout"], value["stderr"], hostname=value.get("hostname", ""))
        if not h.log_path.is_file():  # a node without the shared folder: keep the tail here
            try:
                h.log_path.write_text(result.stderr, encoding="utf-8")
            except OSError:
                pass
        return result

    def wake(self) -> None:
        pass

    def terminate(self, handles: list[Handle]) -> None:
        for h in handles:
            try:
                self.ray.cancel(h.ref, force=False)
            except Exception:  # already finished, or the cluster went away
                pass

    def kill(self, handles: list[Handle]) -> None:
        for h in handles:
            try:
                self.ray.cancel(h.ref, force=True)
            except Exception:
                pass

    def close(self) -> None:
        try:
            self.ray.shutdown()
        except Exception:
            pass
