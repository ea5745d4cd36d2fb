"""80x24 and 120x36: the run id in the mode bar, Compare showing every run."""

from __future__ import annotations

import re

import pytest
from textual.widgets import DataTable, Static

from memscope.results.configs import config_diff
from memscope.tui.screens.compare import CompareScreen
from tests.tui.conftest import settle
from tests.tui.fixture_home import RUN_A, RUN_B, RUN_C


def shown(widget) -> str:
    """What the widget shows on screen (its rendered lines, not its content)."""
    return "".join(strip.text for strip in widget.render_lines(widget.region.reset_offset))


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
@pytest.mark.parametrize("mode", ["detail", "examples", "layers"])
async def test_the_whole_run_id_shows_in_the_mode_bar(make_app, size, mode):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.run_id = RUN_A
        await app.switch_mode(mode)
        await settle(pilot, 1)
        bar = app.screen.query_one("#mode-run", Static)
        assert f"run {RUN_A}" in shown(bar)
        tabs = shown(app.screen.query_one("#mode-tabs", Static))
        label = {"detail": "3 Run", "examples": "4 Examples", "layers": "5 Layers"}[mode]
        assert label in tabs  # the current section keeps its name
        for key in "1234567":
            assert re.search(rf"\b{key}\b", tabs)  # every section's key is still there to click


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_compare_shows_every_run(make_app, size):
    app = make_app()
    runs = [RUN_A, RUN_B, RUN_C]
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.push_screen(CompareScreen(runs))
        await settle(pilot)
        table = app.screen.query_one("#compare-diff", DataTable)
        assert [str(c.label) for c in table.columns.values()] == ["key", "#1", "#2", "#3"]
        assert table.max_scroll_x == 0
        assert table.virtual_size.width <= table.scrollable_content_region.width
        legend = shown(app.screen.query_one("#compare-runs", Static))
        for i, run_id in enumerate(runs):
            assert f"#{i + 1} {run_id}" in legend
        keys = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        row = table.get_row_at(keys.index("model.name"))
        assert [str(v) for v in row[1:]] == ["cnn", "mlp", "cnn"]


def test_analyses_in_another_order_are_not_a_difference(home):
    for run_id, analyses in ((RUN_A, '["neuron_flipping", "rewinding"]'), (RUN_C, '["rewinding", "neuron_flipping"]')):
        path = home.run_dir(run_id) / "config.toml"
        path.write_text(path.read_text().replace("analyses = []", f"analyses = {analyses}"))
    keys = [key for key, _ in config_diff(home, [RUN_A, RUN_C])]
    assert "analyses" not in keys and "seed" in keys
    path = home.run_dir(RUN_C) / "config.toml"
    path.write_text(path.read_text().replace('analyses = ["rewinding", "neuron_flipping"]', 'analyses = ["rewinding"]'))
    diff = dict(config_diff(home, [RUN_A, RUN_C]))
    assert diff["analyses"] == ["[neuron_flipping, rewinding]", "[rewinding]"]
