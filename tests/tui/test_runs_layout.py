"""Runs at 80x24 and 120x36: the key columns fit without horizontal scrolling; the filter."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Label

from memscope.tui.screens.runs import COLUMNS, PRIORITY, fit_columns
from tests.tui.conftest import settle
from tests.tui.fixture_home import RUN_A, RUN_B

KEY_COLUMNS = ["run_id", "status", "noise", "noisy_train_acc", "test_acc"]


def column_keys(table: DataTable) -> list[str]:
    return [str(key.value) for key in table.columns]


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_key_columns_fit_without_horizontal_scrolling(make_app, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        keys = column_keys(table)
        assert set(KEY_COLUMNS) <= set(keys)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert table.max_scroll_x == 0
        if size[0] >= 120:
            assert "created_at" in keys  # 'started' is whole, not 'starte'
        # every shown cell is whole (the column is as wide as its widest cell)
        for key in keys:
            column = table.columns[key]
            assert column.content_width >= max(len(str(table.get_cell(r, key))) for r in (RUN_A, RUN_B))


def test_fit_columns_drops_by_priority_and_keeps_display_order():
    widths = {key: 10 for key, _ in COLUMNS}
    shown = fit_columns(widths, 6 * 12)
    assert shown == [key for key, _ in COLUMNS if key in PRIORITY[:6]]
    assert fit_columns(widths, 1000) == [key for key, _ in COLUMNS]


async def test_resize_brings_columns_back(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        narrow = column_keys(table)
        await pilot.resize_terminal(160, 36)
        await settle(pilot, 1)
        assert len(column_keys(table)) > len(narrow) and "created_at" in column_keys(table)


@pytest.mark.parametrize("query", ["rate:0.2", "noise:0.2", "noise_rate:0.2", "rate:>0.15"])
async def test_noise_rate_filters(make_app, query):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.screen.query_one("#runs-filter", Input).value = query
        await settle(pilot, 1)
        table = app.screen.query_one("#runs-table", DataTable)
        assert [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)] == [RUN_B]


async def test_unknown_filter_key_is_an_error_listing_the_keys(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.screen.query_one("#runs-filter", Input).value = "bogus:x"
        await settle(pilot, 1)
        empty = app.screen.query_one("#runs-empty", Label)
        text = str(empty.render())
        assert empty.display and empty.has_class("-error")
        assert "unknown filter key 'bogus'" in text and "status" in text and "rate" in text
        app.screen.query_one("#runs-filter", Input).value = "noise:symmetric"
        await settle(pilot, 1)
        assert not empty.display and app.screen.query_one("#runs-table", DataTable).row_count == 5
