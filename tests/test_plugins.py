"""The plugin host: built-ins, a plugins directory, env switches, broken plugins isolated."""

from __future__ import annotations

import pytest

from memscope.errors import MemscopeError, UnknownNameError
from memscope.plugins import PluginHost

GOOD = '''
from memscope import hookimpl

@hookimpl
def register_noise_models(register):
    register("all_zero", lambda labels, k, rate, rng, options: labels * 0, description="everything is class 0")
'''

RAISES_ON_IMPORT = "raise RuntimeError('boom at import')\n"

RAISES_IN_HOOK = '''
from memscope import hookimpl

@hookimpl
def register_datasets(register):
    raise ValueError("no datasets today")
'''

DUPLICATE = '''
from memscope import hookimpl

@hookimpl
def register_datasets(register):
    register("digits", lambda request: None)
'''


@pytest.fixture
def plugins_dir(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    return folder


def test_builtins_registered_through_hooks():
    host = PluginHost(None)
    regs = host.registries
    assert {"digits", "mnist", "cifar10", "svhn", "npz", "synthetic"} <= set(regs.datasets.names())
    assert regs.noise_models.names() == ["none", "pairflip", "symmetric"]
    assert {"mlp", "cnn", "resnet9", "resnet50", "vit"} <= set(regs.models.names())
    assert regs.datasets.entry("digits").plugin == "memscope.datasets"
    assert host.errors() == []


def test_unknown_name_lists_installed():
    with pytest.raises(UnknownNameError, match="installed: .*digits"):
        PluginHost(None).registries.datasets.get("imagenet")


def test_plugins_directory_file_is_loaded(plugins_dir):
    (plugins_dir / "zeros.py").write_text(GOOD)
    host = PluginHost(plugins_dir)
    assert "all_zero" in host.registries.noise_models
    assert host.infos["zeros"].source == "file"
    assert host.infos["zeros"].hooks == ["register_noise_models"]


def test_broken_plugins_are_reported_and_skipped(plugins_dir):
    (plugins_dir / "a_import.py").write_text(RAISES_ON_IMPORT)
    (plugins_dir / "b_hook.py").write_text(RAISES_IN_HOOK)
    (plugins_dir / "c_good.py").write_text(GOOD)
    host = PluginHost(plugins_dir)
    errors = dict(host.errors())
    assert "boom at import" in errors["a_import"] and "import" in errors["a_import"]
    assert "no datasets today" in errors["b_hook"]
    assert "all_zero" in host.registries.noise_models  # the rest keeps working
    assert "digits" in host.registries.datasets


def test_strict_mode_reraises(plugins_dir, monkeypatch):
    (plugins_dir / "a_import.py").write_text(RAISES_ON_IMPORT)
    monkeypatch.setenv("MEMSCOPE_STRICT_PLUGINS", "1")
    with pytest.raises(RuntimeError, match="boom"):
        PluginHost(plugins_dir)


def test_load_allowlist(plugins_dir, monkeypatch):
    (plugins_dir / "zeros.py").write_text(GOOD)
    (plugins_dir / "a_import.py").write_text(RAISES_ON_IMPORT)
    monkeypatch.setenv("MEMSCOPE_LOAD_PLUGINS", "zeros")
    host = PluginHost(plugins_dir)
    assert "zeros" in host.infos and "a_import" not in host.infos
    assert "digits" in host.registries.datasets  # built-ins always load


def test_duplicate_name_is_reported(plugins_dir):
    (plugins_dir / "dup.py").write_text(DUPLICATE)
    host = PluginHost(plugins_dir)
    assert any("registered twice" in err for _, err in host.errors())


def test_trace_writes_hook_calls(plugins_dir, monkeypatch, capsys):
    monkeypatch.setenv("MEMSCOPE_TRACE_PLUGINS", "1")
    host = PluginHost(None)
    host.pm.hook.register_commands(cli=None)
    assert "register_commands" in capsys.readouterr().err


def test_missing_plugins_dir(tmp_path):
    with pytest.raises(MemscopeError, match="plugins directory not found"):
        PluginHost(tmp_path / "nowhere")


def test_trace_covers_registration_and_lifecycle_calls(plugins_dir, monkeypatch, capsys):
    (plugins_dir / "zeros.py").write_text(GOOD)
    monkeypatch.setenv("MEMSCOPE_TRACE_PLUGINS", "1")
    host = PluginHost(plugins_dir)
    host.registries
    host.call_each("after_train", run=None, status="completed")
    err = capsys.readouterr().err
    assert "memscope trace: zeros.register_noise_models(register=function)" in err


def test_add_plugin_registers_an_object_and_refreshes_registries():
    import types

    from memscope import hookimpl

    module = types.ModuleType("extra")

    @hookimpl
    def register_noise_models(register):
        register("extra_noise", lambda labels, k, rate, rng, options: labels)

    module.register_noise_models = register_noise_models
    host = PluginHost(None)
    assert "extra_noise" not in host.registries.noise_models
    info = host.add_plugin(module)
    assert info.hooks == ["register_noise_models"] and "extra_noise" in host.registries.noise_models


def test_misspelt_hook_is_reported(plugins_dir):
    (plugins_dir / "typo.py").write_text(
        "from memscope import hookimpl\n\n@hookimpl\ndef register_dataset(register):\n    pass\n"
    )
    errors = dict(PluginHost(plugins_dir).errors())
    assert "unknown hook 'register_dataset'; did you mean register_datasets?" in errors["typo"]


# --------------------------------------------------------------------------- issue 12: which folders run, hangs, output

MARKS = '''
import os
from pathlib import Path

from memscope import hookimpl

Path(os.environ["MARK_FILE"]).write_text("imported")
print("marks: on stdout at import")


@hookimpl
def register_noise_models(register):
    print("marks: on stdout while registering")
    register("marked", lambda labels, k, rate, rng, options: labels)
'''


def _cli(args, monkeypatch, cwd):
    from typer.testing import CliRunner

    from memscope.cli.app import app
    from memscope.plugins import reset_hosts

    reset_hosts()
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, args)


