"""Progress with an ETA: training epochs, analysis steps and sweeps; bars on a terminal, lines in a log."""

from __future__ import annotations

import io

import pytest

from memscope.progress import Progress, eta_seconds, format_eta

METRICS = {"train_loss": 0.5, "clean_train_acc": 0.9, "noisy_train_acc": float("nan"), "test_acc": 0.8}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_eta_is_the_rate_so_far_times_what_is_left():
    assert eta_seconds(10.0, 3, 1, 10, now=14.0) == pytest.approx(14.0)  # 2 done in 4 s, 7 left
    assert eta_seconds(10.0, 1, 1, 10, now=14.0) is None  # nothing done since the start
    assert format_eta(75) == "1:15" and format_eta(3700) == "1:01:40"


def test_a_log_gets_one_line_per_epoch_with_an_eta(monkeypatch):
    import memscope.progress as module

    clock = iter([100.0, 110.0, 120.0, 130.0])  # created at 100, one epoch every 10 s
    monkeypatch.setattr(module.time, "perf_counter", lambda: next(clock))
    out = io.StringIO()
    progress = Progress(3, stream=out)
    for epoch in (1, 2, 3):
        progress.epoch(epoch, METRICS)
    lines = out.getvalue().splitlines()
    assert lines[0] == "epoch   1/3 loss 0.500  clean 0.900  noisy   -    test 0.800  eta 0:20"
    assert lines[1].endswith("eta 0:10") and lines[2].endswith("eta 0:00")


def test_a_log_gets_analysis_steps_every_few_seconds_and_at_the_end():
    def lines(every_s: float) -> list[str]:
        out = io.StringIO()
        progress = Progress(1, stream=out, every_s=every_s)
        progress.steps("neuron_flipping", 0, 100, "targets")  # the start: no line, the ETA counts from here
        for done in range(1, 101):
            progress.steps("neuron_flipping", done, 100, "targets")
        return out.getvalue().splitlines()

    assert lines(3600) == ["[neuron_flipping] 100/100 targets  eta 0:00"]
    every = lines(0)
    assert len(every) == 100 and every[0].startswith("[neuron_flipping] 1/100 targets  eta ")


def test_quiet_prints_nothing():
    out = Terminal()
    progress = Progress(2, stream=out, enabled=False)
    progress.epoch(1, METRICS)
    progress.steps("rewinding", 1, 2, "layer rewinds")
    progress.message("hello")
    progress.close()
    assert out.getvalue() == ""


def test_a_terminal_gets_rich_bars_and_messages_above_them():
    out = Terminal()
    progress = Progress(2, stream=out)
    progress.epoch(1, METRICS)
    progress.message("analysis retraining: running")
    progress.steps("retraining", 4, 8, "layer-epochs")
    progress.epoch(2, METRICS)
    progress.close()
    text = out.getvalue()
    assert "analysis retraining: running" in text
    assert "epoch   1/2" in text and "epoch   2/2" in text  # each epoch's line above the bars
    assert "2/2" in text and "4/8" in text and "layer-epochs" in text and "eta" in text


def test_a_sweep_reports_runs_ended_of_all(tmp_path, monkeypatch):
    from memscope.store.home import Home
    from memscope.sweep import driver as drv
    from memscope.sweep.grid import build_grid
    from tests.sweep.conftest import TINY_CONFIG
    from tests.sweep.test_driver import FakeExecutor

    tiny_config = tmp_path / "tiny.toml"
    tiny_config.write_text(TINY_CONFIG, encoding="utf-8")
    home = Home(tmp_path / "home")
    sid = drv.create_sweep(home, config=tiny_config, axes=build_grid(["seed=1,2,3"]), overrides=["train.epochs=1"], retries=1, workers=2)
    monkeypatch.setattr(drv.SweepDriver, "make_executor", lambda self: FakeExecutor(2, {(1, 1): 4}))  # run 2 fails once, then passes
    seen = []
    assert drv.drive(home, sid, lambda line: None, lambda ended, total: seen.append((ended, total))) == 0
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    assert [e for e, _ in seen] == sorted(e for e, _ in seen) and len(seen) == 4  # the retry is not an end


def test_a_detached_sweep_logs_its_progress(tmp_path, monkeypatch, capsys):
    from memscope.store.home import Home
    from memscope.sweep import driver as drv
    from memscope.sweep.__main__ import main
    from memscope.sweep.grid import build_grid
    from tests.sweep.conftest import TINY_CONFIG
    from tests.sweep.test_driver import FakeExecutor

    tiny_config = tmp_path / "tiny.toml"
    tiny_config.write_text(TINY_CONFIG, encoding="utf-8")
    home = Home(tmp_path / "home")
    sid = drv.create_sweep(home, config=tiny_config, axes=build_grid(["seed=1,2"]), overrides=["train.epochs=1"], workers=1)
    monkeypatch.setattr(drv.SweepDriver, "make_executor", lambda self: FakeExecutor(1, {}))
    assert main(["drive", "--home", str(home.root), sid]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[sweep]")]
    assert lines[0].startswith("[sweep] 1/2 runs  eta ") and lines[-1] == "[sweep] 2/2 runs  eta 0:00"
