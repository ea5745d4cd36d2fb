"""The catalog's views as SQL text: what each view of ``memscope.duckdb`` reads, and how.

Nothing here opens a connection: :mod:`memscope.store.catalog` builds the catalog file (or
an in-memory catalog) from :func:`catalog_views`, and every other module quotes SQL with
:func:`sql_string` / :func:`sql_identifier`.

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

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from memscope.store.parts import SCHEMA_RUN
from memscope.store.runinfo import RUN_JSON, STALE_SECONDS

if TYPE_CHECKING:
    from memscope.store.home import Home

#: Bump when the view definitions change: an older catalog is rebuilt on open.
CATALOG_VERSION = 2  # 2: notes, hyperparameters and config in runs
#: View names the catalog defines itself; a Parquet table cannot take them.
RESERVED_VIEWS = ("runs", "memscope_meta")
META_VIEW = "memscope_meta"

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
    from memscope.version import __version__

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
