"""The snippets of docs/sharing.md that read a home's Parquet parts without DuckDB: a glob
per table skips the checkpoints that share the runs/ tree."""

from __future__ import annotations

import glob

import pytest


@pytest.fixture
def home_with_checkpoints(home, make_run):
    for run_id, num_train in (("run-a", 10), ("run-b", 6)):
        run_dir = make_run(run_id, num_train=num_train, num_test=4)
        (run_dir / "checkpoints").mkdir()
        (run_dir / "checkpoints" / "epoch-0002.pt").write_bytes(b"not parquet")
    return home


def test_pandas_reads_a_table_by_glob(home_with_checkpoints):
    pd = pytest.importorskip("pandas")
    home = str(home_with_checkpoints.root)
    examples = pd.concat(pd.read_parquet(p) for p in sorted(glob.glob(f"{home}/runs/*/examples/*.parquet")))
    assert examples.groupby("run_id").size().to_dict() == {"run-a": 14, "run-b": 10}


def test_pyarrow_reads_a_table_by_glob(home_with_checkpoints):
    import pyarrow.dataset as ds

    home = str(home_with_checkpoints.root)
    table = ds.dataset(sorted(glob.glob(f"{home}/runs/*/example_epochs/*.parquet")), format="parquet").to_table()
    assert table.num_rows == 2 * (10 + 6)


def test_polars_reads_a_table_by_glob(home_with_checkpoints):
    pl = pytest.importorskip("polars")
    home = str(home_with_checkpoints.root)
    examples = pl.read_parquet(f"{home}/runs/*/examples/*.parquet", missing_columns="insert")  # polars >= 1.30
    assert dict(examples.group_by("run_id").len().iter_rows()) == {"run-a": 14, "run-b": 10}
