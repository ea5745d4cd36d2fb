"""Which ``--set`` overrides ``memscope run --resume`` accepts.

A resumed run must be the run that was started: an override that changes what was (or
will be) trained would give a run whose epochs disagree with its own config.toml, its
``examples`` table and its completed analyses. So every override is refused except:

- ``device``, ``threads``, ``analysis_timeout``: where and how fast it runs, not what
  (another device may change the last bits of the numbers; the run records it);
- ``train.epochs``, larger only, and only with ``train.schedule = "constant"``: the other
  schedules spread their warm-up and decay over the total number of steps, so more epochs
  would change the learning rate of every epoch still to come. The run's post-training
  analyses then run again on the new final model.

An override that sets a key to the value it already has is no change and always accepted.
Accepted overrides are written to run.json (``resume_overrides``) and config.toml.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from memscope.config import RunConfig
from memscope.errors import ConfigError

SAFE_KEYS = ("device", "threads", "analysis_timeout")


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}{key}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): value}


def changed_keys(trained: RunConfig, resumed: RunConfig) -> list[str]:
    """The dotted config keys whose value differs between the two configs."""
    a, b = _flat(dataclasses.asdict(trained)), _flat(dataclasses.asdict(resumed))
    return sorted(k for k in a.keys() | b.keys() if a.get(k, None) != b.get(k, None))


def check_resume_overrides(trained: RunConfig, resumed: RunConfig, config_path: str) -> list[str]:
    """The keys ``resumed`` changes (all safe), or a :class:`ConfigError` naming the first
    key that would change what was trained, and the way out (a new run)."""
    changed = changed_keys(trained, resumed)
    for key in changed:
        if key in SAFE_KEYS:
            continue
        if key == "train.epochs":
            if resumed.train.schedule != "constant":
                raise ConfigError(
                    f"--resume cannot change train.epochs with train.schedule = '{resumed.train.schedule}' (the "
                    "schedule spreads over all epochs, so the learning rate of the epochs still to come would "
                    f"change); start a new run: memscope run {config_path} --set train.epochs={resumed.train.epochs}"
                )
            if resumed.train.epochs < trained.train.epochs:
                raise ConfigError(
                    f"--resume cannot lower train.epochs ({trained.train.epochs} -> {resumed.train.epochs}); "
                    f"the run keeps its epochs: start a new run with fewer epochs instead"
                )
            continue
        raise ConfigError(
            f"--resume cannot change {key} (it changes what was trained); --resume accepts only "
            f"{', '.join(SAFE_KEYS)} and more train.epochs with a constant schedule; start a new run instead: "
            f"memscope run {config_path} --set {key}=..."
        )
    return changed


__all__ = ["SAFE_KEYS", "changed_keys", "check_resume_overrides"]
