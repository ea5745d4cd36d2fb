"""The names a sweep's cells use are checked by the plugin host its front end passes in (the
sweep itself never loads the engine: tests/test_imports.py)."""

from __future__ import annotations

import pytest

from memscope.errors import ConfigError
from memscope.store.home import Home
from memscope.sweep import driver
from memscope.sweep.grid import build_grid

class RefusingHost:
    """A name checker that knows no model called 'nonexistent' (what the plugin host does)."""

    def __init__(self):
        self.checked: list[str] = []

    def check_names(self, config, source: str) -> None:
        self.checked.append(config.model.name)
        if config.model.name == "nonexistent":
            raise ConfigError(f"{source}: unknown model 'nonexistent'")


def test_the_front_ends_host_checks_every_cell(tmp_path, tiny_config):
    home = Home(tmp_path / "home").ensure()
    host = RefusingHost()
    driver.create_sweep(home, config=tiny_config, axes=build_grid(["seed=1,2"]), overrides=[], host=host)
    assert len(host.checked) == 2
    with pytest.raises(ConfigError, match="unknown model 'nonexistent'"):
        driver.create_sweep(home, config=tiny_config, axes=build_grid(["model.name=cnn,nonexistent"]), overrides=[], host=RefusingHost())


def test_launch_sweep_refuses_an_unknown_name_before_recording_anything(tmp_path, tiny_config):
    from memscope.sweep.control import launch_sweep
    from memscope.sweep.store import list_sweeps

    home = Home(tmp_path / "home").ensure()
    with pytest.raises(ConfigError, match="unknown model 'nonexistent'"):
        launch_sweep(home, tiny_config, ["model.name=nonexistent"], host=RefusingHost())
    assert list_sweeps(home) == []
