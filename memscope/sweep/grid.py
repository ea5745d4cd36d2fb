"""Sweep grids: ``--grid KEY=V1,V2,...`` flags and ``--grid-file sweep.toml`` ``[grid]`` tables.

A grid is an ordered list of axes; its cells are the cartesian product (the first axis
varies slowest). Every value keeps three forms:

- ``text``: what goes after ``--set KEY=`` for the run (TOML, or a bare word);
- ``tag``: the run's tag value (a plain string: ``0.1``, ``resnet9``, ``true``);
- ``value``: the parsed Python value.

Nothing here imports torch; checking a cell is :func:`memscope.config.load_config` on the
config plus the cell's overrides, so an unknown key in a grid is the usual config error.
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memscope.errors import ConfigError

GRID_HINT = "expected KEY=V1,V2,..., e.g. --grid noise.rate=0.05,0.1,0.2"
#: A grid larger than this is almost certainly a typo (and would flood the home).
MAX_CELLS = 10_000


@dataclass(frozen=True)
class GridValue:
    text: str  # for --set KEY=<text>
    tag: str  # the run's tag value
    value: Any  # parsed


@dataclass(frozen=True)
class GridAxis:
    key: str
    values: tuple[GridValue, ...]

    def as_json(self) -> list[str]:
        return [v.text for v in self.values]


# --------------------------------------------------------------------------- TOML text


def toml_text(value: Any) -> str:
    """A TOML literal for ``value`` (strings as basic strings, tables inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_string(str(k))} = {toml_text(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} as a TOML value")


def toml_string(text: str) -> str:
    # JSON's escapes are valid TOML escapes; DEL must be escaped in TOML but not in JSON.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def tag_text(value: Any, text: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return text if text else toml_text(value)
    return toml_text(value)


def parse_value(raw: str) -> Any:
    """The same rule as ``--set``: a TOML value, else a bare string."""
    raw = raw.strip()
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


# --------------------------------------------------------------------------- --grid flags


def split_top_level(text: str, option: str) -> list[str]:
    """Split on commas that are not inside brackets, braces or quotes."""
    parts, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"{option}: unbalanced '{char}'; {GRID_HINT}")
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote or depth:
        raise ConfigError(f"{option}: unclosed {'quote' if quote else 'bracket'}; {GRID_HINT}")
    parts.append("".join(current))
    return parts


def check_key(key: str, option: str) -> str:
    key = key.strip()
    if not key:
        raise ConfigError(f"{option}: the key is empty; {GRID_HINT}")
    parts = key.split(".")
    if any(not p or not p.replace("_", "").replace("-", "").isalnum() for p in parts):
        raise ConfigError(f"{option}: '{key}' is not a config key (dotted names like noise.rate); {GRID_HINT}")
    if parts[0] == "tags":
        raise ConfigError(f"{option}: tags cannot be swept; the sweep sets each run's tags itself")
    return key


def parse_grid_option(text: str) -> GridAxis:
    """``noise.rate=0.05,0.1,0.2`` -> an axis of three values."""
    option = f"--grid {text!r}"
    if "=" not in text:
        raise ConfigError(f"{option}: no '='; {GRID_HINT}")
    key, raw = text.split("=", 1)
    key = check_key(key, option)
    values = []
    for item in split_top_level(raw, option):
        item = item.strip()
        if not item:
            raise ConfigError(f"{option}: an empty value (two commas, or a trailing comma); {GRID_HINT}")
        value = parse_value(item)
        values.append(GridValue(text=item, tag=tag_text(value, item), value=value))
    return _axis(key, values, option)


def _axis(key: str, values: list[GridValue], option: str) -> GridAxis:
    if not values:
        raise ConfigError(f"{option}: no values for '{key}'; {GRID_HINT}")
    seen: set[str] = set()
    for v in values:
        if v.tag in seen:
            raise ConfigError(f"{option}: '{key}' lists {v.tag} twice")
        seen.add(v.tag)
    return GridAxis(key, tuple(values))


# --------------------------------------------------------------------------- --grid-file


def read_grid_file(path: str | Path) -> list[GridAxis]:
    """A TOML file with one ``[grid]`` table; each key (dotted or nested) maps to an array."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"grid file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read grid file {path}: {exc.__class__.__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    unknown = sorted(set(data) - {"grid"})
    if unknown:
        raise ConfigError(f"{path}: unknown key '{unknown[0]}'; a grid file holds one [grid] table")
    grid = data.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f'{path}: no [grid] table; e.g.\n[grid]\n"noise.rate" = [0.05, 0.1, 0.2]\nseed = [4, 5, 6]')
    axes = []
    for key, values in _flatten(grid, ""):
        option = f"{path} [grid] '{key}'"
        check_key(key, option)
        if not isinstance(values, list):
            raise ConfigError(f"{option}: must be an array of values, e.g. {key} = [{toml_text(values)}]")
        axes.append(_axis(key, [GridValue(toml_text(v), tag_text(v, ""), v) for v in values], option))
    return axes


def _flatten(table: dict[str, Any], prefix: str):
    for key, value in table.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from _flatten(value, dotted)
        else:
            yield dotted, value


# --------------------------------------------------------------------------- the grid


def build_grid(options: list[str] | tuple[str, ...] = (), grid_file: str | Path | None = None) -> list[GridAxis]:
    axes = [parse_grid_option(o) for o in options]
    if grid_file is not None:
        axes += read_grid_file(grid_file)
    if not axes:
        raise ConfigError("a sweep needs at least one --grid KEY=V1,V2,... (or --grid-file sweep.toml)")
    seen: set[str] = set()
    for axis in axes:
        if axis.key in seen:
            raise ConfigError(f"'{axis.key}' is swept twice; give each key one --grid")
        seen.add(axis.key)
    size = math.prod(len(a.values) for a in axes)
    if size > MAX_CELLS:
        raise ConfigError(f"the grid has {size} cells (more than {MAX_CELLS}); sweep fewer values")
    return axes


def cells(axes: list[GridAxis]) -> list[dict[str, GridValue]]:
    """The cartesian product, first axis slowest."""
    keys = [a.key for a in axes]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(a.values for a in axes))]


def axes_from_json(grid: dict[str, list[str]]) -> list[GridAxis]:
    """Rebuild the axes recorded in sweep.json (``{key: [text, ...]}``)."""
    out = []
    for key, texts in grid.items():
        values = []
        for text in texts:
            value = parse_value(text)
            values.append(GridValue(text, tag_text(value, text), value))
        out.append(GridAxis(key, tuple(values)))
    return out
