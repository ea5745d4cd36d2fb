"""Modal dialogs: confirm, ask for a line of text, pick from a list."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option


class ConfirmScreen(ModalScreen[bool]):
    """Yes / no; dismisses with True only for an explicit yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, message: str, yes: str = "Yes", danger: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.yes_label = yes
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="error" if self.danger else "primary")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class PromptScreen(ModalScreen[str | None]):
    """One line of text (a path, a name); None when cancelled. An empty answer is a cancel
    too, unless ``allow_empty`` (then it is ``""``: clearing a note)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, message: str = "", value: str = "", placeholder: str = "",
                 allow_empty: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.value = value
        self.placeholder = placeholder
        self.allow_empty = allow_empty

    def _answer(self, text: str) -> str | None:
        text = text.strip()
        return text if text or self.allow_empty else None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.message:
                yield Static(self.message, classes="dialog-body", markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(self._answer(event.value))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self._answer(self.query_one(Input).value) if event.button.id == "ok" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickScreen(ModalScreen[int | None]):
    """Choose one entry of a list (the SQL history); the index, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, entries: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide"):
            yield Label(self.title_text, classes="dialog-title")
            if self.entries:
                yield OptionList(*[Option(" ".join(e.split())[:200], id=str(i)) for i, e in enumerate(self.entries)])
            else:
                yield Static("(empty)", classes="dialog-body")
            yield Static("enter: choose   escape: close", classes="dialog-hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)
