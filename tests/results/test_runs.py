"""The runs of a home: live status, the one run-id rule, delete/cancel rules, tags and notes."""

from __future__ import annotations

import json
import shutil

import pytest

from memscope.errors import ConfigError, MemscopeError
from memscope.results import runs
from memscope.store.runinfo import parse_time
from tests.tui.fixture_home import RUN_A, RUN_B, RUN_C, RUN_D, RUN_E


def test_statuses_newest_first(runs_home):
    rows = runs.list_runs(runs_home)
    assert [r.run_id for r in rows] == [RUN_E, RUN_D, RUN_C, RUN_B, RUN_A]
    assert {r.run_id: r.status for r in rows} == {
        RUN_A: "completed", RUN_B: "completed", RUN_C: "failed", RUN_D: "running", RUN_E: "crashed"}


def test_unreadable_run_json_is_crashed(runs_home):
    (runs_home.run_dir(RUN_B) / "run.json").write_text("{not json", encoding="utf-8")
    row = runs.read_run(runs_home, RUN_B)
    assert row.status == "crashed" and "unreadable" in row.info["error"]


def test_a_copy_is_left_out_and_reported(runs_home):
    shutil.copytree(runs_home.run_dir(RUN_B), runs_home.runs_dir / "20260109-000000-backup-ffff")
    copies = []
    rows = runs.list_runs(runs_home, on_copy=copies.append)
    assert [r.run_id for r in copies] == ["20260109-000000-backup-ffff"] and copies[0].info["run_id"] == RUN_B
    assert "20260109-000000-backup-ffff" not in [r.run_id for r in rows]


class TestRunIds:
    def test_full_latest_prefix_and_suffix(self, runs_home):
        assert runs.resolve_run(runs_home, RUN_C) == RUN_C
        assert runs.resolve_run(runs_home, "latest") == RUN_E
        assert runs.resolve_run(runs_home, "20260102") == RUN_B
        assert runs.resolve_run(runs_home, "dddd") == RUN_D

    @pytest.mark.parametrize("bad", ["", "../etc", "_schema", ".hidden", "nope"])
    def test_no_such_run_is_a_user_error(self, runs_home, bad):
        with pytest.raises(MemscopeError, match="no run") as err:
            runs.resolve_run(runs_home, bad)
        assert err.value.exit_code == 2

    def test_ambiguous_prefix_names_the_matches(self, runs_home):
        with pytest.raises(MemscopeError, match="ambiguous") as err:
            runs.resolve_run(runs_home, "2026010")
        assert RUN_A in err.value.message and RUN_E in err.value.message


class TestDelete:
    def test_refuses_a_running_run_and_deletes_nothing(self, runs_home):
        with pytest.raises(ConfigError, match=f"cannot delete {RUN_D}: it is still running"):
            runs.delete_runs(runs_home, [RUN_B, RUN_D])
        assert runs_home.run_dir(RUN_B).is_dir() and runs_home.run_dir(RUN_D).is_dir()

    def test_deletes_finished_runs_by_any_id_once(self, runs_home):
        assert runs.delete_runs(runs_home, ["bbbb", RUN_B, "20260103"]) == [RUN_B, RUN_C]
        assert not runs_home.run_dir(RUN_B).exists() and not runs_home.run_dir(RUN_C).exists()

    def test_force_deletes_a_running_run(self, runs_home):
        assert runs.delete_runs(runs_home, [RUN_D], force=True) == [RUN_D]
        assert not runs_home.run_dir(RUN_D).exists()

    def test_a_crashed_run_is_not_running(self, runs_home):
        assert runs.delete_runs(runs_home, [RUN_E]) == [RUN_E]


def test_cancel_refuses_finished_runs(runs_home):
    with pytest.raises(MemscopeError, match=f"run {RUN_A} is completed, not running"):
        runs.cancel_run(runs_home, "aaaa")


def test_eta_from_time_per_epoch(runs_home):
    run = runs.read_run(runs_home, RUN_D)
    started = parse_time(run.info["started_at"])
    assert run.eta_seconds(now=started + 40) == pytest.approx(60.0)  # 4 epochs in 40 s, 6 to go


class TestTagsAndNotes:
    def test_tag_sets_and_removes(self, runs_home):
        assert runs.tag_run(runs_home, "bbbb", ["arch=wide", "lr=0.1"]).tags == {"arch": "wide", "lr": "0.1"}
        row = runs.tag_run(runs_home, RUN_B, ["lr="])
        assert row.tags == {"arch": "wide"}
        on_disk = json.loads((runs_home.run_dir(RUN_B) / "run.json").read_text())
        assert on_disk["tags"] == {"arch": "wide"}

    @pytest.mark.parametrize("bad", [[], ["arch"], ["=wide"]])
    def test_bad_tags_are_user_errors(self, runs_home, bad):
        with pytest.raises(MemscopeError, match="KEY=VALUE"):
            runs.tag_run(runs_home, RUN_B, bad)

    def test_note_replaces_appends_and_clears(self, runs_home):
        assert runs.note_run(runs_home, "latest", "lr too high").notes == "lr too high"
        assert runs.note_run(runs_home, RUN_E, "diverged", append=True).notes == "lr too high\ndiverged"
        assert runs.note_run(runs_home, RUN_E, "").notes == ""


class TestRequireFinished:
    """What resuming or re-analysing a run needs (memscope run --resume, memscope analyze)."""

    def test_a_finished_run_by_any_id(self, runs_home):
        assert runs.require_finished(runs_home, "cccc", "resume", "wait") == RUN_C

    def test_a_running_run_is_refused(self, runs_home):
        with pytest.raises(ConfigError, match=f"cannot analyse {RUN_D}: it is still running; wait"):
            runs.require_finished(runs_home, RUN_D, "analyse", "wait")

    def test_an_unreadable_run_json_is_a_store_error(self, runs_home):
        (runs_home.run_dir(RUN_B) / "run.json").write_text("[]", encoding="utf-8")
        with pytest.raises(MemscopeError, match="not a JSON object") as err:
            runs.require_finished(runs_home, RUN_B, "resume", "wait")
        assert err.value.exit_code == 3
