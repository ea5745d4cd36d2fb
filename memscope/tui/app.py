"""The memscope terminal app: sections as Textual modes, one factory for the CLI and the tests.

Start-up reads nothing heavy: each screen loads its data in thread workers (DuckDB, run
directories, plugins) that post past-tense messages back. torch is never imported here.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, TextArea

from memscope.errors import MemscopeError
from memscope.results.examples import DatasetImages
from memscope.results.launch import Launch
from memscope.results.session import Store
from memscope.store.home import Home, resolve_home
from memscope.tui.keys import read_escape_digit_as_alt
from memscope.tui.screens.detail import RunDetailScreen
from memscope.tui.screens.examples import ExamplesScreen
from memscope.tui.screens.help import HelpScreen
from memscope.tui.screens.layers import LayersScreen
from memscope.tui.screens.new_run import NewRunScreen
from memscope.tui.screens.plugins import PluginsScreen
from memscope.tui.screens.runs import RunsScreen
from memscope.tui.screens.sql import SqlScreen
from memscope.tui.widgets.mode_bar import SECTIONS

if TYPE_CHECKING:
    from memscope.plugins import PluginHost

DARK_THEME = "textual-dark"
LIGHT_THEME = "textual-light"


class MemscopeApp(App[None]):
    """Runs, New run, Run detail, Examples, Layers & neurons, SQL and Plugins."""

    CSS_PATH = "app.tcss"
    TITLE = "memscope"
    MODES = {
        "runs": RunsScreen,
        "new": NewRunScreen,
        "detail": RunDetailScreen,
        "examples": ExamplesScreen,
        "layers": LayersScreen,
        "sql": SqlScreen,
        "plugins": PluginsScreen,
    }
    DEFAULT_MODE = "runs"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("f1", "help", "Help"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False),
        # Priority: a focused Select, Checkbox or table must not swallow them (check_action
        # lets a digit through to a text box). alt+digit is Escape-then-digit typed quickly.
        *[Binding(key, f"section('{mode}')", label, show=False, priority=True) for mode, key, label in SECTIONS],
        *[Binding(f"alt+{key}", f"section('{mode}', True)", label, show=False, priority=True)
          for mode, key, label in SECTIONS],
    ]

    run_id: reactive[str | None] = reactive(None)
    """The selected run: Run detail, Examples and Layers show it."""

    def __init__(self, home: Home, plugins_dir: str | Path | None = None, *, refresh_interval: float = 1.5,
                 theme: str = DARK_THEME, show_timings: bool = True) -> None:
        read_escape_digit_as_alt()
        super().__init__()
        self.show_timings = show_timings  # query/page times in status lines (off for snapshots)
        self.home = home
        self.plugins_dir = plugins_dir
        self.refresh_interval = refresh_interval
        self.store = Store(home, self.plugin_host)
        self.images = DatasetImages(home, self.read_dataset)
        self.launches: list[Launch] = []
        self._host: "PluginHost | None" = None
        self._host_lock = threading.Lock()
        self.theme = theme

    # ------------------------------------------------------------------ services for workers

    def plugin_host(self) -> "PluginHost":
        """The plugin host (loads plugins once; call from a worker: plugins may be slow)."""
        with self._host_lock:
            if self._host is None:
                from memscope.plugins import get_host

                self._host = get_host(self.plugins_dir, home=self.home.root)
            return self._host

    def read_dataset(self, name: str, path: str, data_dir: Path) -> tuple[Any, list[str]]:
        """A dataset's training images and class names through its registered loader (a
        plugin's dataset too); the loaders live with the engine, so they are reached from
        the app, not from the headless results layer. Never downloads."""
        from memscope.data import DatasetRequest

        loader = self.plugin_host().registries.datasets.get(name)
        arrays = loader(DatasetRequest(name, path, data_dir, False)).validated(f"dataset '{name}'")
        return arrays.x_train, list(arrays.class_names)

    def report_error(self, error: BaseException | str, title: str = "error") -> None:
        """Show an error without leaving the app (thread-safe)."""
        if isinstance(error, MemscopeError):
            text = error.message
        elif isinstance(error, BaseException):
            text = f"{error.__class__.__name__}: {error}"
        else:
            text = str(error)
        if threading.get_ident() == self._thread_id:
            self.notify(text, title=title, severity="error", timeout=10, markup=False)
        else:
            self.call_from_thread(self.notify, text, title=title, severity="error", timeout=10, markup=False)

    def reap(self) -> None:
        """Collect exited launches (no zombies while the app stays open)."""
        for launch in list(self.launches):
            if launch.process.poll() is not None:
                self.launches.remove(launch)

    def select_run(self, run_id: str | None, mode: str | None = None) -> None:
        self.run_id = run_id
        if mode is not None:
            self.switch_mode(mode)

    # ------------------------------------------------------------------ actions

    def action_section(self, mode: str, from_alt: bool = False) -> None:
        """Keys 1-7 (and alt+1-7); ``from_alt`` only tells check_action to pass text boxes."""
        self.switch_mode(mode)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "section":
            if isinstance(self.screen, ModalScreen):
                return False  # a dialog keeps its keys (and the section under it stays)
            if not (len(parameters) > 1 and parameters[1]) and isinstance(self.focused, (Input, TextArea)):
                return False  # a digit typed into a text box is text
        return True

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT_THEME if self.theme == DARK_THEME else DARK_THEME

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """The palette's Screenshot: an SVG in ``<home>/screenshots`` (Textual's default folder,
        ~/Downloads, may not exist), and a notification saying where it went."""
        folder = Path(path) if path else self.home.root / "screenshots"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(folder), time_format)
        except OSError as exc:
            self.notify(f"Cannot save a screenshot in {folder}: {exc.strerror or exc}", title="Screenshot",
                        severity="error", markup=False)
            return None
        self.notify(f"Saved {saved}", title="Screenshot", markup=False)
        return saved

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, key, label in SECTIONS:
            yield SystemCommand(f"Go to {label}", f"Switch to the {label} section (key {key})",
                                lambda mode=mode: self.switch_mode(mode))
        yield SystemCommand("Help", "Every key of every section (F1)", self.action_help)
        yield SystemCommand("Toggle light/dark theme", "Switch between the light and dark themes (ctrl+t)",
                            self.action_toggle_theme)

    def on_unmount(self) -> None:
        self.store.close()


def create_app(home: str | Path | Home | None = None, plugins_dir: str | Path | None = None,
               **options: Any) -> MemscopeApp:
    """The app for a home (``--home`` / MEMSCOPE_HOME / the user data dir) and plugins dir."""
    resolved = home if isinstance(home, Home) else resolve_home(home)
    return MemscopeApp(resolved, plugins_dir, **options)
