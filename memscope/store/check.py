"""Find (and move aside) Parquet parts that would break queries: ``memscope runs check``.

Runs write parts atomically, so memscope itself never leaves a half-written part. A bad
part comes from elsewhere: a disk or copy that truncated a file, a tool that wrote into a
run directory, a file put there by hand. DuckDB reads every part of a table when a query
uses the table, so one bad file makes every query on that table fail (the error names the
file). This module finds such files:

- unreadable: not Parquet, truncated, or a column that does not decode;
- a column whose type differs from the table's schema part (DuckDB would silently turn
  the whole column into another type for every run);

and with ``repair`` moves each one to ``runs/<run_id>/.quarantine/<table>/`` (a hidden
folder no view globs), so the rest of the home is queryable again and nothing is deleted.
Stray temporary files of parts a killed run had in flight (``.part-*.tmp``) are reported as
harmless and removed by ``repair`` when their run is not running.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from memscope.errors import StoreError
from memscope.store.home import SCHEMA_PART, SCHEMA_RUN, Home

QUARANTINE = ".quarantine"


@dataclass
class Problem:
    path: Path
    run_id: str
    table: str
    reason: str
    harmless: bool = False  # a stray temporary file: no query reads it
    moved_to: Path | None = None

    def as_dict(self) -> dict:
        return {
            "path": str(self.path),
            "run_id": self.run_id,
            "table": self.table,
            "problem": self.reason,
            "harmless": self.harmless,
            "moved_to": str(self.moved_to) if self.moved_to else None,
        }


def check_part(path: Path, expected=None) -> str | None:
    """Why ``path`` would break a query (None when it is fine). Reads the whole file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        first = re.sub(r"^Could not open Parquet input source '[^']*': ", "", first)
        return f"not a valid Parquet file ({first[:160]})"
    if expected is not None:
        for field in table.schema:
            if field.name in expected.names and expected.field(field.name).type != field.type:
                return f"column '{field.name}' is {field.type}, the table has {expected.field(field.name).type}"
    return None


def _run_is_live(home: Home, run_id: str) -> bool:
    from memscope.store.runinfo import effective_status, read_run_info

    try:
        return effective_status(read_run_info(home.run_dir(run_id))) == "running"
    except StoreError:
        return False


def check_home(home: Home, run_ids: list[str] | None = None) -> list[Problem]:
    """Every bad part (and stray temporary part) of ``run_ids`` (default: all runs and the schema parts)."""
    schemas = {}
    for table in home.table_names():
        try:
            schemas[table] = home.table_schema(table)
        except Exception:  # a bad schema part: reported below like any part
            schemas[table] = None
    targets = run_ids if run_ids is not None else [SCHEMA_RUN, *home.run_ids()]
    problems: list[Problem] = []
    for run_id in targets:
        run_dir = home.run_dir(run_id)
        if not run_dir.is_dir():
            continue
        for folder in sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            table = folder.name
            for path in sorted(folder.iterdir()):
                if path.name.startswith(".part-") and path.name.endswith(".tmp"):
                    problems.append(Problem(path, run_id, table, "stray temporary file of a killed run", harmless=True))
                elif path.name.endswith(".parquet") and path.is_file():
                    expected = None if run_id == SCHEMA_RUN and path.name == SCHEMA_PART else schemas.get(table)
                    reason = check_part(path, expected)
                    if reason:
                        problems.append(Problem(path, run_id, table, reason))
    return problems


def quarantine(home: Home, problems: list[Problem]) -> list[Problem]:
    """Move each bad part to ``runs/<run_id>/.quarantine/<table>/``; delete stray temporary
    files of runs that are not running. Returns the problems it dealt with."""
    done = []
    for problem in problems:
        if problem.harmless:
            if problem.run_id != SCHEMA_RUN and _run_is_live(home, problem.run_id):
                continue  # the part is in flight
            problem.path.unlink(missing_ok=True)
            done.append(problem)
            continue
        target_dir = home.run_dir(problem.run_id) / QUARANTINE / problem.table
        target = target_dir / problem.path.name
        if target.exists():
            target = target_dir / f"{problem.path.stem}.{secrets.token_hex(3)}{problem.path.suffix}"
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            os.replace(problem.path, target)  # same file system: atomic, nothing copied
        except OSError as exc:
            raise StoreError(f"cannot move {problem.path} to {target}: {exc.strerror or exc}") from None
        problem.moved_to = target
        done.append(problem)
    if any(p.run_id == SCHEMA_RUN and not p.harmless for p in done):
        home.ensure()  # writes the core tables' schema parts again
    return done


__all__ = ["QUARANTINE", "Problem", "check_home", "check_part", "quarantine"]