def test_plugins_in_the_current_folder_run_only_when_named(tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "plugins").mkdir(parents=True)
    (work / "plugins" / "marks.py").write_text(MARKS)
    mark = tmp_path / "mark"
    monkeypatch.setenv("MARK_FILE", str(mark))
    monkeypatch.delenv("MEMSCOPE_PLUGINS_DIR", raising=False)
    monkeypatch.setenv("MEMSCOPE_HOME", str(tmp_path / "home"))

    for args in (["query", "--csv", "SELECT 1 AS one"], ["plugins"]):
        result = _cli(args, monkeypatch, work)
        assert result.exit_code == 0, result.output
        assert not mark.exists(), f"memscope {' '.join(args)} ran ./plugins/marks.py"

    assert "marks" in _cli(["plugins", "--plugins-dir", "plugins"], monkeypatch, work).stdout  # opted in by name
    mark.unlink()
    monkeypatch.setenv("MEMSCOPE_PLUGINS_DIR", str(work / "plugins"))
    assert "marks" in _cli(["plugins"], monkeypatch, work).stdout  # ... or by the environment
    mark.unlink()
    monkeypatch.delenv("MEMSCOPE_PLUGINS_DIR")
    (tmp_path / "home" / "plugins").mkdir(parents=True)
    (tmp_path / "home" / "plugins" / "marks.py").write_text(MARKS)
    assert "marks" in _cli(["plugins"], monkeypatch, tmp_path).stdout  # <home>/plugins is trusted


def test_what_plugins_print_goes_to_stderr(tmp_path, monkeypatch):
    import json

    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "marks.py").write_text(MARKS)
    monkeypatch.setenv("MARK_FILE", str(tmp_path / "mark"))
    monkeypatch.setenv("MEMSCOPE_HOME", str(tmp_path / "home"))
    result = _cli(["plugins", "--json", "--plugins-dir", str(tmp_path / "plugins")], monkeypatch, tmp_path)
    assert result.exit_code == 0
    listing = json.loads(result.stdout)  # nothing else on stdout
    assert "marked" in next(p for p in listing if p["name"] == "marks")["registered"]["noise_models"]
    assert "marks: on stdout at import" in result.stderr and "marks: on stdout while registering" in result.stderr


def test_a_plugin_that_hangs_at_import_is_skipped_after_the_time_limit(tmp_path, monkeypatch):
    import time

    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "sleeper.py").write_text("import time\ntime.sleep(3600)\n")
    (tmp_path / "plugins" / "good.py").write_text(GOOD)
    monkeypatch.setenv("MEMSCOPE_PLUGIN_TIMEOUT", "0.5")
    started = time.monotonic()
    host = PluginHost(tmp_path / "plugins")
    assert time.monotonic() - started < 10
    assert "all_zero" in host.registries.noise_models  # the plugins after it still load
    (error,) = host.infos["sleeper"].errors
    assert "did not finish within 0.5 s" in error and "MEMSCOPE_PLUGIN_TIMEOUT" in error


def test_a_bad_plugin_time_limit_is_a_usage_error(monkeypatch):
    monkeypatch.setenv("MEMSCOPE_PLUGIN_TIMEOUT", "forever")
    with pytest.raises(MemscopeError, match="MEMSCOPE_PLUGIN_TIMEOUT='forever' must be a number of seconds"):
        PluginHost(None)


def test_load_plugins_warns_about_names_that_match_nothing(plugins_dir, monkeypatch, capsys):
    (plugins_dir / "good.py").write_text(GOOD)
    monkeypatch.setenv("MEMSCOPE_LOAD_PLUGINS", "1")
    host = PluginHost(plugins_dir)
    assert "good" not in host.infos
    err = capsys.readouterr().err
    assert "MEMSCOPE_LOAD_PLUGINS names no plugin '1'; available: good" in err
