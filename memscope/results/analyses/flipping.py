"""Neuron flipping: per target, how many parameters were zeroed until its prediction
flipped, and what that cost.

A target counts only when the model fitted it at the start: a noisy target predicted as its
(wrong) observed label, a clean one as its label. ``status`` says which: ``flipped`` and
``not_flipped`` (hit the cap) count; ``not_memorized`` (noisy) and ``not_fitted`` (clean)
are skipped, with no neuron count. Parts written before ``status`` existed are read the same
way: a target recorded as "flipped with 0 neurons" was one the model never fitted.

**Collateral damage**, defined here once for the report, the app, the sweep report, the
figures and bench/reproduce.py: for a *flipped* target, the accuracy of the unedited model
minus that of the edited one, on the same fixed samples (``test_drop``: test examples;
``clean_drop``: clean training examples), i.e. what the edit that flipped the prediction cost.
It is NULL for every other target (a target that hit the cap says nothing about the cost of
a flip; a skipped one was not edited) and for parts written before the ``*_acc_before``
columns. A group's damage is the median over its flipped targets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Collection

from memscope.results.analyses._frame import frame
from memscope.results.source import Results

if TYPE_CHECKING:
    import pyarrow as pa

COUNTED = ("flipped", "not_flipped")
SKIP_REASONS = {
    "not_memorized": "noisy targets the model did not predict as their noisy label at the start",
    "not_fitted": "clean targets the model did not predict as their label at the start",
}
GROUPS = ("noisy", "clean")


def status_sql(columns: Collection[str]) -> str:
    """A SQL expression for each ``neuron_flips`` row's status, derived for old parts."""
    derived = (
        "CASE WHEN flipped AND neurons_to_flip = 0 THEN (CASE WHEN is_noisy THEN 'not_memorized' ELSE 'not_fitted' END) "
        "WHEN flipped THEN 'flipped' ELSE 'not_flipped' END"
    )
    return f"coalesce(status, {derived})" if "status" in columns else derived


def _drop_sql(columns: Collection[str], what: str) -> str:
    before, after = f"{what}_acc_before", f"{what}_acc_after"
    return f"{before} - {after}" if before in columns and after in columns else "NULL::DOUBLE"


def targets_sql(columns: Collection[str]) -> str:
    """The SELECT behind :func:`targets` over the ``neuron_flips`` view with ``columns``."""
    return (
        "SELECT run_id, example, is_noisy, status, CASE WHEN status = 'flipped' THEN neurons_to_flip END AS neurons_to_flip, "
        "CASE WHEN status = 'flipped' THEN test_drop END AS test_drop, "
        "CASE WHEN status = 'flipped' THEN clean_drop END AS clean_drop "
        f"FROM (SELECT run_id, example, is_noisy, {status_sql(columns)} AS status, neurons_to_flip, "
        f"{_drop_sql(columns, 'test')} AS test_drop, {_drop_sql(columns, 'clean')} AS clean_drop FROM neuron_flips)"
    )


def targets(src: Results) -> "pa.Table":
    """One row per target: example, is_noisy, status, neurons_to_flip (NULL unless flipped),
    test_drop and clean_drop (the collateral damage; NULL unless flipped), noisy targets
    first, then by example."""
    return frame(src, targets_sql(src.columns("neuron_flips")), "is_noisy DESC, example")


def _placement_sql(src: Results) -> str:
    kind = "s.kind" if "kind" in src.columns("neuron_flip_steps") else "NULL::VARCHAR"
    return (
        f"SELECT s.run_id, s.layer_index, s.layer, {kind} AS kind, CASE WHEN f.is_noisy THEN 'noisy' ELSE 'clean' END AS grp, "
        "count(*) AS edits, count(DISTINCT s.example) AS targets "
        "FROM neuron_flip_steps s "
        f"JOIN ({targets_sql(src.columns('neuron_flips'))}) f ON f.run_id = s.run_id AND f.example = s.example "
        "WHERE f.status = 'flipped' GROUP BY ALL"
    )


def placement(src: Results) -> "pa.Table":
    """Edits of flipped targets per layer group, parameter kind (NULL in parts written before
    it) and group: layer_index, layer, kind, group ('noisy' | 'clean'), edits, targets (with
    an edit there), and share (of the group's edits in the run). A target that hit the cap or
    was skipped says nothing about where its memorization sits, so it is left out."""
    body = (
        f"SELECT run_id, layer_index, layer, kind, grp AS \"group\", edits, targets, "
        f"edits / sum(edits) OVER (PARTITION BY run_id, grp) AS share FROM ({_placement_sql(src)})"
    )
    return frame(src, body, 'layer_index, kind, "group" DESC')


def summary(src: Results) -> "pa.Table":
    """Per run and group (noisy first): targets (all rows), counted, flipped, not_flipped,
    skipped, skipped_reasons (a list of {reason, targets}), share_flipped (of counted),
    median/mean/min/max_edits (over flipped targets), median_test_drop and
    median_clean_drop (the collateral damage, over flipped targets)."""
    counted = ", ".join(f"'{s}'" for s in COUNTED)
    t = targets_sql(src.columns("neuron_flips"))
    body = f"""
        WITH t AS ({t}),
        reasons AS (
            SELECT run_id, is_noisy, list({{'reason': status, 'targets': n}} ORDER BY status) AS skipped_reasons
            FROM (SELECT run_id, is_noisy, status, count(*) AS n FROM t WHERE status NOT IN ({counted}) GROUP BY ALL)
            GROUP BY ALL),
        g AS (
            SELECT run_id, is_noisy, count(*) AS targets,
                   count(*) FILTER (WHERE status IN ({counted})) AS counted,
                   count(*) FILTER (WHERE status = 'flipped') AS flipped,
                   count(*) FILTER (WHERE status = 'not_flipped') AS not_flipped,
                   count(*) FILTER (WHERE status NOT IN ({counted})) AS skipped,
                   median(neurons_to_flip) AS median_edits, avg(neurons_to_flip) AS mean_edits,
                   min(neurons_to_flip) AS min_edits, max(neurons_to_flip) AS max_edits,
                   median(test_drop) AS median_test_drop, median(clean_drop) AS median_clean_drop
            FROM t GROUP BY ALL)
        SELECT g.run_id, CASE WHEN g.is_noisy THEN 'noisy' ELSE 'clean' END AS "group", g.targets, g.counted, g.flipped,
               g.not_flipped, g.skipped, coalesce(r.skipped_reasons, []) AS skipped_reasons,
               g.flipped / nullif(g.counted, 0) AS share_flipped,
               g.* EXCLUDE (run_id, is_noisy, targets, counted, flipped, not_flipped, skipped)
        FROM g LEFT JOIN reasons r ON r.run_id = g.run_id AND r.is_noisy IS NOT DISTINCT FROM g.is_noisy
    """
    return frame(src, body, '"group" DESC')
