"""Fixtures for the example plugins' tests.

A plugin project puts ``pytest_plugins = ["memscope.testing"]`` in its top-level conftest.py;
pytest allows that only at the top level, so this (nested) conftest imports the fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memscope.testing import (  # noqa: F401  (fixtures, registered by being imported here)
    load_plugin_file,
    memscope_home,
    tiny_run,
    tiny_run_copy,
    tiny_run_factory,
)

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
