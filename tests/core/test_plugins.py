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
