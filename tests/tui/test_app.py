"""Pilot tests: each section's main flow, on the fixture home (no training)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from textual.widgets import DataTable, Input, Label, Static, TextArea

from memscope.tui.screens.compare import CompareScreen
from memscope.tui.screens.dialogs import ConfirmScreen
from memscope.tui.screens.example_detail import ExampleDetailScreen
from memscope.tui.screens.help import HelpScreen
from memscope.tui.widgets.mode_bar import SECTIONS
from tests.tui.conftest import open_mode, settle, wait_for
from tests.tui.fixture_home import RUN_A, RUN_B, RUN_C, RUN_D

SIZE = (100, 30)


def label_text(widget) -> str:
    return str(widget.render())


async def test_every_mode_by_key_at_80x24_and_palette(make_app):
    """Every section opens by its key in an 80x24 terminal; the palette reaches them by name."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for mode, key, _ in SECTIONS:
            await pilot.press("escape")  # leave any editor
            app.set_focus(None)
            await pilot.press(key)
            await settle(pilot, 1)
            assert app.current_mode == mode, (key, app.current_mode)
            assert app.screen.size == (80, 24)
        await app.switch_mode("runs")
        await settle(pilot, 1)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Go to SQL")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot, 1)
        assert app.current_mode == "sql"


