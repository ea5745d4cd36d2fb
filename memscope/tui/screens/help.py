"""F1: every key of every section, the current section first."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static
from rich.table import Table
from rich.text import Text

from memscope.tui.keys import key_names


def _key(binding: Binding) -> str:
    return binding.key_display or key_names(binding.key)


def section_bindings() -> list[tuple[str, list[tuple[str, str]]]]:
    """(section title, [(keys, description)]) from the screens' and the app's BINDINGS."""
    from memscope.tui.app import MemscopeApp
    from memscope.tui.screens.compare import CompareScreen
    from memscope.tui.screens.example_detail import ExampleDetailScreen

    sections = []
    classes = [*MemscopeApp.MODES.values(), ExampleDetailScreen, CompareScreen]
    for cls in classes:
        rows = []
        for b in getattr(cls, "BINDINGS", []):
            if isinstance(b, Binding) and b.description:
                rows.append((_key(b), b.description))
            elif isinstance(b, tuple) and len(b) >= 3:
                rows.append((key_names(b[0]), b[2]))
        sections.append((getattr(cls, "HELP_TITLE", "") or cls.__name__, rows))
    app_rows = [
        ("1 … 7", "switch section: Runs, New run, Run, Examples, Layers, SQL, Plugins"),
        ("esc, 1 … 7", "from a text box: leave it and switch section"),
        ("ctrl+p", "command palette (every action by name)"),
        ("f1", "this help"),
        ("ctrl+t", "toggle light / dark theme"),
        ("q, ctrl+q", "quit (training runs keep running)"),
        ("tab, shift+tab", "move between widgets"),
        ("escape", "leave an editor or close a dialog"),
    ]
    sections.insert(0, ("Everywhere", app_rows))
    return sections


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, current: Screen | None = None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        sections = section_bindings()
        current = getattr(self.current, "HELP_TITLE", "") or ""
        sections.sort(key=lambda s: (s[0] != "Everywhere", s[0] != current))
        with Vertical(classes="dialog -wide -tall", id="help-dialog"):
            yield Label("memscope keys  (escape to close)", classes="dialog-title")
            with VerticalScroll():
                for title, rows in sections:
                    table = Table(box=None, show_header=False, padding=(0, 2), expand=False)
                    table.add_column(style="bold", no_wrap=True, min_width=16)
                    table.add_column()
                    for key, desc in rows:
                        table.add_row(Text(key), Text(desc))
                    yield Static(Text(title, style="bold underline"), classes="help-section")
                    yield Static(table, classes="help-table")
