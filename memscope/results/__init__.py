"""The headless results layer: what the app, the CLI, the report and the Python API read and
do with a home's runs, without torch, Textual or Typer.

One concept per module, imported where it is used (nothing is imported here, so
``memscope query`` and ``import memscope`` stay light):

- :mod:`memscope.results.runs`: the runs in a home, their live status, the one run-id rule,
  cancel, delete, tags and notes;
- :mod:`memscope.results.configs`: a run's config, flattened, and the keys two runs differ in;
- :mod:`memscope.results.launch`: starting ``memscope run`` as a detached process, waiting
  for its run, its log, the sample configs;
- :mod:`memscope.results.examples`: one run's per-example table, paged, and one example's detail;
- :mod:`memscope.results.session`: one read-only catalog connection shared by threads;
- :mod:`memscope.results.history`: the SQL history kept in the home.
"""
