"""The app starts without torch (and the composition root, memscope.main, without textual)."""

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return set(out.stdout.split())


def test_tui_app_imports_without_torch():
    modules = _modules_after("import memscope.tui.app")
    assert "textual" in modules
    assert "torch" not in modules
    assert not any(m.startswith("torch.") for m in modules)


def test_app_built_and_screens_imported_without_torch(tmp_path):
    code = (
        "from memscope.tui.app import create_app\n"
        f"app = create_app({str(tmp_path)!r})\n"
        "import memscope.tui.screens.example_detail, memscope.tui.screens.compare, memscope.tui.forms\n"
    )
    assert "torch" not in _modules_after(code)


def test_composition_root_defers_textual():
    modules = _modules_after("import memscope.main")
    assert "textual" not in modules
    assert "torch" not in modules
