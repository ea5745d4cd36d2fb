"""``memscope query``: read-only SQL over every run's results.

stdout carries the rows and nothing else; the truncation note and errors go to stderr.
Start-up stays light: duckdb and pyarrow load when the command runs, rich only to draw a
table, pyarrow.parquet only to write Parquet.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterator, Optional

import typer

from memscope.cli.common import HomeOption, PluginsDirOption, eprint, handle_errors
from memscope.errors import MemscopeError

if TYPE_CHECKING:
    from memscope.store.query import QueryResult

FORMATS = ("table", "csv", "tsv", "json", "jsonl", "markdown", "parquet")
TABLE_LIMIT = 500
_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".md": "markdown",
    ".parquet": "parquet",
    ".txt": "table",
}

EXAMPLES = """
\b
Examples:
  memscope query "SELECT run_id, status, test_acc FROM runs"
  memscope query --csv -o curves.csv "FROM epochs WHERE run_id = '...'"
  memscope query -f analysis.sql --format markdown
  echo "SHOW TABLES" | memscope query -f -
"""


def _usage(message: str) -> MemscopeError:
    return MemscopeError(message)  # exit code 2


def _read_sql(sql: str | None, file: str | None) -> str:
    if sql is not None and file is not None:
        raise _usage("give the SQL as an argument or with -f/--file, not both")
    if file is not None:
        if file == "-":
            return sys.stdin.read()
        try:
            return Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise _usage(f"cannot read SQL file {file}: {exc.strerror or exc}") from None
    if sql is None:
        raise _usage("no SQL given; pass it as an argument, with -f FILE.sql, or -f - for stdin (see memscope query -h)")
    return sql


def _pick_format(fmt: str | None, csv: bool, json: bool, jsonl: bool, output: Path | None) -> str:
    chosen = [name for name, flag in (("csv", csv), ("json", json), ("jsonl", jsonl)) if flag]
    if fmt is not None:
        chosen.insert(0, fmt)
    if len(set(chosen)) > 1:
        raise _usage(f"choose one output format, not {' and '.join(sorted(set(chosen)))}")
    if chosen:
        name = chosen[0].lower()
        if name not in FORMATS:
            raise _usage(f"unknown format '{name}'; choose one of {', '.join(FORMATS)}")
        return name
    if output is not None:
        return _SUFFIX_FORMATS.get(output.suffix.lower(), "table")
    return "table"


# --------------------------------------------------------------------------- cell values


def _json_value(value: Any, is_json: bool = False) -> Any:
    """A Python value from Arrow as something ``json.dumps`` writes faithfully."""
    import datetime
    import decimal
    import json
    import math

    if value is None:
        return None
    if is_json and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, (str, int, bool)):
        return value
    return str(value)


def _text(value: Any, null: str = "") -> str:
    """One cell as text (CSV, TSV, markdown, the terminal table)."""
    import datetime
    import json

    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_json_value(value), ensure_ascii=False)
    return str(value)


def _rows(result: "QueryResult") -> Iterator[list[Any]]:
    for batch in result.table.to_batches():
        columns = [column.to_pylist() for column in batch.columns]
        yield from (list(row) for row in zip(*columns))


def _dicts(result: "QueryResult") -> Iterator[dict[str, Any]]:
    is_json = [t == "JSON" for t in result.types] or [False] * len(result.columns)
    for row in _rows(result):
        yield {name: _json_value(v, j) for name, v, j in zip(result.columns, row, is_json)}


# --------------------------------------------------------------------------- formats


def write_delimited(result: "QueryResult", out: Any, delimiter: str) -> None:
    import csv

    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(result.columns)
    for row in _rows(result):
        writer.writerow([_text(v) for v in row])


def write_json(result: "QueryResult", out: Any) -> None:
    import json

    out.write("[")
    for i, record in enumerate(_dicts(result)):
        out.write(",\n " if i else "\n ")
        out.write(json.dumps(record, ensure_ascii=False))
    out.write("\n]\n" if result.num_rows else "]\n")


def write_jsonl(result: "QueryResult", out: Any) -> None:
    import json

    for record in _dicts(result):
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_markdown(result: "QueryResult", out: Any) -> None:
    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")

    numeric = [_is_numeric(t) for t in result.types]
    out.write("| " + " | ".join(cell(c) for c in result.columns) + " |\n")
    out.write("|" + "|".join("---:" if n else "---" for n in numeric) + "|\n")
    for row in _rows(result):
        out.write("| " + " | ".join(cell(_text(v)) for v in row) + " |\n")


def _is_numeric(duckdb_type: str) -> bool:
    base = duckdb_type.split("(")[0].upper()
    return base in {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
        "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL",
    }


def write_table(result: "QueryResult", out: Any, *, terminal: bool) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.ROUNDED, header_style="bold", show_edge=True)
    cells = []
    for row in _rows(result):
        cells.append([_text(v, "NULL") if not isinstance(v, float) else f"{v:.6g}" for v in row])
    for name, duckdb_type in zip(result.columns, result.types):
        header = Text(name)
        header.append("\n" + duckdb_type.lower(), style="dim")
        table.add_column(header, justify="right" if _is_numeric(duckdb_type) else "left", overflow="fold")
    for row in cells:
        table.add_row(*[Text("NULL", style="dim") if v == "NULL" else Text(v) for v in row])
    if terminal:
        console = Console(file=out, soft_wrap=False)
    else:  # a file or a pipe: as wide as the data, never wrapped, no colour
        widths = [max([len(c), len(t)] + [len(r[i]) for r in cells]) for i, (c, t) in enumerate(zip(result.columns, result.types))]
        console = Console(file=out, width=max(20, sum(widths) + 3 * len(widths) + 1), color_system=None, soft_wrap=False)
    console.print(table)


def write_parquet(result: "QueryResult", path: Path) -> None:
    from memscope.store.home import write_parquet_atomic

    try:
        write_parquet_atomic(result.table, path)
    except OSError as exc:
        raise MemscopeError(f"cannot write {path}: {exc.strerror or exc}") from None


def render(result: "QueryResult", fmt: str, out: Any, *, terminal: bool = False) -> None:
    """Write ``result`` to the text stream ``out`` in a text format."""
    if fmt == "table":
        write_table(result, out, terminal=terminal)
    elif fmt == "csv":
        write_delimited(result, out, ",")
    elif fmt == "tsv":
        write_delimited(result, out, "\t")
    elif fmt == "json":
        write_json(result, out)
    elif fmt == "jsonl":
        write_jsonl(result, out)
    elif fmt == "markdown":
        write_markdown(result, out)
    else:  # pragma: no cover - guarded by _pick_format
        raise _usage(f"format {fmt} cannot be written as text")


# --------------------------------------------------------------------------- command


SqlArgument = Annotated[
    Optional[str], typer.Argument(metavar="SQL", help="The SQL to run (or use -f).", show_default=False)
]
FileOption = Annotated[
    Optional[str],
    typer.Option("--file", "-f", metavar="FILE", help="Read the SQL from FILE.sql, or from stdin with '-'.", show_default=False),
]
FormatOption = Annotated[
    Optional[str],
    typer.Option(
        "--format",
        metavar="FORMAT",
        help=f"Output format: {', '.join(FORMATS)} (default: table, or from -o's suffix).",
        show_default=False,
    ),
]
OutputOption = Annotated[
    Optional[Path],
    typer.Option(
        "--output", "-o", metavar="FILE", help="Write to FILE instead of stdout (required for parquet).", show_default=False
    ),
]
LimitOption = Annotated[
    Optional[int],
    typer.Option(
        "--limit",
        min=0,
        metavar="N",
        help=f"At most N rows; 0 = all (default: {TABLE_LIMIT} for table, all otherwise).",
        show_default=False,
    ),
]


@handle_errors
def query(
    sql: SqlArgument = None,
    file: FileOption = None,
    fmt: FormatOption = None,
    csv: Annotated[bool, typer.Option("--csv", help="Shorthand for --format csv.")] = False,
    json: Annotated[bool, typer.Option("--json", help="Shorthand for --format json.")] = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Shorthand for --format jsonl.")] = False,
    output: OutputOption = None,
    limit: LimitOption = None,
    home: HomeOption = None,
    plugins_dir: PluginsDirOption = None,
) -> None:
    """Run read-only SQL over all results (tables: SHOW TABLES; runs: FROM runs)."""
    from memscope.cli.common import get_home, get_host

    text = _read_sql(sql, file)
    fmt_name = _pick_format(fmt, csv, json, jsonl, output)
    if fmt_name == "parquet" and output is None:
        raise _usage("--format parquet writes a file: add -o FILE.parquet")
    if limit is None:
        limit = TABLE_LIMIT if fmt_name == "table" else 0

    resolved = get_home(home)
    if output is not None:
        _refuse_output_in_home(output, resolved.root)
    host = get_host(plugins_dir, home=resolved.root)

    from memscope.store.query import execute

    from memscope.store.connection import open_connection

    conn = open_connection(resolved, host)
    try:
        result = _interruptible(lambda: execute(conn, text, limit=limit or None), conn)
    finally:
        conn.close()

    if result.truncated:
        eprint(f"memscope: showing the first {limit} rows; use --limit 0 for all (or a larger --limit)")
    if fmt_name == "parquet":
        assert output is not None
        write_parquet(result, output)
        return
    if output is not None:
        try:
            with open(output, "w", encoding="utf-8", newline="") as out:
                render(result, fmt_name, out)
        except OSError as exc:
            raise MemscopeError(f"cannot write {output}: {exc.strerror or exc}") from None
        return
    try:
        render(result, fmt_name, sys.stdout, terminal=sys.stdout.isatty())
        sys.stdout.flush()
    except BrokenPipeError:  # `memscope query ... | head`: the reader has all it wants
        _silence_stdout()


def _refuse_output_in_home(output: Path, home_root: Path) -> None:
    """``-o`` never writes inside the home (symlinks resolved): a result file there could
    replace a run's Parquet part or the catalog, which only memscope writes."""
    target = output.expanduser().resolve()
    root = home_root.expanduser().resolve()
    if target == root or root in target.parents:
        raise _usage(
            f"refusing to write {output} inside the results home {root} (it holds memscope's own files); "
            "choose a path outside it"
        )


def _interruptible(call, conn):
    """Run ``call()`` in a worker thread so that Ctrl-C reaches a long query: Python handles
    SIGINT only in the main thread between bytecodes, never while it waits inside DuckDB.
    The main thread waits here instead, and on Ctrl-C interrupts the statement."""
    import threading

    box: dict[str, Any] = {}
    done = threading.Event()  # not Thread.join: a join cut short by Ctrl-C can report a live thread as dead

    def work() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="memscope-query", daemon=True).start()
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        conn.interrupt()
        if not done.wait(10):  # the statement stops at DuckDB's next check; then the connection can close
            import os

            eprint("memscope: interrupted")
            os._exit(130)  # DuckDB did not stop: leave without waiting for it
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is quiet
    except (OSError, ValueError, AttributeError):
        pass


def register(app: typer.Typer) -> None:
    app.command("query", help=(query.__doc__ or "") + "\n" + EXAMPLES, no_args_is_help=False)(query)
