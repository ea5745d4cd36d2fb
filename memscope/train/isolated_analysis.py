"""One post-training analysis at a time, isolated: a failure, a timeout or a Ctrl-C is recorded
in run.json (the analysis's entry), and only a Ctrl-C goes further.

Also what running an analysis again needs first: its earlier rows dropped, other analyses'
rows in the shared long-format table kept.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

from memscope.errors import MemscopeError, RunCancelled, StoreError
from memscope.store.runinfo import RunInfo, now_iso
from memscope.store.writer import RunWriter

if TYPE_CHECKING:
    from memscope.analysis.base import Analysis
    from memscope.progress import Progress
    from memscope.train.context import RunContext

#: Tables no post-training analysis owns: never cleared before one runs again.
PER_EPOCH_TABLES = ("epochs", "example_epochs", "layer_epochs")


class AnalysisTimeout(BaseException):
    """Raised by SIGALRM in the main thread when an analysis runs past ``analysis_timeout``.

    A BaseException, so that an analysis's own ``except Exception`` cannot swallow it.
    """


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise :class:`AnalysisTimeout` in the block after ``seconds`` (0 = no limit); yields
    whether the limit is enforced.

    Limits: only in the main thread of a POSIX process (SIGALRM); the signal is handled
    between Python bytecodes, so a hang inside one long C call (a huge torch op, a blocking
    read) ends only when that call returns; elsewhere there is no deadline.
    """
    if seconds <= 0 or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield False
        return

    def on_alarm(signum, frame):
        raise AnalysisTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, previous)


def run_analysis(ctx: RunContext, analysis: Analysis, info: RunInfo, progress: Progress) -> bool:
    """Run one post-training analysis, isolated: its failure (or running past the config's
    ``analysis_timeout``) is recorded, not raised."""
    name = analysis.name
    start = time.perf_counter()
    timeout = float(getattr(ctx.config, "analysis_timeout", 0.0) or 0.0)
    try:  # from the first line: a Ctrl-C anywhere in here marks the analysis cancelled
        analyses = dict(info.data.get("analyses", {}))
        analyses[name] = {"status": "running", "started_at": now_iso()}
        info.update(analyses=analyses)
        progress.message(f"analysis {name}: running")
        ctx.analysis_name = name
        with deadline(timeout) as enforced:
            if timeout > 0 and not enforced:
                progress.message(f"analysis {name}: analysis_timeout is not enforced outside the main thread")
            analysis.run(ctx)
        entry = {"status": "completed"}
    except AnalysisTimeout:
        message = f"timed out after {timeout:g} s (analysis_timeout); its rows may be incomplete"
        entry = {"status": "failed", "error": message}
        progress.message(f"analysis {name}: failed: {message}")
    except (RunCancelled, KeyboardInterrupt):
        analyses = dict(info.data.get("analyses", {}))
        analyses[name] = {"status": "cancelled", "seconds": round(time.perf_counter() - start, 3)}
        with contextlib.suppress(StoreError):
            info.update(analyses=analyses)
        raise
    except Exception as exc:
        if os.environ.get("MEMSCOPE_STRICT_PLUGINS", "") in ("1", "true"):
            raise
        message = exc.message if isinstance(exc, MemscopeError) else f"{exc.__class__.__name__}: {exc}"
        entry = {"status": "failed", "error": message}
        progress.message(f"analysis {name}: failed: {message}")
    finally:
        ctx.analysis_name = ""
    entry["seconds"] = round(time.perf_counter() - start, 3)
    analyses = dict(info.data.get("analyses", {}))
    analyses[name] = entry
    info.update(analyses=analyses)
    if entry["status"] == "completed":
        progress.message(f"analysis {name}: done in {entry['seconds']:.1f}s")
    return entry["status"] == "completed"


def clear_before_rerun(writer: RunWriter, analysis: "Analysis") -> None:
    """Drop what an earlier (interrupted or finished) attempt of ``analysis`` wrote; its scores
    go from ``example_scores`` even when it does not declare that table."""
    for table in {*analysis.tables, "example_scores"}:
        if table not in PER_EPOCH_TABLES and table != "examples":
            clear_rows(writer, table, analysis.name)


def clear_rows(writer: RunWriter, table: str, analysis: str) -> None:
    """Drop an analysis's earlier rows; the long-format table keeps other analyses' rows."""
    if table != "example_scores":
        writer.clear(table)
        return
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = writer.run_dir / table
    if not folder.is_dir():
        return
    import pyarrow as pa

    filtered = []
    for part in sorted(folder.glob("*.parquet")):  # read every part before changing any
        try:
            rows = pq.read_table(part)
            filtered.append((part, rows.num_rows, rows.filter(pc.invert(pc.equal(rows.column("analysis"), analysis)))))
        except (OSError, KeyError, pa.ArrowException) as exc:
            # other analyses' rows are in it too: dropping it would lose them silently
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:120]
            raise StoreError(
                f"{part} is damaged ({first}); nothing was changed: move it aside with "
                f"'memscope runs check --repair', then run the analyses that wrote {table} again"
            ) from None
    for part, num_rows, keep in filtered:
        if keep.num_rows != num_rows:
            part.unlink()
            if keep.num_rows:
                writer.write(table, keep)
