"""Every DuckDB connection that reads results: the catalog connection behind ``memscope
query``, the app and the Python API, and an in-memory connection over chosen runs' parts
(one run's report, a sweep's cells, an analysis reading its own run).

The catalog file is opened ``read_only=True`` (nothing in it can change,
and ATTACH of a new or in-memory database fails), then:

- ``allowed_directories = ['<home>/']`` and ``enable_external_access = false``: files
  outside the home cannot be read or written (``read_csv('/etc/passwd')``, ``glob('/*')``,
  ``COPY ... TO '/tmp/x'`` fail with a Permission Error), no extension can be installed
  or loaded from disk, secrets cannot be read, Python objects cannot be scanned;
- ``autoinstall_known_extensions = false``, ``autoload_known_extensions = false``,
  ``allow_community_extensions = false``: no download, no implicit load;
- ``python_enable_replacements = false``: ``FROM some_python_variable`` does not scan the
  caller's variables;
- ``memory_limit`` from ``MEMSCOPE_QUERY_MEMORY`` (default 50% of the machine's memory)
  and ``temp_directory`` in this user's cache folder (:func:`spill_directory`): a query
  that spills never writes into the home, nor into a folder other users share;
- ``lock_configuration = true`` last: no SET can undo any of the above.

``allowed_directories`` also allows *writing* inside the home (DuckDB does not separate
the two), which is why layer 1 refuses COPY and EXPORT rather than relying on layer 2.

If the catalog cannot be opened read-only (another tool holds it read-write, or it is stale
in a home we cannot write), the same views are defined in an in-memory database instead, so
queries keep working; the statement check is what refuses writes there.

A per-run connection (:func:`runs_connection`) gets one view per table over those runs'
parts only (the schema part when a run has none), and the same lock-down.

:func:`arrow_of` is the one DuckDB-to-Arrow shim (``to_arrow_table`` in DuckDB 2,
``arrow``/``fetch_arrow_table`` before).
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence, Union

from memscope.errors import ExitCode, MemscopeError, QueryError, StoreError
from memscope.store.home import Home
from memscope.store.parts import SCHEMA_PART, BadPartError, bad_part_error  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from memscope.plugins import PluginHost


def arrow_of(result: Any) -> "pa.Table":
    """A DuckDB relation's (or executed connection's) rows as an Arrow table, on any DuckDB."""
    fetch = getattr(result, "to_arrow_table", None) or getattr(result, "fetch_arrow_table", None) or result.arrow
    return fetch()


def _as_home(home: Union[Home, str, Path]) -> Home:
    return home if isinstance(home, Home) else Home(home)


#: How much memory DuckDB may use for the results' queries unless ``MEMSCOPE_QUERY_MEMORY``
#: says otherwise (a share of the machine's memory, or a size such as ``4GB``). Past it,
#: DuckDB spills to :func:`spill_directory`, and fails only when that is not enough either.
DEFAULT_QUERY_MEMORY = "50%"
MEMORY_ENV = "MEMSCOPE_QUERY_MEMORY"


def query_memory_limit() -> str:
    """The memory limit for query connections (``MEMSCOPE_QUERY_MEMORY``, else 50%)."""
    import os

    value = os.environ.get(MEMORY_ENV, "").strip() or DEFAULT_QUERY_MEMORY
    if not re.fullmatch(r"(\d+(\.\d+)?)\s*(%|b|bytes|[kmgt]i?b)", value, re.I) or float(re.match(r"[\d.]+", value)[0]) <= 0:
        raise MemscopeError(
            f"{MEMORY_ENV}={value!r} is not a memory size; use e.g. 4GB, 512MB or 50% (of this machine's memory)"
        )
    return value


def spill_directory() -> str:
    """Where DuckDB spills what does not fit in memory: a folder of this user's own
    (``<user cache dir>/duckdb-spill``, mode 0700), never a folder shared by every user and
    never inside the home. Empty (no spilling) when it cannot be created."""
    import os
    import sys

    if sys.platform.startswith("linux"):  # platformdirs' rule, without its import on every query
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "memscope" / "duckdb-spill"
    else:
        import platformdirs

        folder = Path(platformdirs.user_cache_dir("memscope", appauthor=False)) / "duckdb-spill"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if folder.stat().st_uid != os.getuid():
            return ""
    except OSError:
        return ""
    return str(folder)


def resource_config() -> dict[str, Any]:
    """DuckDB's memory limit and spill folder for every connection that reads results."""
    return {"memory_limit": query_memory_limit(), "temp_directory": spill_directory()}


