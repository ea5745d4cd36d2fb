"""The read-only statement check: layer 1 of what keeps ``memscope query`` from changing
anything (layer 2 is the locked-down connection, :mod:`memscope.store.connection`).

DuckDB's own parser splits the SQL and names each statement's type. Allowed: SELECT (with
WITH, FROM-first, DESCRIBE, SHOW, SUMMARIZE), EXPLAIN of an allowed statement,
PIVOT/UNPIVOT, BEGIN/COMMIT/ROLLBACK, and PRAGMA/CALL of the read-only pragmas and table
functions. Refused: CREATE (also TEMP objects and macros), INSERT, UPDATE, DELETE, MERGE,
COPY (TO and FROM), EXPORT, IMPORT, ATTACH, DETACH, DROP, ALTER, INSTALL, LOAD, SET,
RESET, USE, PRAGMA x = y, VACUUM, ANALYZE, CHECKPOINT, PREPARE/EXECUTE. The functions a
statement calls come from DuckDB's own parse of it (``json_serialize_sql``), never from
matching words, so comments and quoting cannot hide a call: a table function must be on an
allow-list of readers (``read_parquet``, ``range``, ``duckdb_*``, ...; or a macro a plugin
defined), and a state-changing function (``checkpoint()``, ``truncate_duckdb_logs()``,
``json_execute_serialized_sql()``, ``query()``, ...) is refused wherever it appears. A
PIVOT without an IN list, which DuckDB cannot serialize, has each called name looked up
among the catalog's table functions instead.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from typing import TYPE_CHECKING, Any

from memscope.errors import ExitCode, QueryError
from memscope.store.connection import _base_config

if TYPE_CHECKING:
    import duckdb

_READ_PRAGMAS = frozenset(
    {
        "collations",
        "database_list",
        "database_size",
        "extension_versions",
        "functions",
        "metadata_info",
        "platform",
        "show",
        "show_databases",
        "show_tables",
        "show_tables_expanded",
        "storage_info",
        "table_info",
        "user_agent",
        "version",
    }
)
#: Table functions a query may call (``FROM f(...)``, ``CALL f(...)``); any other table
#: function is refused, so one that DuckDB adds later is refused until it is listed here.
#: Macros a plugin defines in ``prepare_connection`` are allowed too (plugin code is trusted).
_READ_TABLE_FUNCTIONS = frozenset(
    {
        "generate_series", "glob", "histogram", "histogram_values", "icu_calendar_names", "json_each",
        "json_tree", "parquet_bloom_probe", "parquet_file_metadata", "parquet_full_metadata",
        "parquet_kv_metadata", "parquet_metadata", "parquet_page_index", "parquet_scan", "parquet_schema",
        "pg_timezone_names", "range", "read_blob", "read_csv", "read_csv_auto", "read_json", "read_json_auto",
        "read_json_objects", "read_json_objects_auto", "read_ndjson", "read_ndjson_auto",
        "read_ndjson_objects", "read_parquet", "read_text", "repeat", "repeat_row", "sniff_csv", "summary",
        "unnest",
    }
    | {f"pragma_{name}" for name in _READ_PRAGMAS}
)
#: Functions that change state; refused wherever they appear (also as scalar calls).
_WRITING_FUNCTIONS = frozenset(
    {
        "add_grammar_extension", "checkpoint", "copy_database", "create_external_resource",
        "deregister_external_resource", "destroy_external_resource", "disable_logging", "disable_profiling",
        "enable_logging", "enable_profiling", "force_checkpoint", "import_database",
        "json_execute_serialized_sql", "query", "query_table", "register_external_resource",
        "register_external_resource_type", "remove_grammar_extension", "truncate_duckdb_logs",
    }
)
_PATTERNS = {  # compiled on first use: start-up time is part of the CLI's contract
    "comments": (r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S),
    "explain": (r"^explain\b\s*(?:\(.*?\)\s*|analy[sz]e\b\s*)?", re.I | re.S),
    "first_word": (r"^([a-z_][a-z0-9_]*)", re.I),
    "call": (r"^call\b", re.I),
    "identifier": (r'"(?:[^"]|"")*"|[a-z_][a-z0-9_$]*', re.I),
    "pragma": (r"^pragma\s+([a-z_][a-z0-9_]*)", re.I),
}


@functools.cache
def _re(name: str) -> "re.Pattern[str]":
    pattern, flags = _PATTERNS[name]
    return re.compile(pattern, flags)


_HINT = (
    "the results are read-only; use SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN, "
    "or PRAGMA/CALL of read-only functions"
)


def _strip(sql: str) -> str:
    return _re("comments").sub("", sql, count=1).strip().rstrip(";").strip()


def _snippet(sql: str, width: int = 60) -> str:
    text = " ".join(_strip(sql).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _refuse(kind: str, sql: str) -> QueryError:
    return QueryError(f"refused {kind} statement: {_snippet(sql)}\n{_HINT}")


def _parse(sql: str, conn: Any = None) -> list[Any]:
    import duckdb

    try:
        # conn.extract_statements reuses an open database; the module-level function
        # would first create duckdb's default connection (~20 ms of start-up).
        return list((conn if conn is not None else duckdb).extract_statements(sql))
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None


_SERIALIZER: "duckdb.DuckDBPyConnection | None" = None
_SERIALIZER_LOCK = threading.Lock()  # a DuckDB connection serves one thread at a time


@contextlib.contextmanager
def _parser(conn: Any):
    """A connection to run ``json_serialize_sql`` on: ``conn`` (the caller's thread owns it),
    or a private in-memory one, one thread at a time (the TUI checks SQL from workers)."""
    global _SERIALIZER
    if conn is not None:
        yield conn
        return
    with _SERIALIZER_LOCK:
        if _SERIALIZER is None:
            import duckdb

            _SERIALIZER = duckdb.connect(":memory:", config=_base_config())
        yield _SERIALIZER


def _called_functions(node: Any, table: set[str], every: set[str]) -> None:
    """Collect, from DuckDB's JSON syntax tree, the names of table functions (``table``) and of
    every function call (``every``)."""
    if isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            table.add(str(node["function"].get("function_name", "")).lower())
        if node.get("class") == "FUNCTION" and "function_name" in node:
            every.add(str(node["function_name"]).lower())
        for value in node.values():
            _called_functions(value, table, every)
    elif isinstance(node, list):
        for value in node:
            _called_functions(value, table, every)


def _plugin_table_macro(name: str, conn: Any) -> bool:
    """True when ``name`` is a table macro defined on ``conn`` (by a plugin), not a built-in."""
    if conn is None:
        return False
    rows = conn.execute(
        "SELECT 1 FROM duckdb_functions() WHERE function_name = ? AND function_type = 'table_macro' AND NOT internal",
        [name],
    ).fetchall()
    return bool(rows)


def _check_calls(table: set[str], every: set[str], conn: Any) -> None:
    for name in sorted(every | table):
        if name in _WRITING_FUNCTIONS:
            raise QueryError(f"refused a call of {name}(), which changes the database or runs SQL text\n{_HINT}")
    for name in sorted(table):
        if name not in _READ_TABLE_FUNCTIONS and not name.startswith("duckdb_") and not _plugin_table_macro(name, conn):
            raise QueryError(f"refused a call of the table function {name}(), which memscope does not allow\n{_HINT}")


def _check_parsed(select_sql: str, conn: Any) -> None:
    """Check every function a SELECT statement calls, from DuckDB's own parse of it."""
    import json

    import duckdb

    try:
        with _parser(conn) as parser:
            ((text,),) = parser.execute("SELECT json_serialize_sql(?::VARCHAR)", [select_sql]).fetchall()
        tree = json.loads(text)
    except (duckdb.Error, ValueError) as exc:
        raise QueryError(f"memscope cannot check this statement ({exc}); it is refused\n{_HINT}") from None
    if tree.get("error"):
        message = tree.get("error_message", "")
        raise QueryError(f"memscope cannot check this statement ({message}); it is refused\n{_HINT}")
    table: set[str] = set()
    every: set[str] = set()
    _called_functions(tree.get("statements", []), table, every)
    _check_calls(table, every, conn)


def _check_pivot(sql: str, conn: Any) -> None:
    """A PIVOT without an IN list is several statements that DuckDB cannot serialize; check
    each called name (an identifier followed by ``(``, comments skipped) against the catalog's
    table functions instead."""
    import duckdb

    try:
        tokens = duckdb.tokenize(sql)
    except duckdb.Error as exc:
        raise QueryError(f"memscope cannot check this statement ({exc}); it is refused\n{_HINT}") from None
    tokens = [(start, kind) for start, kind in tokens if kind.name != "comment"]
    called = set()
    for i, (start, kind) in enumerate(tokens[:-1]):
        if kind.name in ("identifier", "keyword") and sql[tokens[i + 1][0]] == "(":
            m = _re("identifier").match(sql, start)
            if m:
                called.add(m.group(0).strip('"').replace('""', '"').lower())
    if not called:
        return
    with _parser(conn) as parser:
        rows = parser.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type IN ('table', 'table_macro') "
            "AND lower(function_name) IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(called)],
        ).fetchall()
    _check_calls({r[0].lower() for r in rows}, called, conn)


