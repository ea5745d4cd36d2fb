"""``memscope report``: every section on a finished tiny run (rewinding and retraining for real,
the other analyses' tables hand-written), stdout is the report, stderr stays empty, exit codes."""

from __future__ import annotations


import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.report import Note, Section, build_report
from memscope.report import sections as report_sections
from memscope.report.sections import spread
from memscope.store.writer import RunWriter

LAYERS = ["conv1", "conv2", "conv3", "fc"]


@pytest.fixture(scope="module")
def full_run(tiny_run_factory, tmp_path_factory):
    """(home, run_id): a copy of the real tiny run with rewinding and retraining, plus hand-written parts."""
    import pyarrow as pa

    trained = tiny_run_factory(
        analyses=["rewinding", "retraining"],
        overrides=[
            'analysis.rewinding.layers=["conv1", "fc"]',
            "analysis.retraining.epochs=2",
            'analysis.retraining.layers=["conv2", "fc"]',
        ],
    )
    assert trained.analyses["rewinding"]["status"] == trained.analyses["retraining"]["status"] == "completed"
    run = trained.copy(tmp_path_factory.mktemp("report") / "home")
    home, run_id = run.home, run.run_id
    writer = RunWriter(home, run_id)
    cos = {1: -0.5, 2: -0.4, 3: -0.3}
    for epoch in (1, 2, 3):
        writer.write(
            "layer_epochs",
            {
                "epoch": [epoch] * 4,
                "layer_index": [0, 1, 2, 3],
                "layer": LAYERS,
                "clean_norm": [1.0, 2.0, 3.0, 4.0],
                "noisy_norm": [0.5, 1.0, 1.5, 2.0],
                "total_norm": [1.2, 2.2, 3.2, 4.2],
                "clean_norm_per_example": [0.01, 0.02, 0.03, 0.04],
                "noisy_norm_per_example": [0.05, 0.1, 0.15, 0.2],
                "cosine": [cos[epoch]] * 4,
                "cosine_paper": [cos[epoch] - 0.1] * 4,
            },
        )
    write_flip_parts(home, run_id)
    writer.write(
        "etd_evals",
        {
            "mode": ["dropped", "kept"],
            "clean_train_acc": [0.955, 0.991],
            "noisy_train_acc": [0.031, 0.987],
            "noisy_train_true_acc": [0.612, 0.004],
            "test_acc": [0.812, 0.794],
        },
    )
    writer.write(
        "example_scores",
        {"analysis": ["forgetting"] * 4, "example": [0, 1, 10, 11], "metric": ["forgets"] * 4, "value": [5.0, 7.0, 1.0, 1.0]},
    )
    writer.declare_table("myplugin_stats", pa.schema([("example", pa.int64()), ("score", pa.float64())]))
    writer.write("myplugin_stats", {"example": [1, 2, 3], "score": [0.1, 0.2, 0.3]})
    return home, run_id


