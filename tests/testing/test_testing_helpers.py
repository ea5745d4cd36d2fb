"""memscope.testing: the contract check, the plugin host, the tiny runs (the plugin authors' kit)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pyarrow as pa
import pytest

from memscope.analysis import Analysis
from memscope.errors import RunFailed
from memscope.store.schemas import CORE_TABLES
from memscope.testing import (
    analysis_problems,
    check_analysis,
    check_tables_in_catalog,
    host_with,
    load_plugin_file,
    run_tiny,
)


@dataclass(frozen=True)
class GoodOptions:
    threshold: float = 0.5  # a documented option
    layers: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)
    limit: int | None = None


class Good(Analysis):
    """Counts the training examples (a well-formed analysis)."""

    name = "good_one"
    version = "1.0"
    Options = GoodOptions
    tables = {
        "good_one_counts": pa.schema([("examples", pa.int64())]),
        "example_scores": CORE_TABLES["example_scores"],
    }

    def run(self, ctx):
        n = ctx.read_sql("SELECT count(*) AS n FROM examples WHERE split = 'train'").column("n")[0].as_py()
        ctx.write("good_one_counts", {"examples": [n]})


def test_a_good_analysis_passes():
    check_analysis(Good)
    assert analysis_problems(Good) == []


@dataclass
class NoDefault:
    needed: int  # no default


class Bad(Analysis):
    name = "Bad-Name"
    version = ""
    Options = NoDefault
    tables = {
        "counts": pa.schema([("n", pa.int64())]),  # not prefixed with the name
        "example_scores": pa.schema([("value", pa.string())]),  # wrong type for a core column
        "bad_name_x": "not a schema",
    }


def test_a_bad_analysis_lists_every_problem():
    with pytest.raises(AssertionError) as raised:
        check_analysis(Bad)
    message = str(raised.value)
    for needle in ("snake_case", "version", "docstring", "no default", "'counts' must be named", "column 'value'", "pyarrow.Schema", "neither"):
        assert needle in message, f"{needle!r} not in:\n{message}"
    assert "not a subclass" in analysis_problems(int)[0]


def test_options_types_must_come_from_toml():
    @dataclass(frozen=True)
    class Opts:
        when: object = None  # not a TOML type

    class Odd(Good):
        """Odd options."""

        Options = Opts

    assert any("cannot come from TOML" in p for p in analysis_problems(Odd))
    assert dataclasses.is_dataclass(Good.Options)


def test_host_with_registers_only_what_it_is_given(tmp_path):
    host = host_with(Good)
    assert "good_one" in host.registries.analyses
    assert not any(info.source in ("file", "entrypoint") for info in host.infos.values())
    plugin = tmp_path / "another.py"
    plugin.write_text(
        "from memscope import hookimpl\n__version__ = '2.0'\n@hookimpl\ndef register_noise_models(register):\n"
        "    register('reversed', lambda labels, num_classes, rate, rng, options: labels[::-1].copy())\n",
        encoding="utf-8",
    )
    host = host_with(plugin, Good)
    assert "reversed" in host.registries.noise_models and "good_one" in host.registries.analyses
    assert host.infos["another"].version == "2.0"
    assert load_plugin_file(plugin) is load_plugin_file(str(plugin))  # one module per file


def test_host_with_is_strict_about_broken_plugins(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("from memscope import hookimpl\n@hookimpl\ndef register_datasets(register):\n    raise RuntimeError('no data today')\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="no data today"):
        host_with(broken)
    host = host_with(broken, strict=False)
    assert any("no data today" in error for _, error in host.errors())


def test_analyze_runs_a_class_and_checks_its_tables(tiny_run_copy):
    result = tiny_run_copy.analyze(Good)
    assert result["good_one"]["status"] == "completed"
    counts = check_tables_in_catalog(tiny_run_copy, Good)
    assert counts == {"good_one_counts": 1, "example_scores": 0}
    assert tiny_run_copy.table("good_one_counts").column("examples").to_pylist() == [256]
    with pytest.raises(AssertionError, match="no rows"):
        check_tables_in_catalog(tiny_run_copy, Good, require_rows=True)  # it writes no example_scores


def test_check_tables_in_catalog_names_a_missing_table(tiny_run):
    class Never(Good):
        """Declares a table no run has declared."""

        name = "never_run"
        tables = {"never_run_rows": pa.schema([("x", pa.int64())])}

    with pytest.raises(AssertionError, match="'never_run_rows' is not in the catalog"):
        check_tables_in_catalog(tiny_run.home, Never)


class Raises(Analysis):
    """Fails on purpose."""

    name = "raises"

    def run(self, ctx):
        raise ValueError("a bug in the plugin")


def test_a_failing_analysis_shows_its_traceback(tiny_run_copy):
    with pytest.raises(ValueError, match="a bug in the plugin"):
        tiny_run_copy.analyze(Raises)
    result = tiny_run_copy.analyze(Raises, strict=False)
    assert result["raises"]["status"] == "failed" and "a bug in the plugin" in result["raises"]["error"]


def test_run_tiny_reports_the_traceback_of_a_failing_run(tmp_path):
    with pytest.raises(RunFailed, match="(?s)a bug in the plugin.*Traceback"):
        run_tiny(tmp_path, analyses=["raises"], plugins=[Raises], overrides=["train.epochs=1"])


def test_tiny_run_is_finished_and_small(tiny_run):
    info = tiny_run.sql(f"SELECT status, epochs, num_train, num_noisy FROM runs WHERE run_id = '{tiny_run.run_id}'").to_pylist()
    assert info == [{"status": "completed", "epochs": 3, "num_train": 256, "num_noisy": 51}]
    assert tiny_run.table("example_epochs").num_rows == 3 * 256