def _check_one(statement: Any, conn: Any = None, depth: int = 0) -> None:
    sql = statement.query
    body = _strip(sql)
    try:
        kind = statement.type.name
    except ValueError:  # a statement type this Python client does not know yet
        raise QueryError(f"refused a statement memscope cannot classify: {_snippet(sql)}\n{_HINT}") from None
    first = (_re("first_word").match(body) or [None, ""])[1].lower() if body else ""
    if kind == "SELECT":
        _check_parsed(sql, conn)
    elif kind == "EXPLAIN" and depth == 0:
        inner = _re("explain").sub("", body, count=1)
        inner_statements = _parse(inner, conn)
        if len(inner_statements) != 1:
            raise _refuse("EXPLAIN", sql)
        _check_one(inner_statements[0], conn, depth + 1)
    elif kind == "MULTI" and first in ("pivot", "unpivot", "pivot_wider", "pivot_longer"):
        _check_pivot(body, conn)
    elif kind == "TRANSACTION":
        pass
    elif kind == "PRAGMA" and first == "pragma":
        m = _re("pragma").match(body)
        if not m or m.group(1).lower() not in _READ_PRAGMAS:
            raise _refuse("PRAGMA", sql)
    elif kind == "CALL" and first == "call":  # CALL f(...) reads like FROM f(...): check the same way
        _check_parsed("SELECT * FROM " + _re("call").sub("", body, count=1), conn)
    else:
        words = body.lower().split()[:2]
        if kind == "LOAD":
            label = "INSTALL" if "install" in words else "LOAD"
        elif kind in ("SET", "PRAGMA", "VACUUM") and first:
            label = first.upper()  # SET, RESET, USE, PRAGMA x = y, IMPORT, COPY .. DATABASE, ANALYZE
        else:
            label = kind.replace("_", " ")
        raise _refuse(label, sql)


def read_only_statements(sql: str, conn: "duckdb.DuckDBPyConnection | None" = None) -> list[str]:
    """Split ``sql`` into statements and check that each one only reads.

    Returns the statements' texts; raises :class:`QueryError` for a parse error (DuckDB's
    message, caret line included) or for a statement that could write. Pass an open
    ``conn`` to parse with it (faster than DuckDB's module-level parser on first use).
    """
    statements = _parse(sql, conn)
    if not statements:
        raise QueryError("no SQL statement given", exit_code=ExitCode.USAGE)
    for statement in statements:
        _check_one(statement, conn)
    return [s.query for s in statements]


def is_read_only_statement(sql: str) -> bool:
    """True when ``sql`` parses and every statement in it only reads."""
    try:
        read_only_statements(sql)
    except QueryError:
        return False
    return True


__all__ = ["is_read_only_statement", "read_only_statements"]
