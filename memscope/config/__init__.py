"""Run configuration: frozen dataclasses, a strict TOML loader and ``--set`` overrides.

Every field has a comment saying what it does; an unknown key or a wrong type is a
``ConfigError`` naming the key, the file and what is allowed (nanoGPT/Harlequin style); an
unknown key that a ``--set`` override brought in also names that override.
The resolved config is written next to every run as ``config.toml``.

One concept per module, every name importable from here:

- :mod:`~memscope.config.run_config`: the dataclasses and :func:`validate`;
- :mod:`~memscope.config.strict`: :func:`build_dataclass`, the strict dict-to-dataclass builder;
- :mod:`~memscope.config.loading`: files, sample configs, overrides, :func:`load_config`;
- :mod:`~memscope.config.toml_writer`: :func:`config_to_toml` and friends.
"""

from memscope.config.loading import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_DEPTH,
    SAMPLES_DIR,
    apply_overrides,
    config_from_dict,
    load_config,
    override_for,
    parse_override,
    read_toml,
    resolve_config_path,
    sample_configs,
)
from memscope.config.run_config import (
    BOUNDS,
    DEVICES,
    LOCALIZING_ANALYSES,
    PRECISIONS,
    SCHEDULES,
    DataConfig,
    EtdConfig,
    ModelConfig,
    NoiseConfig,
    RunConfig,
    TrainConfig,
    validate,
)
from memscope.config.strict import UnknownKeyError, build_dataclass, describe_fields
from memscope.config.toml_writer import _toml_value, config_to_dict, config_to_toml, dict_to_toml

__all__ = [
    "BOUNDS", "DEVICES", "LOCALIZING_ANALYSES", "MAX_CONFIG_BYTES", "MAX_CONFIG_DEPTH", "PRECISIONS",
    "SAMPLES_DIR", "SCHEDULES", "DataConfig", "EtdConfig", "ModelConfig", "NoiseConfig", "RunConfig",
    "TrainConfig", "UnknownKeyError", "_toml_value", "apply_overrides", "build_dataclass",
    "config_from_dict", "config_to_dict", "config_to_toml", "describe_fields", "dict_to_toml",
    "load_config", "override_for", "parse_override", "read_toml", "resolve_config_path",
    "sample_configs", "validate",
]
