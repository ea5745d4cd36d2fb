"""docs/plugins.md stays true: every hook documented, and its code runs.

- one section per hookspec, headed ``### name(arg, ...)`` with the spec's arguments, each
  with a signature block, a "When" paragraph and an example plugin;
- the discovery switches and the entry-point group are described;
- every Python block compiles; every example plugin (a block starting ``# plugins/NAME.py``)
  loads as a plugin and does what its section says on a tiny real run;
- the ten-minute tutorial's plugin runs and its ``memscope query`` answers.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from memscope import hookspecs
from memscope.plugins import ENTRY_POINT_GROUP
from memscope.testing import (  # noqa: F401  (fixtures)
    host_with,
    run_tiny,
    tiny_run,
    tiny_run_copy,
)

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "plugins.md"
TEXT = GUIDE.read_text(encoding="utf-8")
HEADING = re.compile(r"^#{2,4} +`?([a-z_]+)\(([^)]*)\)`? *$", re.MULTILINE)
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLUGIN_BLOCK = re.compile(r"^# plugins/([a-z_]+)\.py")


def hookspec_names() -> dict[str, list[str]]:
    """Every hookspec in memscope.hookspecs and its argument names."""
    marker = f"{hookspecs.hookspec.project_name}_spec"
    return {
        name: list(inspect.signature(fn).parameters)
        for name, fn in vars(hookspecs).items()
        if callable(fn) and hasattr(fn, marker)
    }


def sections() -> dict[str, tuple[list[str], str]]:
    """Hook sections of the guide: name -> (arguments in the heading, the section's text).

    Headings are found outside fenced code blocks (a ``# comment`` in code is no heading);
    a section runs to the next heading of level 1 to 3.
    """
    found: dict[str, tuple[list[str], str]] = {}
    current: str | None = None
    fenced = False
    for line in TEXT.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"^#{1,3} ", line):
            current = None
            m = HEADING.match(line)
            if m:
                current = m.group(1)
                found[current] = ([a.strip() for a in m.group(2).split(",") if a.strip()], "")
                continue
        if current is not None:
            args, body = found[current]
            found[current] = (args, body + line + "\n")
    return found


def code_blocks(language: str = "python") -> list[str]:
    return [body for lang, body in BLOCK.findall(TEXT) if lang == language]


def plugin_blocks() -> dict[str, str]:
    out = {}
    for body in code_blocks():
        m = PLUGIN_BLOCK.match(body)
        if m:
            out[m.group(1)] = body
    return out


def write_plugin(folder: Path, name: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(plugin_blocks()[name], encoding="utf-8")
    return path


# --------------------------------------------------------------------------- structure


def test_there_are_hookspecs_to_document():
    names = hookspec_names()
    assert {"register_datasets", "register_analyses", "after_epoch"} <= set(names)


@pytest.mark.parametrize("hook", sorted(hookspec_names()))
def test_every_hook_has_a_section(hook):
    documented = sections()
    assert hook in documented, f"docs/plugins.md has no section '### {hook}(...)' for the hook {hook}"
    args, body = documented[hook]
    assert args == hookspec_names()[hook], f"the heading of {hook} names {args}, the hookspec {hookspec_names()[hook]}"
    assert f"def {hook}(" in body, f"the {hook} section has no signature block"
    assert "**When:**" in body, f"the {hook} section does not say when the hook is called"
    assert "@hookimpl" in body and f"def {hook}" in body.split("**When:**", 1)[1], f"the {hook} section has no example"
    for arg in args:
        assert re.search(rf"^- `{arg}\b", body, re.MULTILINE), f"the {hook} section does not describe its argument {arg}"


def test_no_section_for_a_hook_that_does_not_exist():
    extra = set(sections()) - set(hookspec_names())
    assert not extra, f"docs/plugins.md documents hooks memscope does not have: {sorted(extra)}"


def test_discovery_is_described():
    for needle in (
        f"`{ENTRY_POINT_GROUP}`",
        "--plugins-dir",
        "MEMSCOPE_PLUGINS_DIR",
        "./plugins",
        "MEMSCOPE_LOAD_PLUGINS",
        "MEMSCOPE_TRACE_PLUGINS",
        "MEMSCOPE_STRICT_PLUGINS",
        "[project.entry-points.memscope]",
        'pytest_plugins = ["memscope.testing"]',
    ):
        assert needle in TEXT, f"docs/plugins.md does not mention {needle}"


def test_the_example_plugins_and_fixtures_are_described():
    import memscope.testing

    for path in sorted((REPO / "plugins").glob("*.py")):
        if not path.name.startswith(("_", "test_")):
            assert f"`{path.stem}`" in TEXT, f"docs/plugins.md does not describe plugins/{path.name}"
    for fixture in ("tiny_run", "tiny_run_copy", "tiny_run_factory", "memscope_home"):
        assert f"`{fixture}`" in TEXT and hasattr(memscope.testing, fixture)
    for helper in ("check_analysis", "check_tables_in_catalog", "host_with", "run_tiny", "load_plugin_file"):
        assert f"`{helper}(" in TEXT and callable(getattr(memscope.testing, helper))


def test_every_python_block_compiles():
    blocks = code_blocks()
    assert len(blocks) > 10
    for i, body in enumerate(blocks):
        compile(body, f"docs/plugins.md python block {i + 1}", "exec")


def test_the_tutorial_config_is_the_sample_config():
    (inline,) = [b for b in code_blocks("toml") if 'dataset = "digits"' in b]
    inline_data = tomllib.loads(inline)
    sample = tomllib.loads((REPO / "memscope" / "sample_configs" / "digits.toml").read_text(encoding="utf-8"))
    from memscope.config import config_from_dict

    # the tutorial sets its own analyses with --set, so the sample's analyses do not matter here
    training = {k: v for k, v in sample.items() if k not in ("analyses", "analysis")}
    assert config_from_dict(inline_data) == config_from_dict({**training, "device": "auto", "seed": 0})


# --------------------------------------------------------------------------- the code runs


def test_the_tutorial_plugin_runs_and_its_query_answers(tiny_run_copy, tmp_path):
    path = write_plugin(tmp_path, "my_analysis")
    result = tiny_run_copy.analyze(path)
    assert result["my_analysis"]["status"] == "completed"
    (command,) = [c for c in re.findall(r'^memscope query "(.*)"$', TEXT, re.MULTILINE) if "my_analysis_examples" in c]
    rows = tiny_run_copy.sql(command).to_pylist()
    assert [r["is_noisy"] for r in rows] == [False, True]
    train = tiny_run_copy.table("examples", "split = 'train'").column("is_noisy").to_pylist()
    assert [r["examples"] for r in rows] == [train.count(False), train.count(True)]


def test_register_datasets_example(tmp_path):
    host = host_with(write_plugin(tmp_path, "stripes"))
    from memscope.data import DatasetRequest

    arrays = host.registries.datasets.get("stripes")(DatasetRequest("stripes")).validated("stripes")
    assert arrays.x_train.shape == (512, 8, 8, 1) and arrays.num_classes == 2


def test_register_noise_models_example(tmp_path):
    host = host_with(write_plugin(tmp_path, "uniform_noise"))
    labels = np.arange(1000) % 10
    observed = host.registries.noise_models.get("uniform")(labels, 10, 0.2, np.random.default_rng(0), None)
    assert observed.shape == labels.shape and 0.1 < (observed != labels).mean() <= 0.2


def test_register_models_example(tmp_path):
    import torch

    from memscope.models.groups import check_layer_groups

    host = host_with(write_plugin(tmp_path, "wide_mlp"))
    model = host.registries.models.get("wide_mlp")(10, 1, 8, 0.5, hidden=64)
    check_layer_groups(model, torch.zeros(2, 1, 8, 8))
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_register_analyses_example(tiny_run_copy, tmp_path):
    tiny_run_copy.analyze(write_plugin(tmp_path, "final_losses"))
    scores = tiny_run_copy.scores("final_losses")["final_loss"]
    assert len(scores) == tiny_run_copy.table("examples", "split = 'train'").num_rows


def test_register_commands_example(tiny_run, tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    host = host_with(write_plugin(tmp_path, "noisiest"))
    app = typer.Typer()

    @app.callback()
    def root():  # a group, as memscope's own app is
        pass

    host.register_commands(app)
    monkeypatch.setenv("MEMSCOPE_HOME", str(tiny_run.home.root))
    result = CliRunner().invoke(app, ["noisiest", tiny_run.run_id, "--limit", "3"])
    assert result.exit_code == 0, result.output
    losses = [float(line.split("\t")[1]) for line in result.stdout.strip().splitlines()]
    assert len(losses) == 3 and losses == sorted(losses, reverse=True)


def test_prepare_connection_example(tiny_run, tmp_path):
    from memscope.store.query import execute

    host = host_with(write_plugin(tmp_path, "macros"))
    rows = execute(tiny_run.home, "SELECT run_id, share(is_noisy) AS share FROM examples GROUP BY run_id", host=host).table.to_pylist()
    assert rows and all(0 < r["share"] < 1 for r in rows)


def test_lifecycle_examples(tmp_path):
    plugins = [write_plugin(tmp_path, name) for name in ("param_count", "memorization_alert", "finished_log")]
    home = tmp_path / "home"
    run = run_tiny(home, plugins=plugins, overrides=["train.epochs=2"])
    assert (home / "finished.log").read_text(encoding="utf-8") == f"{run.run_id}\tcompleted\n"
    host = host_with(*plugins)
    assert {h for info in host.infos.values() for h in info.hooks} >= {"before_train", "after_epoch", "after_train"}


def test_guide_examples_do_not_shadow_the_example_plugins():
    # the examples load as memscope_plugins.<name>, like the files in plugins/
    real = {p.stem for p in (REPO / "plugins").glob("*.py")}
    assert not real & set(plugin_blocks()), "an example in the guide has the name of a plugin in plugins/"
