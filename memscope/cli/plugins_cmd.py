"""``memscope plugins``: what is installed, what each plugin registered, and what broke.

Imports neither torch nor textual: registration hooks hand over names and factories, and
nothing here calls a factory.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from memscope.cli.common import HomeOption, JsonFlag, PluginsDirOption, handle_errors

KINDS = ("datasets", "models", "noise_models", "analyses")


def describe_plugins(host: Any) -> list[dict[str, Any]]:
    """One dict per plugin: name, version, source, location, hooks, errors, registered names."""
    registries = host.registries  # fills the registries; registration errors land in infos
    registered: dict[str, dict[str, list[str]]] = {}
    for kind in KINDS:
        for entry in getattr(registries, kind):
            registered.setdefault(entry.plugin, {k: [] for k in KINDS})[kind].append(entry.name)
    plugins = []
    for name, info in host.infos.items():
        item = info.as_dict()
        item["registered"] = registered.get(name, {k: [] for k in KINDS})
        plugins.append(item)
    return plugins


@handle_errors
def plugins(json_: JsonFlag = False, plugins_dir: PluginsDirOption = None, home: HomeOption = None) -> None:
    """List plugins: version, where they come from, hooks, registered names, errors."""
    from memscope.cli.common import get_host

    host = get_host(plugins_dir, home=home)
    items = describe_plugins(host)
    _note_unloaded_local_folder(host.plugins_dir)
    if json_:
        print(json.dumps(items, indent=1))
        return
    out = sys.stdout
    for item in items:
        version = f" {item['version']}" if item["version"] else ""
        out.write(f"{item['name']}{version}  [{item['source']}] {item['location']}\n")
        out.write(f"  hooks: {', '.join(item['hooks']) or '(none)'}\n")
        for kind in KINDS:
            names = item["registered"][kind]
            if names:
                out.write(f"  {kind.replace('_', ' ')}: {', '.join(names)}\n")
        for error in item["errors"]:
            out.write(f"  ERROR: {error}\n")
    if not items:
        out.write("(no plugins)\n")


def _note_unloaded_local_folder(loaded: Any) -> None:
    """./plugins is never loaded unless named; say so when it holds plugin files, so that a
    missing plugin is not a mystery."""
    from pathlib import Path

    local = Path.cwd() / "plugins"
    if not any(local.glob("*.py")) or (loaded is not None and Path(loaded).resolve() == local.resolve()):
        return
    sys.stderr.write(
        f"memscope: note: {local} is not loaded (memscope runs plugin files only from a folder you name): "
        "use --plugins-dir plugins, or export MEMSCOPE_PLUGINS_DIR=\"$PWD/plugins\"\n"
    )


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins)
