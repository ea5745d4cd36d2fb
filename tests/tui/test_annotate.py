"""Tags and notes from the Runs screen (t, N), stored as 'memscope runs tag/note' store them,
and deleting a running run refused by the rule of 'memscope runs rm'."""

from __future__ import annotations

import json

from textual.widgets import DataTable, Input

from memscope.results.runs import RunRow
from memscope.tui.screens.dialogs import ConfirmScreen, PromptScreen
from memscope.tui.screens.help import section_bindings
from memscope.tui.screens.runs import ANNOTATION_WIDTH, annotation_text
from tests.tui.conftest import settle
from tests.tui.fixture_home import RUN_B, RUN_D

SIZE = (100, 30)


async def _on_run(pilot, run_id: str) -> DataTable:
    await settle(pilot)
    table = pilot.app.screen.query_one("#runs-table", DataTable)
    table.move_cursor(row=table.get_row_index(run_id))
    await settle(pilot)
    return table


async def _answer(pilot, text: str) -> None:
    assert isinstance(pilot.app.screen, PromptScreen)
    pilot.app.screen.query_one(Input).value = text
    await pilot.press("enter")
    await settle(pilot)


async def test_tag_and_note_are_stored_and_shown(make_app, home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        table = await _on_run(pilot, RUN_B)
        assert "annotations" not in [str(c.value) for c in table.columns]  # no run has any yet
        await pilot.press("t")
        await settle(pilot)
        await _answer(pilot, 'arch=wide "why=lr sweep"')
        await pilot.press("N")
        await settle(pilot)
        await _answer(pilot, "diverged")
        info = json.loads((home.run_dir(RUN_B) / "run.json").read_text())
        assert info["tags"] == {"arch": "wide", "why": "lr sweep"} and info["notes"] == "diverged"
        assert str(table.get_cell(RUN_B, "annotations")) == "arch=wide why=lr sweep…"  # cut to ANNOTATION_WIDTH
        await pilot.press("N")
        await settle(pilot)
        assert app.screen.query_one(Input).value == "diverged"  # the current note, to edit
        await _answer(pilot, "")  # empty clears it
        assert json.loads((home.run_dir(RUN_B) / "run.json").read_text())["notes"] is None
        assert str(table.get_cell(RUN_B, "annotations")) == "arch=wide why=lr sweep"


async def test_a_bad_tag_is_explained_like_the_cli(make_app, home):
    before = (home.run_dir(RUN_B) / "run.json").read_text()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _on_run(pilot, RUN_B)
        await pilot.press("t")
        await settle(pilot)
        await _answer(pilot, "arch")
        assert any("expected KEY=VALUE" in n.message for n in app._notifications)
        assert (home.run_dir(RUN_B) / "run.json").read_text() == before


async def test_delete_of_a_running_run_is_refused_before_asking(make_app, home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _on_run(pilot, RUN_D)
        await pilot.press("d")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any(f"cannot delete {RUN_D}: still running" in n.message for n in app._notifications)
        assert home.run_dir(RUN_D).is_dir()


def test_annotation_text_shows_tags_then_the_notes_first_line():
    run = RunRow("r", "completed", {"tags": {"arch": "wide"}, "notes": "diverged\nsecond line"})
    assert annotation_text(run) == "arch=wide · diverged"
    long = RunRow("r", "completed", {"notes": "x" * 40})
    assert annotation_text(long) == "x" * (ANNOTATION_WIDTH - 1) + "…"
    assert annotation_text(RunRow("r", "completed", {})) == ""


def test_keys_are_in_the_help():
    runs = dict(section_bindings())["Runs"]
    assert ("t", "Tag") in runs and ("N", "Note") in runs
