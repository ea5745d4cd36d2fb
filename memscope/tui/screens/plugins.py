"""Plugins: what is loaded and from where, its hooks, what it registered, and what failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Label, Static

from memscope.tui.screens.base import SectionScreen
from memscope.tui.widgets.mode_bar import ModeBar

KINDS = (("datasets", "dataset"), ("models", "model"), ("noise_models", "noise model"), ("analyses", "analysis"))


class PluginsScreen(SectionScreen):
    MODE = "plugins"
    HELP_TITLE = "Plugins"
    BINDINGS = [Binding("r", "reload", "Reload list")]

    @dataclass
    class PluginsLoaded(Message):
        plugins: list[dict[str, Any]]
        registered: list[tuple[str, str, str, str]]  # kind, name, plugin, description
        errors: list[tuple[str, str]]
        plugins_dir: str

    def compose(self) -> ComposeResult:
        yield ModeBar(self.MODE)
        with Vertical(id="plugins-body"):
            yield Label("loading plugins…", id="plugins-summary", classes="panel-title")
            yield Static("", id="plugins-errors", markup=False)
            yield DataTable(id="plugins-table", zebra_stripes=True, cursor_type="row")
            yield Label("registered", classes="panel-title")
            yield DataTable(id="registered-table", zebra_stripes=True, cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#plugins-errors", Static).display = False
        self.query_one("#plugins-table", DataTable).add_columns("plugin", "source", "version", "hooks", "location")
        self.query_one("#registered-table", DataTable).add_columns("kind", "name", "plugin", "description")
        self.load()

    def action_reload(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="plugins-load", exit_on_error=False)
    def load(self) -> None:
        host = self.mapp.plugin_host()
        registries = host.registries
        registered = []
        for attr, kind in KINDS:
            for entry in getattr(registries, attr):
                registered.append((kind, entry.name, entry.plugin, entry.description))
        self.post_message(self.PluginsLoaded(
            [info.as_dict() for info in host.infos.values()], registered, host.errors(),
            str(host.plugins_dir) if host.plugins_dir else "",
        ))

    def on_plugins_screen_plugins_loaded(self, message: PluginsLoaded) -> None:
        failed = [p for p in message.plugins if p["errors"]]
        where = f" · plugins dir {message.plugins_dir}" if message.plugins_dir else " · no plugins dir"
        self.query_one("#plugins-summary", Label).update(
            f"{len(message.plugins)} plugin(s), {len(failed)} failed{where}"
        )
        errors = self.query_one("#plugins-errors", Static)
        if message.errors:
            errors.update("\n".join(f"✗ {name}: {err}" for name, err in message.errors))
            errors.display = True
        else:
            errors.display = False
        table = self.query_one("#plugins-table", DataTable)
        table.clear()
        error_color = self.app.theme_variables.get("error", "")
        for p in message.plugins:
            name = Text(p["name"], style=f"bold {error_color}") if p["errors"] else p["name"]
            hooks = ", ".join(h.removeprefix("register_") for h in p["hooks"]) or ("failed" if p["errors"] else "-")
            table.add_row(name, p["source"], p["version"] or "-", hooks, p["location"])
        reg = self.query_one("#registered-table", DataTable)
        reg.clear()
        for row in message.registered:
            reg.add_row(*row)
