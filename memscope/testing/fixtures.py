"""The pytest fixtures of memscope.testing (``pytest_plugins = ["memscope.testing"]`` registers them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pytest

from memscope.store.home import Home
from memscope.testing.plugin_host import resolve_plugin
from memscope.testing.tiny_runs import TinyRun, run_tiny


@pytest.fixture
def memscope_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """An empty results home in a temporary folder; ``MEMSCOPE_HOME`` points at it."""
    home = Home(tmp_path / "memscope-home").ensure()
    monkeypatch.setenv("MEMSCOPE_HOME", str(home.root))
    return home


@pytest.fixture(scope="session")
def tiny_run_factory(tmp_path_factory: pytest.TempPathFactory):
    """``tiny_run_factory(analyses=[...], plugins=[...], overrides=[...])`` -> a cached TinyRun.

    Trains once per distinct set of arguments per session, with the analyses in the run's
    analyses list (they see training as ``memscope run`` would). Treat the result as
    read-only, or ``.copy()`` it.
    """
    cache: dict[tuple, TinyRun] = {}

    def make(analyses: Sequence[str] = (), plugins: Sequence[Any] = (), overrides: Sequence[str] = ()) -> TinyRun:
        key = (tuple(analyses), tuple(id(resolve_plugin(p)[2]) for p in plugins), tuple(overrides))
        if key not in cache:
            home = tmp_path_factory.mktemp("memscope-tiny-runs")
            cache[key] = run_tiny(home, analyses=analyses, plugins=plugins, overrides=overrides)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def tiny_run(tiny_run_factory) -> TinyRun:
    """One finished tiny run (built-ins only), shared by the whole test session: the same run as
    ``tiny_run_factory()`` with no arguments, so it is trained once."""
    return tiny_run_factory()


@pytest.fixture
def tiny_run_copy(tiny_run: TinyRun, tmp_path: Path) -> TinyRun:
    """A private copy of ``tiny_run`` in this test's own home (change it freely)."""
    return tiny_run.copy(tmp_path / "memscope-home")
