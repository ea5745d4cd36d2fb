"""Building a frozen dataclass from a plain dict, strictly: an unknown key or a wrong type is a
``ConfigError`` naming the key, the file and what is allowed (with a did-you-mean). Used for
the run config and for every analysis's ``Options`` alike.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from memscope.config.run_config import RunConfig
from memscope.errors import ConfigError


class UnknownKeyError(ConfigError):
    """A key the config does not have; ``key`` is its dotted path (``train.epoch``)."""

    def __init__(self, message: str, key: str = ""):
        super().__init__(message)
        self.key = key


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        (arg, *_) = typing.get_args(tp) or (Any,)
        return f"list of {_type_name(arg)}"
    if origin is dict:
        return "table"
    if dataclasses.is_dataclass(tp):
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "true/false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it in its dataclass form."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: '{key}' must be a table ([{key}]), got {value!r}")
        return build_dataclass(tp, value, source=source, prefix=key)
    if origin in (tuple, list):
        (arg, *_) = typing.get_args(tp) or (Any,)
        if isinstance(value, str) and arg is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: '{key}' must be a {_type_name(tp)}, got {value!r}")
        return tuple(_coerce(v, arg, key, source) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: '{key}' must be a table, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{key}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: '{key}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: '{key}' must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ConfigError(f"{source}: '{key}' must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a string, got {value!r}")
        return value
    if isinstance(tp, types.UnionType) or origin is typing.Union:
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
            try:
                return _coerce(value, arg, key, source)
            except ConfigError:
                continue
        raise ConfigError(f"{source}: '{key}' has the wrong type: {value!r}")
    return value


def _nested_keys(cls: type, prefix: str = "") -> list[str]:
    """Dotted names of every field of ``cls``, tables included (``train``, ``train.epochs``)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        dotted = f"{prefix}.{f.name}" if prefix else f.name
        out.append(dotted)
        if dataclasses.is_dataclass(hints[f.name]):
            out += _nested_keys(hints[f.name], dotted)
    return out


def _key_hint(cls: type, key: str, prefix: str) -> str:
    """" (did you mean 'train.epochs'?)" for a misspelt key (``epocs``) or a key put in the
    wrong table (``epochs`` at the top level); empty when nothing is close."""
    from memscope.suggest import closest, hint

    fields = [f.name for f in dataclasses.fields(cls)]
    match = closest(key, fields)
    if match is not None:
        return hint(f"{prefix}.{match}" if prefix else match)
    if cls is RunConfig or not prefix:  # a key of another table: name where it lives
        elsewhere = [k for k in _nested_keys(RunConfig) if k.rsplit(".", 1)[-1] == key]
        elsewhere = elsewhere or [k for k in _nested_keys(RunConfig) if closest(key, [k.rsplit(".", 1)[-1]])]
        if elsewhere:
            return hint(elsewhere[0])
    return ""


def build_dataclass(cls: type, data: dict[str, Any], *, source: str = "config", prefix: str = ""):
    """Build a (frozen) dataclass from a dict, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in fields:
            allowed = ", ".join(sorted(fields))
            where = f"[{prefix}]" if prefix else "the top level"
            suggestion = _key_hint(cls, key, prefix)
            raise UnknownKeyError(f"{source}: unknown key '{dotted}'{suggestion}; allowed in {where}: {allowed}", dotted)
        kwargs[key] = _coerce(value, hints[key], dotted, source)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # __post_init__ checks of plugin option classes
        raise ConfigError(f"{source}: [{prefix or 'config'}] {exc}") from None


def describe_fields(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, comment) of each field: for help texts and the TUI's forms."""
    import inspect

    comments: dict[str, str] = {}
    try:
        for line in inspect.getsource(cls).splitlines():
            stripped = line.strip()
            if ":" in stripped and "#" in stripped and not stripped.startswith("#"):
                name = stripped.split(":", 1)[0].strip()
                comments[name] = stripped.split("#", 1)[1].strip()
    except (OSError, TypeError):
        pass
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        out.append((f.name, _type_name(hints[f.name]), default, comments.get(f.name, "")))
    return out
