"""Which command modules make up the CLI. Each module has ``register(app)``."""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES = (
    "memscope.cli.run",
    "memscope.cli.query",
    "memscope.cli.plugins_cmd",
    "memscope.cli.runs",
    "memscope.cli.analyze",
    "memscope.cli.report",
    "memscope.cli.export",
    "memscope.cli.sweep",
)


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command group not written yet
                continue
            raise
        module.register(app)
