"""Sweep aggregation over fabricated runs: the report's sections, curves, the torch-free API."""

from __future__ import annotations

import json
import math
import socket

import pyarrow as pa
import pytest

from memscope.store.home import Home, write_parquet_atomic
from memscope.store.runinfo import write_run_info
from memscope.store.schemas import CORE_TABLES
from memscope.sweep import driver as drv
from memscope.sweep.grid import build_grid
from memscope.sweep.store import SWEEP_JSON, read_sweep_json, sweep_dir, write_sweep_json

# (noise.rate, seed) -> final test acc and noisy-train acc
FINAL = {("0.1", "1"): (0.80, 0.30), ("0.1", "2"): (0.90, 0.50), ("0.2", "1"): (0.60, 0.20), ("0.2", "2"): (0.70, 0.40)}


def _part(home: Home, run_id: str, table: str, columns: dict) -> None:
    schema = CORE_TABLES[table]
    n = len(next(iter(columns.values())))
    data = {"run_id": [run_id] * n, **columns}
    data = {name: data.get(name, [None] * n) for name in schema.names}  # newer optional columns: nulls
    folder = home.run_dir(run_id) / table
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(pa.Table.from_pydict(data, schema=schema), folder / "part-000000.parquet")


@pytest.fixture
def fabricated(tmp_path, tiny_config):
    """A finished sweep noise.rate=0.1,0.2 x seed=1,2 whose runs hold hand-made results."""
    home = Home(tmp_path / "home").ensure()
    sid = drv.create_sweep(home, config=tiny_config, axes=build_grid(["noise.rate=0.1,0.2", "seed=1,2"]), overrides=[])
    path = sweep_dir(home, sid) / SWEEP_JSON
    record = read_sweep_json(path)
    for entry in record["runs"]:
        rate, seed = entry["tags"]["noise.rate"], entry["tags"]["seed"]
        run_id = f"20260101-000000-tiny-{entry['index']:04x}"
        test, noisy = FINAL[(rate, seed)]
        home.run_dir(run_id).mkdir(parents=True)
        write_run_info(home.run_dir(run_id), {
            "run_id": run_id, "status": "completed", "pid": None, "hostname": socket.gethostname(),
            "seed": int(seed), "noise_rate": float(rate), "epoch": 2, "epochs": 2,
            "clean_train_acc": 0.95, "noisy_train_acc": noisy, "noisy_train_true_acc": 0.1, "test_acc": test,
            "tags": {"sweep_id": sid, **entry["tags"]}, "sweep_id": sid,
        })
        _part(home, run_id, "epochs", {
            "epoch": [1, 2], "lr": [0.1, 0.1], "seconds": [1.0, 1.0], "train_loss": [1.0, 0.5],
            "clean_train_loss": [1.0, 0.5], "clean_train_acc": [0.5, 0.95], "noisy_train_loss": [2.0, 1.0],
            "noisy_train_acc": [0.0, noisy], "noisy_train_true_acc": [0.3, 0.1], "test_loss": [1.0, 0.8], "test_acc": [0.5, test],
        })
        _part(home, run_id, "layer_rewinds", {
            "layer_index": [0, 0, 1, 1], "layer": ["conv1", "conv1", "fc", "fc"], "checkpoint_epoch": [0, 1, 0, 1],
            "clean_train_acc": [0.9, 0.95, 0.8, 0.9], "noisy_train_acc": [noisy, noisy, noisy / 2, noisy], "test_acc": [0.7] * 4,
        })
        _part(home, run_id, "neuron_flips", {
            "example": [0, 1, 2, 3], "is_noisy": [False, False, True, True], "flipped": [True, True, True, False],
            "neurons_to_flip": [10, 20, 2 * int(seed), None], "new_pred": [1, 1, 1, 1],
            "clean_acc_after": [0.9, 0.9, 0.95, 0.95], "noisy_acc_after": [0.5] * 4, "test_acc_after": [0.7] * 4,
        })
        _part(home, run_id, "etd_evals", {
            "mode": ["kept", "dropped"], "clean_train_acc": [0.95, 0.9], "noisy_train_acc": [noisy, 0.05],
            "noisy_train_true_acc": [0.1, 0.6], "test_acc": [test, test - 0.01],
        })
        entry.update(status="completed", run_id=run_id, attempts=1)
    record.update(status="completed", finished_at=record["created_at"])
    write_sweep_json(path, record)
    return home, sid


def test_curves_mean_and_std_over_seeds(fabricated):
    from memscope.report.sweep import sweep_curves

    home, sid = fabricated
    table = sweep_curves(home, sid)
    assert table.column_names[:4] == ["cell", "cell_label", "noise.rate", "epoch"]
    rows = table.to_pylist()
    assert len(rows) == 4  # 2 cells x 2 epochs
    last = {r["noise.rate"]: r for r in rows if r["epoch"] == 2}
    assert last["0.1"]["n_runs"] == 2
    assert last["0.1"]["test_acc_mean"] == pytest.approx(0.85)
    assert last["0.1"]["test_acc_std"] == pytest.approx(math.sqrt(0.005))
    assert last["0.2"]["noisy_train_acc_mean"] == pytest.approx(0.30)
    assert last["0.1"]["cell_label"] == "noise.rate=0.1"


