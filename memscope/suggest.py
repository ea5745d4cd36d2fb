""""Did you mean" hints for misspelt names (config keys, registered names)."""

from __future__ import annotations

import difflib
from typing import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to ``word`` when one is close enough to be a likely typo."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'epochs'?)"``, to follow the quoted name; empty when nothing is close."""
    match = closest(word, choices)
    return hint(match) if match else ""


def hint(match: str) -> str:
    return f" (did you mean '{match}'?)"