async def test_runs_listed_with_status(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        assert table.row_count == 5
        statuses = [str(table.get_cell(run, "status")) for run in (RUN_A, RUN_C, RUN_D)]
        assert statuses == ["completed", "failed", "running"]
        assert "4/10" in str(table.get_cell(RUN_D, "progress"))
        # filter
        await pilot.press("slash", *"status:completed", "enter")
        await pilot.pause(0.1)
        assert table.row_count == 2


async def test_delete_run_with_confirmation(make_app, home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index(RUN_B))
        await pilot.press("d")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing happens
        await pilot.pause(0.1)
        assert home.run_dir(RUN_B).is_dir()
        await pilot.press("d")
        await pilot.pause(0.1)
        await pilot.press("y")
        assert await wait_for(pilot, lambda: not home.run_dir(RUN_B).exists())
        await settle(pilot)
        assert RUN_B not in [k.value for k in table.rows]


async def test_compare_two_runs(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index(RUN_B))
        await pilot.press("space")
        table.move_cursor(row=table.get_row_index(RUN_A))
        await pilot.press("space")
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        diff = app.screen.query_one("#compare-diff", DataTable)
        keys = [str(diff.get_row_at(i)[0]) for i in range(diff.row_count)]
        assert "model.name" in keys and "train.epochs" not in keys
        await pilot.press("escape")
        assert app.current_mode == "runs"


async def test_open_run_detail(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=table.get_row_index(RUN_A))
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_mode == "detail" and app.run_id == RUN_A
        status = app.screen.query_one("#detail-status", Label)
        assert status.has_class("-completed")
        analyses = app.screen.query_one("#analyses-table", DataTable)
        assert analyses.row_count == 4
        assert "took 3m25s" in label_text(app.screen.query_one("#detail-eta", Label))


async def test_cancel_a_running_run(make_app, home):
    """x on a running run, confirmed, sends SIGTERM to the pid in run.json."""
    from memscope.testing import write_fake_run

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run_id = "20260110-120000-live-cnn-9999"
        write_fake_run(home, run_id, status="running", pid=child.pid, hostname=socket.gethostname(), epochs=10, done=1, day=10)
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.run_id = run_id
            await app.switch_mode("detail")
            await settle(pilot)
            await pilot.press("x")
            await pilot.pause(0.1)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            assert await wait_for(pilot, lambda: child.poll() is not None, timeout=10)
        assert child.returncode == -signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


async def test_sql_query_result_error_and_refusal(make_app, home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("sql")
        await settle(pilot)
        screen = app.screen
        editor = screen.query_one("#sql-editor", TextArea)
        editor.text = "SELECT run_id, epoch FROM epochs WHERE run_id = '%s' ORDER BY epoch" % RUN_A
        await pilot.press("f5")
        await settle(pilot)
        results = screen.query_one("#sql-results", DataTable)
        assert results.row_count == 6
        assert "6 row(s)" in label_text(screen.query_one("#sql-status", Label))
        error = screen.query_one("#sql-error", Static)
        assert not error.display

        editor.text = "SELEC nope"
        await pilot.press("ctrl+j")
        await settle(pilot)
        assert error.display and "syntax error" in str(error.render()).lower()

        editor.text = "DROP VIEW runs"
        await pilot.press("f5")
        await settle(pilot)
        assert error.display and "read-only" in str(error.render())

        editor.text = "SELECT count(*) AS n FROM runs"
        await pilot.press("f5")
        await settle(pilot)
        assert not error.display and results.row_count == 1
    history = (home.root / "sql_history.json").read_text(encoding="utf-8")
    assert "FROM epochs" in history and "count(*)" in history


async def test_sql_export(make_app, tmp_path):
    from memscope.tui.screens.dialogs import PromptScreen

    app = make_app()
    out = tmp_path / "out.csv"
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("sql")
        await settle(pilot)
        app.screen.query_one("#sql-editor", TextArea).text = "SELECT epoch FROM epochs WHERE run_id = '%s'" % RUN_A
        await pilot.press("f5")
        await settle(pilot)
        await pilot.press("f7")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PromptScreen)
        app.screen.query_one(Input).value = str(out)
        await pilot.press("enter")
        assert await wait_for(pilot, out.exists)
        await settle(pilot)
    assert out.read_text().splitlines()[0] == "epoch" and len(out.read_text().splitlines()) == 7


async def test_sql_cancel_long_query(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("sql")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#sql-editor", TextArea).text = (
            "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3"
        )
        await pilot.press("f5")
        assert await wait_for(pilot, lambda: screen.handle is not None and screen.running, timeout=10)
        await pilot.pause(0.5)
        await pilot.press("ctrl+g")
        assert await wait_for(pilot, lambda: not screen.running, timeout=20)
        assert "cancelled" in label_text(screen.query_one("#sql-status", Label))


async def test_examples_and_example_detail(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mode(pilot, "examples", RUN_A)
        screen = app.screen
        table = screen.query_one("#examples-table", DataTable)
        assert table.row_count == 100
        assert "of 256" in label_text(screen.query_one("#examples-status", Label))
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert screen.page.offset == 100
        screen.query_one("#examples-filter").value = "noisy"
        await settle(pilot)
        assert screen.page.total == 25
        table.focus()
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, ExampleDetailScreen)
        assert await wait_for(pilot, lambda: "▀" in detail.query_one("#example-image").render().plain, timeout=20)
        facts = str(detail.query_one("#example-facts", Static).render())
        assert "noisy label" in facts and "observed" in facts
        await pilot.press("n")
        await settle(pilot)
        assert detail.index == 1
        await pilot.press("escape")
        assert app.current_mode == "examples"


async def test_examples_bad_where_is_shown_not_raised(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mode(pilot, "examples", RUN_A)
        await pilot.press("slash", *"nonsense > 1", "enter")
        await settle(pilot)
        error = app.screen.query_one("#examples-error", Static)
        assert error.display and "nonsense" in str(error.render())
        assert not app._notifications  # on this screen, not a toast that follows you elsewhere
        assert app.is_running


async def test_layers_panels_and_empty_messages(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mode(pilot, "layers", RUN_A)
        screen = app.screen
        for panel in ("gradients", "rewinding", "retraining", "flips"):
            assert not screen.query_one(f"#{panel}-empty").display, panel
        assert screen.query_one("#rewind-noisy").rows == ["conv1", "conv2", "conv3", "fc"]
        app.run_id = RUN_B
        await settle(pilot)
        empty = screen.query_one("#rewinding-empty", Label)
        assert empty.display and "add analysis 'rewinding'" in label_text(empty)


async def test_plugins_screen_lists_failures(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("plugins")
        await settle(pilot)
        table = app.screen.query_one("#plugins-table", DataTable)
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert "good_plugin" in names and "broken_plugin" in names
        errors = app.screen.query_one("#plugins-errors", Static)
        assert errors.display and "broken on purpose" in str(errors.render())
        registered = app.screen.query_one("#registered-table", DataTable)
        assert "fixture_flip" in [str(registered.get_row_at(i)[1]) for i in range(registered.row_count)]


async def test_new_run_form_validates_like_the_loader(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("new")
        await settle(pilot)
        screen = app.screen
        assert await wait_for(pilot, lambda: bool(screen.specs))
        screen.query_one("#f-train--epochs", Input).value = "many"
        await pilot.press("ctrl+k")
        await pilot.pause(0.1)
        error = screen.query_one("#new-error", Static)
        assert error.display and "'train.epochs' must be an integer" in str(error.render())
        screen.query_one("#f-train--epochs", Input).value = "2"
        await pilot.press("ctrl+k")
        await pilot.pause(0.1)
        assert not error.display
        assert "valid" in label_text(screen.query_one("#new-message", Label))
        # a third-party plugin's noise model is a choice, with no change to the app
        assert "fixture_flip" in [v for _, v in screen.query_one("#f-noise--model")._options]


async def test_new_run_from_sample_and_save(make_app, tmp_path):
    from memscope.tui.screens.dialogs import PromptScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("new")
        await settle(pilot)
        screen = app.screen
        assert await wait_for(pilot, lambda: bool(screen.specs))
        sample = next(p for p in screen.samples if p.name == "digits.toml")
        screen.query_one("#new-sample").value = str(sample)
        await pilot.pause(0.2)
        assert screen.query_one("#f-train--epochs", Input).value == "40"
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PromptScreen)
        target = tmp_path / "saved.toml"
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        assert await wait_for(pilot, target.exists)
    from memscope.config import load_config

    assert load_config(target).train.epochs == 40


async def test_help_lists_every_section(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(str(s.render()) for s in app.screen.query(".help-section"))
        for title in ("Everywhere", "Runs", "New run", "Run detail", "Examples", "Example detail",
                      "Layers & neurons", "SQL", "Plugins", "Compare runs"):
            assert title in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_theme_toggle(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        dark = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != dark
        await pilot.press("ctrl+t")
        assert app.theme == dark


async def test_periodic_refresh_picks_up_new_epochs(make_app, home):
    """The Runs screen refreshes on its own: a run's new epoch shows without a key press."""
    from memscope.store.runinfo import read_run_info, write_run_info

    app = make_app(refresh_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        info = read_run_info(home.run_dir(RUN_D))
        info["epoch"] = 7
        write_run_info(home.run_dir(RUN_D), info)
        table = app.screen.query_one("#runs-table", DataTable)
        assert await wait_for(pilot, lambda: "7/10" in str(table.get_cell(RUN_D, "progress")), timeout=5)


async def test_a_failing_worker_is_reported_not_fatal(make_app, monkeypatch):
    from memscope.tui.screens import runs

    def boom(home):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runs, "list_runs", boom)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.is_running
        assert any("disk on fire" in n.message for n in app._notifications)


async def test_finished_run_detail_is_not_reloaded_on_each_tick(make_app, monkeypatch):
    """A finished run's curves, table counts and config are read once, not on every refresh tick."""
    from pathlib import Path

    app = make_app()
    calls: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        store = app.store
        for name in ("epochs", "table_counts"):
            real = getattr(store, name)
            monkeypatch.setattr(store, name, lambda *a, _n=name, _r=real, **k: (calls.append(_n), _r(*a, **k))[1])
        real_read = Path.read_text

        def read_text(self, *a, **k):
            if self.name == "config.toml":
                calls.append("config")
            return real_read(self, *a, **k)

        monkeypatch.setattr(Path, "read_text", read_text)
        app.run_id = RUN_A
        await app.switch_mode("detail")
        await settle(pilot)
        assert sorted(calls) == ["config", "epochs", "table_counts"]
        calls.clear()
        for _ in range(2):
            app.screen.tick()
            await settle(pilot)
        assert calls == []
        assert "took 3m25s" in label_text(app.screen.query_one("#detail-eta", Label))
        app.screen.action_reload()
        await settle(pilot)
        assert sorted(calls) == ["config", "epochs", "table_counts"]


async def test_runs_tick_queries_curves_of_running_runs_only(make_app, monkeypatch):
    """Finished runs' sparkline curves are cached; each tick queries only runs still going."""
    app = make_app()
    asked: list[list[str] | None] = []
    real = app.store.curves
    monkeypatch.setattr(app.store, "curves", lambda metric="noisy_train_acc", run_ids=None: (asked.append(run_ids), real(metric, run_ids))[1])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert asked and RUN_A in asked[0]
        shown = dict(app.screen.curves)
        asked.clear()
        app.screen.tick()
        await settle(pilot)
        assert asked == [[RUN_D]]
        assert app.screen.curves == shown


async def test_a_bad_where_is_not_run_again_elsewhere(make_app, monkeypatch):
    """A rejected where is dropped: choosing another run from Runs does not re-run it or toast."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mode(pilot, "examples", RUN_A)
        examples = app.screen
        await pilot.press("slash", *"nonsense > 1", "enter")
        await settle(pilot)
        wheres = []
        original = examples.fetch
        monkeypatch.setattr(examples, "fetch", lambda *args: (wheres.append(args[-1]), original(*args)))
        await app.switch_mode("runs")
        app.run_id = RUN_B
        await settle(pilot)
        assert wheres == [] and not app._notifications  # hidden: nothing queried, nothing shown
        await app.switch_mode("examples")
        await settle(pilot)
        assert wheres == [""] and examples.page.total == 256
