"""The paper's figures drawn with matplotlib, one function per figure.

Each ``draw_*`` takes the numbers from ``memscope.figures.data`` and returns a new
``matplotlib.figure.Figure`` (never pyplot), styled by ``memscope.figures.style``. ``note``
is a line under the title: a sweep cell and its seeds, for instance. Where a line carries a
std (a sweep cell), it is drawn as a band (lines) or error bars (points, bars).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

from memscope.figures import style
from memscope.figures.data import CosineHeatmap, EtdEvals, Flips, GradientNorms, Line, Retrains, Rewinds

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

HATCHES = ("", "///", "...", "xxx")
MARKS_PER_LINE = 8  # markers on a long curve: enough to tell lines apart, few enough to read


def _title(fig: "Figure", title: str, note: str) -> None:
    fig.suptitle(f"{title}\n{note}" if note else title)


def _plot(ax: "Axes", line: Line, label: str, look: dict[str, str], band: bool = True) -> None:
    xs = [x for x, y in zip(line.x, line.y) if y is not None]
    ys = [y for y in line.y if y is not None]
    every = max(1, math.ceil(len(xs) / MARKS_PER_LINE))
    ax.plot(xs, ys, label=label, markevery=every, **look)
    if line.std is None:
        return
    stds = [s or 0.0 for s, y in zip(line.std, line.y) if y is not None]
    if band:
        ax.fill_between(xs, [y - s for y, s in zip(ys, stds)], [y + s for y, s in zip(ys, stds)], color=look["color"], alpha=0.2, linewidth=0)
    else:
        ax.errorbar(xs, ys, yerr=stds, fmt="none", ecolor=look["color"], elinewidth=0.8, capsize=2)


def _grid(fig: "Figure", n: int, ncols: int) -> list["Axes"]:
    rows = math.ceil(n / ncols)
    axes = fig.subplots(rows, ncols, squeeze=False, sharex=True).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def _epoch_axis(ax: "Axes", label: str) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label)


def _layer_axis(ax: "Axes", layers: Sequence[str]) -> None:
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_xlabel("layer")


def draw_gradient_norms(data: GradientNorms, note: str = "") -> "Figure":
    with style.styled():
        ncols = min(4, len(data.layers))
        rows = math.ceil(len(data.layers) / ncols)
        fig = style.new_figure(style.PAGE_WIDTH if ncols > 1 else style.COLUMN_WIDTH, 0.6 + 1.6 * rows)
        axes = _grid(fig, len(data.layers), ncols)
        for i, (ax, layer) in enumerate(zip(axes, data.layers)):
            _plot(ax, data.clean[layer], "clean examples", style.CLEAN)
            _plot(ax, data.noisy[layer], "noisy examples", style.NOISY)
            ax.set_title(layer)
            ax.set_ylim(bottom=0)
            if i % ncols == 0:
                ax.set_ylabel("gradient norm")
            _epoch_axis(ax, "epoch" if i >= len(data.layers) - ncols else "")
            if i >= len(data.layers) - ncols:
                ax.xaxis.set_tick_params(labelbottom=True)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=2)
        _title(fig, "Gradient norm of clean vs noisy examples per layer (sum over each epoch)", note)
    return fig


def draw_cosine(data: CosineHeatmap, note: str = "") -> "Figure":
    import numpy as np

    with style.styled():
        fig = style.new_figure(style.COLUMN_WIDTH, 1.2 + 0.22 * len(data.layers))
        ax = fig.add_subplot()
        values = np.array([[np.nan if v is None else v for v in row] for row in data.values], dtype=float)
        image = ax.imshow(values, aspect="auto", cmap=style.DIVERGING, vmin=-1.0, vmax=1.0, interpolation="nearest")
        ax.set_yticks(range(len(data.layers)))
        ax.set_yticklabels(data.layers)
        ticks = [i for i, _ in enumerate(data.epochs)][:: max(1, math.ceil(len(data.epochs) / 10))]
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(data.epochs[i]) for i in ticks])
        ax.set_xlabel("epoch")
        ax.set_ylabel("layer")
        ax.grid(False)
        fig.colorbar(image, ax=ax, label="cosine(clean, noisy gradient)", shrink=0.9)
        _title(fig, "Cosine between clean and noisy gradients", note)
    return fig


def draw_rewinds(data: Rewinds, note: str = "") -> "Figure":
    from matplotlib import colormaps

    with style.styled():
        fig = style.new_figure(style.PAGE_WIDTH, 2.8)
        axes = fig.subplots(1, 2, sharey=True)
        cmap = colormaps[style.SEQUENTIAL]
        last = max(data.checkpoints) or 1
        for ax, lines, what in ((axes[0], data.noisy, "noisy train (noisy labels)"), (axes[1], data.clean, "clean train")):
            for i, epoch in enumerate(data.checkpoints):
                look = {"color": cmap(0.9 * epoch / last), "marker": style.MARKERS[i % len(style.MARKERS)],
                        "linestyle": style.LINESTYLES[i % len(style.LINESTYLES)]}
                line = lines[epoch]
                if line.std is not None:  # error bars: nudge each checkpoint sideways so they stay apart
                    shift = (i - (len(data.checkpoints) - 1) / 2) * 0.06
                    line = Line([x + shift for x in line.x], line.y, line.std)
                _plot(ax, line, "initial weights" if epoch == 0 else f"epoch {epoch}", look, band=False)
            ax.set_title(f"accuracy on {what}")
            ax.set_ylim(-0.02, 1.02)
            _layer_axis(ax, data.layers)
        axes[0].set_ylabel("accuracy after rewinding the layer")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center", title="rewound to")
        _title(fig, "Layer rewinding: one layer at a time back to an earlier checkpoint", note)
    return fig


def draw_retrains(data: Retrains, note: str = "") -> "Figure":
    with style.styled():
        fig = style.new_figure(style.PAGE_WIDTH, 2.8)
        axes = fig.subplots(1, 2, sharey=True)
        for ax, lines, what in ((axes[0], data.noisy, "noisy train (noisy labels)"), (axes[1], data.clean, "clean train")):
            for i, layer in enumerate(data.layers):
                _plot(ax, lines[layer], layer, style.series_style(i))
            ax.set_title(f"accuracy on {what}")
            _epoch_axis(ax, "retraining epoch (clean examples only)")
            ax.set_ylim(-0.02, 1.02)
        axes[0].set_ylabel("accuracy")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center", title="retrained layer")
        reset = "initial weights" if data.reset_epoch == 0 else f"epoch {data.reset_epoch}"
        _title(fig, f"Layer retraining: one layer reset to its {reset}, the rest frozen", note)
    return fig


def _bins(values: Sequence[int]) -> list[int]:
    """Bin edges: one per neuron count while they are few, else about 20 equal bins."""
    top = max(values, default=1)
    step = 1 if top <= 30 else math.ceil(top / 20)
    return list(range(1, top + step + 1, step))


def _neuron_bars(ax: "Axes", data: Flips) -> None:
    """The two groups' histograms side by side in shared bins (counted targets that never
    flipped are told in the legend: they have no count to bin)."""
    import numpy as np

    edges = _bins(data.neurons["clean"] + data.neurons["noisy"])
    width = (edges[1] - edges[0]) * 0.4
    for j, group in enumerate(("clean", "noisy")):
        counts, _ = np.histogram(data.neurons[group], bins=edges)
        n, stuck = len(data.neurons[group]), data.not_flipped[group]
        label = f"{group} ({n} flipped" + (f", {stuck} not within the cap)" if stuck else ")")
        centres = [(a + b - 1) / 2 + (j - 0.5) * width for a, b in zip(edges, edges[1:])]
        ax.bar(centres, counts, width=width, color=style.GROUP_STYLE[group]["color"], hatch=HATCHES[j * 2],
               edgecolor="white", linewidth=0.3, label=label)
    if edges[1] - edges[0] == 1 and len(edges) <= 16:
        ax.set_xticks(edges[:-1])


def draw_flips(data: Flips, note: str = "") -> "Figure":
    from matplotlib.ticker import MaxNLocator

    with style.styled():
        fig = style.new_figure(style.PAGE_WIDTH, 2.8)
        hist, place = fig.subplots(1, 2, width_ratios=(1, 1.3))
        _neuron_bars(hist, data)
        for ax in (hist, place):
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts
        hist.set_xlabel("neurons zeroed to flip the prediction")
        hist.set_ylabel("targets")
        hist.set_title("neurons to flip (targets fitted at the start)")
        hist.legend(loc="upper right")
        width = 0.4
        for j, group in enumerate(("clean", "noisy")):
            xs = [i + (j - 0.5) * width for i in range(len(data.layers))]
            place.bar(xs, data.edits[group], width=width, color=style.GROUP_STYLE[group]["color"], hatch=HATCHES[j * 2],
                      edgecolor="white", linewidth=0.3, label=group)
        place.set_title("where the zeroed parameters sit (flipped targets)")
        place.set_ylabel("zeroed parameters")
        _layer_axis(place, data.layers)
        place.legend()
        skipped = data.skipped_note()
        if skipped:
            fig.text(0.01, 0.0, skipped, fontsize=7, ha="left", va="bottom", style="italic")
        _title(fig, "Neuron flipping: zeroing parameters until a training example's prediction changes", note)
    return fig


def draw_etd(data: EtdEvals, note: str = "") -> "Figure":
    with style.styled():
        fig = style.new_figure(style.COLUMN_WIDTH, 2.6)
        ax = fig.add_subplot()
        width = 0.8 / max(1, len(data.modes))
        colours = {"kept": style.OKABE_ITO["blue"], "dropped": style.OKABE_ITO["vermillion"], "example": style.OKABE_ITO["bluish_green"]}
        hatches = {"kept": HATCHES[1], "dropped": HATCHES[2], "example": HATCHES[0]}
        for j, mode in enumerate(data.modes):
            line = data.values[mode]
            xs = [x + (j - (len(data.modes) - 1) / 2) * width for x in line.x]
            keep = [i for i, y in enumerate(line.y) if y is not None]  # a missing value is no bar, not a 0
            xs, ys = [xs[i] for i in keep], [line.y[i] for i in keep]
            std = None if line.std is None else [line.std[i] or 0.0 for i in keep]
            ax.bar(xs, ys, width=width, color=colours.get(mode, style.CYCLE[j % len(style.CYCLE)]), hatch=hatches.get(mode, HATCHES[3]),
                   edgecolor="white", linewidth=0.3, label=_mode_label(mode),
                   yerr=std, capsize=2, error_kw={"elinewidth": 0.8})
        ax.set_xticks(range(len(data.categories)))
        ax.set_xticklabels(data.categories)
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.05)
        fig.legend(loc="outside lower center", ncols=1)
        _title(fig, "Example-tied dropout:\nmemorization neurons kept vs dropped", note)
    return fig


def _mode_label(mode: str) -> str:
    return {
        "kept": "kept (all neurons)",
        "dropped": "dropped (memorization neurons off)",
        "example": "each example's own mask",
    }.get(mode, mode)
