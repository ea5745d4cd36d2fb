"""``memscope.load(run_id)``: one run's facts and one accessor per analysis.

Every accessor calls the results layer's reader for that analysis
(:mod:`memscope.results.analyses`), the same one the report, the app and ``memscope figures``
use, and returns its rows as a :class:`~memscope.api.result.Result`. A run the analysis did
not run on gives zero rows, with the reader's columns.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

from memscope.api.connection import HomeLike, existing_home
from memscope.api.result import Result
from memscope.errors import MemscopeError

if TYPE_CHECKING:
    import pyarrow as pa

    from memscope.results.source import RunResults

def _reads(reader: Callable[["Run"], "pa.Table"]) -> Callable[["Run"], Result]:
    """An accessor: the reader's Arrow rows as a Result; a DuckDB error as a one-line
    ``QueryError`` (a damaged part names its file and the way out)."""

    @functools.wraps(reader)
    def accessor(self: "Run") -> Result:
        import duckdb

        from memscope.store.query import _error

        try:
            return Result(reader(self))
        except duckdb.Error as exc:
            raise _error(exc) from None

    return accessor


class Run:
    """One run: ``run_id`` (the full id), ``info`` (run.json), ``config`` (the resolved
    config), ``analyses`` (each analysis's status), and one accessor per analysis.

    Holds an in-memory DuckDB over this run's parts; ``close()`` it, or use a ``with`` block.
    """

    def __init__(self, source: "RunResults"):
        self._source = source
        self.home = source.home
        self.run_id: str = source.run_id
        self.info: dict[str, Any] = source.info
        self.config: dict[str, Any] = source.config

    @property
    def analyses(self) -> dict[str, str]:
        """Each analysis of the run and its status (``completed``, ``failed``, ...)."""
        recorded = self.info.get("analyses") or {}
        return {name: str((entry or {}).get("status", "")) for name, entry in recorded.items()} if isinstance(recorded, dict) else {}

    # ------------------------------------------------------------------ the analyses

    @_reads
    def training(self) -> "pa.Table":
        """Per epoch: losses and the four accuracies (clean train, noisy train as labelled,
        noisy train against the true label, test)."""
        from memscope.results.analyses import training

        return training.epochs(self._source)

    @_reads
    def gradients(self) -> "pa.Table":
        """Per epoch and layer group: the clean and noisy gradient norms (summed and per
        example) and their cosine (gradient accounting)."""
        from memscope.results.analyses import gradients

        return gradients.layer_epochs(self._source)

    @_reads
    def gradient_windows(self) -> "pa.Table":
        """Per layer group and window of 5 epochs: mean norms, cosine and noisy/clean ratio."""
        from memscope.results.analyses import gradients

        return gradients.windows(self._source)

    @_reads
    def rewinding(self) -> "pa.Table":
        """Per layer group and checkpoint: accuracies after rewinding that group to it."""
        from memscope.results.analyses import rewinding

        return rewinding.rewinds(self._source)

    @_reads
    def retraining(self) -> "pa.Table":
        """Per layer group, reset checkpoint and retraining epoch: accuracies while that group
        is retrained on clean examples only."""
        from memscope.results.analyses import retraining

        return retraining.retrains(self._source)

    @_reads
    def flips(self) -> "pa.Table":
        """Per neuron-flipping target: status, neurons_to_flip and the collateral damage."""
        from memscope.results.analyses import flipping

        return flipping.targets(self._source)

    @_reads
    def flip_placement(self) -> "pa.Table":
        """Per layer group and kind: the edits that flipped targets, noisy and clean."""
        from memscope.results.analyses import flipping

        return flipping.placement(self._source)

    @_reads
    def flip_summary(self) -> "pa.Table":
        """Per group (noisy, clean): counted and skipped targets, median edits and damage."""
        from memscope.results.analyses import flipping

        return flipping.summary(self._source)

    @_reads
    def etd(self) -> "pa.Table":
        """Per mode (example, kept, dropped): the accuracies of example-tied dropout."""
        from memscope.results.analyses import etd

        return etd.evals(self._source)

    @_reads
    def examples(self) -> "pa.Table":
        """Per training example: is_noisy, the epoch from which it is learned for good, and
        its last-epoch loss and margin."""
        from memscope.results.analyses import examples

        return examples.learned(self._source)

    @_reads
    def example_scores(self) -> "pa.Table":
        """Per analysis and metric of ``example_scores``: summary statistics, clean vs noisy."""
        from memscope.results.analyses import examples

        return examples.scores(self._source)

    # ------------------------------------------------------------------ SQL and lifetime

    def sql(self, query: str) -> Result:
        """Read-only SQL over this run's tables only (``SELECT * FROM examples``)."""
        return Result(self._source.arrow(query))

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<memscope.Run {self.run_id} {self.info.get('status', '?')}>"


def load(run_id: str, home: HomeLike = None) -> Run:
    """One run of ``home`` (``MEMSCOPE_HOME`` or the platform's default when None), named by
    its full id, ``latest``, a unique prefix or its short suffix, as on the command line."""
    from memscope.results.source import open_run

    if not isinstance(run_id, str):
        raise MemscopeError(f"run_id must be a string such as 'latest' or a run id, not {type(run_id).__name__}")
    return Run(open_run(existing_home(home), run_id))


__all__ = ["Run", "load"]
