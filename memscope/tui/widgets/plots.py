"""Terminal plots: line curves, histograms and bars (plotext) and a heatmap (text cells).

Colours come from the app's theme variables, so plots follow the light and dark themes.
Every series also has its own glyph (line marker or bar fill), so series can be told apart
without colour: in a monochrome terminal, a screenshot, or for a colour-blind reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from rich.text import Text
from textual.color import Color
from textual.reactive import reactive
from textual.widget import Widget
from textual_plotext import PlotextPlot

#: Theme variable per kind of series: clean examples, noisy (memorized) examples, test.
SERIES_COLORS = {"clean": "success", "noisy": "error", "test": "primary", "other": "warning", "loss": "accent"}
CYCLE = ("primary", "error", "success", "warning", "accent", "secondary", "foreground")
#: Line markers per series, in order: a solid line, a thin one, then dots, crosses, pluses.
LINE_MARKERS = ("hd", "braille", "•", "x", "+", "o", "*")
#: Bar fills per series: solid, then two shades a reader can tell apart from it and each other.
BAR_MARKERS = ("█", "▒", "░", "▚", "≡", "#")
#: The most bins a histogram draws (fewer when its plot is narrow: a tick label needs room).
MAX_BINS = 20


def line_marker(index: int) -> str:
    return LINE_MARKERS[index % len(LINE_MARKERS)]


def bar_marker(index: int) -> str:
    return BAR_MARKERS[index % len(BAR_MARKERS)]


def legend_text(labels: Sequence[str]) -> str:
    """``██ clean  ▒▒ noisy``: a bar chart's legend, for its title (plotext's own legend sits
    in the plot's top-left corner, over the first bars)."""
    return "  ".join(f"{bar_marker(i) * 2} {label}" for i, label in enumerate(labels))


def theme_rgb(widget: Widget, variable: str) -> tuple[int, int, int]:
    value = widget.app.theme_variables.get(variable) or widget.app.theme_variables.get("foreground", "#888888")
    r, g, b = Color.parse(value).rgb
    return (r, g, b)


def series_rgb(widget: Widget, name: str, index: int) -> tuple[int, int, int]:
    """The colour of series ``index``: its SERIES_COLORS kind or theme variable, else the cycle."""
    variable = SERIES_COLORS.get(name, name)
    if variable not in widget.app.theme_variables:
        variable = CYCLE[index % len(CYCLE)]
    return theme_rgb(widget, variable)


@dataclass
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: str = "other"  # a SERIES_COLORS key or a theme variable name


def _finite(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    out_x, out_y = [], []
    for x, y in zip(xs, ys):
        if y is not None and isinstance(y, (int, float)) and math.isfinite(y):
            out_x.append(x)
            out_y.append(float(y))
    return out_x, out_y


class ThemedPlot(PlotextPlot):
    """A plotext plot redrawn (``_draw``) when mounted and whenever the app's theme changes."""

    def on_mount(self) -> None:
        super().on_mount()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._draw())
        self._draw()

    def _draw(self) -> None:
        raise NotImplementedError


