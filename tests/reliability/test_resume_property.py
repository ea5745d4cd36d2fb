"""Property: whatever sequence of run, kill -9, resume, concurrent resumes, analyze and damage
(plugin analyses included) happens to a run, no row is lost or doubled compared with a run that was never interrupted,
and ``memscope runs check`` flags every damaged or foreign part it is given.

Hypothesis draws the sequences. Each writer is a forked child of this process running the
real CLI code (``os.fork`` after torch is imported: a child starts in milliseconds where a
new interpreter takes seconds), killed with SIGKILL either by the fault hook at a chosen
part (``MEMSCOPE_FAULT``) or by this process after a drawn delay. After every step, while no
damage is pending, the run's parts must hold exactly the reference rows of every finished
epoch (the run.json ``epoch``), at most the next epoch beyond, and nothing twice; at the end
one more resume must give the reference rows exactly and a clean ``runs check``.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from memscope.cli.app import app

from .conftest import fork_cli, read_info, run_ids, table_rows, tiny_toml, wait_child

EPOCHS = 4
PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
CONFIG = tiny_toml(name="prop", epochs=EPOCHS, batch_size=64, dataset="digits", analyses=("rewinding",))
TABLES = ("examples", "layers", "epochs", "example_epochs", "layer_rewinds")


def cli(home: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--home", str(home)])


def rows(run_dir: Path, table: str) -> list[dict]:
    return table_rows(run_dir, table, drop=("seconds", "run_id"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, list[dict]]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("reference")
    (root / "c.toml").write_text(CONFIG)
    result = cli(root / "home", "run", "-q", str(root / "c.toml"))
    assert result.exit_code == 0, result.output
    run_dir = root / "home" / "runs" / run_ids(root / "home")[0]
    return {table: rows(run_dir, table) for table in TABLES}


def assert_nothing_lost_or_doubled(run_dir: Path, reference: dict[str, list[dict]]) -> None:
    info = read_info(run_dir)
    done = int(info.get("epoch") or 0)
    for table in ("epochs", "example_epochs"):
        have = rows(run_dir, table)
        keys = collections.Counter((r["epoch"], r.get("example")) for r in have)
        assert max(keys.values(), default=1) == 1, f"{table}: doubled rows"
        assert [r for r in have if r["epoch"] <= done] == [r for r in reference[table] if r["epoch"] <= done], f"{table}: finished epochs differ"
        assert all(r["epoch"] <= done + 1 for r in have), f"{table}: rows beyond the epoch in flight"
    if done:
        assert rows(run_dir, "examples") == reference["examples"]
        assert rows(run_dir, "layers") == reference["layers"]
    rewinds = rows(run_dir, "layer_rewinds")
    if (info.get("analyses") or {}).get("rewinding", {}).get("status") == "completed":
        assert rewinds == reference["layer_rewinds"]
    else:
        assert all(r in reference["layer_rewinds"] for r in rewinds) and len(rewinds) == len({json.dumps(r, sort_keys=True) for r in rewinds})


def damage(home: Path, run_dir: Path, kind: str) -> Path | None:
    """Damage the run in a way memscope can rebuild from; returns the path check must flag."""
    if kind == "truncate_examples":
        parts = sorted((run_dir / "examples").glob("part-*.parquet"))
        if not parts:
            return None
        os.truncate(parts[0], parts[0].stat().st_size // 2)
        return parts[0]
    if kind == "garbage_layers":
        parts = sorted((run_dir / "layers").glob("part-*.parquet"))
        if not parts:
            return None
        parts[0].write_bytes(b"not parquet")
        return parts[0]
    if kind == "foreign_epochs":
        parts = sorted((run_dir / "epochs").glob("part-*.parquet"))
        if not parts:
            return None
        table = pq.read_table(parts[0])
        foreign = table.set_column(table.schema.get_field_index("run_id"), "run_id", pa.array(["another-run"] * table.num_rows))
        path = run_dir / "epochs" / "part-090000.parquet"
        pq.write_table(foreign, path)
        return path
    copy = home / "runs" / f"{run_dir.name}.bak"  # a backup copy of the run folder
    shutil.copytree(run_dir, copy, symlinks=True)
    return copy


STEP = st.one_of(
    st.tuples(st.just("kill_at_part"), st.sampled_from(["example_epochs", "epochs", "layer_rewinds"]), st.integers(1, EPOCHS)),
    st.tuples(st.just("kill_after"), st.floats(0.0, 1.5)),
    st.tuples(st.just("resume")),
    st.tuples(st.just("concurrent"), st.integers(2, 4)),
    st.tuples(st.just("analyze")),
    st.tuples(st.just("plugin_analyze")),
    st.tuples(st.just("damage"), st.sampled_from(["truncate_examples", "garbage_layers", "foreign_epochs", "copy_folder"])),
)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@example(first_kill=2, steps=[("damage", "foreign_epochs"), ("concurrent", 3), ("damage", "garbage_layers"), ("kill_after", 0.3)])
@example(first_kill=None, steps=[("plugin_analyze",), ("kill_at_part", "layer_rewinds", 1), ("resume",)])
@given(first_kill=st.one_of(st.none(), st.integers(1, EPOCHS)), steps=st.lists(STEP, min_size=1, max_size=5))
def test_no_row_lost_or_doubled_whatever_happens(reference, first_kill, steps):
    root = Path(tempfile.mkdtemp(prefix="memscope-prop-"))
    try:
        _play(root, reference, first_kill, steps)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _play(root: Path, reference, first_kill, steps) -> None:
    from memscope.store.check import check_home
    from memscope.store.home import Home

    home = root / "home"
    (root / "c.toml").write_text(CONFIG)
    fault = f"kill_after_tmp_write:example_epochs:{first_kill}" if first_kill else ""
    code = wait_child(fork_cli(home, "run", "-q", str(root / "c.toml"), fault=fault))
    assert code == (-9 if first_kill else 0)
    (run_id,) = run_ids(home)
    run_dir = home / "runs" / run_id
    pending = False  # damage given and not yet dealt with by a resume
    for step in steps:
        kind = step[0]
        event(f"step: {kind}" + (f" {step[1]}" if kind == "damage" else ""))
        if kind == "kill_at_part":
            wait_child(fork_cli(home, "run", "-q", "--resume", run_id, fault=f"kill_after_tmp_write:{step[1]}:{step[2]}"))
        elif kind == "kill_after":
            pid = fork_cli(home, "run", "-q", "--resume", run_id)
            time.sleep(step[1])
            os.kill(pid, signal.SIGKILL)
            wait_child(pid)
        elif kind == "resume":
            assert cli(home, "run", "-q", "--resume", run_id).exit_code == 0
        elif kind == "concurrent":
            codes = [wait_child(pid) for pid in [fork_cli(home, "run", "-q", "--resume", run_id) for _ in range(step[1])]]
            assert set(codes) <= {0, 2} and 0 in codes, codes  # 2: "still running", the lock held by another
        elif kind == "analyze":
            trained = read_info(run_dir).get("epoch") == EPOCHS
            result = cli(home, "analyze", run_id, "-a", "rewinding", "-q")
            assert result.exit_code == (0 if trained else 2), result.output  # a half-trained run is refused
        elif kind == "plugin_analyze":  # a third-party analysis writes its own tables, never a core one
            trained = read_info(run_dir).get("epoch") == EPOCHS
            config_before = (run_dir / "config.toml").read_bytes()
            result = CliRunner().invoke(app, ["--plugins-dir", str(PLUGINS), "--home", str(home), "analyze", run_id, "-a", "forgetting_events", "-q"])
            assert result.exit_code == (0 if trained else 2), result.output
            assert (run_dir / "config.toml").read_bytes() == config_before  # a later resume needs no plugin
            if trained:
                assert any((run_dir / "forgetting_events_examples").glob("part-*.parquet"))
        elif kind == "damage" and not pending:
            path = damage(home, run_dir, step[1])
            if path is None:
                continue
            found = {str(p.path) for p in check_home(Home(home)) if not p.harmless}
            assert str(path) in found, f"runs check missed {path}: {found}"
            if step[1] == "copy_folder":  # another folder: only check --repair moves it
                assert cli(home, "runs", "check", "--repair").exit_code == 0
                assert (home / ".quarantine" / "runs" / path.name).is_dir()
            else:
                pending = True  # the next resume moves it aside and rebuilds its rows
            continue
        pending = pending and any(not p.harmless for p in check_home(Home(home)))
        if not pending:
            assert_nothing_lost_or_doubled(run_dir, reference)
    assert cli(home, "run", "-q", "--resume", run_id).exit_code == 0
    assert not [p for p in check_home(Home(home)) if not p.harmless]
    for table in TABLES:
        assert rows(run_dir, table) == reference[table], table
