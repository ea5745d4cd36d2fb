"""The memscope terminal app (Textual).

``memscope`` with no arguments opens it; :func:`memscope.tui.app.create_app` builds it for
the CLI and the tests alike. Nothing here imports torch at start-up: screens read run
directories and query the DuckDB catalog in thread workers (:mod:`memscope.results`).
"""
