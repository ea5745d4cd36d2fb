"""The session's catalog connection and the SQL history."""

from __future__ import annotations

import pytest

from memscope.errors import MemscopeError, QueryError
from memscope.results.history import HISTORY_MAX, SqlHistory
from memscope.results.session import Store
from tests.tui.fixture_home import RUN_A, RUN_D


def test_curves_counts_and_preview(runs_home):
    store = Store(runs_home)
    try:
        curves = store.curves("noisy_train_acc")
        assert len(curves[RUN_A]) == 6 and len(curves[RUN_D]) == 4
        assert set(store.curves("noisy_train_acc", [RUN_D])) == {RUN_D} and store.curves("test_acc", []) == {}
        counts = store.table_counts(RUN_A)
        assert counts["example_epochs"] == 6 * 256 and counts["layer_rewinds"] == 16
        assert store.preview(RUN_A, "epochs", limit=2).num_rows == 2
        with pytest.raises(MemscopeError, match="no table 'nope'"):
            store.preview(RUN_A, "nope")
        with pytest.raises(QueryError):
            store.query("SELECT * FROM read_csv('/etc/passwd')")
    finally:
        store.close()


def test_sql_history_persists_each_statement_once(tmp_path):
    path = tmp_path / "sql_history.json"
    history = SqlHistory(path)
    history.add("SELECT 1")
    history.add("SELECT 2")
    history.add("  SELECT 1 ")
    history.add("   ")
    assert SqlHistory(path).load() == ["SELECT 2", "SELECT 1"]


def test_sql_history_keeps_the_newest(tmp_path):
    history = SqlHistory(tmp_path / "h.json")
    for i in range(HISTORY_MAX + 5):
        history.add(f"SELECT {i}")
    loaded = SqlHistory(tmp_path / "h.json").load()
    assert len(loaded) == HISTORY_MAX and loaded[-1] == f"SELECT {HISTORY_MAX + 4}" and loaded[0] == "SELECT 5"
