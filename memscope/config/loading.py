"""Reading a config: a TOML file (or a sample config's name), ``--set`` overrides on top,
then the strict build and the checks. An unknown key that an override brought in names that
override, not the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from memscope.config.run_config import RunConfig, validate
from memscope.config.strict import UnknownKeyError, build_dataclass
from memscope.errors import ConfigError


def parse_override(text: str) -> tuple[list[str], Any]:
    """``train.epochs=3`` -> (["train", "epochs"], 3). Values are TOML; bare words are strings."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set train.epochs=3")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {text!r}: the key is empty")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except RecursionError:
        raise ConfigError(f"--set {key}=...: the value is nested too deeply (at most {MAX_CONFIG_DEPTH} levels)") from None
    _check_depth(value, f"--set {key}", 1 + key.count("."), key)
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``KEY=VALUE`` override set (nested by dots)."""
    import copy

    data = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: '{part}' is not a table")
            node = child
        node[path[-1]] = value
    return data


SAMPLES_DIR = Path(__file__).resolve().parent.parent / "sample_configs"  # shipped in the wheel


def sample_configs() -> dict[str, Path]:
    """The sample configs that ship with memscope, by name (``digits``: digits.toml)."""
    return {p.stem: p for p in sorted(SAMPLES_DIR.glob("*.toml"))}


def resolve_config_path(path: str | Path) -> Path:
    """A config file, or the name of a sample config (``memscope run digits``): a file that
    exists wins; a bare name with no such file is looked up among the samples."""
    path = Path(path)
    text = str(path)
    if path.exists() or path.suffix or "/" in text or "\\" in text:
        return path
    samples = sample_configs()
    if text in samples:
        return samples[text]
    from memscope.suggest import did_you_mean

    raise ConfigError(f"no config file or sample config named '{text}'{did_you_mean(text, samples)}; "
                      f"samples: {', '.join(samples)} (see 'memscope samples')")


MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes; anything this big is a mistake
MAX_CONFIG_DEPTH = 8  # [analysis.<name>] options with a table value are 3 deep


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file: a regular file (never a FIFO or a device, which could block or never
    end) of at most MAX_CONFIG_BYTES, nested at most MAX_CONFIG_DEPTH deep."""
    import os
    import stat

    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO must not wait for a writer
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(path)
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"cannot read config file {path}: not a regular file (a pipe or a device); give a .toml file")
            if info.st_size > MAX_CONFIG_BYTES:
                raise ConfigError(f"cannot read config file {path}: {info.st_size} bytes is more than the {MAX_CONFIG_BYTES} a config may have")
            with os.fdopen(fd, "rb", closefd=False) as stream:
                raw = stream.read(MAX_CONFIG_BYTES + 1)
        finally:
            os.close(fd)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path} (see 'memscope samples' for examples)") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.__class__.__name__}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: values are nested too deeply (at most {MAX_CONFIG_DEPTH} levels)") from None
    _check_depth(data, str(path))
    return data


def _check_depth(value: Any, source: str, depth: int = 0, key: str = "") -> None:
    if depth > MAX_CONFIG_DEPTH:
        raise ConfigError(f"{source}: '{key}' is nested too deeply (at most {MAX_CONFIG_DEPTH} levels of tables and lists)")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_depth(v, source, depth + 1, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for v in value:
            _check_depth(v, source, depth + 1, key)


def override_for(key: str, overrides: list[str] | tuple[str, ...]) -> str | None:
    """The last override that set the dotted ``key``: its own (``train.epoch=3``), one below
    it (``optimizer.lr=1`` for ``optimizer``) or the table holding it (``train={epoch=3}``)."""
    parts = key.split(".")
    found = None
    for text in overrides:
        path, _ = parse_override(text)
        if path[: len(parts)] == parts or parts[: len(path)] == path:
            found = text
    return found


def config_from_dict(data: dict[str, Any], source: str = "config", overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Build and check a config. ``overrides``: the ``--set`` texts already applied to ``data``;
    an unknown key one of them brought in is reported as coming from it, not from ``source``."""
    try:
        cfg = build_dataclass(RunConfig, data, source=source)
    except UnknownKeyError as exc:
        text = override_for(exc.key, overrides) if exc.key else None
        if text is None:
            raise
        raise UnknownKeyError(f"{exc.message}; it comes from --set {text!r}, not from {source}", exc.key) from None
    return validate(cfg, source)


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Load a TOML config or sample config name (or the defaults when ``path`` is None) and
    apply ``--set`` overrides."""
    if path is not None:
        path = resolve_config_path(path)
    data = read_toml(path) if path is not None else {}
    source = str(path) if path is not None else "config"
    if path is not None and not data:  # an empty file is more likely a mistake than a wish for the defaults
        raise ConfigError(
            f"{source}: the config file sets nothing (it is empty or only comments); set at least one key, "
            "e.g. [train] epochs = 10, or start from a sample config (memscope samples)"
        )
    return config_from_dict(apply_overrides(data, overrides), source, overrides)
