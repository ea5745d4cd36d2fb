"""The plugin template (docs/plugin-template) works as an installed package.

The template is built into a wheel (setuptools, no network: ``pip wheel --no-build-isolation``)
and "installed" by unpacking it into a folder put on ``PYTHONPATH`` of the memscope
subprocesses: exactly what pip would lay down for a pure-Python wheel, without touching the
test environment. Where setuptools is missing, the dist-info is written by hand from the
template's pyproject.toml instead. Then:

- ``memscope plugins --json`` finds the plugin through its ``memscope`` entry point;
- ``MEMSCOPE_LOAD_PLUGINS`` can leave it out;
- a run uses its analysis by name and its table is queryable;
- with the package gone, the older run's table still answers ``memscope query`` (the home
  keeps the table's schema), and asking for the analysis again is a clear error;
- the template's own test passes (it uses the memscope.testing fixtures).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from memscope.config import dict_to_toml
from memscope.testing import TINY_CONFIG

REPO = Path(__file__).resolve().parents[1]
#: memscope's distribution name (the import name and the command are ``memscope``)
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
TEMPLATE = REPO / "docs" / "plugin-template"
PYPROJECT = tomllib.loads((TEMPLATE / "pyproject.toml").read_text(encoding="utf-8"))
ENTRY_POINTS = PYPROJECT["project"]["entry-points"]["memscope"]
(PLUGIN_NAME, MODULE_NAME), = ENTRY_POINTS.items()
DIST_NAME = PYPROJECT["project"]["name"]
VERSION = PYPROJECT["project"]["version"]
ANALYSIS = "class_memorization"
TABLE = "class_memorization_classes"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMSCOPE_")}
    env.update(extra)
    return env


def memscope(args: list[str], *, cwd: Path, site: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the memscope CLI in a subprocess, with ``site`` (the installed plugin) on the path."""
    env = dict(env or _clean_env())
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    code = "from memscope.main import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _install_by_hand(site: Path) -> None:
    """The dist-info a wheel of the template would hold (only where setuptools is missing)."""
    info = site / f"{DIST_NAME.replace('-', '_')}-{VERSION}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST_NAME}\nVersion: {VERSION}\n", encoding="utf-8")
    lines = ["[memscope]", *(f"{name} = {value}" for name, value in ENTRY_POINTS.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for module in PYPROJECT["tool"]["setuptools"]["py-modules"]:
        shutil.copy(TEMPLATE / f"{module}.py", site / f"{module}.py")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A folder holding the installed template (module + dist-info with the entry point)."""
    root = tmp_path_factory.mktemp("template")
    source = root / "src"
    shutil.copytree(TEMPLATE, source, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    site = root / "site"
    site.mkdir()
    try:
        import setuptools  # noqa: F401

        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(root / "dist"), str(source)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert built.returncode == 0, built.stderr
        (wheel,) = (root / "dist").glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)  # a pure-Python wheel installs by unpacking
    except ImportError:
        _install_by_hand(site)
    assert list(site.glob("*.dist-info/entry_points.txt")), "the wheel has no entry points"
    return site


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """An empty working directory (no ./plugins folder) and a tiny run config."""
    work = tmp_path_factory.mktemp("work")
    (work / "tiny.toml").write_text(dict_to_toml(TINY_CONFIG), encoding="utf-8")
    return work


def _plugin_entry(listing: str) -> dict | None:
    return next((p for p in json.loads(listing) if p["name"] == PLUGIN_NAME), None)


def test_template_declares_its_entry_point():
    assert PLUGIN_NAME == ANALYSIS and (TEMPLATE / f"{MODULE_NAME}.py").is_file()
    assert MODULE_NAME in PYPROJECT["tool"]["setuptools"]["py-modules"]
    assert "memscope.testing" in (TEMPLATE / "conftest.py").read_text(encoding="utf-8")


def test_the_template_depends_on_this_distribution():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    # `memscope` on the package index is an unrelated C/C++ memory analyser
    assert canonicalize_name(PROJECT) != "memscope"
    requirements = [Requirement(d) for d in PYPROJECT["project"]["dependencies"]]
    assert [canonicalize_name(r.name) for r in requirements] == [canonicalize_name(PROJECT)]


def test_this_distribution_provides_the_memscope_package_and_command():
    from importlib import metadata

    dist = metadata.distribution(PROJECT)  # installed under its own name (pip install -e .)
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"memscope": "memscope.main:main"}
    import memscope

    assert dist.version == memscope.__version__


def test_pip_resolves_the_template_against_this_project(tmp_path):
    """With no package index at all, pip finds the template's dependency already installed."""
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    shutil.copytree(TEMPLATE, source, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-build-isolation", "-q", "--report", str(report), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    to_install = [item["metadata"]["name"] for item in json.loads(report.read_text(encoding="utf-8"))["install"]]
    assert to_install == [DIST_NAME]


def test_plugins_lists_the_installed_package(installed, workdir):
    result = memscope(["plugins", "--json"], cwd=workdir, site=installed)
    assert result.returncode == 0, result.stderr
    entry = _plugin_entry(result.stdout)
    assert entry is not None, result.stdout
    assert entry["source"] == "entrypoint" and entry["version"] == VERSION and not entry["errors"]
    assert DIST_NAME in entry["location"] or DIST_NAME.replace("-", "_") in entry["location"]
    assert entry["hooks"] == ["register_analyses"]
    assert entry["registered"]["analyses"] == [ANALYSIS]

    skipped = memscope(["plugins", "--json"], cwd=workdir, site=installed, env=_clean_env(MEMSCOPE_LOAD_PLUGINS=""))
    assert skipped.returncode == 0 and _plugin_entry(skipped.stdout) is None


@pytest.mark.slow  # a fresh interpreter trains a run (the run, or the template's own tests)
def test_a_run_uses_it_and_its_table_outlives_it(installed, workdir):
    home = workdir / "home"
    run = memscope(
        ["run", "tiny.toml", "-q", "--home", str(home), "--set", f'analyses=["{ANALYSIS}"]'],
        cwd=workdir,
        site=installed,
    )
    assert run.returncode == 0, run.stderr
    run_id = run.stdout.strip().splitlines()[-1]
    sql = f"SELECT true_label, examples, noisy FROM {TABLE} WHERE run_id = '{run_id}' ORDER BY true_label"
    with_plugin = memscope(["query", "--json", "--home", str(home), sql], cwd=workdir, site=installed)
    assert with_plugin.returncode == 0, with_plugin.stderr
    rows = json.loads(with_plugin.stdout)
    assert len(rows) == 4 and sum(r["examples"] for r in rows) == 256  # the synthetic set: 4 classes

    # uninstalled: the older run's results stay queryable
    listing = memscope(["plugins", "--json"], cwd=workdir)
    assert listing.returncode == 0 and _plugin_entry(listing.stdout) is None
    without = memscope(["query", "--json", "--home", str(home), sql], cwd=workdir)
    assert without.returncode == 0, without.stderr
    assert json.loads(without.stdout) == rows
    # ... and asking for the analysis again says what is installed
    again = memscope(["analyze", run_id, "-a", ANALYSIS, "-q", "--home", str(home)], cwd=workdir)
    assert again.returncode == 2, again.stderr
    assert f"unknown analysis '{ANALYSIS}'" in again.stderr and "installed:" in again.stderr


@pytest.mark.slow  # a fresh interpreter trains a run (the run, or the template's own tests)
def test_the_template_tests_pass(installed, tmp_path):
    project = tmp_path / "my-plugin"
    shutil.copytree(TEMPLATE, project, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    env = _clean_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(installed), env.get("PYTHONPATH", "")) if p)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
