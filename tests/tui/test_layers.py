"""The Layers & neurons screen: gradient accounting over the whole training, neuron flipping
over counted targets with its collateral damage (Pilot, on the fixture home)."""

from __future__ import annotations

from textual.widgets import DataTable, Label

from tests.tui.conftest import open_mode
from tests.tui.fixture_home import RUN_A

SIZE = (120, 40)


async def test_gradients_by_five_epoch_window_and_flips_over_counted_targets(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mode(pilot, "layers", RUN_A)
        screen = app.screen
        # the fixture trains 6 epochs: windows 1-5 and 6, every layer, cosine / norm ratio
        table = screen.query_one("#gradients-windows", DataTable)
        headers = [str(c.label) for c in table.columns.values()]
        assert headers == ["layer", "ep 1-5", "ep 6"]
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["conv1", "conv2", "conv3", "fc"]
        assert " / " in str(table.get_row_at(0)[1])
        assert screen.query_one("#gradients-cosine").cols == ["1-5", "6"]
        summary = str(screen.query_one("#flips-summary", Label).render())
        # 20 noisy targets counted, 3 skipped as not memorized; the damage beside each count
        assert "noisy: " in summary and "/20 flipped" in summary and "median drop: test 0.0" in summary
        assert "skipped 3 of 23 noisy (not memorized)" in summary
