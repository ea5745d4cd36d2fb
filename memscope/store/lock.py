"""One writer per run directory: an OS lock (``flock``) on ``runs/<run_id>/.lock``.

Every process that writes a run directory (``memscope run``, ``run --resume``, ``analyze``)
takes the lock before its first write and holds it until it is done; the kernel drops it
when the process dies, even by ``kill -9``. So the lock also tells liveness: a run of this
host whose run.json says ``running`` while nobody holds its lock has crashed, at once,
without waiting for a heartbeat to go stale. The lock file holds the holder's pid, only to name it in the
error a second writer gets.

Limits: ``flock`` is local to one machine (on NFS it may not exclude a writer on another
host); run directories of runs written before this lock existed have no lock file, and the
pid/heartbeat rule of :func:`memscope.store.runinfo.effective_status` applies to them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from pathlib import Path

from memscope.errors import ExitCode, MemscopeError, StoreError

LOCK_FILE = ".lock"


class RunBusy(MemscopeError):
    """Another process writes this run directory (exit code 2, like every "still running")."""

    exit_code = ExitCode.USAGE


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        text = path.read_text(encoding="ascii").strip()
        if text.isdigit() and len(text) < 12:
            return f"pid {int(text)}"
    return "another process"


_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


def _flock_exclusive(fd: int, patience: float = 0.5) -> None:
    """``LOCK_EX | LOCK_NB``, retried for ``patience`` seconds: a reader probing liveness
    (:func:`writer_alive`) holds a shared lock for microseconds (longer only when the machine
    is so busy that it is descheduled in between), a writer holds it for its life."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in _BUSY or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class RunLock:
    """The exclusive writer lock of one run directory, held while the object is open."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        """Take the lock without waiting; :class:`RunBusy` naming the holder if it is taken."""
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise StoreError(
                f"cannot lock the run directory {self.run_dir}: {exc.strerror or exc}; "
                "a run can only be written where its home is writable"
            ) from None
        try:
            _flock_exclusive(fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno in _BUSY:
                raise RunBusy(
                    f"run {self.run_dir.name} is still running: {_holder(self.path)} holds its writer lock "
                    "(one writer per run); wait for it to finish, or cancel it first"
                ) from None
            raise StoreError(f"cannot lock the run directory {self.run_dir}: {exc.strerror or exc}") from None
        with contextlib.suppress(OSError):  # the pid is only for messages
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the only descriptor drops the lock

    def __del__(self) -> None:  # a writer object dropped after an error must not keep the run locked
        self.release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def writer_alive(run_dir: Path) -> bool | None:
    """Whether some process holds the run's writer lock; None when the run has no lock file
    (written before the lock existed) or it cannot be opened."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return True if exc.errno in _BUSY else None
    finally:
        os.close(fd)  # also drops the shared lock we may have taken
    return False


__all__ = ["LOCK_FILE", "RunBusy", "RunLock", "writer_alive"]
