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
    "memscope.cli.figures",
    "memscope.cli.export",
    "memscope.cli.sweep",
    "memscope.cli.samples",
)


def register_all(app: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
