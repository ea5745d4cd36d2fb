"""One run's per-example table (paged, filtered, sorted), one example's detail, its image."""

from __future__ import annotations

import numpy as np
import pytest

from memscope.errors import MemscopeError, QueryError
from memscope.results.examples import DatasetImages, ExampleTable, example_detail
from memscope.results.session import Store
from tests.tui.fixture_home import RUN_A, RUN_B, RUN_D


@pytest.fixture
def store(runs_home):
    store = Store(runs_home)
    yield store
    store.close()


def test_pages_filters_and_sorts(store):
    table = ExampleTable(store, RUN_A)
    page = table.page(limit=10)
    assert page.total == page.all_rows == 256 and page.table.num_rows == 10
    assert page.final_epoch == 6
    assert page.table.column("example").to_pylist() == list(range(10))
    noisy = table.page("noisy", "loss", True, 0, 500)
    losses = noisy.table.column("loss").to_pylist()
    assert all(noisy.table.column("is_noisy").to_pylist())
    assert losses == sorted(losses, reverse=True)
    assert "curvature_score" in table.columns  # plugin scores become sortable columns
    assert table.page(offset=250, limit=10).table.num_rows == 6
    assert 0 < table.page("flipped", limit=500).total < 40


def test_where_is_checked_and_confined(store):
    table = ExampleTable(store, RUN_A)
    assert table.page(where="true_label = 3").total == 64
    with pytest.raises(QueryError, match="nonsense"):
        table.page(where="nonsense > 1")
    with pytest.raises(QueryError):
        table.page(where="1=1) UNION SELECT * FROM read_csv('/etc/passwd') --")


def test_rebuilds_when_parts_change(runs_home, store):
    from memscope.store.writer import RunWriter

    table = ExampleTable(store, RUN_D)
    assert table.page().final_epoch == 4
    RunWriter(runs_home, RUN_D).write("example_epochs", {
        "epoch": np.full(256, 5, dtype=np.int32), "example": np.arange(256), "loss": np.zeros(256, np.float32),
        "correct": np.ones(256, bool), "margin": np.ones(256, np.float32), "pred": np.zeros(256, np.int32),
    })
    assert table.stale()
    assert table.page().final_epoch == 5


def test_example_detail(store):
    detail = example_detail(store, RUN_A, 3)
    assert [r["epoch"] for r in detail.trace] == [1, 2, 3, 4, 5, 6]
    assert detail.info["true_label"] == 3


class TestDatasetImages:
    def test_reads_the_runs_dataset_once(self, runs_home):
        calls = []

        def reader(name, path, data_dir):
            calls.append((name, path, data_dir))
            return np.zeros((4, 2, 2, 1), np.float32), ["a", "b"]

        images = DatasetImages(runs_home, reader)
        x, names = images.get(RUN_A)
        assert x.shape == (4, 2, 2, 1) and names == ["a", "b"]
        images.get(RUN_B)  # the same dataset: served from the cache
        assert len(calls) == 1 and calls[0][0] == "synthetic"

    def test_a_failing_reader_is_one_clear_error(self, runs_home):
        def reader(name, path, data_dir):
            raise OSError("no such file")

        with pytest.raises(MemscopeError, match="dataset 'synthetic' could not be read here: OSError: no such file"):
            DatasetImages(runs_home, reader).get(RUN_A)
