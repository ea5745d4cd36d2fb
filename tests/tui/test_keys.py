"""Keys: sections from any widget, Escape-then-digit, Enter on Examples, select-all, F1 names,
Run detail's tabs, the Log's tail, and x on a finished run."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Log, Select, Static, TabbedContent, TextArea

from memscope.tui.keys import ESCAPE_DIGIT_SEQUENCES, key_names, read_escape_digit_as_alt
from memscope.tui.screens.example_detail import ExampleDetailScreen
from memscope.tui.screens.help import HelpScreen
from tests.tui.conftest import open_mode, settle
from tests.tui.fixture_home import RUN_A, RUN_B

SIZE = (100, 30)


async def test_section_keys_work_when_a_select_has_focus(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("new")
        await settle(pilot)
        app.screen.query_one("#f-noise--model", Select).focus()
        await pilot.press("4")
        await settle(pilot, 1)
        assert app.current_mode == "examples"
        app.screen.query_one("#examples-filter", Select).focus()
        await pilot.press("6")
        await settle(pilot, 1)
        assert app.current_mode == "sql"


async def test_digits_typed_into_a_text_box_stay_text(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("new")
        await settle(pilot)
        rate = app.screen.query_one("#f-noise--rate", Input)
        rate.focus()
        rate.value = ""
        await pilot.press("0", "full_stop", "2")
        assert app.current_mode == "new" and rate.value == "0.2"


def test_escape_then_a_digit_is_read_as_alt_digit_not_a_mac_symbol():
    import time

    from textual._xterm_parser import XTermParser

    read_escape_digit_as_alt()
    parser = XTermParser()
    events = list(parser.feed("\x1b2"))
    time.sleep(0.15)  # longer than ESCDELAY: the parser gives up waiting for more
    events += list(parser.tick())
    assert [(e.key, e.character) for e in events] == [("alt+2", "2")]
    from textual._ansi_sequences import ANSI_SEQUENCES_KEYS

    assert not set(ESCAPE_DIGIT_SEQUENCES) & set(ANSI_SEQUENCES_KEYS)


async def test_escape_then_2_in_the_sql_editor_opens_new_run_and_types_nothing(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("sql")
        await settle(pilot)
        editor = app.screen.query_one("#sql-editor", TextArea)
        before = editor.text
        await pilot.press("alt+2")
        await settle(pilot, 1)
        assert app.current_mode == "new"
        assert editor.text == before and "™" not in editor.text


async def test_ctrl_a_selects_all_the_sql(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("sql")
        await settle(pilot)
        editor = app.screen.query_one("#sql-editor", TextArea)
        await pilot.press("ctrl+a")
        assert editor.selected_text == editor.text and editor.text
        await pilot.press("delete")
        assert editor.text == ""
        editor.text = "SELECT 1"
        app.screen.query_one("#sql-results", DataTable).focus()
        await pilot.press("ctrl+a")  # from elsewhere on the screen: back to the editor, all selected
        assert editor.has_focus and editor.selected_text == "SELECT 1"


async def test_enter_after_f_on_examples_opens_the_example(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mode(pilot, "examples", RUN_A)
        await pilot.press("f")
        await settle(pilot)
        assert app.screen.filter_name != "all"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExampleDetailScreen)


def test_key_names_are_readable():
    assert key_names("right_square_bracket") == "]"
    assert key_names("slash") == "/"
    assert key_names("delete,d") == "del, d"
    assert key_names("ctrl+enter,ctrl+j,f5") == "ctrl+enter, ctrl+j, f5"


async def test_f1_shows_readable_key_names(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mode(pilot, "examples", RUN_A)
        await pilot.press("f1")
        await settle(pilot, 1)
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(line.text for w in app.screen.query(".help-table").results(Static)
                        for line in w.render_lines(w.region.reset_offset))
        for raw in ("right_square_bracket", "left_square_bracket", "slash", "escape,"):
            assert raw not in text
        assert "] " in text and "/ " in text


@pytest.mark.parametrize("key, tab", [("a", "tab-analyses"), ("t", "tab-results"), ("c", "tab-config"), ("o", "tab-log")])
async def test_run_detail_tabs_have_keys(make_app, key, tab):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mode(pilot, "detail", RUN_A)
        tabs = app.screen.query_one("#detail-tabs", TabbedContent)
        if tab == "tab-log":
            tabs.active = "tab-config"
        await pilot.press(key)
        await settle(pilot, 1)
        assert tabs.active == tab


async def test_the_log_shows_its_last_lines(make_app, home):
    (home.run_dir(RUN_A) / "run.log").write_text("".join(f"epoch {i}/200\n" for i in range(1, 201)))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mode(pilot, "detail", RUN_A)
        log = app.screen.query_one("#detail-log", Log)
        assert log.line_count >= 200 and log.max_scroll_y > 0
        assert log.scroll_y == log.max_scroll_y
        await pilot.press("c", "o")  # away and back: still at the end
        await settle(pilot, 1)
        assert log.scroll_y == log.max_scroll_y


@pytest.mark.parametrize("mode", ["runs", "detail"])
async def test_x_on_a_finished_run_says_why_nothing_happens(make_app, mode):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.run_id = RUN_B
        if mode == "runs":
            table = app.screen.query_one("#runs-table", DataTable)
            table.move_cursor(row=table.get_row_index(RUN_B))
        else:
            await app.switch_mode(mode)
        await settle(pilot, 1)
        await pilot.press("x")
        await settle(pilot, 1)
        messages = [n.message for n in app._notifications]
        assert any(f"Nothing to cancel: {RUN_B} has already completed" in m and "still running" in m for m in messages)


async def test_escape_leaves_the_sql_editor_then_a_digit_switches(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.switch_mode("sql")
        await settle(pilot)
        editor = app.screen.query_one("#sql-editor", TextArea)
        before = editor.text
        await pilot.press("escape")
        assert not editor.has_focus
        await pilot.press("escape")  # from the results: nothing focused, no query to cancel
        assert app.focused is None
        await pilot.press("3")
        await settle(pilot, 1)
        assert app.current_mode == "detail" and editor.text == before
