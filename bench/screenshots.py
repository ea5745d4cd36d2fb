"""Write SVG screenshots of the main screens for the README into docs/screenshots/.

    python bench/screenshots.py [--size 120x36]

Uses the deterministic fixture home of the app's tests (tests/tui/fixture_home.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def shoot(out: Path, size: tuple[int, int]) -> list[Path]:
    from textual.widgets import DataTable, TextArea

    from memscope.plugins import reset_hosts
    from memscope.tui.app import create_app
    from memscope.tui.screens.example_detail import ExampleDetailScreen
    from tests.tui.fixture_home import RUN_A, RUN_B, make_home, make_plugins_dir

    written = []
    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp) / "home")
        plugins = make_plugins_dir(Path(tmp) / "plugins")
        reset_hosts()
        app = create_app(home, plugins, refresh_interval=0, show_timings=False)
        async with app.run_test(size=size) as pilot:

            async def settle() -> None:
                for _ in range(3):
                    await pilot.pause(0.1)
                    try:
                        await app.workers.wait_for_complete()
                    except Exception:  # noqa: BLE001
                        pass
                await pilot.pause(0.3)

            def save(name: str) -> None:
                app.screen.set_focus(None)
                written.append(Path(app.save_screenshot(f"{name}.svg", str(out))))

            await settle()
            screen = app.screen
            screen.marked = {RUN_A, RUN_B}
            screen.render_table()
            save("runs")
            screen.query_one(DataTable).focus()
            await pilot.press("c")
            await settle()
            save("compare")
            await pilot.press("escape")
            app.run_id = RUN_A
            for mode in ("detail", "examples", "layers", "new", "plugins"):
                await app.switch_mode(mode)
                await settle()
                save(mode)
            await app.switch_mode("layers")
            app.screen.action_tab("rewinding")
            await settle()
            save("layers-rewinding")
            await app.switch_mode("examples")
            app.push_screen(ExampleDetailScreen(RUN_A, [6, 11, 22], 0))
            await settle()
            save("example-detail")
            app.pop_screen()
            await app.switch_mode("sql")
            await settle()
            app.screen.query_one(TextArea).text = (
                "SELECT e.is_noisy, round(avg(x.loss), 3) AS final_loss, count(*) AS n\n"
                "FROM example_epochs x JOIN examples e USING (run_id, example)\n"
                f"WHERE x.run_id = '{RUN_A}' AND e.split = 'train' AND x.epoch = 6\nGROUP BY ALL"
            )
            await pilot.press("f5")
            await settle()
            save("sql")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="120x36")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(shoot(out, (width, height))):
        print(path)


if __name__ == "__main__":
    main()
