"""Numbers in the app: '—' for untargeted rows, compact losses, three-decimal accuracies."""

from __future__ import annotations

import re

from textual.widgets import DataTable, Label

from memscope.format import MISSING
from memscope.tui.screens.examples import example_cell
from tests.tui.conftest import open_mode, settle
from tests.tui.fixture_home import RUN_A


def test_example_cells():
    assert example_cell("neurons_to_flip", None).plain == MISSING
    assert example_cell("loss", 0.000139812).plain == "0.0001398"
    assert example_cell("loss", 2.302585).plain == "2.303"
    assert example_cell("correct", True).plain == "✓"


async def test_untargeted_rows_show_a_dash_not_null(make_app):
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_mode(pilot, "examples", RUN_A)
        table = app.screen.query_one("#examples-table", DataTable)
        column = [str(table.get_row_at(i)[list(table.columns).index("neurons_to_flip")]) for i in range(table.row_count)]
        assert MISSING in column and "NULL" not in column
        assert any(c.isdigit() for c in column)  # targeted rows keep their count


async def test_run_detail_facts_use_three_decimals(make_app):
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_mode(pilot, "detail", RUN_A)
        facts = str(app.screen.query_one("#detail-facts", Label).render())
        numbers = re.findall(r"(?:clean|test) (\d\.\d+)", facts)
        assert numbers and all(len(n.split(".")[1]) == 3 for n in numbers), facts


async def test_etd_table_accuracies_have_three_decimals(make_app):
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_mode(pilot, "layers", RUN_A)
        await pilot.press("d")
        await settle(pilot, 1)
        table = app.screen.query_one("#etd-table", DataTable)
        rows = {str(table.get_row_at(i)[0]): [str(v) for v in table.get_row_at(i)[1:]] for i in range(table.row_count)}
        assert rows["kept"] == ["0.970", "0.880", "0.080", "0.830"]
