"""What ``run --resume`` does with the parts a killed run left: nothing lost, nothing doubled.

Before training goes on from the last checkpoint (epoch ``last``):

- stray temporary files (``.part-*.tmp``, a part in flight at the kill) are removed: no
  reader ever saw them;
- whole parts of per-epoch tables holding rows after ``last`` are removed: the resumed run
  writes those epochs again (one epoch per part, so nothing finished goes with them);
- every part that is damaged (unreadable, a column of the wrong type, a part of another
  table, another run's rows) is moved to ``runs/<id>/.quarantine/<table>/``, never deleted,
  and named on stderr and in run.json (``quarantined``). Its rows are then rebuilt when
  memscope can rebuild them exactly, else the resume stops (:class:`UnrecoverableParts`):

  ======================  =====================================================
  ``examples``, ``layers``  rewritten from the config and data (deterministic)
  ``epochs``,             fine when the parts left still hold every finished epoch
  ``example_epochs``      whole (the damaged part held the unfinished one); else lost
  a post-training         its analysis runs again (``example_scores``: every
  analysis's table        post-training analysis runs again)
  anything else           lost: the resume stops, exit 3
  ======================  =====================================================
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memscope.errors import StoreError
from memscope.store.check import check_part, move_aside
from memscope.store.home import Home
from memscope.store.schemas import CORE_TABLES

if TYPE_CHECKING:
    from memscope.analysis.base import Analysis

STATIC_TABLES = ("examples", "layers")


class UnrecoverableParts(StoreError):
    """Damaged parts held rows memscope cannot rebuild (exit code 3)."""


@dataclass
class MovedPart:
    table: str
    path: Path
    moved_to: Path
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"table": self.table, "path": str(self.path), "moved_to": str(self.moved_to), "problem": self.reason}


@dataclass
class PartsReport:
    moved: list[MovedPart] = field(default_factory=list)

    @property
    def tables(self) -> set[str]:
        return {m.table for m in self.moved}


def tidy_parts(home: Home, run_dir: Path, last_epoch: int) -> PartsReport:
    """Remove strays and rows after ``last_epoch``; move damaged parts aside (see the module doc)."""
    import pyarrow.parquet as pq

    report = PartsReport()
    run_id = run_dir.name
    for table in home.table_names():
        folder = run_dir / table
        if not folder.is_dir():
            continue
        for stray in folder.glob(".part-*.tmp"):
            stray.unlink(missing_ok=True)
        try:
            schema = home.table_schema(table)
        except Exception:  # a broken schema part: 'memscope runs check --repair' rebuilds it
            schema = None
        for part in sorted(folder.glob("*.parquet")):
            reason = check_part(part, schema, run_id=run_id, strict_columns=table in CORE_TABLES)
            if reason:
                moved = move_aside(home, run_id, table, part)
                report.moved.append(MovedPart(table, part, moved, reason))
                continue
            names = pq.read_schema(part).names
            if "epoch" in names:
                epochs = pq.read_table(part, columns=["epoch"]).column("epoch").to_pylist()
                if epochs and max(e for e in epochs if e is not None) > last_epoch:
                    part.unlink()  # the unfinished epoch: the resumed run writes it again
    return report


def finished_epochs_whole(run_dir: Path, table: str, last_epoch: int, num_train: int | None) -> bool:
    """Whether ``table``'s parts hold every epoch 1..``last_epoch`` whole (``epochs``: one row
    each; ``example_epochs``: ``num_train`` rows each)."""
    import collections

    import pyarrow.parquet as pq

    parts = sorted((run_dir / table).glob("*.parquet"))
    epochs = pq.read_table(parts, columns=["epoch"]).column("epoch").to_pylist() if parts else []
    counts = collections.Counter(epochs)
    per_epoch = 1 if table == "epochs" else num_train
    return all(counts.get(e, 0) == per_epoch for e in range(1, last_epoch + 1)) and len(counts) == last_epoch


__all__ = ["MovedPart", "PartsReport", "STATIC_TABLES", "UnrecoverableParts", "finished_epochs_whole", "tidy_parts"]


def tidy_for_resume(home: Home, run_dir: Path, epoch: int, info: dict[str, Any], analyses: list[Analysis], track_examples: bool) -> PartsReport:
    """Remove parts written after the last checkpoint (``epoch``; a killed run may have left
    some) and move damaged parts aside, never deleting them. Raises
    :class:`UnrecoverableParts` when a damaged part held rows that cannot be rebuilt."""
    parts = tidy_parts(home, run_dir, epoch)
    post_tables = {t for a in analyses if a.runs_after_training() for t in a.tables} | {"example_scores"}
    lost = []
    for moved in parts.moved:
        print(f"memscope: warning: {moved.path} is damaged ({moved.reason}); moved to {moved.moved_to}", file=sys.stderr, flush=True)
        if moved.table in STATIC_TABLES or moved.table in post_tables:
            continue  # rebuilt: rewritten by the resume, or its analysis runs again
        if moved.table in ("epochs", "example_epochs") and finished_epochs_whole(
            run_dir, moved.table, epoch, info.get("num_train") if track_examples else None
        ):
            continue  # it held rows of the unfinished epoch only
        lost.append(moved)
    if lost:
        tables = ", ".join(sorted({m.table for m in lost}))
        raise UnrecoverableParts(
            f"run {run_dir.name}: damaged part(s) of {tables} moved to {lost[0].moved_to.parent}; their rows of "
            f"finished epochs cannot be rebuilt without training again, so the run was not resumed: start it again "
            f"with 'memscope run {run_dir / 'config.toml'}' (or put the parts back if you have a good copy)"
        )
    return parts


def analyses_to_rerun(analyses: list[Analysis], parts: PartsReport) -> list[str]:
    """Post-training analyses whose rows were in a part moved aside."""
    post = [a for a in analyses if a.runs_after_training()]
    if "example_scores" in parts.tables:  # long format: any analysis may have had rows there
        return [a.name for a in post]
    return [a.name for a in post if parts.tables & set(a.tables)]
