"""Two runs write while the TUI's query core and four ``memscope query`` loops read: zero
errors, zero lock conflicts, and every answer is a consistent set of parts. One of the runs
declares a plugin table mid-way, so the catalog is swapped while readers have it open.
bench/soak.py runs the same for a minute."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from memscope.store.home import Home
from memscope.store.query import QueryHandle, execute

from .conftest import assert_home_intact, cli_env, read_info, run_ids, start, tiny_toml, wait_for
from .query_worker import CONSISTENCY_SQL, inconsistencies

WORKER = Path(__file__).with_name("query_worker.py")
READ_SECONDS = 12.0

STRESS_PLUGIN = '''
import pyarrow as pa

from memscope import hookimpl
from memscope.analysis import Analysis


class Stress(Analysis):
    """Writes one row per epoch into its own table (declared when the run starts)."""

    name = "stress"
    tables = {"stress_epochs": pa.schema([("epoch", pa.int32()), ("value", pa.float64())])}

    def collect(self, ctx, epoch):
        ctx.write("stress_epochs", {"epoch": [epoch], "value": [float(epoch)]})


@hookimpl
def register_analyses(register):
    register(Stress)
'''

#: ~0.1 s per epoch on one thread: parts keep arriving during the whole read window.
WRITER = tiny_toml(name="writer", epochs=10_000, batch_size=8, hidden=(256, 256))


def tui_reader(home: Path, seconds: float, stats: dict, fresh: bool) -> None:
    """The TUI's data access: one long-lived QueryHandle, or a connection per query."""
    deadline = time.monotonic() + seconds
    handle = None if fresh else QueryHandle(home)
    try:
        while time.monotonic() < deadline:
            try:
                result = execute(home, CONSISTENCY_SQL) if fresh else handle.execute(CONSISTENCY_SQL)
                found = inconsistencies(result.table.to_pylist())
                stats["inconsistencies"] += len(found)
                stats["examples"] += found[:1]
            except Exception as exc:  # noqa: BLE001 - every error counts
                stats["errors"] += 1
                stats["lock_errors"] += "lock" in str(exc).lower()
                stats["examples"].append(f"{exc.__class__.__name__}: {exc}")
            stats["queries"] += 1
    finally:
        if handle is not None:
            handle.close()


@pytest.mark.slow
def test_readers_see_consistent_parts_while_two_runs_write(tmp_path, workdir):
    home = tmp_path / "home"
    Home(home).ensure()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "stress.py").write_text(STRESS_PLUGIN)
    config = tmp_path / "writer.toml"
    config.write_text(WRITER)
    config_b = tmp_path / "writer_b.toml"
    config_b.write_text(WRITER.replace("analyses = []", 'analyses = ["stress"]').replace('name = "writer"', 'name = "writer-b"'))

    workers = [
        subprocess.Popen([sys.executable, str(WORKER), str(home), str(READ_SECONDS)], env=cli_env(home), cwd=workdir,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    tui_stats = [{"queries": 0, "errors": 0, "lock_errors": 0, "inconsistencies": 0, "examples": []} for _ in range(2)]
    threads = [threading.Thread(target=tui_reader, args=(home, READ_SECONDS, s, i == 1)) for i, s in enumerate(tui_stats)]
    for t in threads:
        t.start()
    # the readers start on an empty home; the runs appear, and run b declares stress_epochs
    run_a = start(home, "run", "-q", str(config), cwd=workdir)
    run_b = start(home, "run", "-q", str(config_b), "--plugins-dir", str(plugins), cwd=workdir)
    for t in threads:
        t.join(timeout=READ_SECONDS + 120)
    results = []
    for w in workers:
        out, err = w.communicate(timeout=180)
        assert w.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    results += tui_stats

    wait_for(lambda: len(run_ids(home)) == 2 and all(read_info(home / "runs" / r).get("epoch", 0) >= 1 for r in run_ids(home)),
             120, "both runs to finish an epoch")
    for proc in (run_a, run_b):
        assert proc.poll() is None, proc.communicate()[1]  # both are still writing
        proc.send_signal(signal.SIGTERM)
    for proc in (run_a, run_b):
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err

    total = {k: sum(r[k] for r in results) for k in ("queries", "errors", "lock_errors", "inconsistencies")}
    examples = [e for r in results for e in r["examples"]]
    print(f"concurrency: {total}, epochs written: {[read_info(home / 'runs' / r)['epoch'] for r in run_ids(home)]}")
    assert total["errors"] == 0 and total["lock_errors"] == 0, examples
    assert total["inconsistencies"] == 0, examples
    assert all(r["queries"] >= 3 for r in results), results
    infos = [read_info(home / "runs" / r) for r in run_ids(home)]
    assert sorted(i["status"] for i in infos) == ["cancelled", "cancelled"] and all(i["epoch"] >= 1 for i in infos)
    counts = assert_home_intact(home)
    assert sum(counts["stress_epochs"].values()) >= 1
