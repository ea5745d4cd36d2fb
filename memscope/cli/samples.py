"""``memscope samples``: the sample configs that ship with memscope (``memscope run NAME``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from memscope.cli.common import JsonFlag, handle_errors, print_table


def describe_sample(path) -> dict[str, Any]:
    """Name, what it trains and the first sentence of its opening comment."""
    import tomllib

    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    comment = " ".join(line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#"))
    return {
        "name": path.stem,
        "dataset": data.get("data", {}).get("dataset", "digits"),
        "model": data.get("model", {}).get("name", "cnn"),
        "epochs": data.get("train", {}).get("epochs"),
        "etd": bool(data.get("etd", {}).get("enabled", False)),
        "about": comment.split(". ")[0].rstrip("."),
        "path": str(path),
    }


@handle_errors
def samples_command(
    name: Annotated[Optional[str], typer.Argument(help="Print this sample's TOML (to copy and edit).", show_default=False)] = None,
    json_: JsonFlag = False,
) -> None:
    """List the sample configs; run one by name: memscope run digits.

    Examples:

      memscope samples

      memscope samples digits > my_run.toml
    """
    from memscope.config import resolve_config_path, sample_configs

    if name is not None:
        sys.stdout.write(resolve_config_path(name).read_text(encoding="utf-8"))
        return
    rows = [describe_sample(path) for path in sample_configs().values()]
    if json_:
        print(json.dumps(rows, indent=1))
        return
    columns = ["name", "dataset", "model", "epochs", "etd", "about"]
    print_table(columns, [[r[c] for c in columns] for r in rows])
    if rows:
        first = next((r for r in rows if r["name"] == "digits"), rows[0])  # the quick CPU one
        print(f"run one with: memscope run {first['name']}   (files in {Path(first['path']).parent})")


def register(app: typer.Typer) -> None:
    app.command("samples")(samples_command)
