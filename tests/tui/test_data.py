"""The app's data layer and form logic, without a terminal."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from memscope.errors import ConfigError, MemscopeError, QueryError
from memscope.tui import data, forms
from memscope.tui.widgets.image import half_blocks
from memscope.tui.widgets.plots import sparkline
from tests.tui.fixture_home import RUN_A, RUN_B, RUN_C, RUN_D, RUN_E


class TestRuns:
    def test_statuses_newest_first(self, home):
        runs = data.list_runs(home)
        assert [r.run_id for r in runs] == [RUN_E, RUN_D, RUN_C, RUN_B, RUN_A]
        status = {r.run_id: r.status for r in runs}
        assert status == {RUN_A: "completed", RUN_B: "completed", RUN_C: "failed", RUN_D: "running", RUN_E: "crashed"}

    def test_unreadable_run_json_is_crashed(self, home):
        (home.run_dir(RUN_B) / "run.json").write_text("{not json", encoding="utf-8")
        assert data.read_run(home, RUN_B).status == "crashed"

    def test_config_diff_shows_only_differences(self, home):
        diff = dict(data.config_diff(home, [RUN_A, RUN_B]))
        assert diff["model.name"] == ["cnn", "mlp"]
        assert diff["noise.rate"] == ["0.1", "0.2"]
        assert diff["seed"] == ["0", "1"]
        assert "train.epochs" not in diff and "data.dataset" not in diff

    def test_delete_refuses_running_and_removes_finished(self, home):
        with pytest.raises(MemscopeError, match="still running"):
            data.delete_run(home, RUN_D)
        data.delete_run(home, RUN_B)
        assert not home.run_dir(RUN_B).exists()
        with pytest.raises(MemscopeError):
            data.delete_run(home, "../etc")

    def test_cancel_refuses_finished_runs(self, home):
        with pytest.raises(MemscopeError, match="not running"):
            data.cancel_run(home, RUN_A)

    def test_eta_from_time_per_epoch(self, home):
        run = data.read_run(home, RUN_D)
        started = data.parse_time(run.info["started_at"])
        assert run.eta_seconds(now=started + 40) == pytest.approx(60.0)  # 4 epochs in 40 s, 6 to go

    def test_find_log_matches_pid_and_age(self, home):
        run = data.read_run(home, RUN_D)
        log = home.root / "logs" / f"x.pid{os.getpid()}.log"
        log.write_text("epoch 1/10\rtick\nepoch 2/10 [##--] loss 1.0\n", encoding="utf-8")
        assert data.find_log(home, run) == log
        assert data.tail(log)[-1] == "epoch 2/10 [##--] loss 1.0"
        assert data.tail(log)[0] == "tick"  # a carriage-return redraw keeps its last state

    def test_run_command_is_memscope_run(self, home, tmp_path):
        cmd = data.run_command(tmp_path / "c.toml", home, "plugins")
        assert cmd[-6:] == ["run", str(tmp_path / "c.toml"), "--home", str(home.root), "--plugins-dir", "plugins"]

    def test_run_command_works_beside_a_folder_named_memscope(self, home, tmp_path):
        """Started from a checkout's parent directory, the child must import the installed
        package, not the checkout folder (found by a newcomer: the app's launch died on import)."""
        (tmp_path / "memscope").mkdir()  # a clone, seen from its parent: no __init__.py at its top
        cmd = data.run_command(tmp_path / "missing.toml", home, None)
        done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert "ImportError" not in done.stderr and "Traceback" not in done.stderr
        assert done.returncode == 2 and "missing.toml" in done.stderr  # memscope's own error for a missing config


class TestStore:
    def test_curves_and_counts(self, home):
        store = data.Store(home)
        curves = store.curves("noisy_train_acc")
        assert len(curves[RUN_A]) == 6 and len(curves[RUN_D]) == 4
        counts = store.table_counts(RUN_A)
        assert counts["example_epochs"] == 6 * 256 and counts["layer_rewinds"] == 16
        store.close()

    def test_layer_data(self, home):
        store = data.Store(home)
        tables = data.layer_data(store, RUN_A)
        assert tables["layer_rewinds"].num_rows == 16
        assert tables["etd_evals"].column("mode").to_pylist() == ["kept", "dropped"]
        assert data.layer_data(store, RUN_B)["layer_rewinds"].num_rows == 0
        store.close()

    def test_layer_data_counts_fitted_flip_targets_only(self, home):
        from memscope.report import flips

        store = data.Store(home)
        tables = data.layer_data(store, RUN_A)
        store.close()
        rows = tables["neuron_flips"].to_pylist()
        groups = flips.summarize(rows)
        # the fixture: 20 noisy + 20 clean targets, and 3 noisy ones never memorized
        assert groups["noisy"].targets == 23 and groups["noisy"].skipped == {"not_memorized": 3}
        assert groups["noisy"].counted == 20 and groups["clean"].counted == 20
        skipped = [r for r in rows if r["status"] == "not_memorized"]
        assert all(r["neurons_to_flip"] is None and r["test_drop"] is None for r in skipped)
        flipped = [r for r in rows if r["status"] == "flipped"]
        assert flipped and all(r["test_drop"] > 0 for r in flipped)  # before 0.86, after below 0.85
        place = flips.placement(tables["neuron_flip_steps"].to_pylist())
        assert [name for _, name in place.layers] == ["conv1", "conv2", "conv3", "fc"]
        assert {k for k, _ in place.kinds} == {"conv_filter", "weight"}


class TestExampleTable:
    def test_pages_filters_and_sorts(self, home):
        store = data.Store(home)
        table = data.ExampleTable(store, RUN_A)
        page = table.page(limit=10)
        assert page.total == page.all_rows == 256 and page.table.num_rows == 10
        assert page.final_epoch == 6
        assert page.table.column("example").to_pylist() == list(range(10))
        noisy = table.page("noisy", "loss", True, 0, 500)
        losses = noisy.table.column("loss").to_pylist()
        assert all(noisy.table.column("is_noisy").to_pylist())
        assert losses == sorted(losses, reverse=True)
        assert "curvature_score" in table.columns  # plugin scores become sortable columns
        second = table.page(offset=250, limit=10)
        assert second.table.num_rows == 6
        flipped = table.page("flipped", limit=500)
        assert 0 < flipped.total < 40
        store.close()

    def test_where_is_checked_and_confined(self, home):
        store = data.Store(home)
        table = data.ExampleTable(store, RUN_A)
        assert table.page(where="true_label = 3").total == 64
        with pytest.raises(QueryError, match="nonsense"):
            table.page(where="nonsense > 1")
        with pytest.raises(QueryError):
            table.page(where="1=1) UNION SELECT * FROM read_csv('/etc/passwd') --")
        store.close()

    def test_rebuilds_when_parts_change(self, home):
        from memscope.store.writer import RunWriter

        store = data.Store(home)
        table = data.ExampleTable(store, RUN_D)
        assert table.page().final_epoch == 4
        RunWriter(home, RUN_D).write("example_epochs", {
            "epoch": np.full(256, 5, dtype=np.int32), "example": np.arange(256), "loss": np.zeros(256, np.float32),
            "correct": np.ones(256, bool), "margin": np.ones(256, np.float32), "pred": np.zeros(256, np.int32),
        })
        assert table.stale()
        assert table.page().final_epoch == 5
        store.close()

    def test_example_detail(self, home):
        store = data.Store(home)
        detail = data.example_detail(store, RUN_A, 3)
        assert [r["epoch"] for r in detail.trace] == [1, 2, 3, 4, 5, 6]
        assert detail.info["true_label"] == 3
        store.close()


def test_sql_history_persists(tmp_path):
    path = tmp_path / "sql_history.json"
    history = data.SqlHistory(path)
    history.add("SELECT 1")
    history.add("SELECT 2")
    history.add("SELECT 1")
    assert data.SqlHistory(path).load() == ["SELECT 2", "SELECT 1"]


def test_sample_configs_found():
    names = [p.name for p in data.sample_configs()]
    assert "digits.toml" in names


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
