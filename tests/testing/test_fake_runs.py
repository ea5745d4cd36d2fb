"""memscope.testing.write_fake_run: a synthetic run the store, the catalog and the app read like a real one."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest

from memscope.store.catalog import refresh_catalog
from memscope.store.query import execute
from memscope.testing import write_fake_run
from memscope.testing.fake_runs import FAKE_ANALYSES


def rows(home, sql):
    return execute(home, sql).table.to_pylist()


def test_a_finished_run_has_every_core_table_and_its_counts(memscope_home):
    write_fake_run(memscope_home, "r1", num_train=20, num_test=5, epochs=3, noise_rate=0.25)
    refresh_catalog(memscope_home)
    (run,) = rows(memscope_home, "SELECT status, num_train, num_test, num_noisy, epochs, epoch, noise_rate FROM runs")
    assert run == {"status": "completed", "num_train": 20, "num_test": 5, "num_noisy": 5, "epochs": 3, "epoch": 3,
                   "noise_rate": 0.25}
    assert rows(memscope_home, "SELECT count(*) AS n FROM examples") == [{"n": 25}]
    assert rows(memscope_home, "SELECT count(*) AS n FROM example_epochs") == [{"n": 60}]
    assert rows(memscope_home, "SELECT sum(is_noisy::INT) AS n FROM examples WHERE split = 'train'") == [{"n": 5}]
    mislabeled = rows(memscope_home, "SELECT count(*) AS n FROM examples WHERE is_noisy AND true_label = observed_label")
    assert mislabeled == [{"n": 0}]  # a noisy example's observed label is never its true one
    assert rows(memscope_home, "SELECT count(*) AS n FROM neuron_flips") == [{"n": 0}]


def test_the_same_arguments_write_the_same_values(tmp_path):
    from memscope.store.home import Home

    first, second = Home(tmp_path / "a").ensure(), Home(tmp_path / "b").ensure()
    for home in (first, second):
        write_fake_run(home, "r1", analyses=True, day=3)
    for table in ("examples", "example_epochs", "epochs", "neuron_flips", "layer_rewinds", "example_scores"):
        parts = sorted((first.run_dir("r1") / table).glob("*.parquet"))
        assert parts, table
        for part in parts:
            again = second.run_dir("r1") / table / part.name
            assert pq.read_table(part).equals(pq.read_table(again)), table
    info = json.loads((first.run_dir("r1") / "run.json").read_text(encoding="utf-8"))
    assert info["created_at"] == "2026-01-03T12:00:00.000+00:00" and info["finished_at"] == "2026-01-03T12:03:25.000+00:00"
    assert sorted(info["analyses"]) == sorted(FAKE_ANALYSES)


def test_noisy_examples_are_learned_later_than_clean_ones(memscope_home):
    write_fake_run(memscope_home, "r1", epochs=6, noise_rate=0.2)
    refresh_catalog(memscope_home)
    acc = {r["epoch"]: r for r in rows(memscope_home, "SELECT epoch, clean_train_acc, noisy_train_acc FROM epochs")}
    assert acc[1]["clean_train_acc"] > acc[1]["noisy_train_acc"] + 0.2
    assert acc[6]["noisy_train_acc"] > acc[1]["noisy_train_acc"] + 0.5


def test_a_running_run_is_this_live_process_and_a_partial_one_stops_at_done(memscope_home):
    run_dir = write_fake_run(memscope_home, "live", status="running", epochs=10, done=4, analyses=True)
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert info["pid"] == os.getpid() and info["finished_at"] is None and info["epoch"] == 4
    refresh_catalog(memscope_home)
    assert rows(memscope_home, "SELECT max(epoch) AS e FROM epochs") == [{"e": 4}]
    assert rows(memscope_home, "SELECT max(epoch) AS e FROM layer_epochs") == [{"e": 4}]
    assert rows(memscope_home, "SELECT count(*) AS n FROM layer_rewinds") == [{"n": 0}]  # analyses run after training


@pytest.mark.parametrize("field,value", [("error", "boom"), ("tags", {"k": "v"}), ("test_acc", None)])
def test_keyword_arguments_set_run_json_fields(memscope_home, field, value):
    run_dir = write_fake_run(memscope_home, "r1", status="failed", **{field: value})
    assert json.loads((run_dir / "run.json").read_text(encoding="utf-8"))[field] == value
