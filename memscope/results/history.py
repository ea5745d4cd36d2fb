"""The SQL screen's history, kept across sessions in ``<home>/sql_history.json``."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

HISTORY_FILE = "sql_history.json"
HISTORY_MAX = 500


class SqlHistory:
    """Statements run, oldest first, each once (running one again moves it to the end)."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: list[str] = []

    def load(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.entries = [e["sql"] if isinstance(e, dict) else str(e) for e in data][-HISTORY_MAX:]
        except (OSError, ValueError, KeyError, TypeError):
            self.entries = []
        return list(self.entries)

    def add(self, sql: str) -> None:
        sql = sql.strip()
        if not sql:
            return
        if sql in self.entries:
            self.entries.remove(sql)
        self.entries.append(sql)
        self.entries = self.entries[-HISTORY_MAX:]
        self.save()

    def save(self) -> None:
        with contextlib.suppress(OSError):  # a read-only home keeps the history for this session only
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps([{"sql": s} for s in self.entries], indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
