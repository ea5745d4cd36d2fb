"""Grid parsing, sweep planning and the CLI's usage errors (no run processes)."""

from __future__ import annotations

import json

import pytest

from memscope.errors import ConfigError
from memscope.sweep.grid import axes_from_json, build_grid, cells, parse_grid_option, read_grid_file, split_top_level
from memscope.sweep.driver import plan, tags_override


def test_parse_values_and_tags():
    axis = parse_grid_option("noise.rate=0.05, 0.1,0.2")
    assert axis.key == "noise.rate"
    assert [v.value for v in axis.values] == [0.05, 0.1, 0.2]
    assert [v.tag for v in axis.values] == ["0.05", "0.1", "0.2"]
    words = parse_grid_option("model.name=resnet9,vit")
    assert [v.value for v in words.values] == ["resnet9", "vit"]
    assert [v.tag for v in words.values] == ["resnet9", "vit"]
    lists = parse_grid_option('analyses=["rewinding","neuron_flipping"],[]')
    assert [v.value for v in lists.values] == [["rewinding", "neuron_flipping"], []]


def test_split_respects_brackets_and_quotes():
    assert split_top_level('[1,2],"a,b",{x=1,y=2}', "--grid") == ["[1,2]", '"a,b"', "{x=1,y=2}"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("noise.rate", "no '='"),
        ("=0.1,0.2", "the key is empty"),
        ("noise.rate=", "an empty value"),
        ("noise.rate=0.1,,0.2", "an empty value"),
        ("noise.rate=0.1,0.1", "lists 0.1 twice"),
        ("analyses=[a,b", "unclosed bracket"),
        ("noise rate=0.1", "is not a config key"),
        ("tags.x=1,2", "tags cannot be swept"),
    ],
)
def test_bad_grid_syntax(text, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        parse_grid_option(text)


def test_grid_file_and_cells(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('[grid]\n"noise.rate" = [0.1, 0.2]\nmodel.name = ["mlp", "cnn"]\n', encoding="utf-8")
    axes = build_grid(["seed=4,5,6"], path)
    assert [a.key for a in axes] == ["seed", "noise.rate", "model.name"]
    grid = cells(axes)
    assert len(grid) == 12
    assert {k: v.tag for k, v in grid[0].items()} == {"seed": "4", "noise.rate": "0.1", "model.name": "mlp"}
    assert {k: v.tag for k, v in grid[-1].items()} == {"seed": "6", "noise.rate": "0.2", "model.name": "cnn"}
    # what sweep.json records round-trips
    again = axes_from_json({a.key: a.as_json() for a in axes})
    assert [[v.tag for v in a.values] for a in again] == [[v.tag for v in a.values] for a in axes]


def test_grid_file_errors(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('[grid]\nseed = 4\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="must be an array"):
        read_grid_file(path)
    path.write_text('[sweep]\nseed = [4]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'sweep'"):
        read_grid_file(path)
    with pytest.raises(ConfigError, match="swept twice"):
        build_grid(["seed=1,2", "seed=3"])
    with pytest.raises(ConfigError, match="at least one --grid"):
        build_grid([])


def test_plan_checks_every_cell(tiny_config):
    base, entries = plan(tiny_config, build_grid(["noise.rate=0.1,0.2", "seed=1,2"]), ["train.epochs=2"])
    assert base.train.epochs == 2 and len(entries) == 4
    assert entries[3]["overrides"] == {"noise.rate": "0.2", "seed": "2"}
    with pytest.raises(ConfigError, match="unknown key 'noise.rat'"):
        plan(tiny_config, build_grid(["noise.rat=0.1"]), [])
    with pytest.raises(ConfigError, match="'noise.rate' = 1.5 must be in"):
        plan(tiny_config, build_grid(["noise.rate=0.1,1.5"]), [])


def test_tags_override_keeps_dotted_keys():
    from memscope.config import apply_overrides

    text = tags_override({"sweep_id": "s-1", "noise.rate": "0.1", "odd": 'a"b\\c'})
    assert apply_overrides({}, [text])["tags"] == {"sweep_id": "s-1", "noise.rate": "0.1", "odd": 'a"b\\c'}


# --------------------------------------------------------------------------- the CLI's errors


def test_cli_bad_grid_syntax_exits_2(cli, tiny_config):
    result = cli("sweep", tiny_config, "--grid", "noise.rate")
    assert result.exit_code == 2
    assert "memscope: error: --grid 'noise.rate': no '='; expected KEY=V1,V2,..." in result.stderr
    assert "Traceback" not in result.output
    assert not (cli.home / "sweeps").exists()


def test_cli_unknown_grid_key_is_the_config_error(cli, tiny_config):
    result = cli("sweep", tiny_config, "--grid", "noise.rat=0.1,0.2")
    assert result.exit_code == 2
    assert f"memscope: error: {tiny_config}: unknown key 'noise.rat' (did you mean 'noise.rate'?); allowed in [noise]:" in result.stderr
    assert not (cli.home / "sweeps").exists()


def test_cli_unknown_name_in_grid_exits_2(cli, tiny_config):
    result = cli("sweep", tiny_config, "--grid", "data.dataset=synthetic,nope")
    assert result.exit_code == 2
    assert "unknown dataset 'nope'" in result.stderr


def test_cli_ray_missing_exits_2_with_the_install_hint(cli, tiny_config, monkeypatch):
    import memscope.sweep.executors as executors

    monkeypatch.setattr(executors, "ray_available", lambda: False)
    result = cli("sweep", tiny_config, "--grid", "seed=1,2", "--executor", "ray")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ['memscope: error: the ray executor needs Ray: pip install "memscope[ray]"']


def test_cli_unknown_executor_and_unknown_sweep(cli, tiny_config):
    result = cli("sweep", tiny_config, "--grid", "seed=1,2", "--executor", "slurm")
    assert result.exit_code == 2 and "choose one of local, ray" in result.stderr
    for command in (["sweeps", "show", "nope"], ["sweeps", "cancel", "nope"], ["sweeps", "report", "nope"], ["sweeps", "show", "../x"]):
        result = cli(*command)
        assert result.exit_code == 2, command
        assert "no sweep" in result.stderr
    result = cli("sweeps", "list", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []
