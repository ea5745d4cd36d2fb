"""How memscope starts another Python process of its own (the app's launches, sweep workers
and the detached sweep driver)."""

from __future__ import annotations

import sys


def python_command(*args: str) -> list[str]:
    """``python -P ARGS`` with this interpreter.

    ``-P`` keeps the working directory off ``sys.path``: without it, a folder named
    ``memscope`` in the directory the app was started from (a checkout, seen from its parent)
    would shadow the installed package, and the child would die on its first import.
    """
    return [sys.executable, "-P", *args]
