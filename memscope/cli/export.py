"""``memscope export``: materialize every table (and ``runs``) for sharing.

``--to results.duckdb`` writes one DuckDB file with a real table per view; ``--to DIR
--format parquet`` writes ``DIR/<table>.parquet``. An export is self-contained: it reads no
file of the home it came from. ``runs.run_dir`` is relative to that home (``runs/<run_id>``),
``run_configs`` holds each run's config.toml (as written, and as JSON), and a DuckDB export's
``memscope_meta`` table says where and when it was exported. DuckDB files are written in an
old storage format (:data:`memscope.store.catalog.STORAGE_COMPATIBILITY`) so older clients
open them too. Rows are read through the same locked-down,
read-only connection as ``memscope query`` and streamed as Arrow batches into a *separate*
connection that can write only the target (a temporary file renamed into place when
complete, so a failed export leaves nothing half-written).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from memscope.cli.common import HomeOption, complete_run_id, eprint, handle_errors
from memscope.errors import MemscopeError, StoreError

DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")
RUN_CONFIGS = "run_configs"
EXPORT_FORMATS = ("duckdb", "parquet")
BATCH_ROWS = 65536


def _pick_format(target: Path, fmt: str | None) -> str:
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in EXPORT_FORMATS:
            raise MemscopeError(f"unknown export format '{fmt}'; choose duckdb or parquet")
        return fmt
    if target.suffix.lower() in DUCKDB_SUFFIXES:
        return "duckdb"
    if target.suffix == "" or target.is_dir():
        return "parquet"
    raise MemscopeError(f"cannot tell the format from '{target.name}'; add --format duckdb or --format parquet")


def _tables(conn: Any) -> list[str]:
    from memscope.store.views import META_VIEW

    rows = conn.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary "
        "AND database_name = current_database() AND schema_name = 'main' ORDER BY view_name"
    ).fetchall()
    return [name for (name,) in rows if name != META_VIEW]


def _reader(conn: Any, table: str, run_ids: list[str] | None) -> tuple[Any, list[str]]:
    """An Arrow reader over one view, and the names of its JSON columns (Arrow drops the type)."""
    from memscope.store.views import sql_identifier, sql_string

    # runs.run_dir relative to the home: the export must not point into the home it came from
    star = r"* REPLACE (regexp_replace(run_dir, '^.*/(runs/[^/]+)$', '\1') AS run_dir)" if table == "runs" else "*"
    sql = f"SELECT {star} FROM {sql_identifier(table)}"
    if run_ids:
        sql += " WHERE run_id IN (" + ", ".join(sql_string(r) for r in run_ids) + ")"
    relation = conn.sql(sql)
    json_columns = [c for c, t in zip(relation.columns, relation.types) if str(t) == "JSON"]
    return relation.to_arrow_reader(BATCH_ROWS), json_columns


def run_configs(conn: Any, run_ids: list[str] | None) -> Any:
    """An Arrow table: each exported run's config.toml as written (``config_toml``) and
    parsed (``config``, JSON text); both null where the file is missing or unreadable."""
    import json
    import tomllib

    import pyarrow as pa

    from memscope.store.views import sql_string

    sql = "SELECT run_id, run_dir FROM runs"
    if run_ids:
        sql += " WHERE run_id IN (" + ", ".join(sql_string(r) for r in run_ids) + ")"
    rows: dict[str, list[Any]] = {"run_id": [], "config_toml": [], "config": []}
    for run_id, run_dir in conn.execute(sql + " ORDER BY run_id").fetchall():
        text = parsed = None
        try:
            text = (Path(run_dir) / "config.toml").read_text(encoding="utf-8")
            parsed = json.dumps(tomllib.loads(text), allow_nan=False)
        except (OSError, TypeError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError):
            parsed = None  # a missing or damaged config: the text (if any) still goes along
        rows["run_id"].append(run_id)
        rows["config_toml"].append(text)
        rows["config"].append(parsed)
    return pa.table(rows, schema=pa.schema([("run_id", pa.string()), ("config_toml", pa.string()), ("config", pa.string())]))


def _export_meta(out: Any, source: Path, tables: list[str]) -> None:
    """``memscope_meta`` of an export: where it came from, when, and what it holds."""
    from datetime import datetime, timezone

    from memscope import __version__
    from memscope.store.views import META_VIEW

    out.execute(
        f"CREATE TABLE {META_VIEW} AS SELECT 'export' AS kind, ?::VARCHAR AS exported_from, "
        "?::TIMESTAMPTZ AS exported_at, ?::VARCHAR AS memscope_version, ?::VARCHAR[] AS tables",
        [source.as_posix(), datetime.now(timezone.utc), __version__, tables],
    )


def export_duckdb(conn: Any, target: Path, run_ids: list[str] | None, source: Path | None = None) -> dict[str, int]:
    """Every view as a table, plus ``run_configs`` and ``memscope_meta`` (``source``: the home)."""
    from memscope.store.catalog import build_duckdb_file
    from memscope.store.views import sql_identifier

    counts: dict[str, int] = {}

    def fill(out: Any) -> None:
        for table in _tables(conn):
            reader, json_columns = _reader(conn, table, run_ids)
            replace = ", ".join(f"{sql_identifier(c)}::JSON AS {sql_identifier(c)}" for c in json_columns)
            star = f"* REPLACE ({replace})" if replace else "*"
            out.register("memscope_export_source", reader)
            out.execute(f"CREATE TABLE {sql_identifier(table)} AS SELECT {star} FROM memscope_export_source")
            out.unregister("memscope_export_source")
            ((counts[table],),) = out.execute(f"SELECT count(*) FROM {sql_identifier(table)}").fetchall()
        configs = run_configs(conn, run_ids)
        out.register("memscope_export_source", configs)
        out.execute(f"CREATE TABLE {RUN_CONFIGS} AS SELECT run_id, config_toml, config::JSON AS config FROM memscope_export_source")
        out.unregister("memscope_export_source")
        counts[RUN_CONFIGS] = configs.num_rows
        _export_meta(out, source or Path("."), sorted(counts))

    build_duckdb_file(target, fill)
    return counts


def export_parquet(conn: Any, target: Path, run_ids: list[str] | None) -> dict[str, int]:
    import pyarrow.parquet as pq

    from memscope.store.parts import write_parquet_atomic

    target.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for table in _tables(conn):
        reader, _ = _reader(conn, table, run_ids)
        path = target / f"{table}.parquet"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        rows = 0
        try:
            with pq.ParquetWriter(tmp, reader.schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        counts[table] = rows
    configs = run_configs(conn, run_ids)
    write_parquet_atomic(configs, target / f"{RUN_CONFIGS}.parquet")
    counts[RUN_CONFIGS] = configs.num_rows
    return counts


@handle_errors
def export(
    to: Annotated[Path, typer.Option("--to", metavar="PATH", help="Target: FILE.duckdb, or a folder with --format parquet.", show_default=False)],
    fmt: Annotated[
        Optional[str],
        typer.Option("--format", metavar="FORMAT", help="duckdb or parquet (default: from --to: .duckdb/.db = duckdb, a folder = parquet).", show_default=False),
    ] = None,
    run: Annotated[
        Optional[list[str]], typer.Option("--run", metavar="RUN_ID", help="Only this run (repeatable; default: every run); a prefix, suffix or 'latest' works too.", show_default=False, autocompletion=complete_run_id)
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing target.")] = False,
    home: HomeOption = None,
) -> None:
    """Materialize all results into one DuckDB file or a folder of Parquet files.

    \b
    Examples:
      memscope export --to results.duckdb
      memscope export --to results/ --format parquet --run RUN_ID
    """
    import duckdb

    from memscope.cli.common import get_home, get_host
    from memscope.store.connection import open_connection

    fmt_name = _pick_format(to, fmt)
    if fmt_name == "duckdb":
        if to.is_dir():
            raise MemscopeError(f"{to} is a folder; give a file name like {to / 'results.duckdb'}")
        if to.exists() and not force:
            raise MemscopeError(f"{to} already exists; pass --force to overwrite it")
    else:
        if to.exists() and not to.is_dir():
            raise MemscopeError(f"{to} is a file; parquet export writes a folder")
        if to.is_dir() and any(to.iterdir()) and not force:
            raise MemscopeError(f"{to} is not empty; pass --force to overwrite its files")

    resolved = get_home(home)
    run_ids = list(dict.fromkeys(resolved.require_run(r).name for r in run or []))  # prefixes, suffixes, 'latest' -> full ids

    host = get_host(None, home=resolved.root)
    conn = open_connection(resolved, host)
    try:
        if fmt_name == "duckdb":
            counts = export_duckdb(conn, to, run_ids or None, resolved.root)
        else:
            counts = export_parquet(conn, to, run_ids or None)
    except duckdb.Error as exc:
        raise StoreError(f"export failed: {exc}") from None
    except OSError as exc:
        raise StoreError(f"cannot write {to}: {exc.strerror or exc}") from None
    finally:
        conn.close()
    total = sum(counts.values())
    eprint(f"memscope: exported {len(counts)} tables ({total} rows) to {to}")


def register(app: typer.Typer) -> None:
    app.command("export")(export)


__all__ = ["export_duckdb", "export_parquet", "register", "run_configs"]
