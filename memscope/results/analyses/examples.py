"""Per-example results: when each training example is learned for good, and the
per-example scores analyses wrote (``example_scores``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memscope.results.analyses._frame import frame
from memscope.results.source import Results

if TYPE_CHECKING:
    import pyarrow as pa

_TRAIN = "SELECT run_id, example, any_value(is_noisy) AS is_noisy FROM examples WHERE split = 'train' GROUP BY ALL"


def learned(src: Results) -> "pa.Table":
    """One row per training example with a last-epoch row: example, is_noisy, learned (the
    first epoch from which it is predicted as its observed label to the last epoch; the
    first epoch when never wrong, NULL when wrong at the last epoch), and the last epoch's
    loss and margin (training pass), and the run's first_epoch and last_epoch of
    ``example_epochs``."""
    body = f"""
        WITH ex AS ({_TRAIN}),
        bounds AS (SELECT run_id, min(epoch) AS first, max(epoch) AS last FROM example_epochs GROUP BY run_id),
        wrong AS (SELECT run_id, example, max(epoch) AS last_wrong FROM example_epochs WHERE NOT correct GROUP BY ALL),
        final AS (SELECT e.run_id, e.example, e.loss, e.margin FROM example_epochs e JOIN bounds b
                  ON b.run_id = e.run_id AND e.epoch = b.last)
        SELECT ex.run_id, ex.example, ex.is_noisy,
               CASE WHEN w.last_wrong IS NULL THEN b.first WHEN w.last_wrong >= b.last THEN NULL ELSE w.last_wrong + 1 END AS learned,
               f.loss, f.margin, b.first AS first_epoch, b.last AS last_epoch
        FROM ex JOIN bounds b USING (run_id) LEFT JOIN wrong w USING (run_id, example) JOIN final f USING (run_id, example)
    """
    return frame(src, body, "example")


def scores(src: Results) -> "pa.Table":
    """Per analysis and metric of ``example_scores``: n, mean, median, min, max, and the mean
    over clean and over noisy training examples (NULL without an ``examples`` row)."""
    body = f"""
        SELECT s.run_id, s.analysis, s.metric, count(*) AS n, avg(s.value) AS mean, median(s.value) AS median,
               min(s.value) AS min, max(s.value) AS max,
               avg(s.value) FILTER (WHERE e.is_noisy = false) AS mean_clean, avg(s.value) FILTER (WHERE e.is_noisy) AS mean_noisy
        FROM example_scores s LEFT JOIN ({_TRAIN}) e USING (run_id, example) GROUP BY ALL
    """
    return frame(src, body, "analysis, metric")
