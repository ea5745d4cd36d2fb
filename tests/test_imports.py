"""Import layering, in one place.

Statically, the import-linter contracts in pyproject.toml (``lint-imports``) hold: the CLI
and the app never import each other; the store, the results layer, report, sweep, figures
and the API never reach torch, textual or typer; results flow store -> results -> report,
figures, api -> cli, app; the engine runs train -> analysis -> models, data.

What a static graph cannot say is what a module loads *when imported*: the engine's
declaration modules import torch inside functions, and ``memscope plugins`` lists them
without it. Those promises are checked here at run time, in a fresh interpreter each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "timm", "textual")

PROBE = """
import atexit, json, sys
watched = {watched!r}

def report():
    loaded = sorted(m for m in sys.modules if any(m == w or m.startswith(w + '.') for w in watched))
    sys.stderr.write('\\nLOADED=' + json.dumps(loaded) + '\\n')

atexit.register(report)
{body}
"""


def loaded_after(body: str, watched: tuple[str, ...], args: list[str] = (), home: str | Path | None = None):
    """Run ``body`` in a fresh interpreter; the ``watched`` modules it loaded, and the process."""
    env = dict(os.environ)
    if home is not None:
        env["MEMSCOPE_HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(watched=watched, body=body), *args],
        capture_output=True, text=True, timeout=120, env=env,
    )
    marker = [line for line in proc.stderr.splitlines() if line.startswith("LOADED=")]
    assert marker, proc.stderr
    return json.loads(marker[-1][len("LOADED="):]), proc


# --------------------------------------------------------------------------- the contracts


def test_the_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.skip("import-linter is not installed (it is in the test extra)")
    proc = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


# --------------------------------------------------------------------------- modules


MODULES = {
    # `memscope plugins` lists the analyses and models from their declarations
    "analysis declarations": (
        "import memscope.analysis.etd, memscope.analysis.gradient_accounting, memscope.analysis.neuron_flipping\n"
        "import memscope.analysis.rewinding, memscope.analysis.retraining\n"
        "from memscope.analysis.gradient_accounting import GradientAccounting\n"
        "assert GradientAccounting.needs_split_gradients",
        ("torch", "timm"),
    ),
    "model registry": (
        "import memscope.models, memscope.models.base\nfrom memscope.models import BUILTIN_MODELS, LayerGroup",
        ("torch", "timm"),
    ),
    # plugin authors import the test helpers at collection time
    "memscope.testing": ("import memscope.testing", ("torch",)),
    # the app runs without the engine; the entry point loads textual only to open it
    "the app and its screens": (
        "from memscope.tui.app import create_app\n"
        "import memscope.tui.screens.example_detail, memscope.tui.screens.compare, memscope.tui.forms",
        ("torch", "timm", "torchvision"),
    ),
    "the entry point": ("import memscope.main", ("torch", "textual")),
    "the CLI": ("import memscope.cli.app", HEAVY),
    # a sweep's driver process never loads the engine: the front end's host checks names
    "the sweep": (
        "import memscope.sweep, memscope.sweep.driver, memscope.sweep.control, memscope.sweep.executors\n"
        "import memscope.sweep.grid, memscope.sweep.store, memscope.sweep.__main__",
        (*HEAVY, "typer", "memscope.plugins", "memscope.train", "memscope.analysis", "memscope.models"),
    ),
}


@pytest.mark.parametrize("name", list(MODULES))
def test_importing_loads_nothing_it_does_not_need(name, tmp_path):
    body, watched = MODULES[name]
    loaded, proc = loaded_after(body, watched, home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    assert loaded == [], f"{name} loaded {loaded}"


# --------------------------------------------------------------------------- commands


@pytest.mark.parametrize(
    "args",
    [["query", "--csv", "SELECT count(*) FROM runs"], ["plugins", "--json"], ["runs", "list", "--json"]],
    ids=["query", "plugins", "runs-list"],
)
def test_commands_load_nothing_heavy(tmp_path, args):
    loaded, proc = loaded_after("from memscope.main import main\nmain(sys.argv[1:])", HEAVY, args, tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    assert loaded == [], f"memscope {' '.join(args)} imported {loaded}"


#: What ``memscope query "SELECT 1"`` must not load: the heavy frameworks, typer (its
#: completion machinery and pydantic come with it), and what only other formats or the
#: runs view's live status need.
NOT_FOR_A_QUERY = (*HEAVY, "typer", "shellingham", "click", "pydantic", "pyarrow", "numpy", "pandas")


def test_a_plain_query_loads_only_what_it_needs(tmp_path):
    """On an existing home (creating one writes Parquet schema parts, with pyarrow)."""
    from memscope.store.home import Home

    home = Home(tmp_path / "home")
    home.ensure()
    body = "from memscope.main import main\nmain(sys.argv[1:])"
    loaded, proc = loaded_after(body, NOT_FOR_A_QUERY, ["query", "--csv", "SELECT 1 AS one"], home.root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "one\n1\n"
    assert loaded == [], f"memscope query imported {loaded}"


def test_a_report_loads_nothing_heavy(tmp_path):
    from memscope.store.home import Home
    from memscope.testing import write_fake_run

    home = Home(tmp_path / "home")
    home.ensure()
    write_fake_run(home, "fake-run", analyses=True)
    body = "from memscope.main import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass"
    loaded, proc = loaded_after(body, HEAVY, ["report", "fake-run", "--home", str(home.root)])
    assert "Training" in proc.stdout, proc.stderr
    assert loaded == []
