"""Tags and notes from the Runs screen (t, N), stored as 'memscope runs tag/note' store them,
and deleting a running run refused by the rule of 'memscope runs rm'."""

from __future__ import annotations

import json

from textual.widgets import DataTable, Input, Label

from memscope.results.runs import RunRow
from memscope.tui.screens.dialogs import ConfirmScreen, PromptScreen
from memscope.tui.screens.help import section_bindings
from memscope.tui.screens.runs import ANNOTATION_WIDTH, annotation_text
from tests.tui.conftest import open_mode, settle
from tests.tui.test_app import label_text
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
        line = app.screen.query_one("#runs-annotation", Label)
        assert line.display and label_text(line) == "tags arch=wide why=lr sweep · note diverged"  # whole
        await pilot.press("N")
        await settle(pilot)
        assert app.screen.query_one(Input).value == "diverged"  # the current note, to edit
        await _answer(pilot, "")  # empty clears it
        assert json.loads((home.run_dir(RUN_B) / "run.json").read_text())["notes"] is None
        assert str(table.get_cell(RUN_B, "annotations")) == "arch=wide why=lr sweep"


async def test_the_tags_and_note_show_at_80x24(make_app, home):
    from memscope.results.runs import note_run, tag_run

    tag_run(home, RUN_B, ["arch=wide"])
    note_run(home, RUN_B, "lr too high")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _on_run(pilot, RUN_B)
        line = app.screen.query_one("#runs-annotation", Label)
        assert line.display and label_text(line) == "tags arch=wide · note lr too high"
        await _on_run(pilot, RUN_D)
        assert not line.display  # a run without tags or a note: no empty line
        await open_mode(pilot, "detail", RUN_B)
        assert "tags arch=wide · note lr too high" in label_text(app.screen.query_one("#detail-facts", Label))


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
        assert any(f"cannot delete {RUN_D}: it is still running" in n.message for n in app._notifications)
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


async def test_the_run_picker_takes_ids_as_the_cli_does(make_app):
    from memscope.tui.screens.pick_run import RunPickScreen
    from tests.tui.fixture_home import RUN_A, RUN_C, RUN_E

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_mode(pilot, "detail", RUN_A)
        for typed, expected in (("latest", RUN_E), ("20260103", RUN_C), ("bbbb", RUN_B)):
            await pilot.press("p")
            await settle(pilot)
            assert isinstance(app.screen, RunPickScreen)
            box = app.screen.query_one("#pick-run-id", Input)
            box.value = typed
            box.focus()
            await pilot.press("enter")
            await settle(pilot)
            assert app.run_id == expected and not isinstance(app.screen, RunPickScreen)
        await pilot.press("p")
        await settle(pilot)
        box = app.screen.query_one("#pick-run-id", Input)
        box.value = "2026010"  # every run starts so: ambiguous, as in 'memscope runs show 2026010'
        box.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunPickScreen) and app.run_id == RUN_B
        assert "ambiguous" in str(app.screen.query_one("#pick-run-error").render())
