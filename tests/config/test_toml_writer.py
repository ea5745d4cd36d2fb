"""config.toml is written by memscope.config.dict_to_toml and read back by resume: every
value it writes must come back from tomllib unchanged."""

from __future__ import annotations

import math
import tomllib

import pytest

from memscope.config import RunConfig, config_from_dict, config_to_dict, config_to_toml, dict_to_toml
from memscope.errors import ConfigError

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

# any text TOML can hold (hypothesis' text() leaves out lone surrogates, which UTF-8 cannot)
texts = st.text()
scalars = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), texts)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=8)
documents = st.recursive(
    st.dictionaries(texts, values, max_size=4),
    lambda inner: st.dictionaries(texts, inner | values, min_size=1, max_size=3),
    max_leaves=6,
)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(documents)
def test_any_document_round_trips(document):
    assert tomllib.loads(dict_to_toml(document)) == document


@pytest.mark.parametrize("text", ["\x01", "tab\there", "cr\r", "del\x7f", 'quote " and \\ backslash', "é ü 東京", "line\nbreak"])
def test_strings_that_need_escapes_round_trip(text):
    document = {"name": text, text: {"tags": {text: text}}}
    assert tomllib.loads(dict_to_toml(document)) == document


def test_special_floats_round_trip():
    back = tomllib.loads(dict_to_toml({"a": math.inf, "b": -math.inf, "c": math.nan}))
    assert back["a"] == math.inf and back["b"] == -math.inf and math.isnan(back["c"])


def test_a_run_config_with_odd_strings_round_trips():
    data = config_to_dict(RunConfig())
    data["name"] = "odd\x01name\x7f"
    data["tags"] = {"note\t": "a\rb", "ключ": "значение"}
    data["data"]["path"] = 'C:\\data\\"x".npz'
    config = config_from_dict(data)
    assert config_from_dict(tomllib.loads(config_to_toml(config))) == config


def test_a_lone_surrogate_is_a_clear_error():
    with pytest.raises(ConfigError, match="lone surrogate"):
        dict_to_toml({"name": "\ud800"})
