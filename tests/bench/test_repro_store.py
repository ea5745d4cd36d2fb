"""bench/repro_store.py: which finished run is reused, and the doc's generated section."""

from __future__ import annotations

import pytest

import repro_store as store
from memscope.config import config_to_toml, load_config


def test_a_completed_run_with_the_same_resolved_config_is_reused(home, make_run):
    wanted = load_config(None, ["train.epochs=3", "data.train_subset=100"])
    other = load_config(None, ["train.epochs=4", "data.train_subset=100"])
    for run_id, status, config in (("20260101-000000-a", "completed", other), ("20260101-000001-b", "completed", wanted),
                                   ("20260101-000002-c", "failed", wanted)):
        run_dir = make_run(run_id, status=status)
        (run_dir / "config.toml").write_text(config_to_toml(config), encoding="utf-8")
    assert store.find_finished_run(home, wanted) == "20260101-000001-b"
    assert store.find_finished_run(home, load_config(None, ["train.epochs=5"])) is None


def test_a_run_whose_config_no_longer_parses_is_not_reused(home, make_run):
    config_toml = make_run("20260101-000000-a") / "config.toml"
    config_toml.write_text('[data]\ndataset = "digits"\nnoise_rate = 0.2\n', encoding="utf-8")  # data.noise_rate: unknown
    assert store.find_finished_run(home, load_config(None, [])) is None


def test_only_the_generated_section_is_replaced():
    doc = f"# Rules\nthreshold 0.3\n\n{store.TABLE_START}\nold table\n{store.TABLE_END}\ntrailer\n"
    new = store.replace_table(doc, "| a | b |\n")
    assert new == f"# Rules\nthreshold 0.3\n\n{store.TABLE_START}\n| a | b |\n{store.TABLE_END}\ntrailer\n"
    assert store.replace_table(new, "| a | b |") == new  # idempotent


def test_a_doc_without_markers_is_refused():
    with pytest.raises(ValueError, match="no table markers"):
        store.replace_table("# Rules only\n", "| a |")


def test_execution_only_keys_do_not_stop_a_reuse(home, make_run):
    trained = load_config(None, ["train.epochs=3", "train.eval_batch_size=1024", "threads=2"])
    (make_run("20260101-000000-a") / "config.toml").write_text(config_to_toml(trained), encoding="utf-8")
    assert store.find_finished_run(home, load_config(None, ["train.epochs=3", "train.eval_batch_size=256"])) == "20260101-000000-a"
    assert store.find_finished_run(home, load_config(None, ["train.epochs=3", "train.batch_size=64"])) is None
