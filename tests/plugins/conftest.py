"""Fixtures for the example plugins' tests.

The fixtures of memscope.testing come from tests/conftest.py (``pytest_plugins``), as in a
plugin project's top-level conftest.py; importing them here again would give this folder its
own session cache of tiny runs, and train them twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memscope.testing import load_plugin_file

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"
EXAMPLES = ("forgetting_events", "data_maps", "label_errors")


def plugin_module(name: str):
    """An example plugin from plugins/, imported the way the plugins directory imports it."""
    return load_plugin_file(PLUGINS_DIR / f"{name}.py")


@pytest.fixture(scope="session")
def examples_run(tiny_run_factory):
    """One tiny run with the three example analyses in the analyses list (cleanlab off)."""
    return tiny_run_factory(
        analyses=list(EXAMPLES),
        plugins=[plugin_module(name) for name in EXAMPLES],
        overrides=['analysis.label_errors.cleanlab="off"'],
    )


@pytest.fixture
def examples_run_copy(examples_run, tmp_path):
    return examples_run.copy(tmp_path / "home")
