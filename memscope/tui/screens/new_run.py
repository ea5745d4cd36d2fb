"""New run: a form built from the config dataclasses and the plugin registries; launch detached."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Collapsible, Footer, Input, Label, Select, Static

from memscope.errors import MemscopeError
from memscope.results.launch import launch_run, sample_configs, save_launch_config, wait_for_run
from memscope.tui import forms
from memscope.tui.screens.base import SectionScreen
from memscope.tui.screens.dialogs import PromptScreen
from memscope.tui.widgets.mode_bar import ModeBar


def field_row(spec: forms.FieldSpec, value: Any) -> Horizontal:
    """Label, input widget and the field's comment, for one config field."""
    tooltip = spec.comment or None
    widget: Widget
    if spec.choices is not None:
        options = [(c, c) for c in spec.choices]
        if value not in spec.choices and value not in (None, ""):
            options.append((str(value), str(value)))
        widget = Select(options, value=value if value in [v for _, v in options] else Select.BLANK,
                        allow_blank=value not in [v for _, v in options], id=spec.widget_id, classes="field-input",
                        compact=True)
    elif spec.type_name == "true/false":
        widget = Checkbox("", bool(value), id=spec.widget_id, classes="field-input field-bool", compact=True)
    else:
        widget = Input(forms.as_text(value, spec.type_name), id=spec.widget_id, classes="field-input",
                       placeholder=spec.type_name, compact=True)
    widget.tooltip = tooltip
    return Horizontal(
        Label(spec.name, classes="field-label"),
        widget,
        Label(spec.comment, classes="field-help"),
        classes="form-row",
    )


