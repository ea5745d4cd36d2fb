"""memscope.load(): the run-id rule of the command line, and each accessor returns exactly
what the results layer's reader for that analysis returns, on real tiny runs."""

from __future__ import annotations

import importlib.util

import pytest

import memscope
from memscope.errors import MemscopeError
from memscope.results.analyses import etd, examples, flipping, gradients, retraining, rewinding, training
from memscope.results.source import open_run
from tests.api.conftest import SMALL_FLIPPING

ACCESSORS = {
    "training": training.epochs,
    "gradients": gradients.layer_epochs,
    "gradient_windows": gradients.windows,
    "rewinding": rewinding.rewinds,
    "retraining": retraining.retrains,
    "flips": flipping.targets,
    "flip_placement": flipping.placement,
    "flip_summary": flipping.summary,
    "etd": etd.evals,
    "examples": examples.learned,
    "example_scores": examples.scores,
}


def _flip_targets() -> int:
    options = dict(item.split(".", 2)[2].split("=") for item in SMALL_FLIPPING if item.startswith("analysis.neuron_flipping."))
    return int(options["num_noisy"]) + int(options["num_clean"])


@pytest.mark.parametrize("accessor", sorted(ACCESSORS))
def test_each_accessor_is_its_reader(analysed_home, analysed_runs, accessor):
    _, full_id, etd_id = analysed_runs
    for run_id in (full_id, etd_id):
        with memscope.load(run_id) as run, open_run(analysed_home, run_id) as source:
            assert run.run_id == run_id
            assert getattr(run, accessor)().arrow().equals(ACCESSORS[accessor](source))


def test_the_accessors_hold_the_runs_numbers(analysed_home, analysed_runs):
    _, full_id, etd_id = analysed_runs
    with memscope.load(full_id) as run:
        epochs = run.config["train"]["epochs"]
        assert run.info["status"] == "completed"
        assert run.analyses == {name: "completed" for name in ("gradient_accounting", "rewinding", "retraining", "neuron_flipping")}
        direct = run.sql("SELECT epoch, test_acc FROM epochs ORDER BY epoch").arrow()
        assert run.training().arrow().select(["epoch", "test_acc"]).equals(direct)
        assert direct.column("epoch").to_pylist() == list(range(1, epochs + 1))

        layers = run.sql("SELECT DISTINCT layer FROM layer_epochs").arrow().num_rows
        grads = run.gradients().df()
        assert len(grads) == epochs * layers > 0 and (grads["clean_norm"] > 0).all() and (grads["noisy_norm"] > 0).all()
        assert grads["cosine"].between(-1 - 1e-9, 1 + 1e-9).all()

        rewinds = run.rewinding().df()
        assert set(rewinds["checkpoint_epoch"]) <= set(range(0, epochs + 1)) and len(rewinds) > 0
        assert len(run.retraining()) > 0

        flips = run.flips().df()
        assert len(flips) == _flip_targets()
        assert set(flips["status"]) <= {"flipped", "not_flipped", "not_memorized", "not_fitted"}
        summary = {row["group"]: row for row in run.flip_summary().to_pylist()}
        assert summary["noisy"]["targets"] + summary["clean"]["targets"] == _flip_targets()
        assert summary["noisy"]["flipped"] == int(((flips["status"] == "flipped") & flips["is_noisy"]).sum())

        train = run.sql("SELECT count(*) AS n, count(*) FILTER (WHERE is_noisy) AS noisy FROM examples WHERE split = 'train'").to_pylist()[0]
        learned = run.examples().df()
        assert (len(learned), int(learned["is_noisy"].sum())) == (train["n"], train["noisy"])
        assert len(run.etd()) == 0  # no ETD in this run: the reader's columns, zero rows
    with memscope.load(etd_id) as run:
        modes = run.etd().arrow()
        assert set(modes.column("mode").to_pylist()) >= {"kept", "dropped"}
        assert all(0.0 <= acc <= 1.0 for acc in modes.column("test_acc").to_pylist())


def test_run_ids_as_on_the_command_line(analysed_home, analysed_runs):
    _, full_id, etd_id = analysed_runs
    for name, expected in ((full_id, full_id), (full_id[:-2], full_id), (full_id.rsplit("-", 1)[1], full_id),
                           ("latest", etd_id), (etd_id.rsplit("-", 1)[1], etd_id)):
        with memscope.load(name) as run:
            assert run.run_id == expected
    with memscope.load("latest", home=analysed_home.root) as run:
        assert run.run_id == etd_id


@pytest.mark.parametrize(
    ("run_id", "way_out"),
    [("nope", "memscope runs list"), ("2026", "give more of the id"), ("../x", "memscope runs list"), ("", "memscope runs list")],
)
def test_a_bad_run_id_is_one_line_naming_the_way_out(analysed_home, run_id, way_out):
    with pytest.raises(MemscopeError) as info:
        memscope.load(run_id)
    assert "\n" not in str(info.value) and way_out in str(info.value)


def test_a_damaged_part_is_one_line_naming_the_file_and_the_way_out(analysed_home, analysed_runs):
    _, full_id, _ = analysed_runs
    part = next(analysed_home.run_dir(full_id).joinpath("epochs").glob("*.parquet"))
    part.write_bytes(b"PAR1 but not really")
    with memscope.load(full_id) as run, pytest.raises(MemscopeError) as info:
        run.training()
    message = str(info.value)
    assert "\n" not in message and str(part) in message and "memscope runs check --repair" in message


def test_results_convert_through_duckdb(analysed_home, analysed_runs):
    _, full_id, _ = analysed_runs
    with memscope.load(full_id) as run:
        result = run.gradients()
        frame = result.df()
        assert list(frame.columns) == result.columns and len(frame) == len(result)
        assert result.fetchall()[0][0] == full_id
        assert result.to_pandas().equals(frame)
        assert f"{len(result)} rows" in repr(result) and "layer_index" in repr(result)
        if importlib.util.find_spec("polars") is None:
            with pytest.raises(Exception, match="polars"):
                result.pl()
        else:
            assert result.pl().columns == result.columns
