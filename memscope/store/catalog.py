"""The catalog ``<home>/memscope.duckdb``: VIEWs over the runs' Parquet parts, no data.

Why a catalog of views, and why it is rebuilt by replacing the file
-------------------------------------------------------------------
DuckDB lets one process open a database file read-write, or many processes open it
read-only, never both. If anything kept ``memscope.duckdb`` open for writing, every reader
(the TUI, ``memscope query``, the duckdb CLI, Harlequin) would be locked out, and a reader
holding it open would block that writer. memscope avoids the lock entirely:

- Results never go into DuckDB. A run writes immutable Parquet parts under its own
  directory; the catalog only holds VIEWs that glob those parts, so a new part is visible
  to the next query without touching the catalog.
- The catalog changes only when the *set* of tables changes (a plugin declares a table),
  when the home moves, or when the catalog format changes. Then :func:`refresh_catalog`
  builds a complete new catalog in a temporary file in the same folder, closes it, and
  ``os.replace()``\\ s it over the old one. The rename is atomic: a reader that already has
  the old file open keeps reading the old inode (still valid: the views are the same
  globs), a reader that opens the path next gets the new file, and nobody ever waits on
  DuckDB's one-writer lock, because the only read-write connection is to a private temp
  file nobody else knows about.
- Two processes refreshing at once each write their own temp file; the last rename wins.
  If the winner saw an older table set, the next :func:`memscope.store.connection.open_connection`
  notices the mismatch and refreshes again, so the catalog heals itself.

The views themselves (their SQL, the moved-home guard, the ``runs`` view) are in
:mod:`memscope.store.views`; the per-connection live ``status`` is in
:mod:`memscope.store.live_status`.

Files
-----
The catalog and ``memscope export --to FILE.duckdb`` are written in the storage format of
:data:`STORAGE_COMPATIBILITY`, so DuckDB clients older than the writer (the pip
``duckdb-cli``, Harlequin on an older duckdb) open them too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from memscope.errors import StoreError
from memscope.store import views
from memscope.store.runinfo import RUN_JSON
from memscope.store.views import (  # noqa: F401  (the catalog's public names, re-exported)
    META_VIEW,
    RESERVED_VIEWS,
    RUN_COLUMNS,
    catalog_statements,
    catalog_tables,
    catalog_views,
    glob_escape,
    guarded_view_sql,
    moved_guard_sql,
    sql_identifier,
    sql_string,
)

if TYPE_CHECKING:
    import duckdb

    from memscope.store.home import Home

#: The storage format of every DuckDB file memscope writes: readable by DuckDB 1.1 and later.
#: The default (the writer's own format) locks out older clients, e.g. duckdb-cli 1.5 under
#: duckdb 2.0; views and plain tables need nothing newer.
STORAGE_COMPATIBILITY = "v1.1.0"


def ensure_run_fixture(home: Home) -> None:
    """``runs/_schema/run.json`` holding ``[]``: keeps the runs view's glob matching."""
    import secrets

    path = home.schema_dir / RUN_JSON
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{RUN_JSON}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text("[]\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


#: ``fallback(table, error)`` for :func:`define_catalog`: the statement that defines
#: ``table`` instead when its view cannot be created, or None to let the error through.
TableFallback = Callable[[str, "duckdb.Error"], Optional[str]]


def define_catalog(
    conn: "duckdb.DuckDBPyConnection",
    home: Home,
    fallback: TableFallback | None = None,
    *,
    catalog_file: str | None = None,
) -> None:
    """Create the catalog's views on ``conn`` (a fresh catalog file or an in-memory database).

    With ``fallback``, a Parquet table whose view fails to create is defined by the
    statement ``fallback`` returns instead (the ``runs`` and meta views never fall back).
    ``catalog_file``: see :func:`catalog_views` (a file catalog only).
    """
    import duckdb

    tables = set(catalog_tables(home)) if fallback is not None else set()
    for name, statement in catalog_views(home, catalog_file):
        try:
            conn.execute(statement)
        except duckdb.Error as exc:
            replacement = fallback(name, exc) if fallback is not None and name in tables else None
            if replacement is None:
                raise
            conn.execute(replacement)


def build_duckdb_file(target: Path, fill: Callable[["duckdb.DuckDBPyConnection"], None]) -> None:
    """Write a new DuckDB file at ``target`` atomically.

    ``fill`` gets a read-write connection to a private temporary file in the same folder
    (extensions never installed or loaded, no progress bar, the storage format of
    :data:`STORAGE_COMPATIBILITY`); once it returns, the file is
    checkpointed, closed and ``os.replace()``\\ d over ``target``. If ``fill`` (or anything
    else) fails, the error propagates, ``target`` is untouched, and the temporary file and
    its WAL are removed.
    """
    import secrets

    import duckdb

    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    wal = tmp.with_name(tmp.name + ".wal")
    try:
        conn = duckdb.connect(
            str(tmp),
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "storage_compatibility_version": STORAGE_COMPATIBILITY,
            },
        )
        try:
            conn.execute("SET enable_progress_bar = false")
            fill(conn)
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        wal.unlink(missing_ok=True)


