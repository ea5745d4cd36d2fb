"""One smoke test per image format: every figure of a real run is written, and each file is
what its name says (magic bytes). Figures never go through pyplot."""

from __future__ import annotations

import subprocess
import sys

import pytest

from memscope.figures.build import write_figures
from memscope.results.source import open_run

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<?xml"}
LOCALIZATION_FIGURES = ("gradient_norms", "gradient_cosine", "rewinding", "retraining", "neuron_flipping")


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_each_format_writes_real_files(localized_run, tmp_path, fmt):
    with open_run(localized_run.home, localized_run.run_id) as src:
        written = write_figures(src, tmp_path / fmt, fmt)
    assert [p.name for p in written.files] == [f"{name}.{fmt}" for name in LOCALIZATION_FIGURES]
    for path in written.files:
        head = path.read_bytes()[:64]
        assert head.startswith(MAGIC[fmt]), (path.name, head)
        if fmt == "svg":
            assert b"<svg" in path.read_bytes()[:2000]
    assert written.skipped == ["etd: skipped, the run has no etd_evals rows (train a run with [etd] enabled = true "
                               "and analysis 'etd', e.g. memscope run digits_etd)"]


def test_the_same_results_give_the_same_file(localized_run, tmp_path):
    """No creation date or random id in the file: figures can be committed next to a paper."""
    with open_run(localized_run.home, localized_run.run_id) as src:
        first = write_figures(src, tmp_path / "a", "svg", names=("rewinding",)).files[0]
        second = write_figures(src, tmp_path / "b", "svg", names=("rewinding",)).files[0]
    assert first.read_bytes() == second.read_bytes()


def test_figures_leave_pyplot_alone(localized_run, tmp_path):
    """Drawn on Figure objects with their own canvas: pyplot (and its global figure list and
    interactive backend) is never imported."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from memscope.figures.build import write_figures\n"
        "from memscope.results.source import open_run\n"
        f"with open_run({str(localized_run.home.root)!r}, {localized_run.run_id!r}) as src:\n"
        f"    files = write_figures(src, Path({str(tmp_path)!r}), 'png').files\n"
        "assert files\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
