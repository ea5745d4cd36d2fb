"""memscope: an experiment explorer for neural-network memorization.

Plugin authors write ``from memscope import hookimpl``. In a notebook, ``memscope.connect()``,
``memscope.runs()`` and ``memscope.load(run_id)`` read the results (docs/python-api.md).
Importing this package is cheap: it pulls in neither torch nor textual, and duckdb and
pyarrow only once one of those three is used.
"""

from typing import Any

import pluggy

from memscope.version import __version__

hookimpl = pluggy.HookimplMarker("memscope")

_API = ("connect", "runs", "load")


def __getattr__(name: str) -> Any:
    # PEP 562: the API (duckdb, pyarrow, the store) loads on first use, not on import.
    if name in _API:
        from memscope import api

        return getattr(api, name)
    raise AttributeError(f"module 'memscope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = ["__version__", "connect", "hookimpl", "load", "runs"]
