"""The palette's Screenshot command saves where the user can find it and says where."""

from __future__ import annotations

from tests.tui.conftest import settle

SIZE = (100, 30)


def messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def run_screenshot_command(app, pilot) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause(0.2)
    await pilot.press(*"Screenshot")
    await pilot.pause(0.5)
    await pilot.press("enter")
    await pilot.pause(0.5)  # the command saves on a 0.1 s timer
    await settle(pilot, 1)


async def test_screenshot_goes_to_the_home_and_says_where(make_app, home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await run_screenshot_command(app, pilot)
        saved = list((home.root / "screenshots").glob("*.svg"))
        assert len(saved) == 1, messages(app)
        assert saved[0].read_text(encoding="utf-8").lstrip().startswith("<svg")
        assert f"Saved {saved[0]}" in messages(app)


async def test_a_screenshot_that_cannot_be_saved_says_why(make_app, home):
    (home.root / "screenshots").write_text("a file where the folder would go")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await run_screenshot_command(app, pilot)
        assert any(m.startswith(f"Cannot save a screenshot in {home.root / 'screenshots'}") for m in messages(app)), messages(app)
