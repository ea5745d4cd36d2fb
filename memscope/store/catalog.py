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

Paths
-----
The views hold absolute paths (DuckDB resolves relative paths against the process's
working directory, not the database file). ``memscope_meta`` records the home the catalog
was built for; opening a catalog whose recorded home differs from the home it sits in (the
home was moved or copied) rebuilds it. ``memscope_meta.catalog`` also records the file's own
path, and every view of the file catalog checks it against ``duckdb_databases()`` (DuckDB
reports the real path of each open file): opened at another path (a moved or copied home, in
the duckdb CLI or Harlequin), a view stops with an error naming both paths instead of
silently reading the old home, and ``memscope_meta.opened_here`` is false. Any memscope
command on the moved home rebuilds the catalog. The in-memory catalog has no such check.

Files
-----
The catalog and ``memscope export --to FILE.duckdb`` are written in the storage format of
:data:`STORAGE_COMPATIBILITY`, so DuckDB clients older than the writer (the pip
``duckdb-cli``, Harlequin on an older duckdb) open them too.

Views
-----
- one view per table in ``home.table_names()`` (core and plugin tables):
  ``read_parquet('<home>/runs/*/<table>/*.parquet', union_by_name=true)``. The zero-row
  ``runs/_schema/<table>/part-schema.parquet`` guarantees the glob matches, so a view over
  a table no run has written yet is an empty result with the right columns.
