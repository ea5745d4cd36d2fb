"""The sweep never loads the engine: its modules import neither torch nor the plugin machinery
(checked in a fresh interpreter), and the names a cell uses are checked by the host its front
end passes in."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from memscope.errors import ConfigError
from memscope.store.home import Home
from memscope.sweep import driver
from memscope.sweep.grid import build_grid

ENGINE = ("torch", "torchvision", "timm", "textual", "typer", "memscope.plugins", "memscope.train", "memscope.analysis", "memscope.models")

PROBE = """
import json, sys
import memscope.sweep, memscope.sweep.driver, memscope.sweep.control, memscope.sweep.executors
import memscope.sweep.grid, memscope.sweep.store, memscope.sweep.__main__, memscope.progress, memscope.plugin_dirs
engine = {engine!r}
print(json.dumps(sorted(m for m in sys.modules if any(m == e or m.startswith(e + '.') for e in engine))))
"""


def test_sweep_modules_load_no_engine():
    proc = subprocess.run([sys.executable, "-c", PROBE.format(engine=ENGINE)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


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
