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


def canvas(plot) -> list[str]:
    """The plot as plain text lines (plotext's canvas without colour codes)."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", plot.plt.build()).splitlines()


def test_integer_bins_are_shared_whole_numbers():
    from memscope.tui.widgets.plots import integer_bins

    labels, counts = integer_bins([[1, 2, 2, 5], [2, 3]], max_bins=20)
    assert labels == ["1", "2", "3", "4", "5"]
    assert counts == [[1, 2, 0, 0, 1], [0, 1, 1, 0, 0]]
    labels, counts = integer_bins([list(range(0, 40))], max_bins=10)
    assert labels[:2] == ["0–3", "4–7"] and sum(counts[0]) == 40 and len(labels) == 10
    assert integer_bins([[], []]) == ([], [[], []])


def test_count_ticks_are_whole_numbers():
    from memscope.tui.widgets.plots import count_ticks

    assert count_ticks(3) == [0, 1, 2, 3]
    ticks = count_ticks(23)
    assert all(isinstance(t, int) for t in ticks) and ticks[0] == 0 and ticks[-1] >= 23 and len(ticks) <= 6


async def test_series_have_their_own_glyphs_and_histograms_integer_ticks():
    from memscope.tui.widgets.plots import bar_marker, line_marker

    app = PlotApp()
    async with app.run_test(size=(80, 48)) as pilot:
        lines = app.query_one("#lines", LinePlot)
        lines.show([Series(name, [1, 2, 3], [v, v, v], kind) for name, v, kind in
                    (("clean", 0.9, "clean"), ("noisy", 0.5, "noisy"), ("test", 0.2, "test"))])
        hist = app.query_one("#hist", HistogramPlot)
        hist.show([Series("clean", [], [4, 6, 6, 9, 11], "clean"), Series("noisy", [], [1, 1, 2, 3], "noisy")])
        bars = app.query_one("#bars", BarPlot)
        bars.show(["clean-train", "noisy-train", "test"],
                  [Series("kept", [], [1.0, 1.0, 0.9], "test"), Series("dropped", [], [1.0, 0.1, 0.9], "noisy")])
        await pilot.pause()
        assert len({line_marker(i) for i in range(3)}) == 3 and len({bar_marker(i) for i in range(2)}) == 2
        legend = "\n".join(canvas(lines))
        assert "▞▞ clean" in legend and "•• test" in legend and "noisy" in legend
        # the histogram: one bar per whole number, side by side, whole-number ticks, legend in the title
        text = canvas(hist)
        assert "██ clean  ▒▒ noisy" in text[0]
        x_labels = text[-1].split()
        assert x_labels and all(label.isdigit() for label in x_labels), x_labels
        y_labels = [line.split("┤")[0].strip() for line in text if "┤" in line]
        assert y_labels and all(float(y).is_integer() for y in y_labels), y_labels
        assert any("▒" in line for line in text[1:]) and any("█" in line for line in text[1:])
        # bars: the legend is in the title row, not over the first bars
        text = canvas(bars)
        assert "██ kept  ▒▒ dropped" in text[0]
        assert not any("kept" in line or "dropped" in line for line in text[1:])
