"""New run shows every check result and error above the Footer, with the field at fault marked."""

from __future__ import annotations

import pytest
from textual.widgets import Footer, Input, Label, Static

from tests.tui.conftest import settle


async def open_form(app, pilot):
    await app.switch_mode("new")
    await settle(pilot)
    assert app.screen.specs, "the form was not built"
    return app.screen


def visible_above_footer(screen, widget) -> bool:
    footer = screen.query_one(Footer)
    region = widget.region
    return widget.display and region.height > 0 and region.bottom <= footer.region.y


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_check_result_shows_above_the_footer(make_app, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_form(app, pilot)
        await pilot.press("ctrl+k")
        await settle(pilot, 1)
        message = screen.query_one("#new-message", Label)
        assert "✓ valid" in str(message.render())
        assert visible_above_footer(screen, screen.query_one("#new-actions"))


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_bad_rate_then_launch_shows_the_error_and_marks_the_field(make_app, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        screen = await open_form(app, pilot)
        screen.query_one("#f-noise--rate", Input).value = "1.5"
        await pilot.press("ctrl+l")
        await settle(pilot, 1)
        assert app.launches == [] and not screen.launching  # nothing started
        error = screen.query_one("#new-error", Static)
        assert "'noise.rate' = 1.5 must be in [0, 1)" in str(error.render())
        assert visible_above_footer(screen, error)
        assert "not valid" in str(screen.query_one("#new-message", Label).render())
        rate = screen.query_one("#f-noise--rate", Input)
        assert rate.parent.has_class("-invalid") and rate.has_focus
        # fixed: the mark and the error go away
        rate.value = "0.2"
        await pilot.press("ctrl+k")
        await settle(pilot, 1)
        assert not error.display and not rate.parent.has_class("-invalid")


async def test_a_long_launch_error_is_shown_whole(make_app):
    app = make_app()
    long_error = ("no data for dataset 'mnist': put the files under /some/long/home/path/data/mnist, "
                  "or set data.path to the folder that holds them; see docs/data.md for where to get them")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_form(app, pilot)
        screen.post_message(screen.LaunchFailed(long_error))
        await settle(pilot, 1)
        error = screen.query_one("#new-error", Static)
        assert visible_above_footer(screen, error)
        shown = " ".join(line.text.strip() for line in screen.query_one("#new-error").render_lines(error.region.reset_offset))
        assert "see docs/data.md for where to get them" in " ".join(shown.split())
        assert "launch failed" in str(screen.query_one("#new-message", Label).render())


async def test_the_form_keeps_the_sample_configs_analysis_order(make_app):
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_form(app, pilot)
        sample = next(p for p in screen.samples if p.name == "digits.toml")
        from memscope.config import load_config

        wanted = list(load_config(sample).analyses)
        screen.query_one("#new-sample").value = str(sample)
        await settle(pilot, 1)
        assert screen.form_values()[1] == wanted
        assert wanted != sorted(wanted)  # the sample's order is not the registry's or the alphabet's