- ``runs``: one row per ``runs/*/run.json``. The files are read as bytes, decoded with
  ``try`` and parsed with DuckDB's JSON functions (``TRY_CAST`` on every field), so one
  corrupt, half-edited or non-UTF-8 run.json shows up as a ``crashed`` row instead of
  breaking the view for everybody; a folder whose run.json names another run (a backup
  copy) is left out; a ``runs/_schema/run.json`` holding ``[]`` keeps the glob matching
  with no runs. ``status`` applies the heartbeat rule: ``running`` with ``updated_at``
  older than :data:`memscope.store.runinfo.STALE_SECONDS` reads ``crashed``;
  ``recorded_status`` is what the file says. ``memscope query`` and the app shadow this
  view per connection (:func:`install_live_status`) with the writer-lock rule of
  ``memscope runs list``.
- Every glob escapes the glob characters of the home's path (:func:`glob_escape`), so a
  home named ``hg[1]`` never reads its sibling ``hg1``.
- ``memscope_meta``: the home, the catalog format version, the table list, the build time.
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from memscope.errors import StoreError
from memscope.store.home import SCHEMA_RUN, Home
from memscope.store.runinfo import RUN_JSON, STALE_SECONDS

if TYPE_CHECKING:
    import duckdb

#: Bump when the view definitions change: an older catalog is rebuilt on open.
CATALOG_VERSION = 2  # 2: notes, hyperparameters and config in runs
#: View names the catalog defines itself; a Parquet table cannot take them.
RESERVED_VIEWS = ("runs", "memscope_meta")
META_VIEW = "memscope_meta"
#: The storage format of every DuckDB file memscope writes: readable by DuckDB 1.1 and later.
#: The default (the writer's own format) locks out older clients, e.g. duckdb-cli 1.5 under
#: duckdb 2.0; views and plain tables need nothing newer.
STORAGE_COMPATIBILITY = "v1.1.0"

# (name, SQL type) of every run.json key the runs view exposes, in column order.
# Timestamps are ISO-8601 strings in the file; everything goes through TRY_CAST.
RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("status", "VARCHAR"),  # computed: see the module docstring
    ("recorded_status", "VARCHAR"),  # as written in run.json
    ("pid", "BIGINT"),
    ("hostname", "VARCHAR"),
    ("created_at", "TIMESTAMPTZ"),
    ("started_at", "TIMESTAMPTZ"),
    ("updated_at", "TIMESTAMPTZ"),
    ("finished_at", "TIMESTAMPTZ"),
    ("error", "VARCHAR"),
    ("device", "VARCHAR"),
    ("dataset", "VARCHAR"),
    ("model", "VARCHAR"),
    ("noise_model", "VARCHAR"),
    ("noise_rate", "DOUBLE"),
    ("seed", "BIGINT"),
    ("epochs", "INTEGER"),
    ("epoch", "INTEGER"),  # last completed epoch
    ("num_train", "BIGINT"),
    ("num_test", "BIGINT"),
    ("num_noisy", "BIGINT"),
    ("num_classes", "INTEGER"),
    ("clean_train_acc", "DOUBLE"),
    ("noisy_train_acc", "DOUBLE"),
    ("test_acc", "DOUBLE"),
    ("memscope_version", "VARCHAR"),
    ("torch_version", "VARCHAR"),
    ("git_sha", "VARCHAR"),
    ("sweep_id", "VARCHAR"),
    ("tags", "JSON"),  # object
    ("analyses", "JSON"),  # object: name -> {status, error, seconds}
    ("plugin_errors", "JSON"),  # list
    ("notes", "VARCHAR"),  # memscope runs note
    # the hyperparameters people filter on, from the resolved config run.json keeps
    ("lr", "DOUBLE"),
    ("batch_size", "INTEGER"),
    ("width", "DOUBLE"),
    ("schedule", "VARCHAR"),
    ("precision", "VARCHAR"),
    ("etd_enabled", "BOOLEAN"),
    ("config", "JSON"),  # the whole resolved config (what config.toml says), as an object
    ("run_dir", "VARCHAR"),  # the run's directory
)
#: run.json paths of the columns not stored under their own name.
RUN_COLUMN_PATHS = {
    "lr": "$.config.train.lr",
    "batch_size": "$.config.train.batch_size",
    "width": "$.config.model.width",
    "schedule": "$.config.train.schedule",
    "precision": "$.config.train.precision",
    "etd_enabled": "$.config.etd.enabled",
}
_COMPUTED = {"status", "recorded_status", "run_id", "run_dir", "error"}


def sql_string(value: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _root(home: Home) -> str:
    return home.root.as_posix()


def glob_escape(path: str) -> str:
    """``path`` with DuckDB's glob characters matched literally (``[`` -> ``[[]``): a home
    named ``hg[1]`` must not read the sibling home ``hg1``."""
    return "".join(f"[{c}]" if c in "[*?" else c for c in path)


def _glob_root(home: Home) -> str:
    return glob_escape(_root(home))


def parquet_glob(home: Home, table: str) -> str:
    return f"{_glob_root(home)}/runs/*/{table}/*.parquet"


def table_view_sql(home: Home, table: str) -> str:
    return (
        f"CREATE OR REPLACE VIEW {sql_identifier(table)} AS SELECT * FROM read_parquet("
        f"{sql_string(parquet_glob(home, table))}, union_by_name = true, hive_partitioning = false)"
    )


def runs_view_sql(home: Home) -> str:
    glob = f"{_glob_root(home)}/runs/*/{RUN_JSON}"
    fields = []
    for name, sql_type in RUN_COLUMNS:
        if name in _COMPUTED:
            continue
        path = RUN_COLUMN_PATHS.get(name, f"$.{name}")
        if sql_type == "JSON":
            expr = f"json_extract(j, '{path}')"
        else:
            expr = f"TRY_CAST(json_extract_string(j, '{path}') AS {sql_type})"
        fields.append(f"{expr} AS {name}")
    stale = f"INTERVAL {int(STALE_SECONDS)} SECOND"
    select = []
    for name, _ in RUN_COLUMNS:
        if name == "run_id":
            select.append("coalesce(json_extract_string(j, '$.run_id'), dir_name) AS run_id")
        elif name == "status":
            select.append(
                "CASE WHEN NOT ok THEN 'crashed' "
                "WHEN recorded_status = 'running' AND (updated_at IS NULL "
                f"OR updated_at < now() - {stale}) THEN 'crashed' "
                "ELSE coalesce(recorded_status, 'crashed') END AS status"
            )
        elif name == "error":
            select.append("CASE WHEN ok THEN error ELSE 'run.json is unreadable' END AS error")
        else:
            select.append(name)
    field_list = ",\n           ".join(fields)
    run_json = RUN_JSON.replace(".", "\\.")  # as a regular expression
    return f"""CREATE OR REPLACE VIEW runs AS
WITH blobs AS (
    -- read as bytes: one file that is not UTF-8 must not break the view for every run
    SELECT filename AS path, try(decode(content)) AS content FROM read_blob({sql_string(glob)})
), files AS (
    SELECT path,
           regexp_extract(path, '/runs/([^/]+)/{run_json}$', 1) AS dir_name,
           coalesce(CASE WHEN json_valid(content) THEN json_type(content) = 'OBJECT' ELSE false END, false) AS ok,
           content
    FROM blobs
), checked AS (
    -- an unreadable file becomes '{{}}' so no JSON function ever sees malformed text
    SELECT path, dir_name, ok, CASE WHEN ok THEN content ELSE '{{}}' END AS j FROM files
), parsed AS (
    SELECT dir_name, ok, j,
           regexp_replace(path, '/{run_json}$', '') AS run_dir,
           json_extract_string(j, '$.status') AS recorded_status,
           json_extract_string(j, '$.error') AS error,
           {field_list}
    FROM checked
    WHERE NOT starts_with(dir_name, '_') AND NOT starts_with(dir_name, '.')  -- {SCHEMA_RUN}/, hidden
)
SELECT {', '.join(select)}
FROM parsed
-- a copy of another run's folder (its run.json names that run) is not listed twice
WHERE json_type(j, '$.run_id') IS DISTINCT FROM 'VARCHAR' OR json_extract_string(j, '$.run_id') = dir_name"""


