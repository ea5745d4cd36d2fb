"""Writing a config back as TOML: the resolved ``config.toml`` next to every run, and the
sweep's and the TUI's generated configs."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from memscope.config.run_config import RunConfig
from memscope.errors import ConfigError


def config_to_dict(cfg: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            value = config_to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if value is None:
        raise ConfigError("TOML cannot hold a missing value (None)")
    return _toml_value(str(value))


def _toml_string(text: str) -> str:
    """A TOML basic string. JSON's escapes are TOML escapes; TOML also wants DEL escaped.
    A lone surrogate cannot be written as UTF-8 (nor escaped in TOML): an error."""
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        raise ConfigError(f"TOML cannot hold the string {text!r}: it has a lone surrogate")
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def dict_to_toml(data: dict[str, Any]) -> str:
    """Write nested dicts as TOML: scalars first, then one [section] per sub-table."""
    lines: list[str] = []

    def emit(table: dict[str, Any], prefix: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict) or not v or prefix == "" and k == "tags"}
        tables = {k: v for k, v in table.items() if k not in scalars}
        if prefix and (scalars or not tables):
            lines.append(f"\n[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in tables.items():
            emit(value, f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key))

    emit(data, "")
    return "\n".join(lines).lstrip("\n") + "\n"


def config_to_toml(cfg: RunConfig) -> str:
    return dict_to_toml(config_to_dict(cfg))
