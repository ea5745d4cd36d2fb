"""Config forms without widgets: field specs from dataclasses, text -> values, validation.

The New run screen builds its form from these specs and validates with the config loader's
own code (``config_from_dict``; ``build_dataclass`` for each analysis's Options), so the form
accepts exactly what ``memscope run`` accepts, with the same messages.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from memscope.config import (
    DEVICES,
    PRECISIONS,
    SCHEDULES,
    DataConfig,
    EtdConfig,
    ModelConfig,
    NoiseConfig,
    RunConfig,
    TrainConfig,
    build_dataclass,
    config_from_dict,
    config_to_dict,
    config_to_toml,
    describe_fields,
)
from memscope.errors import ConfigError

if TYPE_CHECKING:
    from memscope.registry import Registries

SOURCE = "the New run form"


@dataclass
class FieldSpec:
    section: str  # "" (top level), "data", "train", "analysis.<name>", ...
    name: str
    type_name: str  # from describe_fields: integer, number, string, true/false, list of ..., table
    default: Any
    comment: str
    choices: tuple[str, ...] | None = None

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}" if self.section else self.name

    @property
    def widget_id(self) -> str:
        return "f-" + self.key.replace(".", "--")


#: Sections of RunConfig shown as forms, in order, with their titles.
SECTIONS: tuple[tuple[str, str, type], ...] = (
    ("data", "Data", DataConfig),
    ("noise", "Label noise", NoiseConfig),
    ("model", "Model", ModelConfig),
    ("train", "Training", TrainConfig),
    ("etd", "Example-tied dropout", EtdConfig),
)
TOP_FIELDS = ("name", "seed", "device")
STATIC_CHOICES = {"device": DEVICES, "train.schedule": SCHEDULES, "train.precision": PRECISIONS}
REGISTRY_FIELDS = {"data.dataset": "datasets", "noise.model": "noise_models", "model.name": "models"}


def specs_for(cls: type, section: str, registries: "Registries | None" = None) -> list[FieldSpec]:
    out = []
    for name, type_name, default, comment in describe_fields(cls):
        spec = FieldSpec(section, name, type_name, default, comment)
        key = spec.key
        if key in STATIC_CHOICES:
            spec.choices = tuple(STATIC_CHOICES[key])
        elif key in REGISTRY_FIELDS and registries is not None:
            spec.choices = tuple(getattr(registries, REGISTRY_FIELDS[key]).names())
        out.append(spec)
    return out


def top_specs() -> list[FieldSpec]:
    return [s for s in specs_for(RunConfig, "") if s.name in TOP_FIELDS]


def section_specs(registries: "Registries | None" = None) -> list[tuple[str, str, list[FieldSpec]]]:
    return [(section, title, specs_for(cls, section, registries)) for section, title, cls in SECTIONS]


def analysis_specs(name: str, options_cls: type) -> list[FieldSpec]:
    return specs_for(options_cls, f"analysis.{name}")


def as_text(value: Any, type_name: str) -> str:
    """A value as the form shows it in a text box."""
    if value is None:
        return ""
    if type_name.startswith("list of"):
        return ", ".join(str(v) for v in value)
    if type_name == "table":
        if not value:
            return ""
        from memscope.config import _toml_value  # the loader's own TOML writer

        return _toml_value(dict(value))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _scalar(text: str, type_name: str) -> Any:
    text = text.strip()
    if type_name == "integer":
        try:
            return int(text)
        except ValueError:
            return text  # build_dataclass names the key and says an integer is needed
    if type_name == "number":
        try:
            return float(text)
        except ValueError:
            return text
    if type_name == "true/false":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text


def parse_text(text: str, type_name: str, key: str) -> Any:
    """Text from a box -> the value the TOML loader would have read."""
    if type_name.startswith("list of"):
        inner = type_name.removeprefix("list of ").strip()
        return [_scalar(part, inner) for part in text.split(",") if part.strip()]
    if type_name == "table":
        if not text.strip():
            return {}
        try:
            return tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{SOURCE}: '{key}' must be a TOML inline table like {{ depth = 4 }}: {exc}") from None
    return _scalar(text, type_name)


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """{"train.epochs": 3, "analysis.rewinding.layers": [...]} -> nested dicts."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith("analysis."):
            _, name, field = key.split(".", 2)
            out.setdefault("analysis", {}).setdefault(name, {})[field] = value
            continue
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def build_config(values: dict[str, Any], analyses: list[str], registries: "Registries") -> RunConfig:
    """Validate the form like ``memscope run`` validates a file; ConfigError names the field."""
    data = nest(values)
    options = data.pop("analysis", {})
    data["analyses"] = list(analyses)
    data["analysis"] = {name: opts for name, opts in options.items() if name in analyses}
    for key, kind in REGISTRY_FIELDS.items():
        section, field = key.split(".")
        name = data.get(section, {}).get(field)
        registry = getattr(registries, kind)
        if name is not None and not (kind == "models" and str(name).startswith("timm:")) and name not in registry:
            known = ", ".join(registry.names()) or "(none)"
            raise ConfigError(f"{SOURCE}: unknown {registry.kind} '{name}' in '{key}'; installed: {known}")
    config = config_from_dict(data, SOURCE)
    for name in config.analyses:
        if name not in registries.analyses:
            known = ", ".join(registries.analyses.names()) or "(none)"
            raise ConfigError(f"{SOURCE}: unknown analysis '{name}'; installed: {known}")
        cls = registries.analyses.get(name)
        build_dataclass(getattr(cls, "Options"), config.analysis.get(name, {}), source=SOURCE, prefix=f"analysis.{name}")
    return config


def field_at_fault(message: str, fields: "Iterable[str]") -> str | None:
    """The form field a config error names (``'noise.rate' = 1.5 must be ...`` -> ``noise.rate``).

    The loader quotes the dotted key it rejects; the first quoted word that is a form field wins.
    """
    known = set(fields)
    for quoted in re.findall(r"'([A-Za-z0-9_.]+)'", message):
        if quoted in known:
            return quoted
    return None


def config_values(config: RunConfig) -> dict[str, Any]:
    """A config as flat form values (``train.epochs`` -> 40), analysis options included."""
    flat: dict[str, Any] = {}
    data = config_to_dict(config)
    for key in TOP_FIELDS:
        flat[key] = data[key]
    for section, _, _ in SECTIONS:
        for field, value in data[section].items():
            flat[f"{section}.{field}"] = value
    for name, opts in (config.analysis or {}).items():
        for field, value in opts.items():
            flat[f"analysis.{name}.{field}"] = value
    return flat


def load_sample(path) -> RunConfig:
    from memscope.config import load_config

    return load_config(path)


def to_toml(config: RunConfig) -> str:
    return config_to_toml(config)
