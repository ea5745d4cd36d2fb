"""Run detail says "memorized" only at noisy-train accuracy >= 0.9, in the mode it was measured."""

from __future__ import annotations

from textual.widgets import Label

from tests.tui.conftest import open_mode
from tests.tui.fixture_home import RUN_A


async def test_an_etd_run_names_kept_mode_and_is_not_called_memorized(make_app, home):
    config = home.run_dir(RUN_A) / "config.toml"
    import tomllib

    from memscope.config import config_from_dict, config_to_toml

    data = tomllib.loads(config.read_text())
    data["etd"]["enabled"] = True
    data["analyses"] = ["etd"]
    config.write_text(config_to_toml(config_from_dict(data)))
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await open_mode(pilot, "detail", RUN_A)
        facts = str(app.screen.query_one("#detail-facts", Label).render())
        # the fixture's noisy-train accuracy is 0.84: below 0.9
        assert "did not memorize (example-tied dropout, kept mode): noisy-train acc 0.840" in facts
        assert "memorized noisy labels" not in facts
