"""Fixtures for the app's tests: a deterministic home, a plugins dir, an app factory."""

from __future__ import annotations

import asyncio
import inspect
import shutil
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


@pytest.fixture(scope="session")
def snapshot_paths():
    """A home and plugins dir at fixed paths: paths show on screen, snapshots must not vary."""
    root = Path(tempfile.gettempdir()) / "memscope-tui-snapshots"
    shutil.rmtree(root, ignore_errors=True)
    home = make_home(root / "home")
    plugins = make_plugins_dir(root / "plugins")
    yield home, plugins
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def snapshot_app(snapshot_paths):
    from memscope.tui.app import create_app

    reset_hosts()
    home, plugins = snapshot_paths

    def factory():
        return create_app(home, plugins, refresh_interval=0, show_timings=False)

    yield factory
    reset_hosts()


async def settle(pilot, rounds: int = 3) -> None:
    """Let workers finish and their messages land (a few times: handlers start new workers)."""
    from textual.worker import WorkerCancelled, WorkerFailed

    for _ in range(rounds):
        await pilot.pause(0.05)
        try:
            await pilot.app.workers.wait_for_complete()
        except (WorkerCancelled, WorkerFailed):
            pass  # a superseded exclusive worker, or one whose error the app reported
    await pilot.pause(0.1)


async def wait_for(pilot, predicate, timeout: float = 10.0, step: float = 0.1) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(step)
    return predicate()
