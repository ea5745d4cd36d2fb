"""The run summary says "memorized" only at noisy-train accuracy >= 0.9, in the mode measured."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from memscope.cli.run import _summary


def summary(capsys, noisy: float, etd: bool) -> str:
    result = SimpleNamespace(run_id="r1", run_dir=Path("/tmp/r1"), status="completed", analyses={},
                             final={"clean_train_acc": 0.99, "noisy_train_acc": noisy, "test_acc": 0.9})
    _summary(result, None, etd)
    return capsys.readouterr().err


def test_an_etd_run_at_chance_is_not_called_memorized(capsys):
    text = summary(capsys, 0.049, etd=True)
    assert "did not memorize (example-tied dropout, kept mode): noisy-train acc 0.049" in text
    assert "memorized noisy labels" not in text


def test_an_mlp_at_half_did_not_memorize_and_a_fitted_run_did(capsys):
    assert "did not memorize: noisy-train acc 0.498" in summary(capsys, 0.498, etd=False)
    assert "memorized noisy labels: noisy-train acc 0.998" in summary(capsys, 0.998, etd=False)