class LinePlot(ThemedPlot):
    """Curves over epochs; ``show([...Series])`` replaces what is drawn."""

    DEFAULT_CSS = """
    LinePlot { min-height: 8; }
    """

    def __init__(self, title: str = "", xlabel: str = "epoch", ylabel: str = "", ylim: tuple[float, float] | None = None,
                 *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title_text = title
        self.xlabel = xlabel
        self.ylabel = ylabel
        self.ylim = ylim
        self.series: list[Series] = []
        self.empty_text = "no data yet"

    def show(self, series: list[Series], title: str | None = None, empty: str | None = None) -> None:
        self.series = series
        if title is not None:
            self.title_text = title
        if empty is not None:
            self.empty_text = empty
        self._draw()

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        plt = self.plt
        plt.clear_figure()
        plt.title(self.title_text)
        plt.xlabel(self.xlabel)
        if self.ylabel:
            plt.ylabel(self.ylabel)
        drawn = 0
        all_x: list[float] = []
        for i, s in enumerate(self.series):
            xs, ys = _finite(s.xs, s.ys)
            if not xs:
                continue
            plt.plot(xs, ys, label=s.label, color=series_rgb(self, s.color, i), marker=line_marker(i))
            drawn += 1
            all_x.extend(xs)
        if drawn == 0:
            plt.title(f"{self.title_text}: {self.empty_text}" if self.title_text else self.empty_text)
        if self.ylim is not None:
            plt.ylim(*self.ylim)
        ticks = sorted(set(all_x))
        if ticks and all(float(x).is_integer() for x in ticks):
            step = max(1, -(-len(ticks) // 10))
            plt.xticks([int(x) for x in ticks[::step]])
        self.refresh()


def integer_bins(groups: Sequence[Sequence[float]], max_bins: int = MAX_BINS) -> tuple[list[str], list[list[int]]]:
    """Counts per bin for each group, on shared integer bins (counts like neurons to flip).

    One bin per value when the range fits in ``max_bins``, else bins of a whole number of
    values labelled ``lo–hi``; non-integer data get equal-width bins labelled by their start.
    """
    values = [v for g in groups for v in g]
    if not values:
        return [], [[] for _ in groups]
    lo, hi = min(values), max(values)
    if all(float(v).is_integer() for v in values):
        lo, hi = int(lo), int(hi)
        width = max(1, -(-(hi - lo + 1) // max_bins))
        starts = list(range(lo, hi + 1, width))
        labels = [str(a) if width == 1 else f"{a}–{a + width - 1}" for a in starts]
        index = lambda v: (int(v) - lo) // width  # noqa: E731
    else:
        width_f = (hi - lo) / max_bins or 1.0
        starts_f = [lo + i * width_f for i in range(max_bins)]
        labels = [f"{a:.3g}" for a in starts_f]
        index = lambda v: min(max_bins - 1, int((v - lo) / width_f))  # noqa: E731
    counts = [[0] * len(labels) for _ in groups]
    for g, group in enumerate(groups):
        for v in group:
            counts[g][index(v)] += 1
    return labels, counts


def count_ticks(most: int, ticks: int = 5) -> list[int]:
    """Whole-number y ticks from 0 to at least ``most`` (a count is never 0.6 of an example)."""
    step = max(1, -(-most // ticks))
    return list(range(0, most + step, step))


class HistogramPlot(ThemedPlot):
    """Histograms of several groups on shared integer bins, their bars side by side (not
    overlaid, where the last group hid the first), with whole-number ticks."""

    DEFAULT_CSS = """
    HistogramPlot { min-height: 8; }
    """

    def __init__(self, title: str = "", xlabel: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title_text = title
        self.xlabel = xlabel
        self.groups: list[Series] = []  # xs unused; ys are the samples
        self.bins = MAX_BINS

    def show(self, groups: list[Series], bins: int = MAX_BINS) -> None:
        self.groups = groups
        self.bins = bins
        self._draw()

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        plt = self.plt
        plt.clear_figure()
        plt.xlabel(self.xlabel)
        samples = [[float(v) for v in g.ys if v is not None and math.isfinite(float(v))] for g in self.groups]
        shown = [i for i, values in enumerate(samples) if values]
        labels, counts = self._bins([samples[i] for i in shown])
        title = self.title_text
        if labels:
            plt.multiple_bar(labels, counts, marker=[bar_marker(i) for i in range(len(shown))],
                             color=[series_rgb(self, self.groups[i].color, i) for i in shown])
            plt.yticks(count_ticks(max(max(c) for c in counts)))
            title += "  " + legend_text([self.groups[i].label for i in shown])
        plt.title(title)
        self.refresh()

    def _bins(self, samples: list[list[float]]) -> tuple[list[str], list[list[int]]]:
        """As many bins as leave room for every tick label: plotext drops labels that would
        collide, and which ones it drops varies from one process to the next."""
        room = self.size.width - 8  # the y axis and its labels
        bins = self.bins
        while True:
            labels, counts = integer_bins(samples, bins)
            if room <= 0 or bins <= 3 or not labels or len(labels) * (max(map(len, labels)) + 3) <= room:
                return labels, counts
            bins -= 1

    def on_resize(self) -> None:
        self._draw()  # the bins depend on the width


class BarPlot(ThemedPlot):
    """Grouped bars: categories on x, one bar per series."""

    DEFAULT_CSS = """
    BarPlot { min-height: 8; }
    """

    def __init__(self, title: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title_text = title
        self.categories: list[str] = []
        self.series: list[Series] = []

    def show(self, categories: list[str], series: list[Series]) -> None:
        self.categories = categories
        self.series = series
        self._draw()

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        plt = self.plt
        plt.clear_figure()
        title = self.title_text
        if self.categories and self.series:
            colors = [series_rgb(self, s.color, i) for i, s in enumerate(self.series)]
            values = [[0.0 if v is None else float(v) for v in s.ys] for s in self.series]
            plt.multiple_bar(self.categories, values, color=colors, marker=[bar_marker(i) for i in range(len(self.series))])
            if all(v.is_integer() for row in values for v in row):  # counts: whole-number ticks
                plt.yticks(count_ticks(int(max((v for row in values for v in row), default=0))))
            title += "  " + legend_text([s.label for s in self.series])  # in the title, off the bars
        plt.title(title)
        self.refresh()


class Heatmap(Widget):
    """A labelled grid of values in [vmin, vmax], each cell shaded between two theme colours."""

    DEFAULT_CSS = """
    Heatmap { height: auto; width: 1fr; min-height: 3; }
    """

    data_version: reactive[int] = reactive(0)

    def __init__(self, title: str = "", *, low: str = "surface", high: str = "success",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title_text = title
        self.low = low
        self.high = high
        self.rows: list[str] = []
        self.cols: list[str] = []
        self.values: list[list[float | None]] = []
        self.vmin = 0.0
        self.vmax = 1.0
        self.empty_text = "no data yet"

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    def show(self, rows: list[str], cols: list[str], values: list[list[float | None]],
             vmin: float | None = None, vmax: float | None = None, title: str | None = None) -> None:
        self.rows, self.cols, self.values = rows, cols, values
        flat = [v for row in values for v in row if v is not None and math.isfinite(v)]
        self.vmin = vmin if vmin is not None else (min(flat) if flat else 0.0)
        self.vmax = vmax if vmax is not None else (max(flat) if flat else 1.0)
        if title is not None:
            self.title_text = title
        self.data_version += 1
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return 2 + len(self.rows) if self.rows else 2

    def render(self) -> Text:
        out = Text()
        out.append(self.title_text + "\n", style="bold")
        if not self.rows:
            out.append(self.empty_text, style="italic")
            return out
        vars_ = self.app.theme_variables
        low = Color.parse(vars_.get(self.low, vars_.get("surface", "#000000")))
        high = Color.parse(vars_.get(self.high, vars_.get("primary", "#ffffff")))
        label_w = min(18, max(5, max(len(r) for r in self.rows)))
        cell_w = max(6, max(len(c) for c in self.cols) + 1)  # '-0.33' plus a gap
        out.append("layer".ljust(label_w) + " ", style="dim")
        for c in self.cols:
            out.append(c.rjust(cell_w))
        out.append("\n")
        span = (self.vmax - self.vmin) or 1.0
        for r, row in zip(self.rows, self.values):
            out.append(r[:label_w].ljust(label_w) + " ")
            for v in row:
                if v is None or not math.isfinite(v):
                    out.append("·".rjust(cell_w))
                    continue
                t = min(1.0, max(0.0, (v - self.vmin) / span))
                bg = low.blend(high, t)
                fg = bg.get_contrast_text(1.0)
                out.append(f"{v:.2f}".rjust(cell_w), style=f"{fg.hex} on {bg.hex}")
            out.append("\n")
        return out.rstrip() or out


def sparkline(values: Sequence[float], width: int = 12, lo: float = 0.0, hi: float = 1.0) -> str:
    """A text sparkline of the last ``width`` values scaled to [lo, hi]."""
    blocks = "▁▂▃▄▅▆▇█"
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return ""
    if len(vals) > width:  # resample to the width, keeping the last value
        step = len(vals) / width
        vals = [vals[min(len(vals) - 1, int(round((i + 1) * step)) - 1)] for i in range(width)]
    span = (hi - lo) or 1.0
    return "".join(blocks[min(7, max(0, int((v - lo) / span * 7.999)))] for v in vals)
