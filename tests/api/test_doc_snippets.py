"""Every ```python block of docs/python-api.md runs, in order and in one namespace (as in a
notebook), against a home with two real tiny runs; what each prints is checked against the
home's own numbers."""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "python-api.md"


def snippets() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)


@pytest.fixture
def ran(analysed_home, tmp_path, monkeypatch):
    """(namespace, {snippet: what it printed}) after running every snippet."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__notebook__"}
    printed: dict[str, str] = {}
    for code in snippets():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{DOC.name} snippet", "exec"), namespace)  # noqa: S102  (the doc's own code)
        printed[code] = out.getvalue()
    return namespace, printed


def _output(printed: dict[str, str], marker: str) -> str:
    (code,) = [c for c in printed if marker in c]
    return printed[code]


def _sql(home, sql: str) -> list[dict]:
    from memscope.store.query import execute

    return execute(home, sql).table.to_pylist()


def test_the_doc_has_a_snippet_for_each_part():
    codes = snippets()
    assert len(codes) >= 14
    for accessor in ("training", "gradients", "gradient_windows", "rewinding", "retraining", "flips",
                     "flip_placement", "flip_summary", "etd", "examples"):
        assert any(f".{accessor}()" in code for code in codes), accessor


def test_every_snippet_runs_and_prints_the_homes_numbers(ran, analysed_home, analysed_runs, tmp_path):
    ns, printed = ran
    _, full_id, etd_id = analysed_runs
    assert all(text.strip() for text in printed.values()), "a snippet printed nothing"

    assert list(ns["runs"]["run_id"]) == [full_id, etd_id]
    assert _output(printed, "memscope.runs()").count("completed") == 2

    expected = _sql(analysed_home, """
        SELECT CASE example WHEN 1 THEN 'blurry' WHEN 3 THEN 'ok' ELSE 'odd' END AS note, count(*) AS examples,
               count(*) FILTER (WHERE is_noisy) AS noisy
        FROM examples WHERE split = 'train' AND example < 4 GROUP BY 1 ORDER BY 1""")
    assert ns["joined"].to_pylist() == expected and sum(r["examples"] for r in expected) == 4 * len(ns["runs"])

    polars_out = _output(printed, "polars.DataFrame")
    assert polars_out.strip() == "polars is not installed" or "count_star()" in polars_out

    epochs = _sql(analysed_home, f"SELECT count(*) AS n FROM epochs WHERE run_id = '{full_id}'")[0]["n"]
    assert len(ns["accuracies"]) == epochs == ns["run"].config["train"]["epochs"]

    refused = ns["refused"]
    assert len(refused) == 7
    assert all(line.startswith("refused ") for line in refused[:6]) and "Permission Error" in refused[6]
    assert not (analysed_home.root / "x.csv").exists() and not Path("other.duckdb").exists()

    assert ns["run_id"] == full_id and ns["run"].analyses["neuron_flipping"] == "completed"
    assert _output(printed, "memscope.load(run_id)").startswith(f"{full_id} completed {epochs} epochs")

    layers = _sql(analysed_home, f"SELECT count(DISTINCT layer) AS n FROM layer_epochs WHERE run_id = '{full_id}'")[0]["n"]
    assert len(ns["training"]) == epochs and len(ns["gradients"]) == epochs * layers
    assert ns["clean"].shape == ns["noisy"].shape == (epochs, layers)
    ratio = (ns["noisy"] / ns["clean"]).to_numpy().ravel()
    assert all(math.isfinite(r) and r > 0 for r in ratio)

    flips = ns["flips"]
    targets = _sql(analysed_home, f"SELECT count(*) AS n FROM neuron_flips WHERE run_id = '{full_id}'")[0]["n"]
    assert len(flips) == targets > 0
    assert "flipped" in _output(printed, "run.flips()") or "not_flipped" in _output(printed, "run.flips()")

    assert "dropped" in _output(printed, "etd_run.etd()") and "kept" in _output(printed, "etd_run.etd()")
    assert len(ns["learned"]) == _sql(analysed_home, f"SELECT count(*) AS n FROM examples WHERE run_id = '{full_id}' AND split = 'train'")[0]["n"]

    png = tmp_path / "gradient-norms.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000

    per_run = ns["per_run"]
    assert set(per_run["run_id"]) == {full_id} and len(per_run) == layers
    mean_ratio = dict(zip(per_run["layer"], per_run["mean_ratio"]))
    for layer, column in ns["noisy"].items():
        assert mean_ratio[layer] == pytest.approx((column / ns["clean"][layer]).mean(), rel=1e-9)

    assert "no run 'no-such-run'" in _output(printed, "no-such-run") and "memscope runs list" in _output(printed, "no-such-run")


def test_the_readmes_python_snippet_runs(analysed_home, analysed_runs):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### From Python", 1)[1]
    (code,) = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)[:1]
    namespace: dict = {}
    exec(compile(code, "README.md snippet", "exec"), namespace)  # noqa: S102
    assert namespace["run"].run_id == analysed_runs[2]  # latest: the ETD run
    assert len(namespace["memscope"].runs()) == 2
