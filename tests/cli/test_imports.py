"""Import hygiene: the CLI core, ``memscope query`` and ``memscope plugins`` never load
torch, timm, torchvision or textual, and ``memscope query`` loads only what it needs
(checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "timm", "torchvision", "textual")

PROBE = """
import atexit, json, sys
heavy = {heavy!r}

def report():
    loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)
    sys.stderr.write('\\nHEAVY=' + json.dumps(loaded) + '\\n')

atexit.register(report)
{body}
"""


def _loaded_heavy(body: str, env_home: str, args: list[str] = ()) -> tuple[list[str], subprocess.CompletedProcess]:
    code = PROBE.format(heavy=HEAVY, body=body)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "MEMSCOPE_HOME": env_home},
    )
    marker = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY=")]
    assert marker, proc.stderr
    return json.loads(marker[-1][len("HEAVY="):]), proc


def test_importing_the_cli_loads_nothing_heavy(tmp_path):
    heavy, proc = _loaded_heavy("import memscope.cli.app", str(tmp_path / "home"))
    assert proc.returncode == 0, proc.stderr
    assert heavy == []


@pytest.mark.parametrize(
    "args",
    [["query", "--csv", "SELECT count(*) FROM runs"], ["plugins", "--json"], ["runs", "list", "--json"]],
    ids=["query", "plugins", "runs-list"],
)
def test_commands_load_nothing_heavy(tmp_path, args):
    body = "from memscope.main import main\nmain(sys.argv[1:])"
    heavy, proc = _loaded_heavy(body, str(tmp_path / "home"), args)
    assert proc.returncode == 0, proc.stderr
    assert heavy == [], f"memscope {' '.join(args)} imported {heavy}"


#: What ``memscope query "SELECT 1"`` must not load: the heavy frameworks, typer (its
#: completion machinery and pydantic come with it), and what only other formats or the
#: runs view's live status need.
NOT_FOR_A_QUERY = (*HEAVY, "typer", "shellingham", "click", "pydantic", "pyarrow", "numpy", "pandas")


def test_a_plain_query_loads_only_what_it_needs(home):
    """On an existing home (creating one writes Parquet schema parts, with pyarrow)."""
    code = PROBE.replace("heavy = {heavy!r}", f"heavy = {NOT_FOR_A_QUERY!r}").format(
        body="from memscope.main import main\nmain(sys.argv[1:])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "query", "--csv", "SELECT 1 AS one"],
        capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "MEMSCOPE_HOME": str(home.root)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "one\n1\n"
    loaded = json.loads([line for line in proc.stderr.splitlines() if line.startswith("HEAVY=")][-1][len("HEAVY="):])
    assert loaded == [], f"memscope query imported {loaded}"
