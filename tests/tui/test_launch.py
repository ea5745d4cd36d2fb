"""The real thing: launch a tiny run from New run and watch it complete (trains with torch)."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Input, Label, Select

from tests.tui.conftest import settle, wait_for


@pytest.mark.slow
async def test_launch_tiny_run_and_watch_it_complete(make_app, home):
    app = make_app(refresh_interval=0.5)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.switch_mode("new")
        await settle(pilot)
        screen = app.screen
        assert await wait_for(pilot, lambda: bool(screen.specs), timeout=30)
        screen.query_one("#f-name", Input).value = "tui-launch"
        screen.query_one("#f-device", Select).value = "cpu"
        screen.query_one("#f-data--dataset", Select).value = "synthetic"
        screen.query_one("#f-train--epochs", Input).value = "2"
        screen.query_one("#f-train--batch_size", Input).value = "64"
        screen.query_one("#f-train--checkpoint_every", Input).value = "1"
        await pilot.press("ctrl+l")
        # the app switches to Run detail once the run's directory exists
        assert await wait_for(pilot, lambda: app.current_mode == "detail" and app.run_id is not None, timeout=120), \
            str(screen.query_one("#new-error").render())
        run_id = app.run_id
        assert "tui-launch" in run_id
        run_json = home.run_dir(run_id) / "run.json"

        def finished() -> bool:
            try:
                return json.loads(run_json.read_text())["status"] != "running"
            except (OSError, ValueError, KeyError):
                return False

        assert await wait_for(pilot, finished, timeout=240, step=0.5)
        assert json.loads(run_json.read_text())["status"] == "completed"
        detail = app.screen
        assert await wait_for(pilot, lambda: detail.query_one("#detail-status", Label).has_class("-completed"), timeout=10)
        log = "\n".join(str(line) for line in detail.query_one("#detail-log").lines)
        assert "epoch" in log  # the launched process's progress lines, from its log file
    # the run was detached: its own session, so the app's exit never signalled it
    assert list((home.root / "logs").glob("*tui-launch*.pid*.log"))
    assert list((home.root / "configs").glob("*tui-launch*.toml"))
