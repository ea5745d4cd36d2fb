"""``memscope [--home H] [--plugins-dir D] query ...`` parsed without typer.

Building the typer app costs more than the query itself (typer loads pydantic and its
shell-completion machinery), so the composition root (:mod:`memscope.main`) asks
:func:`parse_query_argv` first and runs :func:`memscope.cli.query_run.run_query` directly.
The parser accepts exactly the options of the typer command (a test compares the two); for
anything else (``--help``, shell completion, a usage error, an option it does not know)
it returns None and the typer command handles the arguments, with its own messages.
"""

from __future__ import annotations

import os
from pathlib import Path

from memscope.cli.query_run import QueryRequest

#: Root options ``memscope`` takes before a command, each with a value.
ROOT_OPTIONS = ("--home", "--plugins-dir")
#: Set by the shell while it asks typer for completions.
COMPLETION_ENV = "_MEMSCOPE_COMPLETE"


class _NotForUs(Exception):
    """The arguments are for the typer command to parse (and to report on)."""


def _parser():
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str):  # never print or exit: typer reports usage errors
            raise _NotForUs(message)

    parser = Parser(prog="memscope query", add_help=False, allow_abbrev=False)
    parser.add_argument("sql", nargs="?")
    parser.add_argument("--file", "-f")
    parser.add_argument("--format", dest="fmt")
    parser.add_argument("--csv", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--jsonl", action="store_true")
    parser.add_argument("--output", "-o", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--plugins-dir", type=Path)
    return parser


def _root_options(argv: list[str]) -> tuple[dict[str, Path], list[str]]:
    """The root options before the command, and the arguments from the command on."""
    found: dict[str, Path] = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        if name not in ROOT_OPTIONS:
            raise _NotForUs(argv[i])
        if not eq:
            if i + 1 >= len(argv):
                raise _NotForUs(name)
            i += 1
            value = argv[i]
        found[name] = Path(value)
        i += 1
    return found, argv[i:]


def parse_query_argv(argv: list[str]) -> QueryRequest | None:
    """``argv`` (without the program name) as a :class:`QueryRequest` when it is a plain
    ``memscope query`` invocation; None when typer should handle it."""
    if os.environ.get(COMPLETION_ENV) or "-h" in argv or "--help" in argv:
        return None
    try:
        root, rest = _root_options(argv)
        if not rest or rest[0] != "query":
            return None
        args = _parser().parse_args(rest[1:])
    except _NotForUs:
        return None
    if args.limit is not None and args.limit < 0:
        return None  # typer's range check says what is wrong
    return QueryRequest(
        sql=args.sql, file=args.file, fmt=args.fmt, csv=args.csv, json=args.json, jsonl=args.jsonl,
        output=args.output, limit=args.limit,
        home=args.home or root.get("--home"), plugins_dir=args.plugins_dir or root.get("--plugins-dir"),
    )
