"""The Python API's tests read real tiny runs (the fixtures of memscope.testing, registered in
tests/conftest.py): the plain ``tiny_run``, and a home with every analysis of the paper."""

from __future__ import annotations

import shutil

import pytest

#: Gradient accounting, rewinding, retraining and neuron flipping in one run; flipping on a
#: few targets with a small reference batch, so the run takes seconds on a shared CPU. The
#: same arguments as tests/figures use: tiny_run_factory trains each set once per session.
ANALYSES = ("gradient_accounting", "rewinding", "retraining", "neuron_flipping")
SMALL_FLIPPING = (
    "analysis.retraining.epochs=2",
    "analysis.neuron_flipping.num_noisy=6",
    "analysis.neuron_flipping.num_clean=6",
    "analysis.neuron_flipping.reference_batch=32",
    "analysis.neuron_flipping.max_neurons=20",
)
#: Example-tied dropout trains a model of its own (the other analyses refuse one): a second run.
ETD = (("gradient_accounting", "etd"), ("etd.enabled=true",))


@pytest.fixture(scope="session")
def analysed_runs(tiny_run_factory, tmp_path_factory):
    """(home, run_id of the run with four analyses, run_id of the ETD run): one home holding
    both runs (the ETD run trained last, so it is ``latest``)."""
    from memscope.store.catalog import refresh_catalog

    full = tiny_run_factory(analyses=ANALYSES, overrides=SMALL_FLIPPING)
    etd = tiny_run_factory(analyses=ETD[0], overrides=ETD[1])
    home = full.copy(tmp_path_factory.mktemp("api") / "home").home
    shutil.copytree(etd.run_dir, home.run_dir(etd.run_id))
    refresh_catalog(home)
    assert full.run_id < etd.run_id, "the ETD run must be the latest"
    return home, full.run_id, etd.run_id


@pytest.fixture
def analysed_home(analysed_runs, tmp_path, monkeypatch):
    """A private copy of that home, with ``MEMSCOPE_HOME`` pointing at it."""
    from memscope.store.catalog import refresh_catalog
    from memscope.store.home import Home

    source = analysed_runs[0]
    home = Home(tmp_path / "home")
    shutil.copytree(source.root, home.root, ignore=shutil.ignore_patterns("memscope.duckdb*", ".*.tmp"))
    refresh_catalog(home)
    monkeypatch.setenv("MEMSCOPE_HOME", str(home.root))
    return home
