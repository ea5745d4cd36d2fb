"""Test helpers and pytest fixtures for memscope plugin authors.

Use them from your plugin's own test suite. In the ``conftest.py`` at the root of your
project::

    pytest_plugins = ["memscope.testing"]

and then, in a test::

    from memscope.testing import check_analysis, check_tables_in_catalog

    import my_plugin


    def test_conforms():
        check_analysis(my_plugin.MyAnalysis)


    def test_on_a_real_run(tiny_run_copy):
        status = tiny_run_copy.analyze(my_plugin)          # like `memscope analyze RUN -a ...`
        assert status["my_analysis"]["status"] == "completed"
        check_tables_in_catalog(tiny_run_copy, my_plugin.MyAnalysis, require_rows=True)
        rows = tiny_run_copy.table("my_analysis_examples")  # this run's rows, as Arrow

Fixtures (all work without a GPU; the tiny run takes a few seconds on a laptop CPU):

- ``memscope_home``: an empty results home in a temporary folder, with ``MEMSCOPE_HOME``
  pointing at it for the duration of the test.
- ``tiny_run`` (session scope): one finished :class:`TinyRun` (the ``synthetic`` dataset,
  256 training examples with 20% symmetric label noise, a narrow ``cnn``, 3 epochs, a
  checkpoint every epoch). Shared by every test of the session: ``analyze`` on it replaces
  the rows of the analyses it runs; use ``tiny_run_copy`` to change anything else.
- ``tiny_run_copy``: a private copy of ``tiny_run`` in the test's own temporary home.
- ``tiny_run_factory`` (session scope): ``tiny_run_factory(analyses=[...], plugins=[...],
  overrides=[...])`` trains a tiny run with your analyses in the analyses list (as
  ``memscope run`` would) and caches it for the session by its arguments.

Helpers: :func:`host_with` (a plugin manager with your plugin registered, and no other
third-party plugin), :func:`run_tiny` (train a tiny run in-process), :func:`load_plugin_file`
(import a plugin ``.py`` file the way the plugins directory does), :func:`check_analysis`
(the analysis contract), :func:`check_tables_in_catalog` (its tables are queryable) and
:func:`write_fake_run` (a synthetic run directory, no training: for tests of what reads runs).

Modules: ``plugin_host`` (the test plugin manager), ``tiny_runs`` (the real tiny run),
``fake_runs`` (synthetic runs), ``contract`` (the analysis contract), ``fixtures`` (pytest).

Importing this module does not import torch (training imports it when it starts).
"""

from __future__ import annotations

import importlib.util

from memscope.testing.contract import analysis_problems, check_analysis, check_tables_in_catalog
from memscope.testing.fake_runs import write_fake_run
from memscope.testing.plugin_host import host_with, load_plugin_file, strict_plugins
from memscope.testing.tiny_runs import TINY_CONFIG, TinyRun, run_tiny, tiny_config

if importlib.util.find_spec("pytest") is not None:  # the helpers above work without pytest
    # imported here so that ``pytest_plugins = ["memscope.testing"]`` registers the fixtures
    from memscope.testing.fixtures import memscope_home, tiny_run, tiny_run_copy, tiny_run_factory

__all__ = [
    "TINY_CONFIG",
    "TinyRun",
    "analysis_problems",
    "check_analysis",
    "check_tables_in_catalog",
    "host_with",
    "load_plugin_file",
    "memscope_home",
    "run_tiny",
    "strict_plugins",
    "tiny_config",
    "tiny_run",
    "tiny_run_copy",
    "tiny_run_factory",
    "write_fake_run",
]
