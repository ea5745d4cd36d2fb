"""``memscope query``: read-only SQL over every run's results, as a typer command.

The work is :func:`memscope.cli.query_run.run_query` (typer-free); the ``memscope``
command usually reaches it without typer at all (:mod:`memscope.cli.query_argv`), and
comes here for ``--help``, shell completion and anything that parser leaves to typer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from memscope.cli.common import ROOT_OPTIONS, HomeOption, PluginsDirOption, handle_errors
from memscope.cli.query_run import TABLE_LIMIT, QueryRequest, run_query
from memscope.store.formats import FORMATS

EXAMPLES = """
\b
Examples:
  memscope query "SELECT run_id, status, test_acc FROM runs"
  memscope query --csv -o curves.csv "FROM epochs WHERE run_id = '...'"
  memscope query -f analysis.sql --format markdown
  echo "SHOW TABLES" | memscope query -f -
"""


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
    run_query(
        QueryRequest(
            sql=sql, file=file, fmt=fmt, csv=csv, json=json, jsonl=jsonl, output=output, limit=limit,
            home=home or ROOT_OPTIONS["home"], plugins_dir=plugins_dir or ROOT_OPTIONS["plugins_dir"],
        )
    )


def register(app: typer.Typer) -> None:
    app.command("query", help=(query.__doc__ or "") + "\n" + EXAMPLES, no_args_is_help=False)(query)
