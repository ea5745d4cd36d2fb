"""Run configuration: frozen dataclasses, a strict TOML loader and ``--set`` overrides.

Every field has a comment saying what it does; an unknown key or a wrong type is a
``ConfigError`` naming the key, the file and what is allowed (nanoGPT/Harlequin style); an
unknown key that a ``--set`` override brought in also names that override.
The resolved config is written next to every run as ``config.toml``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memscope.errors import ConfigError

SCHEDULES = ("warmup_cosine", "one_cycle", "constant")
PRECISIONS = ("fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "digits"  # registered dataset name (`memscope plugins` lists them)
    path: str = ""  # a .npz file, for datasets that read one: npz, or mnist/cifar10/svhn as a Keras-style .npz
    data_dir: str = ""  # where downloadable datasets live; empty = <home>/data
    download: bool = True  # let torchvision download a missing dataset into data_dir
    train_subset: int = 0  # keep this many training examples (seeded draw); 0 = all
    test_subset: int = 0  # keep this many test examples (seeded draw); 0 = all
    augment: bool = False  # random crop (pad 4) + horizontal flip, on the device


@dataclass(frozen=True)
class NoiseConfig:
    model: str = "symmetric"  # registered noise model: symmetric, pairflip, none
    rate: float = 0.1  # share of training labels corrupted: exactly floor(rate * N)
    paper_off_by_one: bool = False  # symmetric: draw the shift from {1..K-2} like the released code


@dataclass(frozen=True)
class ModelConfig:
    name: str = "cnn"  # registered model name, or "timm:<name>" for any timm model
    width: float = 1.0  # channel-width multiplier (models that support it)
    options: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments for the model


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 50  # passes over the training set
    batch_size: int = 512  # examples per SGD step
    lr: float = 0.01  # peak learning rate
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 weight decay
    schedule: str = "warmup_cosine"  # per-step schedule: warmup_cosine, one_cycle, constant
    warmup_fraction: float = 0.1  # share of steps spent warming up linearly
    precision: str = "fp32"  # fp32, or bf16 autocast (GPU only)
    checkpoint_every: int = 1  # save weights every k epochs (init and last always)
    track_examples: bool = True  # per-example loss/correct/margin/pred every epoch
    eval_batch_size: int = 1024  # batch size for evaluation passes


@dataclass(frozen=True)
class EtdConfig:
    enabled: bool = False  # train with example-tied dropout
    layers: tuple[str, ...] = ()  # layer groups whose outputs are masked; empty = the model's default (example_tied_dropout.default_etd_groups)
    p_gen: float = 0.4  # share of channels that are always on (generalization channels)
    p_mem: float = 0.1  # probability each memorization channel is kept for an example
    dropped_scale: float = 0.0  # scale of generalization channels when dropped; 0 = (p_gen+p_mem)/p_gen


@dataclass(frozen=True)
class RunConfig:
    name: str = ""  # a label for the run (shown in lists); empty = "<dataset>-<model>"
    seed: int = 0  # seeds the noise, the subsets, the initial weights and the batch order
    device: str = "auto"  # auto (cuda > mps > cpu), cpu, cuda, mps
    threads: int = 0  # CPU threads for torch; 0 = auto (1 for models under 1M parameters, else torch's default)
    analyses: tuple[str, ...] = ()  # registered analyses to run (in-training and post-training)
    analysis_timeout: float = 0.0  # seconds each post-training analysis may run before it is marked failed; 0 = no limit
    tags: dict[str, str] = field(default_factory=dict)  # free-form labels (sweeps put theirs here)
    data: DataConfig = field(default_factory=DataConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    etd: EtdConfig = field(default_factory=EtdConfig)
    analysis: dict[str, dict[str, Any]] = field(default_factory=dict)  # [analysis.<name>] options

    @property
    def label(self) -> str:
        return self.name or f"{self.data.dataset}-{self.model.name}"


# --------------------------------------------------------------------------- building


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


# --------------------------------------------------------------------------- validation


def _check_choice(value: str, choices: tuple[str, ...], key: str, source: str) -> None:
    if value not in choices:
        raise ConfigError(f"{source}: '{key}' = {value!r} is not one of: {', '.join(choices)}")


#: Each numeric key's allowed range, as (lowest, highest, how the message says it): far
#: beyond any real run, tight enough that a typo (epochs = 1e26, width = 1e6) is an error
#: instead of hours of work or an overflow. validate() checks the lower ends it has always had.
BOUNDS: dict[str, tuple[float, float, str]] = {
    "seed": (0, 2**63 - 1, "0 to 2**63 - 1"),  # stored as a 64-bit integer
    "threads": (0, 1024, "0 (auto) to 1024"),
    "analysis_timeout": (0, 30 * 24 * 3600, "0 (no limit) to 2592000 seconds (30 days)"),
    "model.width": (0, 64, "more than 0, at most 64"),
    "data.train_subset": (0, 2**31 - 1, "0 (all) to 2147483647"),
    "data.test_subset": (0, 2**31 - 1, "0 (all) to 2147483647"),
    "train.epochs": (1, 100_000, "1 to 100000"),
    "train.batch_size": (1, 2**20, "1 to 1048576"),
    "train.eval_batch_size": (1, 2**20, "1 to 1048576"),
    "train.checkpoint_every": (1, 100_000, "1 to 100000"),
}


def _check_bounds(cfg: RunConfig, source: str) -> None:
    for key, (low, high, allowed) in BOUNDS.items():
        value: Any = cfg
        for part in key.split("."):
            value = getattr(value, part)
        if not low <= value <= high:
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            raise ConfigError(f"{source}: '{key}' = {shown} is out of range; allowed: {allowed}")


#: The analyses that localize memorization in a normally trained model (rewinding, retraining,
#: neuron flipping). A run trained with example-tied dropout refuses them: its model memorizes
#: through each example's own mask, which these analyses would not apply (docs in README).
LOCALIZING_ANALYSES = ("rewinding", "retraining", "neuron_flipping")


def validate(cfg: RunConfig, source: str = "config") -> RunConfig:
    """Range checks that do not need the plugin registry."""
    _check_choice(cfg.device, DEVICES, "device", source)
    _check_choice(cfg.train.schedule, SCHEDULES, "train.schedule", source)
    _check_choice(cfg.train.precision, PRECISIONS, "train.precision", source)
    if not 0.0 <= cfg.noise.rate < 1.0:
        raise ConfigError(f"{source}: 'noise.rate' = {cfg.noise.rate} must be in [0, 1)")
    positive = {
        "train.epochs": cfg.train.epochs,
        "train.batch_size": cfg.train.batch_size,
        "train.checkpoint_every": cfg.train.checkpoint_every,
        "train.eval_batch_size": cfg.train.eval_batch_size,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{source}: '{key}' = {value} must be at least 1")
    for key, value in {"data.train_subset": cfg.data.train_subset, "data.test_subset": cfg.data.test_subset, "threads": cfg.threads}.items():
        if value < 0:
            raise ConfigError(f"{source}: '{key}' = {value} must be 0 (all) or a positive count")
    if cfg.analysis_timeout < 0:
        raise ConfigError(f"{source}: 'analysis_timeout' = {cfg.analysis_timeout} must be 0 (no limit) or a number of seconds")
    _check_bounds(cfg, source)
    if cfg.train.lr <= 0:
        raise ConfigError(f"{source}: 'train.lr' = {cfg.train.lr} must be positive")
    if not 0.0 <= cfg.train.warmup_fraction < 1.0:
        raise ConfigError(f"{source}: 'train.warmup_fraction' must be in [0, 1)")
    if cfg.model.width <= 0:
        raise ConfigError(f"{source}: 'model.width' = {cfg.model.width} must be positive")
    etd = cfg.etd
    if not 0.0 < etd.p_gen < 1.0 or not 0.0 < etd.p_mem <= 1.0:
        raise ConfigError(f"{source}: 'etd.p_gen' must be in (0, 1) and 'etd.p_mem' in (0, 1]")
    if etd.p_gen + etd.p_mem > 1.0:
        raise ConfigError(
            f"{source}: 'etd.p_gen' + 'etd.p_mem' = {etd.p_gen + etd.p_mem:g} must be at most 1"
        )
    if "etd" in cfg.analyses and not etd.enabled:
        raise ConfigError(f"{source}: analysis 'etd' needs example-tied dropout training: set [etd] enabled = true")
    localizing = [name for name in LOCALIZING_ANALYSES if name in cfg.analyses]
    if etd.enabled and localizing:
        raise ConfigError(
            f"{source}: {', '.join(repr(n) for n in localizing)} cannot run on a model trained with example-tied dropout "
            "([etd] enabled = true): its memorization sits in per-example masks these analyses do not apply; "
            "run them in a separate run without [etd] (e.g. 'memscope run digits'), or remove them from 'analyses'"
        )
    if len(set(cfg.analyses)) != len(cfg.analyses):
        raise ConfigError(f"{source}: 'analyses' lists a name twice: {list(cfg.analyses)}")
    for name, options in cfg.analysis.items():
        if not isinstance(options, dict):
            raise ConfigError(f"{source}: 'analysis.{name}' must be a table ([analysis.{name}])")
    return cfg


# --------------------------------------------------------------------------- loading


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


SAMPLES_DIR = Path(__file__).resolve().parent / "sample_configs"  # shipped in the wheel


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


# --------------------------------------------------------------------------- writing


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
