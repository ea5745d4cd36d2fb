"""The Runs filter: ``status:running dataset:digits rate:0.2 cnn`` as one predicate over runs.

Free words must all appear in a run's id, name, dataset, model, noise model, status, tags or note
(``tag:arch=wide``, ``note:diverged`` name those two).
``key:value`` terms name a field; numbers compare as numbers (``rate:0.2`` is the noise rate
0.2, not any rate whose text contains "0.2") and take ``<``, ``<=``, ``>``, ``>=``. An unknown
key is an error that lists the known ones, never a filter that silently matches nothing.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

from memscope.results.runs import RunRow

#: filter key -> the run.json field it reads ("noise" is special: a rate or a noise model name).
TEXT_KEYS = {"status": "status", "dataset": "dataset", "data": "dataset", "model": "model",
             "name": "name", "device": "device", "noise_model": "noise_model", "run": "run_id", "id": "run_id",
             "tag": "tags", "note": "notes"}
NUMBER_KEYS = {"rate": "noise_rate", "noise_rate": "noise_rate", "seed": "seed", "epochs": "epochs", "epoch": "epoch"}
KEYS = ("status", "dataset", "model", "noise", "rate", "seed", "epochs", "epoch", "name", "device", "noise_model",
        "noise_rate", "run", "tag", "note")
FREE_TEXT_FIELDS = ("name", "dataset", "model", "noise_model")
COMPARISONS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "=": operator.eq}
_NUMBER = re.compile(r"^(<=|>=|<|>|=)?\s*([-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?)$")


class FilterError(ValueError):
    """A filter the Runs screen cannot apply; the message says what is wrong and what works."""


@dataclass(frozen=True)
class RunFilter:
    tests: tuple[Callable[[RunRow], bool], ...] = ()

    def __call__(self, run: RunRow) -> bool:
        return all(test(run) for test in self.tests)


def _field(run: RunRow, field: str) -> Any:
    if field == "tags":  # tag:arch matches arch=wide, tag:arch=wide that tag only
        return " ".join(f"{k}={v}" for k, v in run.tags.items())
    return run.status if field == "status" else run.run_id if field == "run_id" else run.info.get(field)


def _number_test(key: str, field: str, text: str) -> Callable[[RunRow], bool]:
    match = _NUMBER.match(text)
    if match is None:
        raise FilterError(f"'{key}:{text}' needs a number, like {key}:0.2 or {key}:>=0.1")
    compare = COMPARISONS[match.group(1) or "="]
    wanted = float(match.group(2))

    def test(run: RunRow) -> bool:
        value = _field(run, field)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        if compare is operator.eq:
            return math.isclose(float(value), wanted, rel_tol=1e-9, abs_tol=1e-12)
        return compare(float(value), wanted)

    return test


def _text_test(field: str, text: str) -> Callable[[RunRow], bool]:
    return lambda run: text in str(_field(run, field) or "").lower()


def _term(term: str) -> Callable[[RunRow], bool]:
    key, sep, value = term.partition(":")
    if not sep:
        return lambda run: term in " ".join(
            [run.run_id, run.status, *(str(run.info.get(k) or "") for k in FREE_TEXT_FIELDS),
             _field(run, "tags"), run.notes]).lower()
    if not value:
        raise FilterError(f"'{term}' has no value: write {key}:something")
    if key == "noise":  # the experiment's variable: a rate (noise:0.2) or a model (noise:symmetric)
        if _NUMBER.match(value):
            return _number_test(key, "noise_rate", value)
        return _text_test("noise_model", value)
    if key in NUMBER_KEYS:
        return _number_test(key, NUMBER_KEYS[key], value)
    if key in TEXT_KEYS:
        return _text_test(TEXT_KEYS[key], value)
    raise FilterError(f"unknown filter key '{key}'; use one of: {', '.join(KEYS)} (or plain words)")


def parse_filter(query: str) -> RunFilter:
    """The predicate for a filter line; FilterError names the term it cannot read."""
    return RunFilter(tuple(_term(term) for term in query.lower().split()))
