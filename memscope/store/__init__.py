"""Results storage: one directory of immutable Parquet parts per run, DuckDB views over them.

Nothing here imports torch: ``memscope query`` and the TUI read results through this package.
"""
