"""What ``memscope query`` does, without typer: read the SQL, pick the format, run it
read-only, write the rows.

The typer command (:mod:`memscope.cli.query`) and the composition root's fast path
(:mod:`memscope.main`, :mod:`memscope.cli.query_argv`) both call :func:`run_query`. stdout
carries the rows and nothing else; the truncation note goes to stderr. Start-up stays
light: text formats read rows as Python values (no pyarrow), rich loads only to draw a
table, pyarrow only for Parquet.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from memscope.errors import MemscopeError
from memscope.store.formats import FORMATS, format_for_suffix

#: Rows a drawn table shows unless --limit says otherwise.
TABLE_LIMIT = 500


@dataclass
class QueryRequest:
    """``memscope query``'s arguments, however they were parsed."""

    sql: str | None = None
    file: str | None = None
    fmt: str | None = None
    csv: bool = False
    json: bool = False
    jsonl: bool = False
    output: Path | None = None
    limit: int | None = None
    home: Path | None = None
    plugins_dir: Path | None = None


def _usage(message: str) -> MemscopeError:
    return MemscopeError(message)  # exit code 2


def read_sql(sql: str | None, file: str | None) -> str:
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


def pick_format(fmt: str | None, csv: bool, json: bool, jsonl: bool, output: Path | None) -> str:
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
    return format_for_suffix(output) if output is not None else "table"


def refuse_output_in_home(output: Path, home_root: Path) -> None:
    """``-o`` never writes inside the home (symlinks resolved): a result file there could
    replace a run's Parquet part or the catalog, which only memscope writes."""
    target = output.expanduser().resolve()
    root = home_root.expanduser().resolve()
    if target == root or root in target.parents:
        raise _usage(
            f"refusing to write {output} inside the results home {root} (it holds memscope's own files); "
            "choose a path outside it"
        )


def run_query(request: QueryRequest) -> None:
    """Run ``request`` and write its result (MemscopeError for anything the user can fix)."""
    from memscope.plugins import get_host
    from memscope.store.connection import open_connection
    from memscope.store.home import resolve_home

    text = read_sql(request.sql, request.file)
    fmt = pick_format(request.fmt, request.csv, request.json, request.jsonl, request.output)
    output = request.output
    if fmt == "parquet" and output is None:
        raise _usage("--format parquet writes a file: add -o FILE.parquet")
    limit = request.limit if request.limit is not None else (TABLE_LIMIT if fmt == "table" else 0)

    home = resolve_home(request.home).ensure()
    if output is not None:
        refuse_output_in_home(output, home.root)
    host = get_host(request.plugins_dir, home=home.root)
    conn = open_connection(home, host, live_status=reads_runs(text, host))
    try:
        if fmt == "parquet":
            _write_parquet(conn, text, limit, output)
        else:
            _write_text(conn, text, limit, fmt, output)
    finally:
        conn.close()


def reads_runs(sql: str, host: Any) -> bool:
    """Whether ``sql`` may read the ``runs`` view: it names it, or a plugin prepares the
    connection (its macros may read it). Only then is the view's live status installed
    (a Python function: DuckDB loads numpy for it, a tenth of a second)."""
    return "runs" in sql.lower() or bool(host.pm.hook.prepare_connection.get_hookimpls())


def _truncation_note(limit: int) -> None:
    print(f"memscope: showing the first {limit} rows; use --limit 0 for all (or a larger --limit)", file=sys.stderr, flush=True)


def _write_parquet(conn: Any, text: str, limit: int, output: Path | None) -> None:
    from memscope.store.formats import write_parquet
    from memscope.store.query import execute

    assert output is not None
    result = interruptible(lambda: execute(conn, text, limit=limit or None), conn)
    if result.truncated:
        _truncation_note(limit)
    write_parquet(result, output)


def _write_text(conn: Any, text: str, limit: int, fmt: str, output: Path | None) -> None:
    """Rows stream from DuckDB to the output: the statement runs (interruptibly) before the
    first byte is written, the rest is read as it is written."""
    from memscope.store.formats import render
    from memscope.store.query import stream_rows

    result = interruptible(lambda: stream_rows(conn, text, limit=limit or None), conn)
    if output is not None:
        try:
            with open(output, "w", encoding="utf-8", newline="") as out:
                render(result, fmt, out)
        except OSError as exc:
            raise MemscopeError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        try:
            render(result, fmt, sys.stdout, terminal=sys.stdout.isatty())
            sys.stdout.flush()
        except BrokenPipeError:  # `memscope query ... | head`: the reader has all it wants
            _silence_stdout()
            return
    if result.truncated:
        _truncation_note(limit)


def interruptible(call: Callable[[], Any], conn: Any) -> Any:
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

            print("memscope: interrupted", file=sys.stderr, flush=True)
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
