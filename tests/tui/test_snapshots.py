"""SVG snapshots of the main screens at a fixed size, on the deterministic fixture home.

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the SVGs (``tests/tui/__snapshots__/``) before committing them.
"""

from __future__ import annotations

import pytest

from tests.tui.conftest import SNAPSHOT_SIZE, settle
from tests.tui.fixture_home import RUN_A, RUN_B


def before(mode: str | None = None, run_id: str | None = RUN_A, then=None):
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(pilot)
        if run_id is not None:
            app.run_id = run_id
        if mode is not None:
            await app.switch_mode(mode)
        await settle(pilot)
        if then is not None:
            await then(pilot)
            await settle(pilot)
        app.screen.set_focus(None) if mode not in ("sql",) else None
        await settle(pilot)

    return run_before


class TestRunsSnapshots:
    def test_runs_list(self, snap_compare, snapshot_app):
        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before(None))

    def test_compare(self, snap_compare, snapshot_app):
        async def mark_and_compare(pilot):
            from textual.widgets import DataTable

            screen = pilot.app.screen
            screen.marked = {RUN_A, RUN_B}
            screen.render_table()
            screen.query_one(DataTable).focus()
            await pilot.press("c")

        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before(None, then=mark_and_compare))


class TestRunDetailSnapshots:
    def test_completed_run(self, snap_compare, snapshot_app):
        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before("detail"))

    def test_wide_layout(self, snap_compare, snapshot_app):
        assert snap_compare(snapshot_app(), terminal_size=(140, 40), run_before=before("detail"))


class TestExamplesSnapshots:
    def test_examples_table(self, snap_compare, snapshot_app):
        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before("examples"))

    def test_example_detail(self, snap_compare, snapshot_app):
        async def open_first_noisy(pilot):
            from memscope.tui.screens.example_detail import ExampleDetailScreen

            pilot.app.push_screen(ExampleDetailScreen(RUN_A, [6, 11, 22], 0))
            await settle(pilot)

        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before("examples", then=open_first_noisy))


class TestLayersSnapshots:
    @pytest.mark.parametrize("tab", ["gradients", "rewinding", "flips"])
    def test_panel(self, snap_compare, snapshot_app, tab):
        async def show(pilot):
            pilot.app.screen.action_tab(tab)

        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before("layers", then=show))

    def test_empty_panels_say_which_analysis(self, snap_compare, snapshot_app):
        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before("layers", run_id=RUN_B))


class TestSqlSnapshots:
    def test_result(self, snap_compare, snapshot_app):
        async def run_query(pilot):
            from textual.widgets import TextArea

            editor = pilot.app.screen.query_one(TextArea)
            editor.cursor_blink = False  # a blinking cursor makes the picture depend on timing
            editor.text = (
                f"SELECT epoch, round(clean_train_acc, 3) AS clean, round(noisy_train_acc, 3) AS noisy\n"
                f"FROM epochs WHERE run_id = '{RUN_A}' ORDER BY epoch"
            )
            await pilot.press("f5")

        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before("sql", then=run_query))

    def test_error(self, snap_compare, snapshot_app):
        async def run_query(pilot):
            from textual.widgets import TextArea

            editor = pilot.app.screen.query_one(TextArea)
            editor.cursor_blink = False  # a blinking cursor makes the picture depend on timing
            editor.text = "SELECT nope FROM runs"
            await pilot.press("f5")

        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before("sql", then=run_query))


class TestOtherScreensSnapshots:
    def test_new_run(self, snap_compare, snapshot_app):
        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before("new"))

    def test_plugins(self, snap_compare, snapshot_app):
        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before("plugins"))

    def test_help(self, snap_compare, snapshot_app):
        async def help_(pilot):
            await pilot.press("f1")

        assert snap_compare(snapshot_app(), terminal_size=SNAPSHOT_SIZE, run_before=before(None, then=help_))
