"""Fixtures for the app's tests: a deterministic home, a plugins dir, an app factory."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import inspect
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from memscope.plugins import reset_hosts
from tests.tui.fixture_home import make_home, make_plugins_dir

SNAPSHOT_SIZE = (100, 30)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run ``async def`` tests (Pilot) on a fresh event loop; no pytest-asyncio needed."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        names = pyfuncitem._fixtureinfo.argnames
        asyncio.run(pyfuncitem.obj(**{n: pyfuncitem.funcargs[n] for n in names}))
        return True
    return None


@pytest.fixture(scope="session")
def home_template(tmp_path_factory):
    return make_home(tmp_path_factory.mktemp("template") / "home")


@pytest.fixture
def home(tmp_path, home_template):
    """A fresh copy of the fixture home (its catalog rebuilds itself for the new path)."""
    from memscope.store.home import Home

    shutil.copytree(home_template.root, tmp_path / "home")
    return Home(tmp_path / "home")


@pytest.fixture
def plugins_dir(tmp_path):
    return make_plugins_dir(tmp_path / "plugins")


@pytest.fixture
def make_app(home, plugins_dir):
    """``make_app(**options)``: the app the CLI builds, on the fixture home; no periodic refresh."""
    from memscope.tui.app import create_app

    reset_hosts()

    def factory(**options):
        options.setdefault("refresh_interval", 0)
        return create_app(home, plugins_dir, **options)

    yield factory
    reset_hosts()


#: The fixed snapshot directory (its path is in the committed SVGs) and the lock file next to it.
SNAPSHOT_ROOT = Path(tempfile.gettempdir()) / "memscope-tui-snapshots"
SNAPSHOT_LOCK = SNAPSHOT_ROOT.with_name(SNAPSHOT_ROOT.name + ".lock")


@pytest.fixture(scope="session")
def snapshot_paths():
    """A home and plugins dir at fixed paths: paths show on screen, snapshots must not vary.

    The path is shared by every test run on the machine, so the fixture holds an exclusive
    ``flock`` on ``SNAPSHOT_LOCK`` from before it (re)creates the directory until after it
    removes it: a second concurrent run waits here instead of deleting the first run's files.
    The lock file is left in place (removing it would let a waiter lock an unlinked inode).
    """
    fd = os.open(SNAPSHOT_LOCK, os.O_RDONLY | os.O_CREAT, 0o666)  # read-only is enough for flock
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if sys.__stderr__ is not None:
                sys.__stderr__.write(f"\nwaiting for another test run to release {SNAPSHOT_LOCK} ...\n")
            fcntl.flock(fd, fcntl.LOCK_EX)
        root = SNAPSHOT_ROOT
        shutil.rmtree(root, ignore_errors=True)
        try:
            home = make_home(root / "home")
            plugins = make_plugins_dir(root / "plugins")
            yield home, plugins
        finally:
            shutil.rmtree(root, ignore_errors=True)
    finally:
        os.close(fd)  # releases the lock


@pytest.fixture
def snapshot_app(snapshot_paths):
    from memscope.tui.app import create_app

    reset_hosts()
    home, plugins = snapshot_paths

    def factory():
        return create_app(home, plugins, refresh_interval=0, show_timings=False)

    yield factory
    reset_hosts()


async def settle(pilot, rounds: int = 3, max_rounds: int = 50) -> None:
    """Wait until the app is idle: no worker running and every queued message handled.

    Handlers start new workers and workers post messages, so this loops until a round finds
    nothing to wait for (at least ``rounds`` rounds). It waits on the app's own state, never on
    the clock, so a loaded machine only makes it slower, not different.
    """
    from textual.worker import WorkerCancelled, WorkerFailed

    quiet = 0
    for _ in range(max_rounds):
        await pilot.pause()  # the screen has processed what was queued, then the CPU went idle
        busy = [w for w in pilot.app.workers if not w.is_finished]
        if busy:
            quiet = 0
            # a superseded exclusive worker, or one whose error the app reported, is done too
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await pilot.app.workers.wait_for_complete()
            continue
        quiet += 1
        if quiet >= rounds:
            break
    await pilot.pause()


async def open_mode(pilot, mode: str, run_id: str) -> None:
    """Select ``run_id`` and show section ``mode``, each time waiting for the app to be idle."""
    await settle(pilot)
    pilot.app.run_id = run_id
    await pilot.app.switch_mode(mode)
    await settle(pilot)


async def wait_for(pilot, predicate, timeout: float = 10.0, step: float = 0.1) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(step)
    return predicate()
