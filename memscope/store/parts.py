"""Parquet parts on disk: their names, the schema run, and the one atomic way to write one.

The lowest layer of the store: it imports nothing else from memscope.store, so the home,
the writer, the catalog and the connections can all build on it without import cycles.
pyarrow is imported only to write. A query that meets an unreadable part reports it as a
:class:`BadPartError` (:func:`bad_part_error`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from memscope.errors import ExitCode, QueryError

if TYPE_CHECKING:
    import pyarrow as pa

#: The folder under ``runs/`` that holds one zero-row part per table (not a run).
SCHEMA_RUN = "_schema"
#: The zero-row part's file name, ``runs/_schema/<table>/part-schema.parquet``.
SCHEMA_PART = "part-schema.parquet"
#: A run's data part, ``runs/<run_id>/<table>/part-000123.parquet``.
PART_RE = re.compile(r"^part-(\d+)\.parquet$")
#: Table names a run or a plugin may declare (snake_case).
TABLE_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def write_parquet_atomic(table: "pa.Table", path: Path) -> Path:
    """Write to a hidden temporary name in the same folder, fsync, then rename.

    A reader globbing ``*.parquet`` never sees a half-written file (the temporary name does
    not end in .parquet), and a killed writer leaves at most a stray ``.tmp`` file.
    """
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        _inject_fault("kill_after_tmp_write", path)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


#: Test-only fault injection (docs/data-safety.md): ``MEMSCOPE_FAULT=kill_after_tmp_write:<table>:<n>``
#: SIGKILLs this process on its n-th part of ``<table>`` (schema parts not counted), after the
#: temporary file is complete and before it is renamed: the moment "while a part is being
#: written". Unset, empty or malformed: no fault.
FAULT_ENV = "MEMSCOPE_FAULT"
_fault_counts: dict[str, int] = {}


def _inject_fault(point: str, path: Path) -> None:
    spec = os.environ.get(FAULT_ENV)
    if not spec or path.parent.parent.name == SCHEMA_RUN:
        return
    want, _, rest = spec.partition(":")
    table, _, nth = rest.partition(":")
    if want != point or table != path.parent.name:
        return
    _fault_counts[table] = count = _fault_counts.get(table, 0) + 1
    if nth.strip().isdigit() and count == int(nth):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


class BadPartError(QueryError):
    """A query met a Parquet part it cannot read (exit code 3): the message names the file
    and the way out (``memscope runs check --repair`` or ``memscope runs rm``)."""

    exit_code = ExitCode.STORE_UNAVAILABLE
    path: "Path | None" = None


_PART_PATH = r"'(/[^']*/runs/([^/']+)/([^/']+)/[^/']+\.parquet)'"
_NOT_PARQUET = ("too small to be a parquet file", "no magic bytes", "footer length error", "not a parquet file", "corrupt")


def bad_part_error(exc: BaseException) -> "BadPartError | None":
    """The DuckDB error ``exc`` as a :class:`BadPartError` when it is about one part under
    some home's ``runs/`` (None otherwise)."""
    text = str(exc).strip()
    m = re.search(_PART_PATH, text)
    if not m or "no files found" in text.lower():
        return None
    path, run_id, _table = m.groups()
    first = text.splitlines()[0]
    what = "is not a valid Parquet file" if any(p in first.lower() for p in _NOT_PARQUET) else "cannot be read"
    fix = "move it aside with 'memscope runs check --repair'"
    if not run_id.startswith(("_", ".")):
        fix += f", or delete the run with 'memscope runs rm {run_id}'"
    error = BadPartError(f"{path} {what} ({first}); {fix}")
    error.path = Path(path)
    return error
