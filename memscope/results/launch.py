"""Starting a run the way a person would (``memscope run CONFIG --home HOME`` as a detached
process), finding the run it created, and reading its log; and the sample configs offered.

Nothing here imports torch: the run trains in its own process.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from memscope.child import python_command
from memscope.errors import MemscopeError, StoreError
from memscope.results.runs import RunRow
from memscope.store.home import Home
from memscope.store.runinfo import new_run_id, parse_time, read_run_info

LOG_DIR = "logs"
CONFIG_DIR = "configs"


def log_dir(home: Home) -> Path:
    return home.root / LOG_DIR


def find_log(home: Home, run: RunRow) -> Path | None:
    """The log of a run the app launched (``<home>/logs/*.pid<PID>.log``), or ``run.log``."""
    own = home.run_dir(run.run_id) / "run.log"
    if own.is_file():
        return own
    pid = run.info.get("pid")
    folder = log_dir(home)
    if not isinstance(pid, int) or not folder.is_dir():
        return None
    created = parse_time(run.info.get("created_at")) or 0.0
    candidates = []
    for path in folder.glob(f"*.pid{pid}.log"):
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        if mtime >= created - 120:  # pids are reused: the log must be as new as the run
            candidates.append((mtime, path))
    return max(candidates)[1] if candidates else None


def tail(path: Path, lines: int = 200, max_bytes: int = 64_000) -> list[str]:
    """The last lines of a text file; carriage-return progress redraws keep their last state."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace")
    out = []
    for line in text.rstrip("\n").split("\n"):
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
        line = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line)
        out.append(line)
    return out[-lines:]


@dataclass
class Launch:
    """A ``memscope run`` process started by :func:`launch_run` (detached: it outlives its parent)."""

    process: subprocess.Popen
    log_path: Path
    config_path: Path
    started: float
    known_runs: set[str] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.process.pid


def run_command(config_path: Path, home: Home, plugins_dir: str | Path | None) -> list[str]:
    """The command line launched: the same ``memscope run`` a person would type."""
    cmd = python_command("-m", "memscope", "run", str(config_path), "--home", str(home.root))
    if plugins_dir is not None:
        cmd += ["--plugins-dir", str(plugins_dir)]
    return cmd


def save_launch_config(home: Home, toml_text: str, label: str) -> Path:
    """Keep a launched config in ``<home>/configs/`` (the run copies it into its folder too)."""
    folder = home.root / CONFIG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{new_run_id(label)}.toml"
    path.write_text(toml_text, encoding="utf-8")
    return path


def launch_run(home: Home, config_path: Path, plugins_dir: str | Path | None = None) -> Launch:
    """Start ``memscope run CONFIG --home HOME`` in its own session, output to a log file.

    Closing the app never stops the run (new session, no pipes to the app); re-opening the
    app finds it again through its run directory.
    """
    home.ensure()
    folder = log_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    stem = config_path.stem
    provisional = folder / f"{stem}.log"
    known = set(home.run_ids())
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(provisional, "ab") as log:
        try:
            process = subprocess.Popen(
                run_command(config_path, home, plugins_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                env=env,
            )
        except OSError as exc:
            raise MemscopeError(f"cannot start memscope run: {exc.strerror or exc}") from None
    final = folder / f"{stem}.pid{process.pid}.log"
    try:
        provisional.rename(final)  # the child keeps writing to the same open file
    except OSError:
        final = provisional
    return Launch(process, final, config_path, time.time(), known)


def wait_for_run(home: Home, launch: Launch, timeout: float = 300.0, poll: float = 0.25,
                 cancelled: Callable[[], bool] = lambda: False) -> str:
    """The id of the run the launched process created; MemscopeError if it exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not cancelled():
        for run_id in home.run_ids():
            if run_id in launch.known_runs:
                continue
            try:
                info = read_run_info(home.run_dir(run_id))
            except StoreError:
                continue
            if info.get("pid") == launch.pid and info.get("hostname") == socket.gethostname():
                return run_id
        code = launch.process.poll()
        if code is not None:
            lines = [line for line in tail(launch.log_path, 20) if line.strip()]
            detail = "\n".join(lines[-6:]) or f"exit code {code}"
            raise MemscopeError(f"memscope run exited (code {code}) before the run started:\n{detail}")
        time.sleep(poll)
    raise MemscopeError(f"memscope run did not start a run within {timeout:.0f}s (log: {launch.log_path})")


def sample_configs() -> list[Path]:
    """The sample configs the app offers: the ones ``memscope run NAME`` and ``memscope
    samples`` know (:func:`memscope.config.sample_configs`), by name."""
    from memscope.config.loading import sample_configs as by_name

    return list(by_name().values())