class NewRunScreen(SectionScreen):
    MODE = "new"
    HELP_TITLE = "New run"
    BINDINGS = [
        Binding("ctrl+l", "launch", "Launch", priority=True),
        Binding("ctrl+s", "save", "Save TOML", priority=True),
        Binding("ctrl+k", "check", "Check", priority=True),
        Binding("ctrl+o", "focus_sample", "Sample config", show=False),
    ]

    @dataclass
    class RegistriesLoaded(Message):
        registries: Any
        samples: list[Path]
        errors: list[tuple[str, str]]

    @dataclass
    class LaunchStarted(Message):
        pid: int
        log_path: str

    @dataclass
    class RunLaunched(Message):
        run_id: str

    @dataclass
    class LaunchFailed(Message):
        error: str

    def __init__(self) -> None:
        super().__init__()
        self.registries: Any = None
        self.specs: dict[str, forms.FieldSpec] = {}
        self.samples: list[Path] = []
        self.launching = False
        self.analysis_order: list[str] = []

    def compose(self) -> ComposeResult:
        yield ModeBar(self.MODE)
        with VerticalScroll(id="new-form"):
            yield Label("loading plugins…", id="new-loading", classes="empty-note")
        # Below the form and above the Footer, in the flow (not docked): docked at the bottom
        # they shared the Footer's row and every check result and error was hidden under it.
        yield Static("", id="new-error", markup=False)
        with Horizontal(id="new-actions", classes="toolbar"):
            yield Button("Check", id="new-check", compact=True)
            yield Button("Save TOML…", id="new-save", compact=True)
            yield Button("Launch", id="new-launch", variant="primary", compact=True)
            yield Label("", id="new-message", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#new-error", Static).display = False
        self.load()

    @work(thread=True, exclusive=True, group="new-registries", exit_on_error=False)
    def load(self) -> None:
        host = self.mapp.plugin_host()
        registries = host.registries
        self.post_message(self.RegistriesLoaded(registries, sample_configs(), host.errors()))

    async def on_new_run_screen_registries_loaded(self, message: RegistriesLoaded) -> None:
        self.registries = message.registries
        self.samples = message.samples
        form = self.query_one("#new-form", VerticalScroll)
        await form.remove_children()
        default = forms.RunConfig()
        values = forms.config_values(default)
        widgets: list[Widget] = []
        sample_options = [("defaults (built in)", "")] + [(p.name, str(p)) for p in message.samples]
        widgets.append(Horizontal(
            Label("start from", classes="field-label"),
            Select(sample_options, value="", allow_blank=False, id="new-sample", classes="field-input", compact=True),
            Label("a sample config fills every field; edit, then launch", classes="field-help"),
            classes="form-row",
        ))
        if message.errors:
            widgets.append(Static("\n".join(f"plugin {n} failed: {e}" for n, e in message.errors), classes="form-warning", markup=False))
        run_rows = []
        for spec in forms.top_specs():
            self.specs[spec.key] = spec
            run_rows.append(field_row(spec, values.get(spec.key)))
        widgets.append(Collapsible(*run_rows, title="Run", collapsed=False, id="sec-run"))
        for section, title, specs in forms.section_specs(self.registries):
            rows = []
            for spec in specs:
                self.specs[spec.key] = spec
                rows.append(field_row(spec, values.get(spec.key)))
                if spec.key in forms.REGISTRY_FIELDS:
                    rows.append(Label("", id=f"desc-{section}", classes="field-desc"))
            collapsed = section in ("etd",)
            widgets.append(Collapsible(*rows, title=title, collapsed=collapsed, id=f"sec-{section}"))
        analysis_widgets: list[Widget] = []
        for entry in self.registries.analyses:
            analysis_widgets.append(Checkbox(f"{entry.name}: {entry.description}", id=f"an-{entry.name}", classes="analysis-check", compact=True))
            option_rows = []
            options_cls = getattr(entry.obj, "Options", None)
            if options_cls is not None:
                for spec in forms.analysis_specs(entry.name, options_cls):
                    self.specs[spec.key] = spec
                    option_rows.append(field_row(spec, spec.default))
            box = Vertical(*option_rows, id=f"opts-{entry.name}", classes="analysis-options")
            box.display = False
            analysis_widgets.append(box)
        if not analysis_widgets:
            analysis_widgets.append(Label("no analyses are registered (plugins register them)", classes="field-help"))
        widgets.append(Collapsible(*analysis_widgets, title="Analyses", collapsed=False, id="sec-analyses"))
        await form.mount_all(widgets)
        self._describe_choices()
        # A newcomer's first launch should be the embedded default that memorizes in seconds,
        # not the paper's GPU settings: start from digits.toml when it is around.
        digits = next((p for p in message.samples if p.name == "digits.toml"), None)
        if digits is not None:
            self.query_one("#new-sample", Select).value = str(digits)

    # ------------------------------------------------------------------ form <-> values

    def _widget(self, spec: forms.FieldSpec) -> Widget:
        return self.query_one(f"#{spec.widget_id}")

    def form_values(self) -> tuple[dict[str, Any], list[str]]:
        analyses = [cb.id.removeprefix("an-") for cb in self.query(".analysis-check").results(Checkbox) if cb.value and cb.id]
        # the loaded config's order first (as 'memscope run' keeps it), then newly ticked ones
        order = {name: i for i, name in enumerate(self.analysis_order)}
        analyses.sort(key=lambda name: order.get(name, len(order)))
        values: dict[str, Any] = {}
        for key, spec in self.specs.items():
            if spec.section.startswith("analysis.") and spec.section.split(".", 1)[1] not in analyses:
                continue
            widget = self._widget(spec)
            if isinstance(widget, Select):
                if widget.value is Select.BLANK:
                    continue
                values[key] = widget.value
            elif isinstance(widget, Checkbox):
                values[key] = widget.value
            elif isinstance(widget, Input):
                if spec.section.startswith("analysis.") and widget.value.strip() == forms.as_text(spec.default, spec.type_name):
                    continue  # keep analysis sections short: only what differs from the defaults
                values[key] = forms.parse_text(widget.value, spec.type_name, key)
        return values, analyses

    def set_values(self, values: dict[str, Any], analyses: list[str]) -> None:
        for key, spec in self.specs.items():
            value = values.get(key, spec.default)
            widget = self._widget(spec)
            if isinstance(widget, Select):
                if spec.choices is not None and value not in spec.choices:
                    widget.set_options([(c, c) for c in spec.choices] + [(str(value), value)])
                widget.value = value
            elif isinstance(widget, Checkbox):
                widget.value = bool(value)
            elif isinstance(widget, Input):
                widget.value = forms.as_text(value, spec.type_name)
        self.analysis_order = list(analyses)
        for cb in self.query(".analysis-check").results(Checkbox):
            cb.value = (cb.id or "").removeprefix("an-") in analyses
        self._describe_choices()

    def _describe_choices(self) -> None:
        if self.registries is None:
            return
        for key, kind in forms.REGISTRY_FIELDS.items():
            section = key.split(".")[0]
            spec = self.specs.get(key)
            if spec is None:
                continue
            value = self._widget(spec).value
            registry = getattr(self.registries, kind)
            text = registry.entry(value).description if isinstance(value, str) and value in registry else ""
            for label in self.query(f"#desc-{section}").results(Label):
                label.update(text)

    def validate_form(self) -> forms.RunConfig | None:
        if self.registries is None:
            self.query_one("#new-message", Label).update("still loading plugins…")
            return None
        self.mark_invalid(None)
        try:
            values, analyses = self.form_values()
            config = forms.build_config(values, analyses, self.registries)
        except MemscopeError as exc:
            self.show_error(exc.message)
            self.mark_invalid(forms.field_at_fault(exc.message, self.specs))
            return None
        self.show_error("")
        return config

    def show_error(self, text: str, status: str = "✗ not valid: see the message above") -> None:
        """The whole message above the actions row (it wraps; nothing is cut), or none."""
        error = self.query_one("#new-error", Static)
        error.update(text)
        error.display = bool(text)
        if text:
            self.query_one("#new-message", Label).update(status)

    def mark_invalid(self, key: str | None) -> None:
        """Mark the field at fault (red border), open its section and focus it; None clears."""
        for row in self.query(".form-row.-invalid"):
            row.remove_class("-invalid")
        spec = self.specs.get(key) if key else None
        if spec is None:
            return
        widget = self._widget(spec)
        if widget.parent is not None:
            widget.parent.add_class("-invalid")  # the row: its label and its box turn red
        for ancestor in widget.ancestors:
            if isinstance(ancestor, Collapsible):
                ancestor.collapsed = False
        widget.focus()
        self.call_after_refresh(widget.scroll_visible, animate=False)

    # ------------------------------------------------------------------ events

    @on(Select.Changed, "#new-sample")
    def _sample(self, event: Select.Changed) -> None:
        if not event.value:
            self.set_values(forms.config_values(forms.RunConfig()), [])
            return
        try:
            config = forms.load_sample(Path(str(event.value)))
        except MemscopeError as exc:
            self.notify(exc.message, title="sample config", severity="error", markup=False)
            return
        self.set_values(forms.config_values(config), list(config.analyses))
        self.query_one("#new-message", Label).update(f"loaded {Path(str(event.value)).name}")

    @on(Select.Changed)
    def _choice(self, event: Select.Changed) -> None:
        if event.select.id and event.select.id != "new-sample":
            self._describe_choices()

    @on(Checkbox.Changed, ".analysis-check")
    def _analysis_toggled(self, event: Checkbox.Changed) -> None:
        name = (event.checkbox.id or "").removeprefix("an-")
        for box in self.query(f"#opts-{name}"):
            box.display = event.value

    @on(Button.Pressed, "#new-check")
    def _check_pressed(self) -> None:
        self.action_check()

    @on(Button.Pressed, "#new-save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#new-launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    def action_focus_sample(self) -> None:
        for select in self.query("#new-sample").results(Select):
            select.focus()

    def action_check(self) -> None:
        config = self.validate_form()
        if config is not None:
            self.query_one("#new-message", Label).update(f"✓ valid: {config.label}, {config.train.epochs} epochs")

    def action_save(self) -> None:
        config = self.validate_form()
        if config is None:
            return
        text = forms.to_toml(config)
        default = Path.cwd() / f"{config.label}.toml"

        def chosen(path: str | None) -> None:
            if path:
                self.save(Path(path).expanduser(), text)

        self.app.push_screen(PromptScreen("Save the config as TOML", "Path of the file to write:", str(default)), chosen)

    @work(thread=True, exclusive=True, group="new-save", exit_on_error=False)
    def save(self, path: Path, text: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.mapp.report_error(f"cannot write {path}: {exc.strerror or exc}", "save")
            return
        self.app.call_from_thread(self.notify, f"Saved {path}. Run it with: memscope run {path}", title="save")

    def action_launch(self) -> None:
        if self.launching:
            self.notify("A launch is in progress.", title="new run")
            return
        config = self.validate_form()
        if config is None:
            return
        self.launching = True
        self.query_one("#new-message", Label).update("starting memscope run…")
        self.launch(forms.to_toml(config), config.label)

    @work(thread=True, exclusive=True, group="new-launch", exit_on_error=False)
    def launch(self, toml_text: str, label: str) -> None:
        app = self.mapp
        try:
            path = save_launch_config(app.home, toml_text, label)
            launch = launch_run(app.home, path, app.plugins_dir)
            app.launches.append(launch)
            self.post_message(self.LaunchStarted(launch.pid, str(launch.log_path)))
            run_id = wait_for_run(app.home, launch)
        except MemscopeError as exc:
            self.post_message(self.LaunchFailed(exc.message))
            return
        except OSError as exc:
            self.post_message(self.LaunchFailed(f"cannot launch: {exc.strerror or exc}"))
            return
        self.post_message(self.RunLaunched(run_id))

    def on_new_run_screen_launch_started(self, message: LaunchStarted) -> None:
        self.query_one("#new-message", Label).update(f"started pid {message.pid}; waiting for its run directory…")

    def on_new_run_screen_run_launched(self, message: RunLaunched) -> None:
        self.launching = False
        self.query_one("#new-message", Label).update(f"launched {message.run_id}")
        self.notify(f"Run {message.run_id} started. It keeps running if you quit.", title="new run")
        self.mapp.select_run(message.run_id, "detail")

    def on_new_run_screen_launch_failed(self, message: LaunchFailed) -> None:
        self.launching = False
        self.show_error(message.error, "✗ launch failed: the run did not start (see above)")
        self.mark_invalid(forms.field_at_fault(message.error, self.specs))
