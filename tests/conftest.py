"""Fixtures shared by every test folder.

- ``home``: an empty results home in ``tmp_path`` (created, catalog built), also set as
  ``MEMSCOPE_HOME`` so CLI commands without ``--home`` use it.
- ``make_run``: writes a small synthetic run into that home with
  :func:`memscope.testing.write_fake_run` (run.json, config.toml and Parquet parts through the
  real ``RunWriter``), no torch involved; keyword arguments go to the writer.
- the fixtures of :mod:`memscope.testing` (``tiny_run``, ``tiny_run_factory`` ...): one real
  tiny run per distinct configuration, trained once per session (per worker under xdist).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

pytest_plugins = ["memscope.testing"]

#: make_run's run: small enough to count its rows by hand
SMALL_RUN = {"dataset": "digits", "model": "mlp", "num_train": 10, "num_test": 4, "epochs": 2, "noise_rate": 0.2,
             "tags": {"purpose": "test"}}


@pytest.fixture
def home(tmp_path, monkeypatch):
    from memscope.store.home import Home

    root = tmp_path / "home"
    monkeypatch.setenv("MEMSCOPE_HOME", str(root))
    return Home(root).ensure()


@pytest.fixture
def make_run(home) -> Callable[..., Path]:
    from memscope.testing import write_fake_run  # here: pytest_plugins imports the module first

    def make(run_id: str, **kwargs: Any) -> Path:
        return write_fake_run(home, run_id, **{**SMALL_RUN, **kwargs})

    return make


def pytest_collection_modifyitems(items):
    """Under pytest-xdist (``-n 2``), every test that uses the app's fixed snapshot directory runs
    on one worker: that directory is locked for a whole session, so a second worker would wait."""
    for item in items:
        if "snapshot_paths" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("tui-snapshots"))
