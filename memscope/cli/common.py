"""Option aliases shared by every command, and the one way errors reach the terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from memscope.errors import ExitCode, MemscopeError

def default_home_text() -> str:
    """Where results go by default, for help texts: the rule of store.home.default_home,
    without importing the store (pyarrow) on every start-up."""
    import os

    import platformdirs

    return os.environ.get("MEMSCOPE_HOME") or platformdirs.user_data_dir("memscope", appauthor=False)


HomeOption = Annotated[
    Optional[Path],
    typer.Option(
        "--home",
        help="Results home (default: $MEMSCOPE_HOME, else the user data dir).",
        show_default=False,
    ),
]
PluginsDirOption = Annotated[
    Optional[Path],
    typer.Option(
        "--plugins-dir",
        help="Folder of plugin .py files to load (default: $MEMSCOPE_PLUGINS_DIR, else <home>/plugins when present; never ./plugins unless named).",
        show_default=False,
    ),
]
SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a config key, e.g. --set train.epochs=3 (repeatable)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def complete_run_id(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion for RUN_ID: the ids in the home (--home, given before or after the
    command, else the default) that start with what was typed, newest first."""
    from memscope.store.home import resolve_home

    home = None
    while ctx is not None and home is None:
        home = ctx.params.get("home")
        ctx = ctx.parent
    try:
        ids = resolve_home(home).run_ids()
    except OSError:
        return []
    return [r for r in reversed(["latest", *ids]) if r.startswith(incomplete)]


RUN_ID_HELP = "A run id, a unique prefix of one, its short random suffix, or 'latest' (see 'memscope runs list')."


def eprint(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fail(error: MemscopeError) -> "typer.Exit":
    """Print ``memscope: error: ...`` on stderr and return the Exit to raise."""
    eprint(f"memscope: error: {error.message}")
    return typer.Exit(int(error.exit_code))


# Options given before the command (``memscope --home X query ...``); the root callback
# sets them on every invocation, so nothing leaks from one CliRunner call to the next.
ROOT_OPTIONS: dict[str, Path | None] = {"home": None, "plugins_dir": None}


def get_home(home: Path | None, *, create: bool = True):
    from memscope.store.home import resolve_home

    resolved = resolve_home(home or ROOT_OPTIONS["home"])
    return resolved.ensure() if create else resolved


def get_host(plugins_dir: Path | None, home: Path | None = None):
    """The plugin host: ``plugins_dir`` (or the root ``--plugins-dir``), else the trusted
    ``<home>/plugins`` of ``home`` (or the root ``--home``, else the default home)."""
    from memscope.plugins import get_host as _get_host

    return _get_host(plugins_dir or ROOT_OPTIONS["plugins_dir"], home=home or ROOT_OPTIONS["home"])


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def format_cell(value: Any) -> str:
    """A table cell: empty for None, 4 significant digits for a float, JSON for a dict/list."""
    import json

    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def print_table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    """Print a rich table on stdout (200 columns wide when stdout is not a terminal)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, header_style="bold", title=title, title_justify="left")
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*[format_cell(v) for v in row])
    Console(file=sys.stdout, soft_wrap=False, width=None if sys.stdout.isatty() else 200).print(table)


__all__ = [
    "ExitCode",
    "HomeOption",
    "JsonFlag",
    "PluginsDirOption",
    "RUN_ID_HELP",
    "SetOption",
    "complete_run_id",
    "eprint",
    "fail",
    "format_cell",
    "get_home",
    "get_host",
    "print_table",
]


def handle_errors(fn):
    """Turn MemscopeError into one line on stderr and its exit code (also under CliRunner)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MemscopeError as exc:
            raise fail(exc) from None
        except KeyboardInterrupt:
            eprint("memscope: interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    return wrapper
