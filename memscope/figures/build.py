"""Which figures there are, what each reads, and writing them as image files.

A figure reads one analysis's tables through ``memscope.results.analyses``; when the run (or
no run of the sweep) has rows for them it is skipped with a note naming the analysis to run.
For a sweep, each figure is drawn once per grid cell: lines as the mean over the cell's
seeds with a ± std band (``grouped.over_seeds``), neuron-flipping targets pooled over seeds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from memscope.errors import ConfigError
from memscope.figures import data as fd

if TYPE_CHECKING:
    import pyarrow as pa
    from matplotlib.figure import Figure

    from memscope.results.source import Results

INSTALL_HINT = "pip install 'memscope-explorer[figures]'"


@dataclass(frozen=True)
class FigureSpec:
    """One of the paper's figures: file stem, the analysis and tables it needs, how to read
    its tables, the values a sweep averages over seeds (by the ``by`` columns), and the
    data and draw steps."""

    name: str
    analysis: str
    tables: tuple[str, ...]
    read: Callable[["Results"], tuple["pa.Table", ...]]
    data: Callable[..., Any]
    draw: str  # the function's name in memscope.figures.draw (imported with matplotlib)
    by: tuple[str, ...] = ()
    values: tuple[str, ...] = ()  # empty: a sweep cell's rows are pooled, not averaged
    how: str = ""  # how to get the data, when running the analysis is not enough
    localizes: bool = False  # refused on a run trained with example-tied dropout

    @property
    def hint(self) -> str:
        return self.how or f"run analysis '{self.analysis}': memscope analyze RUN_ID -a {self.analysis}"


def _layer_epochs(src: "Results") -> tuple["pa.Table", ...]:
    from memscope.results.analyses import gradients

    return (gradients.layer_epochs(src),)


def _rewinds(src: "Results") -> tuple["pa.Table", ...]:
    from memscope.results.analyses import rewinding

    return (rewinding.rewinds(src),)


def _retrains(src: "Results") -> tuple["pa.Table", ...]:
    from memscope.results.analyses import retraining

    return (retraining.retrains(src),)


def _flips(src: "Results") -> tuple["pa.Table", ...]:
    from memscope.results.analyses import flipping, model

    return flipping.targets(src), flipping.placement(src), model.layers(src)


def _etd(src: "Results") -> tuple["pa.Table", ...]:
    from memscope.results.analyses import etd

    return (etd.evals(src),)


ACCURACIES = ("clean_train_acc", "noisy_train_acc")
FIGURES = (
    FigureSpec("gradient_norms", "gradient_accounting", ("layer_epochs",), _layer_epochs, fd.figure_data_gradient_norms,
               "draw_gradient_norms", ("layer_index", "layer", "epoch"), ("clean_norm", "noisy_norm")),
    FigureSpec("gradient_cosine", "gradient_accounting", ("layer_epochs",), _layer_epochs, fd.figure_data_cosine,
               "draw_cosine", ("layer_index", "layer", "epoch"), ("cosine",)),
    FigureSpec("rewinding", "rewinding", ("layer_rewinds",), _rewinds, fd.figure_data_rewinds,
               "draw_rewinds", ("layer_index", "layer", "checkpoint_epoch"), ACCURACIES, localizes=True),
    FigureSpec("retraining", "retraining", ("layer_retrains",), _retrains, fd.figure_data_retrains,
               "draw_retrains", ("layer_index", "layer", "reset_epoch", "retrain_epoch"), ACCURACIES, localizes=True),
    FigureSpec("neuron_flipping", "neuron_flipping", ("neuron_flips",), _flips, fd.figure_data_flips,
               "draw_flips", localizes=True),
    FigureSpec("etd", "etd", ("etd_evals",), _etd, fd.figure_data_etd,
               "draw_etd", ("mode",), tuple(name for name, _ in fd.ETD_CATEGORIES),
               "train a run with [etd] enabled = true and analysis 'etd', e.g. memscope run digits_etd"),
)
FIGURE_NAMES = tuple(f.name for f in FIGURES)


@dataclass
class Written:
    """What :func:`write_figures` did: the files, and a note per figure it left out."""

    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def default_out_dir(subject: str) -> Path:
    """Where figures go unless told otherwise: ``figures/<run or sweep id>`` under the
    current folder (the CLI's default, and where the app saves)."""
    return Path("figures") / subject


def require_matplotlib() -> None:
    """``ConfigError`` (exit 2) with the install line when matplotlib is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigError(f"memscope figures needs matplotlib: {INSTALL_HINT}")


def check_format(fmt: str) -> str:
    from memscope.figures.style import FORMATS

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return fmt


def draw_function(spec: FigureSpec) -> Callable[..., "Figure"]:
    from memscope.figures import draw

    return getattr(draw, spec.draw)


def figure_of(spec: FigureSpec, src: "Results") -> "Figure | None":
    """One run's figure (None when the run has no rows for it): what the app saves."""
    if not src.has(*spec.tables):
        return None
    return draw_function(spec)(spec.data(*spec.read(src)))


def skip_note(spec: FigureSpec, subject: str, etd_trained: bool = False) -> str:
    hint = spec.hint
    if etd_trained and spec.localizes:
        hint = f"'{spec.analysis}' refuses a model trained with example-tied dropout: draw it from a run without [etd]"
    return f"{spec.name}: skipped, {subject} has no {' or '.join(spec.tables)} rows ({hint})"


def write_figures(src: "Results", out_dir: Path, fmt: str = "png", names: tuple[str, ...] = FIGURE_NAMES,
                  on_file: Callable[[Path], None] | None = None) -> Written:
    """Draw every figure ``src`` has data for into ``out_dir`` as ``<figure>.<fmt>`` (a run)
    or ``<figure>-<cell>.<fmt>`` (each cell of a sweep); ``on_file`` hears of each file as
    it is written."""
    from memscope.results.source import SweepResults

    require_matplotlib()
    check_format(fmt)
    written = Written()
    subject = "the sweep" if isinstance(src, SweepResults) else "the run"
    etd_trained = not isinstance(src, SweepResults) and src.config_value("etd.enabled", False) is True
    for spec in (f for f in FIGURES if f.name in names):
        if not src.has(*spec.tables):
            written.skipped.append(skip_note(spec, subject, etd_trained))
            continue
        tables = spec.read(src)
        for stem, note, parts in _panels(spec, src, tables):
            figure = draw_function(spec)(spec.data(*parts), note=note)
            written.files.append(_write(figure, out_dir / f"{stem}.{fmt}", fmt))
            if on_file is not None:
                on_file(written.files[-1])
    return written


def _write(figure: "Figure", path: Path, fmt: str) -> Path:
    from memscope.figures.style import save

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return save(figure, path, fmt)
    except OSError as exc:
        raise ConfigError(f"cannot write figures to {path.parent}: {exc.strerror or exc}; choose another folder") from None


def save_run_figures(home: Any, run_id: str, names: tuple[str, ...], fmt: str = "png") -> tuple[Path, Written]:
    """Write the figures ``names`` of one run into its default folder: (folder, what was
    written). What the app's Layers screen calls to save the plot on screen."""
    from memscope.results.source import open_run

    with open_run(home, run_id) as src:
        folder = default_out_dir(src.run_id).absolute()
        return folder, write_figures(src, folder, fmt, names)


def _panels(spec: FigureSpec, src: "Results", tables: tuple["pa.Table", ...]):
    """(file stem, note, tables) per figure file: the run's tables once, or each cell's."""
    from memscope.results.source import SweepResults

    if not isinstance(src, SweepResults):
        yield spec.name, "", tables
        return
    if spec.values:
        from memscope.results.analyses import grouped

        tables = (grouped.over_seeds(src, tables[0], list(spec.by), list(spec.values)),)
    for cell, label in sorted(src.cell_labels.items()):
        parts = tuple(_rows_of_cell(t, cell) for t in tables)
        if parts[0].num_rows == 0:
            continue
        runs = _runs_in(parts[0])
        what = "mean ± std over" if spec.values else "pooled over"
        yield f"{spec.name}-{_slug(label)}", f"{label}: {what} {runs} seed{'s' if runs != 1 else ''}", parts


def _rows_of_cell(table: "pa.Table", cell: int) -> "pa.Table":
    import pyarrow.compute as pc

    return table.filter(pc.equal(table.column("cell"), cell))


def _runs_in(table: "pa.Table") -> int:
    if "n_runs" in table.column_names:
        return int(max(table.column("n_runs").to_pylist(), default=0) or 0)
    return len(set(table.column("run_id").to_pylist()))


def _slug(label: str) -> str:
    """A cell label as part of a file name: ``noise.rate=0.2`` -> ``noise.rate_0.2``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "all"