def refresh_catalog(home: Home) -> Path:
    """Rebuild ``<home>/memscope.duckdb`` from scratch and swap it in atomically.

    Safe to call while other processes read the old catalog or write runs: see the module
    docstring. Raises :class:`StoreError` when the home cannot be written.
    """
    import duckdb

    target = home.catalog_path
    try:
        ensure_run_fixture(home)
        last_error: Exception | None = None
        for _attempt in range(3):  # a part removed mid-build (runs rm, clear) is transient
            try:
                real = os.path.realpath(target)  # what duckdb_databases() reports once it is open
                build_duckdb_file(target, lambda conn: define_catalog(conn, home, catalog_file=real))
                last_error = None
                break
            except duckdb.IOException as exc:
                last_error = exc
        if last_error is not None:
            raise StoreError(f"cannot build the catalog {target}: {last_error}")
    except OSError as exc:
        raise StoreError(
            f"cannot write the catalog {target}: {exc.strerror or exc}; "
            "choose a writable home with --home or MEMSCOPE_HOME"
        ) from None
    except duckdb.Error as exc:
        raise StoreError(f"cannot build the catalog {target}: {exc}") from None
    return target


def linked_run_folders(home: Home) -> list[Path]:
    """Run folders that are symbolic links: memscope refuses them (see ``runs check``)."""
    if not home.runs_dir.is_dir():
        return []
    return sorted(p for p in home.runs_dir.iterdir() if not p.name.startswith((".", "_")) and p.is_symlink())


def refuse_linked_runs(home: Home) -> None:
    """A :class:`StoreError` naming the first symlinked run folder: the views would read it
    (the same run twice, or files outside the home), so queries stop until it is moved."""
    linked = linked_run_folders(home)
    if linked:
        raise StoreError(
            f"{linked[0]} is a symbolic link ({len(linked)} linked run folder(s)); memscope does not follow "
            "linked run folders: move the folder itself into runs/, or move the link aside with "
            "'memscope runs check --repair'"
        )


def catalog_is_current(conn: "duckdb.DuckDBPyConnection", home: Home) -> bool:
    """Whether a catalog opened on ``conn`` was built for this home, format and table set,
    and is open at the path it was built for (its views refuse to read otherwise)."""
    import duckdb

    try:
        rows = conn.execute(f"SELECT home, catalog_version, tables, opened_here FROM {META_VIEW}").fetchall()
    except duckdb.Error:
        return False
    if len(rows) != 1:
        return False
    recorded_home, version, tables, opened_here = rows[0]
    return (
        opened_here is True
        and recorded_home == home.root.as_posix()
        and version == views.CATALOG_VERSION  # read at call time: a test can bump it
        and list(tables or []) == catalog_tables(home)
    )


__all__ = [
    "META_VIEW",
    "RESERVED_VIEWS",
    "RUN_COLUMNS",
    "STORAGE_COMPATIBILITY",
    "TableFallback",
    "build_duckdb_file",
    "catalog_is_current",
    "catalog_statements",
    "catalog_tables",
    "catalog_views",
    "define_catalog",
    "ensure_run_fixture",
    "guarded_view_sql",
    "moved_guard_sql",
    "glob_escape",
    "linked_run_folders",
    "refuse_linked_runs",
    "refresh_catalog",
]
