"""Reusable widgets of the memscope app (each keeps its own DEFAULT_CSS)."""
