"""The Runs filter language, without the app."""

from __future__ import annotations

import pytest

from memscope.results.runs import RunRow
from memscope.tui.run_filter import FilterError, parse_filter


def run(rate: float, model: str = "cnn", noise: str = "symmetric", status: str = "completed") -> RunRow:
    info = {"noise_rate": rate, "noise_model": noise, "model": model, "dataset": "digits", "seed": 0}
    return RunRow(f"20260101-000000-digits-{model}-{int(rate * 100):02d}", status, info)


RUNS = [run(0.1), run(0.2), run(0.25, "mlp", "asymmetric"), run(0.0, status="running")]


def kept(query: str) -> list[float]:
    keep = parse_filter(query)
    return [r.info["noise_rate"] for r in RUNS if keep(r)]


def test_rate_is_a_number_not_a_substring():
    assert kept("rate:0.2") == [0.2]  # not 0.25
    assert kept("noise:.2") == [0.2]
    assert kept("rate:>=0.2") == [0.2, 0.25]
    assert kept("rate:<0.1") == [0.0]


def test_noise_word_matches_the_noise_model_and_words_combine():
    assert kept("noise:asym") == [0.25]
    assert kept("noise:symmetric cnn") == [0.1, 0.2, 0.0]  # 'asymmetric' contains 'symmetric'
    assert kept("status:running") == [0.0]
    assert kept("") == [0.1, 0.2, 0.25, 0.0]


@pytest.mark.parametrize("query, says", [
    ("bogus:x", "unknown filter key 'bogus'; use one of: status, dataset, model, noise, rate"),
    ("rate:high", "'rate:high' needs a number"),
    ("model:", "'model:' has no value"),
])
def test_bad_filters_say_what_is_wrong(query, says):
    with pytest.raises(FilterError, match=None) as info:
        parse_filter(query)
    assert says in str(info.value)


def test_tags_and_notes_are_searchable():
    tagged = RunRow("20260101-000000-digits-cnn-aa", "completed",
                    {"model": "cnn", "tags": {"arch": "wide"}, "notes": "Diverged after warmup"})
    plain = run(0.1)
    assert [r is tagged for r in (tagged, plain) if parse_filter("wide")(r)] == [True]
    assert parse_filter("tag:arch")(tagged) and parse_filter("tag:arch=wide")(tagged)
    assert not parse_filter("tag:arch=narrow")(tagged) and not parse_filter("tag:arch")(plain)
    assert parse_filter("note:diverged")(tagged) and not parse_filter("note:diverged")(plain)
