"""memscope: an experiment explorer for neural-network memorization.

Plugin authors write ``from memscope import hookimpl``. Importing this package is
cheap: it pulls in neither torch nor textual.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("memscope")

__all__ = ["__version__", "hookimpl"]
