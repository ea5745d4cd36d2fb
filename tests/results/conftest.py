"""The results layer's tests run on the app's fixture home: five runs in every status."""

from __future__ import annotations

import shutil

import pytest

from tests.tui.fixture_home import make_home


@pytest.fixture(scope="session")
def runs_home_template(tmp_path_factory):
    return make_home(tmp_path_factory.mktemp("results-template") / "home")


@pytest.fixture
def runs_home(tmp_path, runs_home_template):
    """A fresh copy of the fixture home: completed A (every analysis), completed B, failed C,
    running D (this process is its pid), crashed E (a dead pid on this host)."""
    from memscope.store.home import Home

    shutil.copytree(runs_home_template.root, tmp_path / "home")
    return Home(tmp_path / "home")
