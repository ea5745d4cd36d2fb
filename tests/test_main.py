"""memscope.main, the composition root: `memscope` alone and `memscope tui` open the
terminal app; memscope.cli and memscope.tui never import each other."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner


def test_no_command_and_tui_open_the_app(home, monkeypatch):
    import memscope.main

    opened = []
    monkeypatch.setattr(memscope.main, "open_tui", lambda home=None, plugins_dir=None: opened.append((home, plugins_dir)))
    app = memscope.main.create_app()
    runner = CliRunner()
    assert runner.invoke(app, []).exit_code == 0
    assert runner.invoke(app, ["--home", str(home.root), "tui"]).exit_code == 0
    assert runner.invoke(app, ["tui", "--plugins-dir", "/p"]).exit_code == 0
    assert [(h and str(h), p and str(p)) for h, p in opened] == [(None, None), (str(home.root), None), (None, "/p")]


def test_the_cli_alone_prints_its_help_without_a_command():
    import typer.main

    from memscope.cli.app import app

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 0 and "Commands:" in result.output
    assert "tui" not in typer.main.get_command(app).commands  # only the composition root adds it


def test_python_m_memscope_is_the_command(home):
    proc = subprocess.run([sys.executable, "-m", "memscope", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("memscope ")