def opened_here_sql(catalog_file: str) -> str:
    """True where the database file at ``catalog_file`` (a real path) is open: DuckDB lists
    each open file under its real path in ``duckdb_databases()``."""
    return f"EXISTS (SELECT 1 FROM duckdb_databases() WHERE path = {sql_string(catalog_file)})"


def moved_guard_sql(catalog_file: str) -> str:
    """A condition that holds where the catalog is opened at the path it was built for, and
    otherwise stops the query with an error naming both paths and the way out."""
    opened = "(SELECT string_agg(path, ', ') FROM duckdb_databases() WHERE path IS NOT NULL)"
    message = sql_string(
        f"this memscope catalog was built for {catalog_file}; its views read the results next to "
        "that file, not next to this copy. Run any memscope command on this home to rebuild it "
        "(memscope --home <this folder> runs list), or read the Parquet parts under runs/ directly. "
        "Opened from: "
    )
    return f"(SELECT CASE WHEN {opened_here_sql(catalog_file)} THEN true ELSE error({message} || {opened}) END)"


_VIEW_HEAD = re.compile(r"CREATE OR REPLACE VIEW (\S+) AS\s")


def guarded_view_sql(statement: str, guard: str) -> str:
    """``CREATE OR REPLACE VIEW name AS <body>`` rewritten to read ``<body>`` only where ``guard`` holds."""
    head = _VIEW_HEAD.match(statement)
    if head is None:
        raise ValueError(f"not a CREATE OR REPLACE VIEW statement: {statement[:60]}")
    # the body on lines of its own: it may end in a -- comment
    return f"CREATE OR REPLACE VIEW {head.group(1)} AS SELECT * FROM (\n{statement[head.end():]}\n) WHERE {guard}"


def meta_view_sql(home: Home, tables: list[str], catalog_file: str | None = None) -> str:
    """One row: the home and catalog file the views were built for, whether this database is
    that file (``opened_here``; always true for an in-memory catalog), format and tables."""
    from memscope import __version__

    built = datetime.now(timezone.utc).isoformat(timespec="seconds")
    table_list = "[" + ", ".join(sql_string(t) for t in tables) + "]::VARCHAR[]"
    catalog = sql_string(catalog_file) if catalog_file is not None else "NULL::VARCHAR"
    opened_here = opened_here_sql(catalog_file) if catalog_file is not None else "true"
    return (
        f"CREATE OR REPLACE VIEW {META_VIEW} AS SELECT {sql_string(_root(home))} AS home, "
        f"{catalog} AS catalog, {opened_here} AS opened_here, "
        f"{CATALOG_VERSION} AS catalog_version, {sql_string(__version__)} AS memscope_version, "
        f"{table_list} AS tables, TIMESTAMPTZ {sql_string(built)} AS built_at"
    )


