"""``memscope figures``: stdout lists the files written, notes and errors go to stderr as one
line each, and the exit codes are the documented ones."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.errors import ExitCode


def invoke(*args: str):
    return CliRunner().invoke(app, ["figures", *args])


def test_a_run_gets_one_file_per_figure(localized_run, tmp_path):
    out = tmp_path / "figs"
    result = invoke(localized_run.run_id, "--home", str(localized_run.home.root), "-o", str(out), "--format", "png")
    assert result.exit_code == 0, result.stderr
    printed = result.stdout.splitlines()
    assert sorted(printed) == sorted(str(p) for p in out.iterdir())
    assert [Path(p).name for p in printed] == [
        "gradient_norms.png", "gradient_cosine.png", "rewinding.png", "retraining.png", "neuron_flipping.png"]
    assert result.stderr.splitlines() == [
        "memscope: note: etd: skipped, the run has no etd_evals rows (train a run with [etd] enabled = true and "
        "analysis 'etd', e.g. memscope run digits_etd)"]


def test_default_folder_is_figures_slash_the_full_id(etd_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suffix = etd_run.run_id.rsplit("-", 1)[-1]
    result = invoke(suffix, "--home", str(etd_run.home.root), "--format", "svg")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        str(Path("figures") / etd_run.run_id / f"{name}.svg") for name in ("gradient_norms", "gradient_cosine", "etd")]
    assert all((tmp_path / line).is_file() for line in result.stdout.splitlines())
    notes = result.stderr.splitlines()  # the localizing analyses refuse an ETD-trained run: say so, not "run it"
    assert len(notes) == 3 and all("refuses a model trained with example-tied dropout" in n for n in notes), notes


def test_a_sweep_gets_one_file_per_figure_and_cell(fabricated_sweep, tmp_path):
    home, sweep_id = fabricated_sweep
    result = invoke("--sweep", sweep_id, "--home", str(home.root), "-o", str(tmp_path / "s"), "-f", "pdf")
    assert result.exit_code == 0, result.stderr
    names = [Path(line).name for line in result.stdout.splitlines()]
    assert len(names) == 12 and "rewinding-noise.rate_0.2.pdf" in names  # 6 figures x 2 cells
    assert result.stderr == ""


def test_nothing_to_draw_names_the_analyses_to_run(tiny_run, tmp_path):
    result = invoke(tiny_run.run_id, "--home", str(tiny_run.home.root), "-o", str(tmp_path / "none"))
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    error = result.stderr.splitlines()[-1]
    assert error.startswith(f"memscope: error: nothing to draw: run {tiny_run.run_id} has no results")
    for analysis in ("gradient_accounting", "rewinding", "retraining", "neuron_flipping", "etd"):
        assert analysis in error
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "none").exists()


def test_usage_errors_are_one_line_and_exit_2(localized_run, tmp_path):
    home = ["--home", str(localized_run.home.root)]
    cases = {
        "--format 'gif': choose one of png, svg, pdf": [localized_run.run_id, *home, "--format", "gif"],
        "give a run id (see 'memscope runs list') or --sweep SWEEP_ID": home,
        "give a run id or --sweep SWEEP_ID, not both": [localized_run.run_id, "--sweep", "x", *home],
        "no run 'nope' in this home": ["nope", *home],
        "no sweep 'nope' in this home": ["--sweep", "nope", *home],
        f"cannot write figures to {tmp_path / 'a-file'}: ": [localized_run.run_id, *home],
    }
    (tmp_path / "a-file").write_text("not a folder")
    for message, args in cases.items():
        result = invoke(*args, "-o", str(tmp_path / ("a-file" if message.startswith("cannot write") else "x")))
        assert result.exit_code == ExitCode.USAGE, (args, result.stderr)
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr


def test_without_matplotlib_says_how_to_install_it(localized_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails, as when not installed
    result = invoke(localized_run.run_id, "--home", str(localized_run.home.root), "-o", str(tmp_path / "x"))
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.strip() == ("memscope: error: memscope figures needs matplotlib: "
                                     "pip install 'memscope-explorer[figures]'")
    assert result.stdout == ""
