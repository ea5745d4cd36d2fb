"""The app's form logic and widgets, without a terminal (what the
app reads and does with runs is tested headless in tests/results)."""

from __future__ import annotations

import numpy as np
import pytest

from memscope.errors import ConfigError
from memscope.tui import forms
from memscope.tui.widgets.image import half_blocks
from memscope.tui.widgets.plots import sparkline


class TestForms:
    def test_valid_form_round_trips_to_toml(self, plugins_dir):
        from memscope.plugins import PluginHost

        registries = PluginHost(plugins_dir).registries
        values = forms.config_values(forms.RunConfig())
        values["train.epochs"] = forms.parse_text("3", "integer", "train.epochs")
        values["noise.model"] = "fixture_flip"  # a third-party plugin's choice
        config = forms.build_config(values, [], registries)
        assert config.train.epochs == 3 and config.noise.model == "fixture_flip"
        assert 'model = "fixture_flip"' in forms.to_toml(config)

    def test_errors_name_the_field(self, plugins_dir):
        from memscope.plugins import PluginHost

        registries = PluginHost(plugins_dir).registries
        values = forms.config_values(forms.RunConfig())
        values["train.epochs"] = forms.parse_text("many", "integer", "train.epochs")
        with pytest.raises(ConfigError, match="train.epochs"):
            forms.build_config(values, [], registries)
        values = forms.config_values(forms.RunConfig())
        values["noise.rate"] = 1.5
        with pytest.raises(ConfigError, match="noise.rate"):
            forms.build_config(values, [], registries)
        values = forms.config_values(forms.RunConfig())
        values["data.dataset"] = "nope"
        with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
            forms.build_config(values, [], registries)

    def test_list_and_table_fields(self):
        assert forms.parse_text("conv1, fc", "list of string", "etd.layers") == ["conv1", "fc"]
        assert forms.parse_text("1, 2", "list of integer", "x") == [1, 2]
        assert forms.parse_text("{ depth = 4 }", "table", "model.options") == {"depth": 4}
        with pytest.raises(ConfigError, match="model.options"):
            forms.parse_text("{ depth = }", "table", "model.options")

    def test_field_specs_use_registries_and_choices(self, plugins_dir):
        from memscope.plugins import PluginHost

        registries = PluginHost(plugins_dir).registries
        specs = {s.key: s for _, _, group in forms.section_specs(registries) for s in group}
        assert "fixture_flip" in specs["noise.model"].choices
        assert specs["train.schedule"].choices == forms.SCHEDULES
        assert specs["train.epochs"].comment


def test_half_blocks_draws_two_rows_per_line():
    img = np.zeros((8, 8, 1), dtype=np.float32)
    img[:4] = 1.0
    text = half_blocks(img, max_width=8, max_height=4)
    lines = text.plain.splitlines()
    assert len(lines) == 4 and all(len(line) == 8 for line in lines)


def test_sparkline():
    assert sparkline([0.0, 0.5, 1.0]) == "▁▄█"
    assert len(sparkline([i / 100 for i in range(100)], 12)) == 12
    assert sparkline([]) == ""
