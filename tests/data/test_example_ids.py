"""Example ids are disjoint across splits, so the documented per-example joins cannot double rows."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from memscope.data.example_ids import ids_of_test_examples, positions_of_test_examples

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 2


def test_test_ids_follow_every_training_id():
    ids = ids_of_test_examples(1000, np.array([0, 5, 9]))
    assert ids.tolist() == [1000, 1005, 1009]
    assert positions_of_test_examples(1000, ids).tolist() == [0, 5, 9]


@pytest.fixture(scope="module")
def run_home(tmp_path_factory):
    """A real tiny run on subsets (so ids are not 0..N-1) with per-example statistics."""
    from memscope.config import load_config
    from memscope.plugins import PluginHost
    from memscope.store.home import Home
    from memscope.train.runner import Run

    home = Home(tmp_path_factory.mktemp("home")).ensure()
    cfg = load_config(None, ['data.dataset="digits"', "data.train_subset=300", "data.test_subset=100",
                             'model.name="mlp"', "model.width=0.1", f"train.epochs={EPOCHS}"])
    run = Run(cfg, home, PluginHost(None), progress=False)
    run_id = run.start()
    assert run.execute().status == "completed"
    return home, run_id, len(run.prepared.arrays.y_train)


def query(home, sql: str) -> list[dict]:
    from memscope.store.query import execute
    from memscope.store.connection import open_connection

    conn = open_connection(home)
    try:
        return execute(conn, sql).table.to_pylist()
    finally:
        conn.close()


def documented_joins() -> list[str]:
    """The ``memscope query "..."`` lines of README.md and docs/*.md that JOIN ``examples``."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for sql in re.findall(r'memscope query[^"\n]*"([^"\n]+)"', path.read_text(encoding="utf-8")):
            if re.search(r"\bJOIN\s+examples\b", sql, re.IGNORECASE):
                found.append(sql)
    return found


def test_examples_have_one_id_space(run_home):
    home, run_id, n_train_full = run_home
    rows = query(home, f"SELECT example, split FROM examples WHERE run_id = '{run_id}'")
    train = [r["example"] for r in rows if r["split"] == "train"]
    test = [r["example"] for r in rows if r["split"] == "test"]
    assert len(train) == 300 and len(test) == 100
    assert len({r["example"] for r in rows}) == len(rows)  # no id in both splits
    assert max(train) < n_train_full <= min(test)


def test_the_readme_joins_give_one_row_per_training_example(run_home):
    home, run_id, _ = run_home
    joins = documented_joins()
    assert joins, "README.md should show a join of a per-example table with examples"
    for sql in joins:
        rows = query(home, sql)
        keys = [(r["run_id"], r["epoch"], r["example"]) for r in rows]
        assert len(rows) == 300 * EPOCHS and len(set(keys)) == len(keys), sql


def test_a_join_that_forgets_split_does_not_double_rows(run_home):
    home, run_id, _ = run_home
    for using in ("run_id, example", "example"):
        joined = query(home, f"SELECT count(*) AS n FROM example_epochs e JOIN examples x USING ({using}) WHERE e.run_id = '{run_id}'")
        assert joined[0]["n"] == 300 * EPOCHS, using
