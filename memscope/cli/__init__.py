"""The ``memscope`` command line: a thin composition root (app.py) and one module per command group."""
