"""The composition root: the ``memscope`` command (and ``python -m memscope``).

It wires the command line (:mod:`memscope.cli`) to the terminal app (:mod:`memscope.tui`),
so that neither package imports the other: ``memscope`` alone and ``memscope tui`` open
the app; every other command is the typer app's. ``memscope query`` is parsed without
typer when it can be (:mod:`memscope.cli.query_argv`): it starts about as fast as DuckDB.
"""

# No ``from __future__ import annotations``: typer reads the ``tui`` command's annotations,
# which name options imported inside create_app().
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import typer

INTERRUPTED = 130  # memscope.errors.ExitCode.INTERRUPTED, without importing it before it is needed


def main(argv: list[str] | None = None) -> None:
    """Run ``memscope`` with ``argv`` (default: the process's arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    from memscope.cli.query_argv import parse_query_argv

    request = parse_query_argv(args)
    if request is not None:
        _run_query(request)
        return
    from memscope.cli import app as cli

    cli.main(args, app=create_app())


def create_app() -> "typer.Typer":
    """The CLI's typer app with the terminal app as ``memscope`` alone and ``memscope tui``."""
    from memscope.cli import app as cli
    from memscope.cli.common import HomeOption, PluginsDirOption, ROOT_OPTIONS, handle_errors

    app = cli.create_app(no_command=handle_errors(open_tui))

    @app.command("tui")
    @handle_errors
    def tui(home: HomeOption = None, plugins_dir: PluginsDirOption = None) -> None:
        """Open the terminal app (the same as memscope with no command)."""
        open_tui(home or ROOT_OPTIONS["home"], plugins_dir or ROOT_OPTIONS["plugins_dir"])

    return app


def open_tui(home: Optional[Path] = None, plugins_dir: Optional[Path] = None) -> None:
    """Build the app for ``home`` / ``plugins_dir`` and run it until the person quits.

    Training runs started from the app are separate processes: quitting leaves them running.
    """
    from memscope.store.home import resolve_home
    from memscope.tui.app import create_app as create_tui

    create_tui(resolve_home(home).ensure(), plugins_dir).run()


def _run_query(request) -> None:
    """``memscope query`` without typer: the same one-line errors and exit codes."""
    from memscope.cli.query_run import run_query
    from memscope.errors import MemscopeError

    try:
        run_query(request)
    except MemscopeError as exc:
        print(f"memscope: error: {exc.message}", file=sys.stderr, flush=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        print("memscope: interrupted", file=sys.stderr, flush=True)
        sys.exit(INTERRUPTED)


if __name__ == "__main__":
    main()