def _base_config() -> dict[str, Any]:
    return {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "python_enable_replacements": False,
        **resource_config(),
    }


def _open_catalog(home: Home) -> "duckdb.DuckDBPyConnection | None":
    """The catalog file, read-only, if it is current (refreshing it once if not)."""
    import duckdb

    from memscope.store.catalog import catalog_is_current, refresh_catalog

    for attempt in range(2):
        conn = None
        if home.catalog_path.is_file():
            try:
                conn = duckdb.connect(str(home.catalog_path), read_only=True, config=_base_config())
            except duckdb.Error:
                conn = None  # locked by a read-write client, or not a DuckDB file
        if conn is not None and catalog_is_current(conn, home):
            return conn
        if conn is not None:
            conn.close()
        if attempt == 0:
            try:
                refresh_catalog(home)
            except StoreError:
                return None
    return None


def _memory_catalog(home: Home) -> "duckdb.DuckDBPyConnection":
    """The catalog's views in an in-memory database.

    A table whose view cannot be bound because of an unreadable part gets a view over its
    schema part and the bad file only (:func:`_bad_part_view`), so a query on it fails
    naming that file (never a silently partial result) and every other table still works."""
    import duckdb

    from memscope.store.catalog import define_catalog

    conn = duckdb.connect(":memory:", config=_base_config())
    try:
        define_catalog(conn, home, fallback=functools.partial(_bad_part_view, home))
    except duckdb.Error as exc:
        conn.close()
        bad = bad_part_error(exc)
        if bad is not None:
            raise bad from None
        raise StoreError(f"cannot read the results in {home.root}: {exc}") from None
    return conn


def _bad_part_view(home: Home, table: str, exc: "duckdb.Error") -> "str | None":
    """The view of ``table`` when creating its view failed with ``exc``: its schema part and
    the one bad file it names (None when ``exc`` is not about one part)."""
    from memscope.store.views import sql_identifier, sql_string

    bad = bad_part_error(exc)
    if bad is None or bad.path is None:
        return None
    files = [home.schema_dir / table / SCHEMA_PART, bad.path]
    return (
        f"CREATE OR REPLACE VIEW {sql_identifier(table)} AS SELECT * FROM read_parquet(["
        + ", ".join(sql_string(str(f)) for f in files)
        + "], union_by_name = false, hive_partitioning = false)"
    )


#: Serializes lock_down's check-then-lock: threads opening connections to one catalog file
#: share one DuckDB instance, and two could both see it unlocked and both try to SET.
_LOCK_DOWN = threading.Lock()


def lock_down(conn: "duckdb.DuckDBPyConnection", home: Home) -> None:
    """Confine ``conn`` to reading files under the home, then lock its configuration.

    Connections to the same catalog file in one process share one DuckDB instance (the
    TUI may hold several); the first one locks it, later ones check the lock is ours.
    """
    with _LOCK_DOWN:
        _lock_down(conn, home)


def _lock_down(conn: "duckdb.DuckDBPyConnection", home: Home) -> None:
    import duckdb

    from memscope.store.views import glob_escape, sql_string

    root = home.root.as_posix().rstrip("/") + "/"
    ((locked,),) = conn.execute("SELECT current_setting('lock_configuration')").fetchall()
    if not locked:
        with contextlib.suppress(duckdb.Error):  # an older DuckDB has no allowed_configs
            conn.execute("SET allowed_configs = ['enable_progress_bar']")  # still adjustable once locked
        # the views' globs escape glob characters of the home's path (hg[1] -> hg[[]1]), and
        # DuckDB checks the pattern as written: allow that spelling of the home too
        dirs = dict.fromkeys([root, glob_escape(root)])
        conn.execute(f"SET allowed_directories = [{', '.join(sql_string(d) for d in dirs)}]")
        conn.execute("SET enable_external_access = false")
        conn.execute("SET enable_progress_bar = false")
        conn.execute("SET lock_configuration = true")
        return
    ((external, allowed),) = conn.execute(
        "SELECT current_setting('enable_external_access'), current_setting('allowed_directories')"
    ).fetchall()
    if external or root not in list(allowed or []):
        raise StoreError(f"the catalog of {home.root} is already open in this process with other settings")
    try:
        conn.execute("SET enable_progress_bar = false")  # it would draw on the terminal
    except duckdb.Error:
        pass


