"""Issue 13's done-when for the Python API, as a user runs it: a fresh interpreter,
``MEMSCOPE_HOME`` pointing at a real tiny run's home, nothing but ``import memscope``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

JOIN = (
    "import memscope, pandas; con = memscope.connect(); df = pandas.DataFrame({'example': [0, 1]}); "
    "print(con.sql('SELECT count(*) FROM examples JOIN df USING (example)').fetchall())"
)


def _python(code: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEMSCOPE_HOME": str(home.root), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def _expected_count(tiny) -> int:
    return tiny.sql("SELECT count(*) AS n FROM examples WHERE example IN (0, 1)").column("n")[0].as_py()


def test_a_pandas_join_prints_a_count(tiny_run):
    done = _python(JOIN, tiny_run.home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"[({_expected_count(tiny_run)},)]"
    assert _expected_count(tiny_run) > 0


def test_create_table_is_refused(tiny_run):
    before = sorted(p.name for p in tiny_run.home.root.iterdir())
    done = _python(JOIN + "; con.sql(\"CREATE TABLE t AS SELECT 1\")", tiny_run.home)
    assert done.returncode == 1
    assert "QueryError: refused CREATE statement: CREATE TABLE t AS SELECT 1" in done.stderr
    assert sorted(p.name for p in tiny_run.home.root.iterdir()) == before


def test_a_polars_join_prints_a_count(tiny_run):
    pytest.importorskip("polars")
    code = JOIN.replace("pandas", "polars")
    done = _python(code, tiny_run.home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"[({_expected_count(tiny_run)},)]"


def test_import_memscope_stays_light(tiny_run):
    """duckdb and pyarrow load on the first call of the API, not on ``import memscope`` nor
    on ``memscope.connect``'s lookup; ``memscope.hookimpl`` (plugins) needs neither."""
    code = (
        "import sys, memscope\n"
        "heavy = ('duckdb', 'pyarrow', 'torch', 'textual', 'typer')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "assert memscope.hookimpl is not None and callable(memscope.connect)\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "assert len(memscope.runs()) == 1\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "print(sorted(name for name in ('connect', 'runs', 'load') if name in dir(memscope)))\n"
        "try:\n    memscope.nothing\nexcept AttributeError as exc:\n    print(exc)\n"
    )
    done = _python(code, tiny_run.home)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "[]"
    assert lines[1] == "[]"  # the API's names resolve without loading DuckDB
    assert lines[2] == "['duckdb', 'pyarrow']"
    assert lines[3] == "['connect', 'load', 'runs']"
    assert lines[4] == "module 'memscope' has no attribute 'nothing'"
