"""The analysis contract, checked: what a plugin's Analysis class must declare, and that its
tables reach the catalog."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pyarrow as pa

from memscope.analysis.base import SHARED_TABLES, Analysis
from memscope.registry import NAME_RE
from memscope.store.home import Home
from memscope.store.schemas import CORE_TABLES
from memscope.testing.tiny_runs import TinyRun, as_home

# Reserved view names of the catalog: a table cannot take them.
_RESERVED_TABLES = ("runs", "memscope_meta")


def _field_type_ok(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp in (str, int, float, bool, Any):
        return True
    if origin in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return all(_field_type_ok(a) for a in args)
    if origin is dict or tp is dict:
        return True
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        return all(a is type(None) or _field_type_ok(a) for a in typing.get_args(tp))
    return False


def _check_options(cls: type) -> list[str]:
    options = getattr(cls, "Options", None)
    if options is None or not dataclasses.is_dataclass(options) or not isinstance(options, type):
        return [f"Options must be a dataclass (filled from [analysis.{cls.name}]), got {options!r}"]
    problems = []
    try:
        hints = typing.get_type_hints(options)
    except Exception as exc:  # an annotation that cannot be resolved
        return [f"Options annotations cannot be resolved: {exc.__class__.__name__}: {exc}"]
    for f in dataclasses.fields(options):
        if not f.init:
            continue
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            problems.append(f"Options.{f.name} has no default (every option needs one: a config may omit it)")
        if not _field_type_ok(hints.get(f.name)):
            problems.append(
                f"Options.{f.name}: type {hints.get(f.name)!r} cannot come from TOML "
                "(use str, int, float, bool, list/tuple of those, dict, or X | None)"
            )
        if not NAME_RE.match(f.name):
            problems.append(f"Options.{f.name}: option names are snake_case")
    if problems:
        return problems
    try:
        from memscope.config import build_dataclass

        build_dataclass(options, {}, source="check_analysis", prefix=f"analysis.{cls.name}")
    except Exception as exc:
        problems.append(f"Options() with every default fails: {exc.__class__.__name__}: {exc}")
    return problems


def _check_tables(cls: type) -> list[str]:
    tables = getattr(cls, "tables", None)
    if not isinstance(tables, dict):
        return [f"tables must be a dict of table name -> pyarrow.Schema, got {type(tables).__name__}"]
    problems = []
    for table, schema in tables.items():
        if not isinstance(table, str) or not NAME_RE.match(table):
            problems.append(f"table name {table!r} must be snake_case (lowercase letters, digits, _)")
            continue
        if not isinstance(schema, pa.Schema):
            problems.append(f"tables[{table!r}] must be a pyarrow.Schema, got {type(schema).__name__}")
            continue
        if table in _RESERVED_TABLES:
            problems.append(f"table name {table!r} is reserved by the catalog")
            continue
        names = [n for n in schema.names if n != "run_id"]
        if len(set(schema.names)) != len(schema.names):
            problems.append(f"table {table!r} names a column twice: {schema.names}")
        bad = [n for n in schema.names if not NAME_RE.match(n)]
        if bad:
            problems.append(f"table {table!r}: column names must be snake_case: {', '.join(bad)}")
        if "run_id" in schema.names and schema.field("run_id").type != pa.string():
            problems.append(f"table {table!r}: run_id must be a string column (the writer fills it)")
        if not names:
            problems.append(f"table {table!r} has no columns besides run_id")
        if table in CORE_TABLES and table not in SHARED_TABLES and not cls.__module__.startswith("memscope.analysis."):
            problems.append(  # memscope refuses to register it (only the paper's analyses write core tables)
                f"table {table!r} is a core table; a plugin's analysis declares '{cls.name}_<table>' tables "
                "and, if it likes, the shared 'example_scores'"
            )
        elif table in CORE_TABLES:
            core = CORE_TABLES[table]
            for f in schema:
                if f.name not in core.names:
                    problems.append(f"core table {table!r} has no column {f.name!r}")
                elif core.field(f.name).type != f.type:
                    problems.append(f"core table {table!r}: column {f.name!r} is {core.field(f.name).type}, declared {f.type}")
        elif not table.startswith(f"{cls.name}_"):
            problems.append(
                f"table {table!r} must be named '{cls.name}_<table>' (a plugin's tables carry its name), "
                "or be the shared core table 'example_scores'"
            )
    return problems


def analysis_problems(cls: Any) -> list[str]:
    """Every way ``cls`` breaks the analysis contract (an empty list when it conforms)."""
    if not isinstance(cls, type) or not issubclass(cls, Analysis):
        return [f"{cls!r} is not a subclass of memscope.analysis.Analysis"]
    problems = []
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append(f"name {name!r} must be snake_case: lowercase letters, digits and _, starting with a letter")
    elif name in _RESERVED_TABLES:
        problems.append(f"name {name!r} is reserved")
    version = getattr(cls, "version", "")
    if not isinstance(version, str) or not version.strip():
        problems.append(f"version must be a non-empty string, got {version!r}")
    if not (cls.__doc__ or "").strip():
        problems.append("the class needs a docstring: its first line is the description `memscope plugins` shows")
    problems += _check_options(cls)
    problems += _check_tables(cls)
    if not isinstance(getattr(cls, "needs_split_gradients", False), bool):
        problems.append("needs_split_gradients must be True or False")
    if not (cls.collects() or cls.runs_after_training()):
        problems.append("implements neither collect()/after_batch() (during training) nor run() (after training)")
    if not problems:
        try:
            cls()
        except Exception as exc:
            problems.append(f"{cls.__name__}() with default options fails: {exc.__class__.__name__}: {exc}")
    return problems


def check_analysis(cls: Any) -> None:
    """Assert that ``cls`` follows the analysis contract; the message lists every problem.

    Checks: a subclass of ``Analysis`` with a docstring; ``name`` snake_case; ``version`` a
    non-empty string; ``Options`` a dataclass whose every field has a default and a type TOML
    can fill; ``tables`` maps snake_case names to ``pyarrow.Schema``\\ s, each a core table
    with matching column types or named ``<name>_<table>``; it implements ``collect``,
    ``after_batch`` or ``run``; and it can be built with its default options.
    """
    problems = analysis_problems(cls)
    if problems:
        label = getattr(cls, "__name__", repr(cls))
        raise AssertionError(f"{label} breaks the analysis contract:\n- " + "\n- ".join(problems))


def check_tables_in_catalog(
    home: "str | Path | Home | TinyRun",
    cls: type,
    run_id: str | None = None,
    *,
    require_rows: bool = False,
) -> dict[str, int]:
    """Assert that every table ``cls`` declares is a view in the home's DuckDB catalog, with
    its columns, and return ``{table: rows}`` (rows of ``run_id``, or of every run).

    ``home`` may be a :class:`TinyRun` (its run id is then the default). With
    ``require_rows`` each table must hold at least one row for the run (for
    ``example_scores``: one row of this analysis).
    """
    from memscope.store.catalog import sql_identifier, sql_string
    from memscope.store.query import execute

    if isinstance(home, TinyRun) and run_id is None:
        run_id = home.run_id
    store = as_home(home)
    problems = []
    counts: dict[str, int] = {}
    known = set(execute(store, "SELECT table_name FROM information_schema.tables").table.column("table_name").to_pylist())
    for table, schema in cls.tables.items():
        if table not in known:
            problems.append(f"table {table!r} is not in the catalog of {store.root} (tables: {', '.join(sorted(known))})")
            continue
        described = execute(store, f"DESCRIBE {sql_identifier(table)}").table.to_pydict()
        columns = set(described["column_name"])
        missing = [n for n in schema.names if n not in columns]
        if missing:
            problems.append(f"table {table!r} in the catalog lacks column(s): {', '.join(missing)}")
            continue
        conditions = []
        if run_id is not None:
            conditions.append(f"run_id = {sql_string(run_id)}")
        if table == "example_scores":
            conditions.append(f"analysis = {sql_string(cls.name)}")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        count = execute(store, f"SELECT count(*) AS n FROM {sql_identifier(table)}{where}").table.column("n")[0].as_py()
        counts[table] = int(count)
        if require_rows and not count:
            problems.append(f"table {table!r} has no rows" + (f" for run {run_id}" if run_id else ""))
    if problems:
        raise AssertionError(f"{cls.__name__}'s tables in the catalog:\n- " + "\n- ".join(problems))
    return counts
