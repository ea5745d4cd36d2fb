"""The Python API for notebooks (``docs/python-api.md``).

- :func:`connect`: read-only SQL over every run in a home, joined with your own DataFrames;
- :func:`runs`: the ``runs`` view;
- :func:`load`: one run, with one accessor per analysis.

Each returns rows as a :class:`Result` (``.arrow()``, ``.df()``, ``.pl()``). ``import
memscope`` reaches these through a lazy attribute, so importing the package stays cheap; this
package imports the store and the results layer, never torch, Textual or Typer.
"""

from memscope.api.connection import Connection, connect, runs
from memscope.api.result import Result
from memscope.api.run import Run, load

__all__ = ["Connection", "Result", "Run", "connect", "load", "runs"]
