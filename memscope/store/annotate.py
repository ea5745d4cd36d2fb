"""Tags and notes added to a run after the fact, kept in its run.json (the runs view reads them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memscope.errors import MemscopeError


def parse_tag(text: str) -> tuple[str, str]:
    """``key=value`` -> (key, value); ``key=`` (empty value) removes the tag."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise MemscopeError(f"tag {text!r}: expected KEY=VALUE, e.g. memscope runs tag RUN arch=wide (KEY= removes it)")
    return key, value.strip()


def annotate_run(run_dir: Path, *, tags: dict[str, str] | None = None, note: str | None = None, append: bool = False) -> dict[str, Any]:
    """Set tags (an empty value removes one) and/or the note of a finished run; returns run.json.

    The run's writer lock is held for the read-modify-write, so a running run (whose process
    rewrites run.json on every heartbeat) is refused instead of losing the edit.
    """
    from memscope.store.lock import RunLock
    from memscope.store.runinfo import read_run_info, write_run_info

    with RunLock(run_dir):
        info = read_run_info(run_dir)
        if tags:
            merged = dict(info.get("tags") or {})
            for key, value in tags.items():
                if value:
                    merged[key] = value
                else:
                    merged.pop(key, None)
            info["tags"] = merged
        if note is not None:
            old = info.get("notes") or ""
            info["notes"] = (f"{old}\n{note}" if old and append else note) or None
        write_run_info(run_dir, info)
    return info
