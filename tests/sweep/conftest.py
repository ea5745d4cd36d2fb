"""Fixtures for the sweep tests: a CLI with the sweep commands, tiny configs, test plugins."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

TINY_CONFIG = """\
name = "tiny"
seed = 0
device = "cpu"

[data]
dataset = "synthetic"

[noise]
rate = 0.1

[model]
name = "mlp"

[train]
epochs = 1
batch_size = 64
checkpoint_every = 1
track_examples = false
"""

# Two datasets for the tests: "flaky" fails the first time it is loaded (retry test), "slow"
# blocks until released (cancel test). Both write markers next to this file.
PLUGIN = textwrap.dedent(
    '''
    import time
    from pathlib import Path

    from memscope import hookimpl
    from memscope.data.sources import load_synthetic

    HERE = Path(__file__).parent


    def flaky(request):
        marker = HERE / "flaky.failed-once"
        if not marker.exists():
            marker.write_text("x")
            raise RuntimeError("flaky dataset: the first load fails on purpose")
        return load_synthetic(request)


    def slow(request):
        # a run that is cancelled here (SIGTERM noted by the run) goes on when this returns,
        # then stops before training and marks itself cancelled
        (HERE / f"slow.started.{__import__('os').getpid()}").write_text("x")
        deadline = time.time() + 6
        while time.time() < deadline and not (HERE / "slow.release").exists():
            time.sleep(0.05)
        return load_synthetic(request)


    @hookimpl
    def register_datasets(register):
        register("flaky", flaky, description="tests: fails on its first load")
        register("slow", slow, description="tests: takes 6 s to load")
    '''
)

CLI_SCRIPT = (
    "from memscope.cli.app import app, main\n"
    "from memscope.cli import sweep\n"
    "if not any(g.name == 'sweeps' for g in app.registered_groups):\n"
    "    sweep.register(app)\n"
    "main()\n"
)


def sweep_app():
    """The memscope app with the sweep commands (whether or not commands.py lists them yet)."""
    from memscope.cli import sweep
    from memscope.cli.app import app

    if not any(g.name == "sweeps" for g in app.registered_groups):
        sweep.register(app)
    return app


@pytest.fixture
def cli(monkeypatch, tmp_path):
    """``cli(*args)`` -> Result; MEMSCOPE_HOME points into tmp_path."""
    home = tmp_path / "home"
    monkeypatch.setenv("MEMSCOPE_HOME", str(home))
    monkeypatch.delenv("MEMSCOPE_PLUGINS_DIR", raising=False)
    monkeypatch.delenv("MEMSCOPE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    app = sweep_app()
    runner = CliRunner()

    def invoke(*args: str):
        from memscope.plugins import reset_hosts

        reset_hosts()
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    invoke.home = home
    return invoke


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def plugins_dir(tmp_path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "sweep_test_datasets.py").write_text(PLUGIN, encoding="utf-8")
    return folder


@pytest.fixture
def cli_script(tmp_path) -> Path:
    path = tmp_path / "memscope_cli.py"
    path.write_text(CLI_SCRIPT, encoding="utf-8")
    return path


def run_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMSCOPE_", "RAY_ADDRESS"))}
    env["MEMSCOPE_HOME"] = str(home)
    return env
