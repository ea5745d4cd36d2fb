"""The Layers & neurons screen: gradient accounting over the whole training, neuron flipping
over counted targets with its collateral damage (Pilot, on the fixture home)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Label

from tests.tui.conftest import open_mode
from tests.tui.fixture_home import RUN_A, RUN_B

SIZE = (120, 40)


async def test_gradients_by_five_epoch_window_and_flips_over_counted_targets(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mode(pilot, "layers", RUN_A)
        screen = app.screen
        # the fixture trains 6 epochs: windows 1-5 and 6, every layer, cosine / norm ratio
        table = screen.query_one("#gradients-windows", DataTable)
        headers = [str(c.label) for c in table.columns.values()]
        assert headers == ["layer", "ep 1-5", "ep 6"]
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["conv1", "conv2", "conv3", "fc"]
        assert " / " in str(table.get_row_at(0)[1])
        assert screen.query_one("#gradients-cosine").cols == ["1-5", "6"]
        summary = str(screen.query_one("#flips-summary", Label).render())
        # 20 noisy targets counted, 3 skipped as not memorized; the damage beside each count
        assert "noisy: " in summary and "/20 flipped" in summary and "median drop: test 0.0" in summary
        assert "skipped 3 of 23 noisy (not memorized)" in summary


def test_the_screen_reads_through_the_analysis_readers(home):
    from memscope.tui.screens.layers import read_layers

    tables = read_layers(home, RUN_A)
    assert tables["layer_rewinds"].num_rows == 16
    assert tables["etd_evals"].column("mode").to_pylist() == ["kept", "dropped"]
    assert read_layers(home, RUN_B)["layer_rewinds"].num_rows == 0
    # the fixture: 20 noisy + 20 clean targets, and 3 noisy ones never memorized
    groups = {g["group"]: g for g in tables["flip_summary"].to_pylist()}
    assert groups["noisy"]["targets"] == 23 and groups["noisy"]["skipped_reasons"] == [{"reason": "not_memorized", "targets": 3}]
    assert groups["noisy"]["counted"] == 20 and groups["clean"]["counted"] == 20
    rows = tables["neuron_flips"].to_pylist()
    skipped = [r for r in rows if r["status"] == "not_memorized"]
    assert skipped and all(r["neurons_to_flip"] is None and r["test_drop"] is None for r in skipped)
    flipped = [r for r in rows if r["status"] == "flipped"]
    assert flipped and all(r["test_drop"] > 0 for r in flipped)  # before 0.86, after below 0.85
    place = tables["flip_placement"].to_pylist()
    assert list(dict.fromkeys(r["layer"] for r in place)) == ["conv1", "conv2", "conv3", "fc"]
    assert {r["kind"] for r in place} == {"conv_filter", "weight"}


async def test_the_screen_and_the_report_show_the_same_counts(make_app, home):
    from memscope.report import build_report

    section = build_report(home, RUN_A).section("flipping")
    report_rows = {r[0]: r for r in section.blocks[0].rows}  # group, n, skipped, counted, flipped, median, ...
    windows = build_report(home, RUN_A).section("gradients").blocks[0]  # the cosine by window
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mode(pilot, "layers", RUN_A)
        screen = app.screen
        summary = str(screen.query_one("#flips-summary", Label).render())
        for group in ("noisy", "clean"):
            _, n, skipped, counted, flipped, median, *_ = report_rows[group]
            assert f"{group}: {flipped}/{counted} flipped, median {median:g} zeroed" in summary
        assert f"skipped {report_rows['noisy'][2]} of {report_rows['noisy'][1]} noisy" in summary
        table = screen.query_one("#gradients-windows", DataTable)
        assert [str(c.label) for c in table.columns.values()] == [c.name for c in windows.columns]
        for i in range(table.row_count):
            layer, *cells = table.get_row_at(i)
            row = next(r for r in windows.rows if r[0] == str(layer))
            assert [float(str(c).split(" / ")[0]) for c in cells] == pytest.approx(row[1:], abs=1e-4)
