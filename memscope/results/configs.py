"""A run's config (``runs/<id>/config.toml``), flattened to dotted keys, and the keys in
which runs differ (the app's compare view)."""

from __future__ import annotations

import tomllib
from typing import Any

from memscope.store.home import Home

#: Config keys whose value is a set written as a list: their order does not change the run.
UNORDERED_KEYS = frozenset({"analyses"})


def read_config_text(home: Home, run_id: str) -> str | None:
    """The run's config.toml as written, or None when it is missing."""
    try:
        return (home.run_dir(run_id) / "config.toml").read_text(encoding="utf-8")
    except OSError:
        return None


def read_config(home: Home, run_id: str) -> dict[str, Any]:
    """The run's config.toml as a dict; empty when missing or unreadable."""
    text = read_config_text(home, run_id)
    try:
        return tomllib.loads(text) if text is not None else {}
    except tomllib.TOMLDecodeError:
        return {}


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.1}}`` -> ``{"train.lr": 0.1}`` (tags and plugin options stay whole)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value and key != "tags" and key != "options":
            out.update(flatten(value, dotted))
        else:
            out[dotted] = value
    return out


def show_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={show_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def config_diff(home: Home, run_ids: list[str]) -> list[tuple[str, list[str]]]:
    """The config keys whose values differ between the runs: (key, value per run).

    ``analyses`` lists the same analyses in any order (the CLI keeps the file's order, the
    app's form its own), so two runs differ there only when the sets differ.
    """
    flats = [flatten(read_config(home, run_id)) for run_id in run_ids]
    keys = sorted({k for flat in flats for k in flat})
    rows = []
    for key in keys:
        values = [show_value(flat.get(key)) if key in flat else "(default)" for flat in flats]
        compared = values
        if key in UNORDERED_KEYS:
            compared = [show_value(sorted(map(str, flat[key]))) if isinstance(flat.get(key), list) else v
                        for flat, v in zip(flats, values)]
        if len(set(compared)) > 1:
            rows.append((key, values))
    return rows
