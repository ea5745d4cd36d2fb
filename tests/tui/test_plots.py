"""Plot widgets: series colours and many series."""

from __future__ import annotations

from textual.app import App, ComposeResult

from memscope.tui.widgets.plots import CYCLE, BarPlot, HistogramPlot, LinePlot, Series, series_rgb, theme_rgb


class PlotApp(App):
    def compose(self) -> ComposeResult:
        yield HistogramPlot("hist", id="hist")
        yield LinePlot("lines", id="lines")
        yield BarPlot("bars", id="bars")


async def test_many_series_cycle_colours():
    """More series than CYCLE has colours (histogram, lines, bars) draw without an IndexError."""
    app = PlotApp()
    async with app.run_test(size=(80, 40)) as pilot:
        n = len(CYCLE) + 2
        many = [Series(f"s{i}", list(range(5)), [float(i + j) for j in range(5)], f"layer{i}") for i in range(n)]
        app.query_one("#hist", HistogramPlot).show(many, bins=5)
        app.query_one("#lines", LinePlot).show(many)
        app.query_one("#bars", BarPlot).show(["a", "b", "c", "d", "e"], many)
        await pilot.pause(0.1)
        hist = app.query_one("#hist", HistogramPlot)
        assert series_rgb(hist, "layer9", len(CYCLE)) == theme_rgb(hist, CYCLE[0])
        assert series_rgb(hist, "noisy", 3) == theme_rgb(hist, "error")
        assert series_rgb(hist, "primary", 3) == theme_rgb(hist, "primary")
        for plot in (hist, app.query_one("#lines"), app.query_one("#bars")):
            assert plot.render() is not None
