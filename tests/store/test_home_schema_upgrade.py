"""A home made by an older memscope gains a core table's new columns on the next ensure()."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from memscope.store.catalog import refresh_catalog
from memscope.store.home import SCHEMA_PART, Home, core_schema_fingerprint
from memscope.store.query import execute
from memscope.store.schemas import CORE_TABLES


def test_an_old_schema_part_is_replaced_once_and_new_columns_query(tmp_path):
    home = Home(tmp_path / "home").ensure()
    part = home.schema_dir / "neuron_flip_steps" / SCHEMA_PART
    current = CORE_TABLES["neuron_flip_steps"]
    old = pa.schema([f for f in current if f.name != "module"])
    pq.write_table(old.empty_table(), part)  # as an older memscope left it
    refresh_catalog(home)
    marker = home.schema_dir / f".core-{core_schema_fingerprint()}"
    marker.unlink()  # an older memscope wrote no marker for this schema set

    Home(home.root).ensure()
    assert pq.read_schema(part).names == current.names
    assert marker.is_file() and len(list(home.schema_dir.glob(".core-*"))) == 1
    result = execute(home, "SELECT count(module) AS n FROM neuron_flip_steps")
    assert result.table.to_pylist() == [{"n": 0}]


def test_a_current_home_is_not_rewritten(tmp_path):
    home = Home(tmp_path / "home").ensure()
    part = home.schema_dir / "layer_epochs" / SCHEMA_PART
    before = part.stat().st_mtime_ns
    Home(home.root).ensure()
    assert part.stat().st_mtime_ns == before


def test_a_current_home_opens_without_pyarrow(tmp_path):
    """ensure() on a current home is a few stats: `memscope query` opens homes this way."""
    import subprocess
    import sys

    home = Home(tmp_path / "home").ensure()
    probe = (
        "import sys\nfrom memscope.store.home import Home\n"
        f"Home({str(home.root)!r}).ensure()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyarrow'))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_missing_schema_part_is_written_again(tmp_path):
    home = Home(tmp_path / "home").ensure()
    part = home.schema_dir / "epochs" / SCHEMA_PART
    part.unlink()
    Home(home.root).ensure()
    assert pq.read_schema(part).names == CORE_TABLES["epochs"].names
