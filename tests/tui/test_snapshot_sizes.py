"""SVG snapshots at the two sizes a newcomer's terminal has: 120x36 and 80x24.

The layouts that change with the width: Runs' columns, the mode bar's run id, Compare's
columns, New run's actions row above the Footer, Examples and Run detail. Update with
``pytest tests/tui/test_snapshot_sizes.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import pytest

from tests.tui.fixture_home import RUN_A, RUN_B, RUN_C
from tests.tui.test_snapshots import before

SIZES = {"120x36": (120, 36), "80x24": (80, 24)}


async def compare_three(pilot):
    from textual.widgets import DataTable

    screen = pilot.app.screen
    screen.marked = {RUN_A, RUN_B, RUN_C}
    screen.render_table()
    screen.query_one(DataTable).focus()
    await pilot.press("c")


async def check_bad_rate(pilot):
    from textual.widgets import Input

    pilot.app.screen.query_one("#f-noise--rate", Input).value = "1.5"
    await pilot.press("ctrl+k")


@pytest.mark.parametrize("size", list(SIZES))
class TestSizes:
    def test_runs(self, snap_compare, snapshot_app, size):
        assert snap_compare(snapshot_app(), terminal_size=SIZES[size], run_before=before(None))

    def test_compare_three_runs(self, snap_compare, snapshot_app, size):
        assert snap_compare(snapshot_app(), terminal_size=SIZES[size], run_before=before(None, then=compare_three))

    def test_run_detail(self, snap_compare, snapshot_app, size):
        assert snap_compare(snapshot_app(), terminal_size=SIZES[size], run_before=before("detail"))

    def test_examples(self, snap_compare, snapshot_app, size):
        assert snap_compare(snapshot_app(), terminal_size=SIZES[size], run_before=before("examples"))

    def test_new_run_check_error(self, snap_compare, snapshot_app, size):
        assert snap_compare(snapshot_app(), terminal_size=SIZES[size], run_before=before("new", then=check_bad_rate))
