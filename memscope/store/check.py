"""Find (and move aside) what would break queries or add rows silently: ``memscope runs check``.

Runs write parts atomically, so memscope itself never leaves a half-written part. A bad
part comes from elsewhere: a disk or copy that truncated a file, a tool that wrote into a
run directory, a file put there by hand, a backup copy of a run folder. DuckDB reads every
part of a table when a query uses the table, so one unreadable file makes every query on
that table fail (the error names the file), and one foreign file adds its rows to every
answer without a word. This module finds:

- unreadable parts: not Parquet, truncated, or a column that does not decode;
- a column whose type differs from the table's schema part (DuckDB would silently turn
  the whole column into another type for every run), or, in a core table, a column the
  table does not have (a part of another table);
- foreign rows: a part whose ``run_id`` is not its folder's run;
- copies: a run folder whose run.json names another run (a backup copy ``runs/X.bak``, the
  same run id in two folders), and run folders that are symbolic links (not supported:
  they would read files outside the home, or the same run twice).

With ``repair`` each bad part moves to ``runs/<run_id>/.quarantine/<table>/`` and each
copied or linked run folder to ``<home>/.quarantine/runs/`` (hidden folders no view globs),
so the rest of the home is queryable again and nothing is deleted. Stray temporary files
of parts a killed run had in flight (``.part-*.tmp``) are reported as harmless and removed
by ``repair`` when their run is not running.
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
    table: str  # "" for a problem with the whole run folder
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


def check_part(path: Path, expected=None, *, run_id: str | None = None, strict_columns: bool = False) -> str | None:
    """Why ``path`` would break a query or add foreign rows (None when it is fine).

    Reads the whole file. ``expected``: the table's schema (column types must agree; with
    ``strict_columns``, no column outside it). ``run_id``: the run whose folder holds the part.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
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
        extra = [n for n in table.column_names if n not in expected.names]
        if strict_columns and extra:
            return f"column(s) {', '.join(extra[:4])} are not in this table (a part of another table?)"
    if run_id is not None and "run_id" in table.column_names and table.num_rows:
        try:
            others = pc.unique(table.column("run_id").filter(pc.not_equal(table.column("run_id"), run_id))).to_pylist()
        except pa.ArrowException:
            others = []
        if others:
            return f"rows of run {others[0]!r} in the folder of run {run_id!r} (a foreign part)"
    return None


def move_aside(home: Home, run_id: str, table: str, path: Path) -> Path:
    """Move one bad part to ``runs/<run_id>/.quarantine/<table>/`` (a new name if taken)."""
    target_dir = home.run_dir(run_id) / QUARANTINE / table
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stem}.{secrets.token_hex(3)}{path.suffix}"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)  # same file system: atomic, nothing copied
    except OSError as exc:
        raise StoreError(f"cannot move {path} to {target}: {exc.strerror or exc}") from None
    return target


def _move_run_aside(home: Home, path: Path) -> Path:
    """Move a copied or linked run folder (the link itself, never its target) out of ``runs/``."""
    target_dir = home.root / QUARANTINE / "runs"
    target = target_dir / path.name
    if target.exists() or target.is_symlink():
        target = target_dir / f"{path.name}.{secrets.token_hex(3)}"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    except OSError as exc:
        raise StoreError(f"cannot move {path} to {target}: {exc.strerror or exc}") from None
    return target


def run_folder_problems(home: Home) -> list[Problem]:
    """Run folders that are symbolic links or copies of another run (run.json names another id)."""
    import json

    from memscope.store.runinfo import RUN_JSON

    problems = []
    if not home.runs_dir.is_dir():
        return problems
    for path in sorted(home.runs_dir.iterdir()):
        if path.name.startswith((".", "_")):
            continue
        if path.is_symlink():
            problems.append(Problem(path, path.name, "", f"a symbolic link to {os.path.realpath(path)}; "
                                    "memscope does not follow linked run folders (move the folder itself into runs/)"))
            continue
        try:
            recorded = json.loads((path / RUN_JSON).read_text(encoding="utf-8")).get("run_id")
        except (OSError, ValueError, RecursionError, AttributeError):
            continue  # no readable run.json: the run lists as crashed, its parts are checked below
        if isinstance(recorded, str) and recorded != path.name:
            twin = " (that run is also in the home: the same run id in two folders)" if home.run_dir(recorded).is_dir() else ""
            problems.append(Problem(path, path.name, "", f"a copy of run {recorded!r}: its run.json names another run{twin}"))
    return problems


def _run_is_live(home: Home, run_id: str) -> bool:
    from memscope.store.runinfo import effective_status, read_run_info

    try:
        return effective_status(read_run_info(home.run_dir(run_id)), home.run_dir(run_id)) == "running"
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
    from memscope.store.schemas import CORE_TABLES

    targets = run_ids if run_ids is not None else [SCHEMA_RUN, *home.run_ids()]
    problems: list[Problem] = [
        p for p in run_folder_problems(home) if run_ids is None or p.run_id in run_ids
    ]
    folder_problem = {p.run_id for p in problems}
    for run_id in targets:
        run_dir = home.run_dir(run_id)
        if not run_dir.is_dir() or run_id in folder_problem:  # a copy or a link goes aside whole
            continue
        for folder in sorted(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            table = folder.name
            for path in sorted(folder.iterdir()):
                if path.name.startswith(".part-") and path.name.endswith(".tmp"):
                    problems.append(Problem(path, run_id, table, "stray temporary file of a killed run", harmless=True))
                elif path.name.endswith(".parquet") and path.is_file():
                    if run_id == SCHEMA_RUN:
                        reason = check_part(path, None if path.name == SCHEMA_PART else schemas.get(table))
                    else:
                        reason = check_part(path, schemas.get(table), run_id=run_id, strict_columns=table in CORE_TABLES)
                    if reason:
                        problems.append(Problem(path, run_id, table, reason))
    return problems


def quarantine(home: Home, problems: list[Problem]) -> list[Problem]:
    """Move each bad part to ``runs/<run_id>/.quarantine/<table>/`` and each copied or linked
    run folder to ``<home>/.quarantine/runs/``; delete stray temporary files of runs that are
    not running. Returns the problems it dealt with."""
    done = []
    for problem in problems:
        if problem.harmless:
            if problem.run_id != SCHEMA_RUN and _run_is_live(home, problem.run_id):
                continue  # the part is in flight
            problem.path.unlink(missing_ok=True)
            done.append(problem)
            continue
        if problem.table:
            problem.moved_to = move_aside(home, problem.run_id, problem.table, problem.path)
        else:
            problem.moved_to = _move_run_aside(home, problem.path)
        done.append(problem)
    if any(p.run_id == SCHEMA_RUN and not p.harmless for p in done):
        home.ensure()  # writes the core tables' schema parts again
    return done


__all__ = ["QUARANTINE", "Problem", "check_home", "check_part", "move_aside", "quarantine", "run_folder_problems"]