def test_report_sections(fabricated):
    from memscope.report.sweep import sweep_report_text

    home, sid = fabricated
    text = sweep_report_text(home, sid, width=140)
    for title in (
        "Final accuracy per cell",
        "learning curves, mean over seeds",
        "Layer rewinding [noise.rate=0.1]",
        "Layer rewinding [noise.rate=0.2]",
        "Neuron flipping",
        "Example-tied dropout",
    ):
        assert title in text, title
    assert "0.850 ± 0.071" in text  # test acc, noise 0.1
    assert "0.650 ± 0.071" in text  # test acc, noise 0.2
    # neurons to flip: clean 15 in every run; noisy = 2*seed over flipped examples -> 3.0 ± 1.4
    assert "15.0 ± 0.0" in text and "3.0 ± 1.4" in text
    assert "\x1b[" not in text  # plain text when not a terminal


def test_report_sections_only_when_data_exists(fabricated):
    import shutil

    from memscope.report.sweep import sweep_report_text

    home, sid = fabricated
    for run_dir in home.runs_dir.glob("2026*"):
        for table in ("layer_rewinds", "neuron_flips", "etd_evals"):
            shutil.rmtree(run_dir / table)
    text = sweep_report_text(home, sid)
    assert "Final accuracy per cell" in text
    assert "Layer rewinding" not in text and "Neuron flipping" not in text and "Example-tied" not in text


def test_report_without_finished_runs(tmp_path, tiny_config):
    from memscope.report.sweep import sweep_report_text

    home = Home(tmp_path / "home")
    sid = drv.create_sweep(home, config=tiny_config, axes=build_grid(["seed=1,2"]), overrides=[])
    text = sweep_report_text(home, sid)
    assert "no completed runs yet" in text


def test_cli_list_show_report(fabricated, cli, monkeypatch):
    home, sid = fabricated
    monkeypatch.setenv("MEMSCOPE_HOME", str(home.root))
    listed = json.loads(cli("sweeps", "list", "--json").stdout)
    assert [(s["sweep_id"], s["status"], s["completed"]) for s in listed] == [(sid, "completed", 4)]
    shown = json.loads(cli("sweeps", "show", sid, "--json").stdout)
    assert [r["test_acc"] for r in shown["runs"]] == [0.8, 0.9, 0.6, 0.7]
    assert all(r["run_status"] == "completed" for r in shown["runs"])
    text = cli("sweeps", "show", sid).stdout
    assert "noise.rate" in text and "completed" in text
    report = cli("sweeps", "report", sid)
    assert report.exit_code == 0 and "Final accuracy per cell" in report.stdout


def test_flipping_counts_only_fitted_targets_and_says_when_nothing_memorized(fabricated):
    """Old parts: "flipped with 0 neurons" was a target never fitted (skipped, not counted);
    final noisy-train accuracies of 0.2-0.5 are never called memorized."""
    from memscope.report.sweep import sweep_report_text

    home, sid = fabricated
    text = sweep_report_text(home, sid, width=200)
    # seed 1's and seed 2's noisy targets: one flipped, one not; clean: 2 of 2 counted per run
    assert "4/4" in text and "counted (noisy)" in text
    assert "memorized" in text and " yes " not in text
    for run_dir in home.runs_dir.glob("2026*"):
        _part(home, run_dir.name, "neuron_flips", {
            "example": [0, 1, 2, 3], "is_noisy": [False, False, True, True], "flipped": [True, True, True, True],
            "neurons_to_flip": [10, 20, 0, 4], "new_pred": [1, 1, 1, 1],
            "clean_acc_after": [0.9] * 4, "noisy_acc_after": [0.5] * 4, "test_acc_after": [0.7] * 4,
        })
    text = sweep_report_text(home, sid, width=200)
    # the 0-neuron noisy target is skipped in every run: the noisy median is 4 exactly, 2 of the cell's 4 counted
    assert "4.0 ± 0.0" in text and "2/4" in text


def test_the_sweep_report_comes_in_markdown_too(fabricated, cli, monkeypatch):
    """The sweep report is built from the run report's blocks, so --format markdown works for it."""
    home, sid = fabricated
    monkeypatch.setenv("MEMSCOPE_HOME", str(home.root))
    result = cli("report", "--sweep", sid, "--format", "markdown", "--no-plots")
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith(f"# memscope report: {sid}") and "## Neuron flipping" in text and "```" not in text
    assert "| 0.1 | 2 | 0.950 ± 0.000 | 0.400 ± 0.141 | no | 0.100 ± 0.000 | 0.850 ± 0.071 |" in text
    assert cli("report", "--sweep", sid, "--format", "html").exit_code == 2