def write_part(home, run_id, table, columns):
    """A part written as is (with run_id): neuron_flipping's newer columns need no schema here."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(next(iter(columns.values())))
    folder = home.run_dir(run_id) / table
    folder.mkdir(parents=True, exist_ok=True)
    number = len(list(folder.glob("part-*.parquet"))) + 1
    pq.write_table(pa.table({"run_id": [run_id] * n, **columns}), folder / f"part-{number:06d}.parquet")


# noisy 0, 1, 2 flip with 1, 2, 3 edits and 6 was never memorized (skipped); clean 3, 4 flip
# with 7 and 9, clean 5 hits the cap. Test accuracy before is 0.90 for every target.
FLIP_STEPS = {0: ["conv2"], 1: ["conv2", "conv3"], 2: ["conv1", "conv2", "fc"], 3: ["conv1"] * 4 + ["conv3"] * 3, 4: ["conv2"] * 9, 5: ["conv1"] * 3}


def write_flip_parts(home, run_id):
    examples = [0, 1, 2, 6, 3, 4, 5]
    status = ["flipped", "flipped", "flipped", "not_memorized", "flipped", "flipped", "not_flipped"]
    write_part(home, run_id, "neuron_flips", {
        "example": examples,
        "is_noisy": [True, True, True, True, False, False, False],
        "status": status,
        "candidates": ["parameters"] * 7,
        "flipped": [s == "flipped" for s in status],
        "neurons_to_flip": [1, 2, 3, None, 7, 9, None],
        "new_pred": [0, 1, 2, None, 3, 0, 1],
        "clean_acc_before": [0.95] * 7,
        "noisy_acc_before": [0.99] * 7,
        "test_acc_before": [0.90] * 7,
        "clean_acc_after": [0.95, 0.94, 0.93, None, 0.85, 0.80, 0.75],
        "noisy_acc_after": [0.98, 0.97, 0.96, None, 0.9, 0.8, 0.7],
        "test_acc_after": [0.89, 0.88, 0.87, None, 0.80, 0.75, 0.70],
    })
    ids = [e for e, layers in FLIP_STEPS.items() for _ in layers]
    layers = [layer for e, ls in FLIP_STEPS.items() for layer in ls]
    index = {"conv1": 0, "conv2": 1, "conv3": 2, "fc": 3}
    write_part(home, run_id, "neuron_flip_steps", {
        "example": ids,
        "step": [i for e, ls in FLIP_STEPS.items() for i in range(len(ls))],
        "layer_index": [index[l] for l in layers],
        "layer": layers,
        "unit": list(range(len(ids))),
        "score": [0.1] * len(ids),
        "parameter": [f"{l}.weight" for l in layers],
        "kind": ["weight" if l == "fc" else "conv_filter" for l in layers],
        "coords": [str(i) for i in range(len(ids))],
    })


def report(*args: str):
    return CliRunner().invoke(app, ["report", *args])


def test_report_shows_every_section(full_run):
    home, run_id = full_run
    result = report(run_id, "--home", str(home.root), "--width", "120")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    for title in (
        f"Run {run_id}",
        "Training",
        "Examples: when they are learned",
        "Gradients: clean vs noisy examples",
        "Layer rewinding",
        "Layer retraining",
        "Neuron flipping",
        "Example-tied dropout",
        "Per-example scores",
        "Tables",
    ):
        assert title in out, title
    assert "status                completed" in out or "completed" in out
    assert "synthetic" in out and "3/3 epochs" in out
    # gradients: the last epoch's cosine, the per-example ratio, "all layers" combined
    assert "-0.300" in out and "all layers" in out and "5.0" in out
    # rewinding: init and every checkpoint as columns, and the final column
    assert "init" in out and "ep 1" in out and "final" in out
    # retraining: 2 epochs for conv2 and fc only
    assert "conv2" in out and "fc" in out
    # neuron flipping over counted targets: noisy median 2, clean median 8; one noisy skipped
    assert "skipped 1 of 4 noisy (not memorized)" in out.lower() and "no neuron count" in out
    assert "where the zeroed parameters sit, by layer group" in out and "conv_filter" in out
    # ETD: kept before dropped, and the one-line summary
    assert out.index("kept") < out.index("dropped")
    assert "noisy-train 0.987 -> 0.031" in out and "model memorized noisy labels (kept mode): noisy-train acc 0.987" in out
    # example scores: mean 3.5, clean (ids 10, 11 are not train examples here) vs noisy split
    assert "forgetting" in out and "forgets" in out and "3.5" in out
    # the generic tables section names the plugin table and its row count
    assert "myplugin_stats" in out and "plugin" in out
    assert "┌" in out  # plotext plots


def test_plots_can_be_left_out(full_run):
    home, run_id = full_run
    result = report(run_id, "--home", str(home.root), "--no-plots")
    assert result.exit_code == 0
    assert "┌" not in result.stdout and "Layer rewinding" in result.stdout


def test_width_is_respected(full_run):
    home, run_id = full_run
    result = report(run_id, "--home", str(home.root), "--width", "72")
    assert result.exit_code == 0
    widest = max(len(line) for line in result.stdout.splitlines())
    assert widest <= 72


def test_markdown(full_run):
    home, run_id = full_run
    result = report(run_id, "--home", str(home.root), "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"# memscope report: {run_id}")
    assert "## Layer rewinding" in out and "| layer |" in out and "```text" in out
    assert "\x1b[" not in out


def test_unknown_run_is_a_usage_error(full_run):
    home, _ = full_run
    result = report("no-such-run", "--home", str(home.root))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "no run 'no-such-run'" in result.stderr and "memscope runs list" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_format_is_a_usage_error(full_run):
    home, run_id = full_run
    result = report(run_id, "--home", str(home.root), "--format", "html")
    assert result.exit_code == 2 and "markdown" in result.stderr


def test_a_run_with_epochs_only_still_reports(home, make_run):
    make_run("fake-run", epochs=3)
    result = report("fake-run", "--home", str(home.root))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "Training" in out and "Tables" in out and "Not in this run yet" in out
    assert "Examples: when they are learned" in out and "100.0%" in out
    assert "memscope analyze fake-run -a rewinding" in out
    for absent in ("Layer rewinding", "Layer retraining", "Neuron flipping", "Example-tied dropout", "Gradients"):
        assert absent not in out


def test_long_runs_show_about_ten_epochs(home, make_run):
    make_run("long-run", epochs=50)
    rep = build_report(home, "long-run")
    table = rep.section("training").blocks[0]
    assert len(table.rows) == 10
    assert table.rows[0][0] == 1 and table.rows[-1][0] == 50
    assert table.caption == "10 of 50 epochs shown"
    assert spread(3, 10) == [0, 1, 2] and spread(50, 10)[-1] == 49


def test_a_failing_section_is_isolated(home, make_run):
    make_run("fake-run")

    def broken(data):
        raise RuntimeError("boom")

    def extra(data):
        return Section("extra", "Extra section", [Note("from a plugin")])

    rep = build_report(home, "fake-run", sections=[*report_sections.SECTIONS, ("broken", broken), ("extra", extra)])
    assert rep.warnings == ["report section 'broken' failed: RuntimeError: boom"]
    assert rep.section("broken").blocks[0].text.endswith("boom")
    assert rep.section("extra") is not None and rep.section("training") is not None


def test_small_plugin_tables_are_printed_in_full(home, make_run):
    from typer.testing import CliRunner

    import pyarrow as pa

    from memscope.cli.app import app
    from memscope.store.writer import RunWriter

    make_run("run-with-plugin")
    writer = RunWriter(home, "run-with-plugin")
    writer.declare_table("demo_leaderboard", pa.schema([("signal", pa.string()), ("auroc", pa.float64())]))
    writer.write("demo_leaderboard", {"signal": ["loss", "margin"], "auroc": [0.97, 0.91]})
    result = CliRunner().invoke(app, ["report", "run-with-plugin", "--home", str(home.root), "--no-plots", "--width", "100"])
    assert result.exit_code == 0, result.stderr
    assert "Plugin tables" in result.stdout and "demo_leaderboard" in result.stdout and "0.97" in result.stdout


def test_flipping_counts_fitted_targets_with_their_damage(full_run):
    home, run_id = full_run
    section = build_report(home, run_id).section("flipping")
    summary, note = section.blocks[0], section.blocks[1]
    rows = {r[0]: r for r in summary.rows}
    # label, n, skipped, counted, flipped, median, mean, min, max, test drop, clean drop
    assert rows["noisy"][1:5] == [4, 1, 3, 3] and rows["noisy"][5:9] == [2, 2, 1, 3]
    assert rows["clean"][1:5] == [3, 0, 3, 2] and rows["clean"][5] == 8
    assert rows["noisy"][9] == pytest.approx(0.02) and rows["noisy"][10] == pytest.approx(0.01)
    # the collateral damage is over flipped targets (clean 3 and 4), not clean 5 that hit the cap
    assert rows["clean"][9] == pytest.approx(0.125) and rows["clean"][10] == pytest.approx(0.125)
    assert "skipped 1 of 4 noisy (not memorized)" in note.text.lower()
    place = next(b for b in section.blocks if getattr(b, "title", "").startswith("where the zeroed parameters sit"))
    by_layer = {r[0]: r[1:] for r in place.rows}
    # flipped targets only: noisy 0, 1, 2 (6 edits), clean 3, 4 (16 edits); clean 5 hit the cap
    assert by_layer["conv2"][0] == 3 and by_layer["conv2"][1] == pytest.approx(0.5)
    assert by_layer["fc"][0] == 1 and by_layer["fc"][2] == 0
    assert by_layer["conv1"][2] == 4 and by_layer["conv2"][2] == 9 and sum(r[4] for r in place.rows) == pytest.approx(1.0)


def test_old_flip_parts_read_zero_neuron_targets_as_skipped(home, make_run):
    """Parts from before ``status``: "flipped with 0 neurons" was a target never fitted."""
    make_run("old-flips")
    RunWriter(home, "old-flips").write("neuron_flips", {
        "example": [0, 1, 2, 3], "is_noisy": [True, True, False, False], "flipped": [True, True, True, False],
        "neurons_to_flip": [0, 4, 6, None], "new_pred": [1, 2, 3, 4],
        "clean_acc_after": [0.9] * 4, "noisy_acc_after": [0.9] * 4, "test_acc_after": [0.9] * 4,
    })
    section = build_report(home, "old-flips").section("flipping")
    rows = {r[0]: r for r in section.blocks[0].rows}
    assert rows["noisy"][1:6] == [2, 1, 1, 1, 4] and rows["clean"][1:6] == [2, 0, 2, 1, 6]
    assert rows["noisy"][9] is None  # no accuracy before the edit in old parts: damage not measured
    texts = " ".join(b.text for b in section.blocks if isinstance(b, Note))
    assert "not memorized" in texts and "Collateral damage not measured" in texts


def test_an_etd_run_is_not_offered_the_localizing_analyses(home, make_run):
    run_dir = make_run("etd-run", epochs=3)
    config = run_dir / "config.toml"
    config.write_text(config.read_text().replace("[etd]\nenabled = false", "[etd]\nenabled = true"))
    note = build_report(home, "etd-run").section("next").blocks[0].text
    assert "memscope analyze etd-run -a etd" in note
    assert "-a rewinding" not in note and "-a neuron_flipping" not in note
    assert "need a run trained without example-tied dropout" in note
