"""The plugin's tests: the analysis contract, and its table on a tiny finished run."""

import memscope_class_memorization as plugin
from memscope.testing import check_analysis, check_tables_in_catalog


def test_follows_the_analysis_contract():
    check_analysis(plugin.ClassMemorization)


def test_on_a_tiny_run(tiny_run_copy):
    # tiny_run_copy: a private copy of a finished 3-epoch run (fixture from memscope.testing)
    result = tiny_run_copy.analyze(plugin)  # what `memscope analyze RUN -a class_memorization` does
    assert result["class_memorization"]["status"] == "completed"
    check_tables_in_catalog(tiny_run_copy, plugin.ClassMemorization, require_rows=True)

    rows = tiny_run_copy.table("class_memorization_classes").to_pylist()
    train = tiny_run_copy.table("examples", "split = 'train'").to_pydict()
    assert sum(r["examples"] for r in rows) == len(train["example"])
    assert sum(r["noisy"] for r in rows) == sum(train["is_noisy"])
    assert all(r["epoch"] == 3 for r in rows)
