"""``memscope`` with no command: open the terminal app (Textual is imported only here)."""

from __future__ import annotations

from pathlib import Path

from memscope.cli.common import handle_errors


@handle_errors
def open_app(home: str | Path | None = None, plugins_dir: str | Path | None = None) -> None:
    """Build the app for ``home`` / ``plugins_dir`` and run it until the person quits.

    Training runs started from the app are separate processes: quitting leaves them running.
    """
    from memscope.cli.common import get_home
    from memscope.tui.app import create_app

    resolved = get_home(home)
    create_app(resolved, plugins_dir).run()
