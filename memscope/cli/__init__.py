"""The ``memscope`` command line: the typer app (app.py) and one module per command group.
The ``memscope`` command itself is :mod:`memscope.main`, which adds the terminal app."""
