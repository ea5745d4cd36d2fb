"""The results layer stays headless: importing all of it loads no torch, Textual or Typer."""

from __future__ import annotations

import subprocess
import sys


def test_results_import_no_torch_textual_or_typer():
    code = (
        "import sys, pkgutil, importlib, memscope.results as r\n"
        "for m in pkgutil.iter_modules(r.__path__): importlib.import_module('memscope.results.' + m.name)\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'timm', 'textual', 'typer') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
