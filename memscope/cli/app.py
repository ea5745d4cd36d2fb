"""The ``memscope`` command line as a typer app: one command group per module.

:func:`create_app` builds it; what ``memscope`` alone does is the caller's choice
(``no_command``): the composition root :mod:`memscope.main` opens the terminal app, and
the module-level :data:`app` (what tests drive with CliRunner) prints the help. Neither
this package nor :mod:`memscope.tui` imports the other. No module imported at start-up
may import torch or textual: commands import them inside their function bodies.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from memscope import __version__
from memscope.cli import common
from memscope.errors import ExitCode, MemscopeError

#: ``no_command(home, plugins_dir)``: what ``memscope`` without a command does.
NoCommand = Callable[[Optional[Path], Optional[Path]], None]


def _version(value: bool) -> None:
    if value:
        print(f"memscope {__version__}")
        raise typer.Exit()


def create_app(no_command: NoCommand | None = None) -> typer.Typer:
    """The typer app with every built-in command; ``memscope`` alone runs ``no_command``
    (with the root ``--home``/``--plugins-dir``), or prints the help when there is none."""
    app = typer.Typer(
        name="memscope",
        help="Explore where neural networks memorize: train, analyze, query, plot.",
        context_settings={"help_option_names": ["-h", "--help"]},
        no_args_is_help=False,
        add_completion=True,  # --install-completion / --show-completion; RUN_ID arguments complete from the home
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        epilog=f"Results go to {common.default_home_text()} by default ($MEMSCOPE_HOME or --home choose another).",
    )

    @app.callback(invoke_without_command=True)
    def root(
        ctx: typer.Context,
        version: Annotated[
            Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
        ] = None,
        home: common.HomeOption = None,
        plugins_dir: common.PluginsDirOption = None,
    ) -> None:
        """Without a command, open the terminal app."""
        # Root-level --home/--plugins-dir apply to every sub-command (reset on each invocation).
        common.ROOT_OPTIONS.update(home=home, plugins_dir=plugins_dir)
        if ctx.invoked_subcommand is not None:
            return
        if no_command is None:
            print(ctx.get_help())
            return
        no_command(home, plugins_dir)

    from memscope.cli import commands

    commands.register_all(app)
    return app


def main(argv: list[str] | None = None, app: typer.Typer | None = None) -> None:
    """Run ``app`` (default: the module-level :data:`app`) on ``argv``: one-line errors,
    documented exit codes, no tracebacks for user errors.

    Commands turn their own errors into exit codes (``common.handle_errors``); this is the
    last line of defence for errors raised while plugins load.
    """
    app = app if app is not None else globals()["app"]
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        from memscope.plugins import get_host

        if _needs_plugin_commands(app, args):
            host = get_host(_option_from_argv(args, "--plugins-dir"), home=_option_from_argv(args, "--home"))
            for name, error in host.register_commands(app):
                common.eprint(f"memscope: warning: plugin {name} failed: {error}")
        app(args=args, prog_name="memscope", standalone_mode=True)
    except MemscopeError as exc:
        common.eprint(f"memscope: error: {exc.message}")
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        common.eprint("memscope: interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))


def _builtin_command_names(app: typer.Typer) -> set[str]:
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    names |= {g.name or "" for g in app.registered_groups}
    return names


def _needs_plugin_commands(app: typer.Typer, argv: list[str]) -> bool:
    """Plugins can add commands; load them only when the command is not a built-in one
    (or for help), so that built-in commands start fast."""
    takes_value = {"--home", "--plugins-dir"}
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in takes_value:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        return arg not in _builtin_command_names(app)
    return "--help" in argv or "-h" in argv


def _option_from_argv(argv: list[str], option: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


#: The CLI without the terminal app: ``memscope`` alone prints the help. The ``memscope``
#: command is :func:`memscope.main.main`, which adds the app.
app = create_app()
