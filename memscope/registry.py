"""Typed registries filled by the ``register_*`` hooks.

A duplicate name is an error (torchvision style); an unknown name is an error that lists
the installed ones (timm style).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

from memscope.errors import MemscopeError, UnknownNameError

T = TypeVar("T")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered thing and where it came from."""

    name: str
    obj: T
    description: str = ""
    plugin: str = ""  # the plugin that registered it
    extra: dict[str, Any] = field(default_factory=dict)


class DuplicateNameError(MemscopeError):
    pass


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind  # "dataset", "model", ... (for messages)
        self._entries: dict[str, Entry[T]] = {}
        self._refused: dict[str, str] = {}  # name -> why its registration was refused

    def add(self, name: str, obj: T, *, description: str = "", plugin: str = "", **extra: Any) -> None:
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise MemscopeError(
                f"{self.kind} name {name!r} (from plugin {plugin or '?'}) must be snake_case: "
                "lowercase letters, digits and underscores, starting with a letter"
            )
        if name in self._entries:
            first = self._entries[name].plugin
            raise DuplicateNameError(
                f"{self.kind} '{name}' is registered twice: by {first or '?'} and by {plugin or '?'}"
            )
        self._entries[name] = Entry(name, obj, description, plugin, dict(extra))

    def refuse(self, name: str, reason: str) -> None:
        """Remember that ``name`` was offered but not registered (asking for it says why)."""
        self._refused.setdefault(name, reason)

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            from memscope.suggest import did_you_mean

            known = ", ".join(sorted(self._entries)) or "(none)"
            if name in self._refused:
                raise UnknownNameError(f"{self.kind} '{name}' was refused: {self._refused[name]}; installed: {known}") from None
            raise UnknownNameError(f"unknown {self.kind} '{name}'{did_you_mean(str(name), self._entries)}; installed: {known}") from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


class Registries:
    """All registries of one plugin manager."""

    def __init__(self) -> None:
        self.datasets: Registry[Callable[..., Any]] = Registry("dataset")
        self.noise_models: Registry[Callable[..., Any]] = Registry("noise model")
        self.models: Registry[Callable[..., Any]] = Registry("model")
        self.analyses: Registry[type] = Registry("analysis")
