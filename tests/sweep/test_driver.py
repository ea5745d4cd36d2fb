"""The sweep process's queue, retries and cancellation, with a fake executor (no processes)."""

from __future__ import annotations

import pytest

from memscope.errors import ExitCode
from memscope.store.home import Home
from memscope.sweep import driver as drv
from memscope.sweep.executors import AttemptResult, Handle
from memscope.sweep.grid import build_grid
from memscope.sweep.store import list_sweeps, load_sweep


class FakeExecutor:
    """Attempts end on the next ``wait`` with the exit code ``script[(index, attempt)]`` (default 0)."""

    name = "fake"

    def __init__(self, capacity: int, script: dict, on_start=None):
        self.capacity = capacity
        self.script = script
        self.on_start = on_start
        self.started: list[tuple[int, int]] = []
        self.running: list[Handle] = []
        self.max_parallel = 0
        self.terminated: list[int] = []
        self.argvs: dict[int, list[str]] = {}

    def describe(self):
        return "fake"

    def start(self, index, attempt, argv, log_path, out_path):
        self.started.append((index, attempt))
        self.argvs[index] = argv
        h = Handle(index, attempt, log_path, out_path)
        self.running.append(h)
        self.max_parallel = max(self.max_parallel, len(self.running))
        if self.on_start:
            self.on_start(self, index, attempt)
        return h

    def wait(self, handles, timeout):
        done = []
        for h in list(handles)[:1]:
            rc = self.script.get((h.index, h.attempt), 0)
            if rc is None:  # keeps running
                continue
            self.running.remove(h)
            stderr = "" if rc == 0 else f"memscope: error: boom {h.index}/{h.attempt}\n"
            done.append((h, AttemptResult(rc, "", stderr)))
        return done

    def wake(self):
        pass

    def terminate(self, handles):
        for h in handles:
            self.terminated.append(h.index)
            self.script[(h.index, h.attempt)] = int(ExitCode.INTERRUPTED)

    def kill(self, handles):
        pass

    def close(self):
        pass


def _sweep(tmp_path, tiny_config, retries=1, grid=("seed=1,2,3",), workers=2):
    home = Home(tmp_path / "home")
    sid = drv.create_sweep(home, config=tiny_config, axes=build_grid(list(grid)), overrides=["train.epochs=1"], retries=retries, workers=workers)
    return home, sid


def _drive(monkeypatch, home, sid, fake):
    monkeypatch.setattr(drv.SweepDriver, "make_executor", lambda self: fake)
    lines = []
    code = drv.drive(home, sid, lines.append)
    return code, lines


def test_all_complete_in_parallel(tmp_path, tiny_config, monkeypatch):
    home, sid = _sweep(tmp_path, tiny_config)
    fake = FakeExecutor(2, {})
    code, lines = _drive(monkeypatch, home, sid, fake)
    assert code == 0
    data = load_sweep(home, sid)
    assert data["status"] == "completed" and data["counts"]["completed"] == 3
    assert fake.max_parallel == 2
    assert [e["attempts"] for e in data["runs"]] == [1, 1, 1]
    assert data["runs"][0]["log"].endswith("logs/0-1.log")
    # the run gets the fixed overrides, its tags (dotted keys kept) and its cell's overrides, in that order
    argv = fake.argvs[1]
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert sets == ["train.epochs=1", f'tags={{"sweep_id" = "{sid}", "seed" = "2"}}', "seed=2"]
    assert argv[:2] == ["run", str(home.root / "sweeps" / sid / "config.toml")]
    assert "--quiet" in argv
    assert any("completed" in line for line in lines)
    assert list_sweeps(home)[0]["sweep_id"] == sid


def test_fails_once_then_retried_and_others_go_on(tmp_path, tiny_config, monkeypatch):
    home, sid = _sweep(tmp_path, tiny_config, retries=1)
    fake = FakeExecutor(2, {(0, 1): 4, (1, 1): 1, (1, 2): 4})
    code, lines = _drive(monkeypatch, home, sid, fake)
    assert code == int(ExitCode.RUN_FAILED)
    runs = load_sweep(home, sid)["runs"]
    assert [(e["status"], e["attempts"]) for e in runs] == [("completed", 2), ("failed", 2), ("completed", 1)]
    assert runs[0]["error"] is None
    assert runs[1]["error"] == "boom 1/2"
    assert load_sweep(home, sid)["status"] == "failed"
    # a failed attempt goes to the back of the queue: entry 2 starts before the retries
    assert fake.started.index((2, 1)) < fake.started.index((0, 2))
    assert any("retrying" in line for line in lines)


def test_no_retries(tmp_path, tiny_config, monkeypatch):
    home, sid = _sweep(tmp_path, tiny_config, retries=0, grid=("seed=1,2",))
    code, _ = _drive(monkeypatch, home, sid, FakeExecutor(1, {(0, 1): 4}))
    assert code == 4
    assert [(e["status"], e["attempts"]) for e in load_sweep(home, sid)["runs"]] == [("failed", 1), ("completed", 1)]


def test_cancel_stops_running_and_marks_pending(tmp_path, tiny_config, monkeypatch):
    home, sid = _sweep(tmp_path, tiny_config, grid=("seed=1,2,3,4",))

    def on_start(fake, index, attempt):
        if index == 1:
            driver_ref["driver"].request_cancel()

    driver_ref = {}
    original_init = drv.SweepDriver.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        driver_ref["driver"] = self

    monkeypatch.setattr(drv.SweepDriver, "__init__", init)
    fake = FakeExecutor(2, {(0, 1): None, (1, 1): None}, on_start=on_start)
    code, _ = _drive(monkeypatch, home, sid, fake)
    assert code == int(ExitCode.INTERRUPTED)
    data = load_sweep(home, sid)
    assert data["status"] == "cancelled"
    assert sorted(fake.terminated) == [0, 1]
    assert [e["status"] for e in data["runs"]] == ["cancelled"] * 4
    assert [e["attempts"] for e in data["runs"]] == [1, 1, 0, 0]
    assert data["runs"][3]["error"] == "cancelled before it started"


def test_a_started_sweep_cannot_start_again(tmp_path, tiny_config, monkeypatch):
    home, sid = _sweep(tmp_path, tiny_config, grid=("seed=1",))
    _drive(monkeypatch, home, sid, FakeExecutor(1, {}))
    with pytest.raises(Exception, match="only a pending sweep can start"):
        _drive(monkeypatch, home, sid, FakeExecutor(1, {}))


def test_crashed_sweep_reads_crashed_and_cancel_finishes_it(tmp_path, tiny_config, cli):
    from memscope.sweep.store import SWEEP_JSON, read_sweep_json, sweep_dir, write_sweep_json

    home = Home(cli.home)
    sid = drv.create_sweep(home, config=tiny_config, axes=build_grid(["seed=1,2"]), overrides=[])
    path = sweep_dir(home, sid) / SWEEP_JSON
    data = read_sweep_json(path)
    data.update(status="running", pid=2**22 + 12345)  # no such process
    write_sweep_json(path, data)
    assert load_sweep(home, sid)["status"] == "crashed"
    result = cli("sweeps", "cancel", sid)
    assert result.exit_code == 0, result.output
    data = load_sweep(home, sid)
    assert data["status"] == "cancelled" and [e["status"] for e in data["runs"]] == ["cancelled", "cancelled"]
    assert "already cancelled" in cli("sweeps", "cancel", sid).stderr
