"""The app's Layers screen saves the plot on screen with ``s``: the same file ``memscope
figures`` writes, in ``figures/<run id>/``, and a notification that says where (Pilot)."""

from __future__ import annotations

import asyncio
import time

from textual.widgets import TabbedContent

from memscope.figures.build import write_figures
from memscope.results.source import open_run


async def _press_save(app, run_id: str, tab: str) -> list[str]:
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.run_id = run_id
        await app.switch_mode("layers")
        await pilot.pause()
        app.screen.query_one(TabbedContent).active = tab
        await pilot.pause()
        await pilot.press("s")
        deadline = time.monotonic() + 60
        while not app._notifications and time.monotonic() < deadline:  # the worker draws in a thread
            await pilot.pause(0.1)
        return [n.message for n in app._notifications]


def _app(home):
    from memscope.plugins import reset_hosts
    from memscope.tui.app import create_app

    reset_hosts()
    return create_app(home, None, refresh_interval=0)


def test_s_saves_the_tab_plot_where_the_cli_would(localized_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    messages = asyncio.run(_press_save(_app(localized_run.home), localized_run.run_id, "rewinding"))
    folder = tmp_path / "figures" / localized_run.run_id
    assert messages == [f"Saved rewinding.png in {folder}"]
    saved = folder / "rewinding.png"
    with open_run(localized_run.home, localized_run.run_id) as src:  # the CLI's file, byte for byte
        (cli_file,) = write_figures(src, tmp_path / "cli", "png", names=("rewinding",)).files
    assert saved.read_bytes() == cli_file.read_bytes()


def test_s_on_a_tab_without_data_says_which_analysis(etd_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    messages = asyncio.run(_press_save(_app(etd_run.home), etd_run.run_id, "flips"))
    assert len(messages) == 1 and messages[0].startswith("neuron_flipping: skipped")
    assert not (tmp_path / "figures" / etd_run.run_id).exists()
