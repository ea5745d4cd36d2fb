"""``memscope plugins``: what is installed, what it registered, what broke."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.plugins import reset_hosts

GOOD = '''
from memscope import hookimpl

__version__ = "1.2.3"


@hookimpl
def register_noise_models(register):
    register("my_flip", lambda **kw: None, description="flips labels")
'''

BROKEN = "raise RuntimeError('this plugin is broken')\n"


@pytest.fixture(autouse=True)
def fresh_hosts(monkeypatch):
    monkeypatch.delenv("MEMSCOPE_LOAD_PLUGINS", raising=False)
    reset_hosts()
    yield
    reset_hosts()


def test_builtins_are_listed_with_what_they_registered(tmp_path):
    empty = tmp_path / "plugins"
    empty.mkdir()
    result = CliRunner().invoke(app, ["plugins", "--json", "--plugins-dir", str(empty)])
    assert result.exit_code == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    builtins = [p for p in plugins.values() if p["source"] == "builtin"]
    assert builtins, plugins
    for plugin in builtins:
        assert set(plugin) >= {"name", "version", "source", "location", "hooks", "errors", "registered"}
        assert set(plugin["registered"]) == {"datasets", "models", "noise_models", "analyses"}
        assert plugin["errors"] == []
    registered = {n for p in builtins for names in p["registered"].values() for n in names}
    assert registered, "built-in plugins registered nothing"


def test_plugins_dir_good_and_broken(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "good_plugin.py").write_text(GOOD)
    (folder / "broken_plugin.py").write_text(BROKEN)
    result = CliRunner().invoke(app, ["plugins", "--json", "--plugins-dir", str(folder)])
    assert result.exit_code == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    good = plugins["good_plugin"]
    assert good["version"] == "1.2.3" and good["source"] == "file"
    assert good["hooks"] == ["register_noise_models"]
    assert good["registered"]["noise_models"] == ["my_flip"]
    broken = plugins["broken_plugin"]
    assert len(broken["errors"]) == 1 and "this plugin is broken" in broken["errors"][0]


def test_text_output_shows_errors(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "broken_plugin.py").write_text(BROKEN)
    result = CliRunner().invoke(app, ["plugins", "--plugins-dir", str(folder)])
    assert result.exit_code == 0
    assert "broken_plugin" in result.stdout and "ERROR: import: RuntimeError" in result.stdout