def open_connection(
    home: Union[Home, str, Path], host: "PluginHost | None" = None, *, live_status: bool = True
) -> "duckdb.DuckDBPyConnection":
    """A locked-down, read-only connection with every table and the ``runs`` view.

    Creates the home if it does not exist (:class:`StoreError` if it cannot), rebuilds a
    stale catalog, and lets plugins define macros (``host.prepare_connection``) before the
    configuration is locked. The caller closes the connection.

    ``live_status=False`` leaves the catalog's ``runs`` view as it is (the heartbeat rule):
    the live rule is a Python function, and DuckDB loads numpy for those, which a one-shot
    query that never reads ``runs`` need not pay for.
    """
    from memscope.store.catalog import refuse_linked_runs
    from memscope.store.live_status import install_live_status

    home = _as_home(home)
    if not home.exists():
        home.ensure()
    refuse_linked_runs(home)
    conn = _open_catalog(home) or _memory_catalog(home)
    try:
        if live_status:
            install_live_status(conn)  # the runs view's status as 'memscope runs list' computes it
        if host is not None:
            host.prepare_connection(conn, str(home.root))
        lock_down(conn, home)
    except BaseException:
        conn.close()
        raise
    return conn


def out_of_memory_error(exc: BaseException) -> QueryError:
    """DuckDB's out-of-memory error without its ``SET ...`` advice (memscope refuses SET),
    with what a memscope user can do instead."""
    first = str(exc).strip().splitlines()[0]
    return QueryError(
        f"{first}; memscope query may use {query_memory_limit()} of memory: select fewer rows or columns "
        f"(WHERE run_id = ..., LIMIT), aggregate before joining, or raise the limit with "
        f"{MEMORY_ENV}=8GB (or a share such as 70%)"
    )


def runs_connection(home: Union[Home, str, Path], run_dirs: Iterable[Path], tables: Sequence[str] | None = None,
                    *, empty_views: bool = True) -> "duckdb.DuckDBPyConnection":
    """An in-memory, locked-down connection with one view per table over the parts of
    ``run_dirs`` only. ``tables`` defaults to every table the home knows. A table none of
    the runs has rows in gets a view over its zero-row schema part (``empty_views``), so
    SQL that names it still binds; without a schema part it has no view. Raises
    :class:`StoreError` naming the run when a view cannot be made."""
    import duckdb

    from memscope.store.parts import PART_RE
    from memscope.store.views import sql_identifier, sql_string

    home = _as_home(home)
    dirs = [Path(d) for d in run_dirs]
    names = list(tables) if tables is not None else home.table_names()
    conn = duckdb.connect(":memory:", config=_base_config())
    try:
        for table in names:
            files = [p for d in dirs if (d / table).is_dir() for p in sorted((d / table).iterdir()) if PART_RE.match(p.name)]
            if not files:
                schema = home.schema_dir / table / SCHEMA_PART
                if not (empty_views and schema.is_file()):
                    continue
                files = [schema]
            listing = ", ".join(sql_string(f.as_posix()) for f in files)
            conn.execute(
                f"CREATE VIEW {sql_identifier(table)} AS SELECT * FROM "
                f"read_parquet([{listing}], union_by_name = true, hive_partitioning = false)"
            )
        lock_down(conn, home)
    except duckdb.Error as exc:
        conn.close()
        which = ", ".join(d.name for d in dirs[:3]) + (" ..." if len(dirs) > 3 else "")
        raise bad_part_error(exc) or StoreError(f"cannot read the results of {which}: {exc}") from None
    return conn


def run_connection(home: Union[Home, str, Path], run_id: str, tables: Sequence[str] | None = None) -> "duckdb.DuckDBPyConnection":
    """:func:`runs_connection` over one run (``StoreError`` when the home has no such run)."""
    home = _as_home(home)
    return runs_connection(home, [home.require_run(run_id)], tables)