def catalog_tables(home: Home) -> list[str]:
    """The Parquet tables the catalog exposes (reserved names are skipped)."""
    return [t for t in home.table_names() if t not in RESERVED_VIEWS]


def catalog_views(home: Home, catalog_file: str | None = None) -> list[tuple[str, str]]:
    """``(view name, CREATE statement)`` for every view of the catalog, in definition order.

    The one definition of the catalog: a file catalog, an in-memory catalog and an
    in-memory catalog around unreadable parts all come from here. With ``catalog_file``
    (the real path of the file being built), every view but ``memscope_meta`` refuses to
    read when the file is opened at another path (see the module docstring)."""
    tables = catalog_tables(home)
    views = [*((t, table_view_sql(home, t)) for t in tables), ("runs", runs_view_sql(home))]
    if catalog_file is not None:
        guard = moved_guard_sql(catalog_file)
        views = [(name, guarded_view_sql(statement, guard)) for name, statement in views]
    return [*views, (META_VIEW, meta_view_sql(home, tables, catalog_file))]


def catalog_statements(home: Home) -> list[str]:
    """Every statement that defines the catalog (also used for an in-memory catalog)."""
    return [statement for _name, statement in catalog_views(home)]


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


def _live_status(run_dir, recorded_status, sql_status, pid, hostname):
    """The ``runs`` view's status as ``memscope runs list`` computes it (see
    :func:`install_live_status`); ``sql_status`` is the heartbeat rule's answer."""
    if recorded_status != "running" or run_dir is None:
        return sql_status
    import socket

    from memscope.store.lock import writer_alive
    from memscope.store.runinfo import pid_alive

    here = hostname == socket.gethostname()
    alive = writer_alive(Path(run_dir))
    if alive is False and not here:
        alive = None  # flock may not cross hosts: a free lock says nothing about another host's run
    if alive is None and pid is not None and here:
        alive = pid_alive(pid)
    if alive is None:
        return sql_status  # another host: only the heartbeat can tell
    return "running" if alive else "crashed"


def install_live_status(conn: "duckdb.DuckDBPyConnection") -> None:
    """Shadow the catalog's ``runs`` view, for this connection only, with one whose
    ``status`` applies the full liveness rule (the run's writer lock, then its pid on this
    host, then the heartbeat): ``memscope query`` and the app then say ``crashed`` at once
    after a ``kill -9``, like ``memscope runs list``. Plain DuckDB clients keep the heartbeat
    rule (``crashed`` once the heartbeat is ``STALE_SECONDS`` old)."""
    import duckdb

    ((database,),) = conn.execute("SELECT current_database()").fetchall()
    # connections to one catalog file in one process share one instance: maybe defined already
    with contextlib.suppress(duckdb.CatalogException):
        conn.create_function(
            "memscope_run_status",
            _live_status,
            ["VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR"],
            "VARCHAR",
            null_handling="special",
            side_effects=True,  # liveness changes between calls: never cached
        )
    conn.execute(
        "CREATE OR REPLACE TEMP VIEW runs AS SELECT * REPLACE ("
        "memscope_run_status(run_dir, recorded_status, status, pid, hostname) AS status) "
        f"FROM {sql_identifier(database)}.main.runs"
    )


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
        and recorded_home == _root(home)
        and version == CATALOG_VERSION
        and list(tables or []) == catalog_tables(home)
    )


__all__ = [
    "CATALOG_VERSION",
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
    "install_live_status",
    "linked_run_folders",
    "refuse_linked_runs",
    "refresh_catalog",
]
