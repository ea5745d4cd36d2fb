"""The top bar: the app's sections as clickable tabs, and the selected run."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

#: (mode, key, label) in the order the bar shows them.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("runs", "1", "Runs"),
    ("new", "2", "New run"),
    ("detail", "3", "Run"),
    ("examples", "4", "Examples"),
    ("layers", "5", "Layers"),
    ("sql", "6", "SQL"),
    ("plugins", "7", "Plugins"),
)


class ModeBar(Horizontal):
    """``memscope  1 Runs  2 New run ...   run <id>``; click a tab to switch sections.

    The run id matters more than the other tabs' names: when both do not fit (80 columns),
    the app's name goes and the other tabs shrink to their keys (`` 1  2  3 Run  4 ``) so the
    whole id still shows.
    """

    DEFAULT_CSS = """
    ModeBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground-muted;
    }
    ModeBar > #mode-tabs { width: auto; height: 1; link-style: none; link-color: $foreground; link-style-hover: reverse; }
    ModeBar > #mode-run { width: 1fr; height: 1; padding: 0 1; color: $text-accent; text-align: right; text-overflow: ellipsis; text-wrap: nowrap; }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current
        self.run_text = ""
        self.compact: bool | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._tabs(), id="mode-tabs", markup=False)
        yield Static("", id="mode-run", markup=False)

    def _tabs(self, compact: bool = False) -> Content:
        parts = [] if compact else [Content.from_markup("[b $accent] memscope [/] ")]
        for mode, key, label in SECTIONS:
            text = f" {key} " if compact and mode != self.current else f" {key} {label} "
            if mode == self.current:
                parts.append(Content.from_markup("[reverse $primary]$text[/]", text=text))
            else:
                parts.append(Content.from_markup(f"[@click=app.switch_mode('{mode}')]$text[/]", text=text))
        return Content("").join(parts)

    def on_mount(self) -> None:
        self.watch(self.app, "run_id", self._show_run)

    def on_resize(self) -> None:
        self._layout()

    def _show_run(self, run_id: str | None) -> None:
        self.run_text = f"run {run_id}" if run_id else "no run selected"
        self.query_one("#mode-run", Static).update(self.run_text)
        self._layout()

    def _layout(self) -> None:
        width = self.size.width or self.app.size.width
        compact = self._tabs().cell_length + len(self.run_text) + 2 > width  # 2: the run's padding
        if compact != self.compact:
            self.compact = compact
            self.query_one("#mode-tabs", Static).update(self._tabs(compact))
