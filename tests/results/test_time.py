"""The one rule for run.json time stamps and for durations (app, report, CLI)."""

from __future__ import annotations

import math

import pytest

from memscope.format import MISSING, duration
from memscope.store.runinfo import now_iso, parse_time


def test_parse_time_reads_what_runs_write():
    import time

    assert parse_time(now_iso()) == pytest.approx(time.time(), abs=5)
    assert parse_time("2026-01-01T00:00:00") == parse_time("2026-01-01T00:00:00+00:00")  # no zone = UTC
    for bad in (None, 3, "", "yesterday", "9999-99-99"):
        assert parse_time(bad) is None


@pytest.mark.parametrize("seconds, text", [
    (0, "0.0s"), (4.24, "4.2s"), (42.4, "42s"), (59.6, "1m00s"), (205, "3m25s"), (3725, "1h02m"), (-3, "0.0s"),
])
def test_duration(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize("missing", [None, math.nan, math.inf])
def test_duration_unknown_is_the_missing_mark(missing):
    assert duration(missing) == MISSING
