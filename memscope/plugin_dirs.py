"""Which plugins folder a command uses, without loading any plugin.

``--plugins-dir``, else ``MEMSCOPE_PLUGINS_DIR``, else ``<home>/plugins`` when it exists. The
folder a command starts in is never searched: a read-only command must not run code that
happens to lie in ``./plugins`` (the user opts in by naming the folder).

Apart from :mod:`memscope.plugins` (which loads plugins), so that the sweep driver can name
the folder its runs load without importing the plugin machinery.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_plugins_dir(home: str | Path | None = None) -> Path | None:
    """``MEMSCOPE_PLUGINS_DIR``, else ``<home>/plugins`` when it exists (the default home when
    ``home`` is None). Never the current folder: see the module docstring."""
    env = os.environ.get("MEMSCOPE_PLUGINS_DIR")
    if env:
        return Path(env)
    if home is None:
        from memscope.store.home import default_home

        home = default_home()
    trusted = Path(home) / "plugins"
    return trusted if trusted.is_dir() else None


def resolve_plugins_dir(explicit: str | Path | None, home: str | Path | None = None) -> Path | None:
    """The plugins folder this process uses, made absolute so that every run process a sweep
    starts loads the same (``explicit``, else :func:`default_plugins_dir`)."""
    if explicit is not None:
        return Path(explicit).expanduser().absolute()
    found = default_plugins_dir(home)
    return Path(found).absolute() if found is not None else None
