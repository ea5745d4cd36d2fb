"""How every figure looks: a colour-blind-safe palette, markers and line styles that tell
series apart in grey print too, and sizes readable in a paper.

Colours are Okabe & Ito's eight (distinguishable under the common colour-vision
deficiencies); ordered series (rewind checkpoints) take viridis, the cosine heatmap the
diverging PuOr centred on 0. Fonts are 8 pt at the figure's own size: one-panel figures are
a column wide (3.5 in), small multiples a page wide (7 in), so neither needs scaling.

Figures are built with ``matplotlib.figure.Figure`` (never pyplot: no global figure
registry, no interactive backend) and saved through the Agg/vector canvases; the rc
settings apply only inside :func:`styled`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
# Series by order of appearance: yellow last, it is faint on white.
CYCLE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h")
LINESTYLES = ("-", "--", "-.", ":")
# The two groups every figure compares, always in the same colour, marker and line.
CLEAN = {"color": OKABE_ITO["blue"], "marker": "o", "linestyle": "-"}
NOISY = {"color": OKABE_ITO["vermillion"], "marker": "s", "linestyle": "--"}
GROUP_STYLE = {"clean": CLEAN, "noisy": NOISY}
SEQUENTIAL = "viridis"
DIVERGING = "PuOr_r"  # orange for opposed gradients (cosine < 0), purple for aligned

COLUMN_WIDTH = 3.5  # inches: one column of a two-column paper
PAGE_WIDTH = 7.0  # a figure* across both columns
FORMATS = ("png", "svg", "pdf")
DPI = 300

RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "figure.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "legend.frameon": False,
    "svg.hashsalt": "memscope",  # the same data gives the same SVG bytes
    "pdf.fonttype": 42,  # TrueType in PDFs: editable text, accepted by publishers
}


def series_style(i: int) -> dict[str, str]:
    """The i-th of several unordered series: colour, marker and line style all differ."""
    return {"color": CYCLE[i % len(CYCLE)], "marker": MARKERS[i % len(MARKERS)], "linestyle": LINESTYLES[i % len(LINESTYLES)]}


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """The house rc settings while a figure is drawn and saved; restored afterwards."""
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float, height: float) -> "Figure":
    """A figure with its own canvas, outside pyplot's registry, laid out to fit its labels."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save(figure: "Figure", path: Path, fmt: str) -> Path:
    """Write ``figure`` as ``fmt`` (png, svg or pdf) without a creation date, so a figure
    drawn twice from the same results is the same file."""
    metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]
    with styled():
        figure.savefig(path, format=fmt, metadata=metadata, dpi=DPI)
    return path
