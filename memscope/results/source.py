"""Where the analysis readers read from: one run (:func:`open_run`) or one sweep's runs
(:func:`open_sweep`), as a locked-down, read-only DuckDB connection over those runs' parts
only (``memscope.store.connection.runs_connection``).

Usage::

    with open_run(home, "latest") as run:
        run.info["noisy_train_acc"], run.config["train"]["epochs"]
        run.arrow("SELECT epoch, test_acc FROM epochs ORDER BY epoch")   # pyarrow.Table

    with open_sweep(home, sweep_id) as sweep:
        sweep.group_keys                      # grid keys other than seed, e.g. ["noise.rate"]
        sweep.arrow("SELECT cell_label, count(*) FROM sweep_runs GROUP BY ALL")

Every table the home knows has a view (a table a run has no rows in reads as its zero-row
schema), so SQL naming it binds; ``has(table)`` says whether there are rows. Statements go
through the read-only check of ``memscope.store.query``. A sweep source also has
``sweep_runs`` (one row per run of the sweep with the wanted status: run_id, cell,
cell_label, seed, one column per group key, status and the final accuracies of run.json)
and ``sweep_cells`` (every cell of the grid: cell, cell_label, the group keys).

Torch-, textual- and typer-free: imports the store, duckdb and pyarrow only.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, Union

from memscope.errors import StoreError
from memscope.store.home import Home

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

SEED_KEY = "seed"
#: run.json's final accuracies, carried into ``sweep_runs``.
FINAL_ACCURACIES = ("clean_train_acc", "noisy_train_acc", "noisy_train_true_acc", "test_acc")


def _home(home: Union[Home, str, Path]) -> Home:
    return home if isinstance(home, Home) else Home(home)


class Results:
    """What a run source and a sweep source share: the runs, SQL over them, table facts."""

    def __init__(self, home: Home, run_dirs: Sequence[Path]):
        self.home = home
        self.run_dirs = list(run_dirs)
        self.run_ids = [d.name for d in self.run_dirs]
        self._conn: "duckdb.DuckDBPyConnection | None" = None
        self._counts: dict[str, int] | None = None

    # ------------------------------------------------------------------ connection

    @property
    def conn(self) -> "duckdb.DuckDBPyConnection":
        if self._conn is None:
            from memscope.store.connection import runs_connection

            self._conn = runs_connection(self.home, self.run_dirs)
            self._prepare(self._conn)
        return self._conn

    def _prepare(self, conn: "duckdb.DuckDBPyConnection") -> None:
        """Add source-specific views (a sweep's ``sweep_runs``/``sweep_cells``)."""

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> "pa.Table":
        """The rows of one read-only statement (``?`` placeholders take ``params``)."""
        from memscope.store.query import execute

        if not params:
            return execute(self.conn, sql).table
        import duckdb

        from memscope.store.connection import arrow_of
        from memscope.store.query import _error, read_only_statements

        (statement,) = read_only_statements(sql, self.conn)
        try:
            return arrow_of(self.conn.sql(statement, params=list(params)))
        except duckdb.Error as exc:
            raise _error(exc) from None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.arrow(sql, params).to_pylist()

    # ------------------------------------------------------------------ tables

    def counts(self) -> dict[str, int]:
        """Rows per table over the runs (tables with rows only), from the Parquet footers."""
        if self._counts is None:
            total: dict[str, int] = {}
            for run_id in self.run_ids:
                for table, n in self.home.table_row_counts(run_id).items():
                    if n:
                        total[table] = total.get(table, 0) + n
            self._counts = total
        return self._counts

    def count(self, table: str) -> int:
        return self.counts().get(table, 0)

    def has(self, *tables: str) -> bool:
        """Whether every one of ``tables`` has rows among the runs."""
        return all(self.count(t) > 0 for t in tables)

    def columns(self, table: str) -> list[str]:
        """The columns of ``table``'s view ([] when the home has no such table)."""
        from memscope.store.views import sql_identifier

        if table not in self.home.table_names():
            return []
        return list(self.conn.sql(f"SELECT * FROM {sql_identifier(table)} WHERE false").columns)

    def table(self, table: str) -> "pa.Table":
        """Every row of ``table`` over the runs (a plugin's small table, shown whole)."""
        from memscope.store.views import sql_identifier

        return self.arrow(f"SELECT * FROM {sql_identifier(table)}")

    def parts(self, table: str) -> list[Path]:
        """The Parquet parts of ``table`` among the runs."""
        from memscope.store.parts import PART_RE

        return [p for d in self.run_dirs if (d / table).is_dir() for p in sorted((d / table).iterdir()) if PART_RE.match(p.name)]

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class RunResults(Results):
    """One run: ``run_id`` (the full id), ``info`` (run.json; ``{}`` and ``info_error`` when
    unreadable) and ``config`` (the resolved config.toml as a dict)."""

    def __init__(self, home: Home, run_id: str):
        run_dir = home.require_run(run_id)
        super().__init__(home, [run_dir])
        self.run_id = run_dir.name
        self.run_dir = run_dir
        self.info, self.info_error = _read_info(run_dir)
        self.config = _read_config(run_dir)

    def config_value(self, dotted: str, default: Any = None) -> Any:
        """``config_value("train.lr")``: a nested config key, or ``default``."""
        node: Any = self.config
        for key in dotted.split("."):
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node


def _read_info(run_dir: Path) -> tuple[dict[str, Any], str]:
    from memscope.store.runinfo import read_run_info

    try:
        return read_run_info(run_dir), ""
    except StoreError as exc:
        return {}, exc.message


def _read_config(run_dir: Path) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


class SweepResults(Results):
    """The runs of one sweep with a wanted status, grouped into cells (the grid's values
    other than ``seed``). ``sweep`` is the sweep record (``load_sweep``), ``cells`` maps each
    combination of group values (tags) to its cell number, ``runs`` the included runs."""

    def __init__(self, home: Home, sweep_id: str, statuses: Sequence[str] = ("completed",)):
        from memscope.sweep.grid import axes_from_json
        from memscope.sweep.store import load_sweep

        self.sweep = load_sweep(home, sweep_id)
        self.sweep_id = str(self.sweep.get("sweep_id", sweep_id))
        self.group_axes = [a for a in axes_from_json(self.sweep.get("grid", {})) if a.key != SEED_KEY]
        self.group_keys = [a.key for a in self.group_axes]
        combos = itertools.product(*([v.tag for v in a.values] for a in self.group_axes))
        self.cells: dict[tuple[str, ...], int] = {combo: i for i, combo in enumerate(combos)}
        self.cell_labels = {i: self.label(combo) for combo, i in self.cells.items()}
        self.runs = _sweep_runs(home, self.sweep, self.group_keys, self.cells, statuses)
        super().__init__(home, [home.run_dir(r["run_id"]) for r in self.runs])

    def label(self, combo: Sequence[str]) -> str:
        return " ".join(f"{k}={v}" for k, v in zip(self.group_keys, combo)) or "all runs"

    def _prepare(self, conn: "duckdb.DuckDBPyConnection") -> None:
        import pyarrow as pa

        keys = [(k, pa.string()) for k in self.group_keys]
        runs_schema = pa.schema(
            [("run_id", pa.string()), ("cell", pa.int32()), ("cell_label", pa.string()), ("seed", pa.int64()), *keys,
             ("status", pa.string()), *((k, pa.float64()) for k in FINAL_ACCURACIES)]
        )
        conn.register("sweep_runs", pa.Table.from_pylist(
            [{**r, "cell_label": self.cell_labels[r["cell"]], **dict(zip(self.group_keys, r["combo"]))} for r in self.runs],
            schema=runs_schema,
        ))
        cells_schema = pa.schema([("cell", pa.int32()), ("cell_label", pa.string()), *keys])
        conn.register("sweep_cells", pa.Table.from_pylist(
            [{"cell": i, "cell_label": self.cell_labels[i], **dict(zip(self.group_keys, combo))} for combo, i in self.cells.items()],
            schema=cells_schema,
        ))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _sweep_runs(home: Home, sweep: dict[str, Any], keys: list[str], cells: dict[tuple[str, ...], int],
                statuses: Sequence[str]) -> list[dict[str, Any]]:
    """The sweep's runs whose effective status is in ``statuses`` and whose tags name a cell."""
    from memscope.store.runinfo import effective_status, read_run_info

    out = []
    for entry in sweep.get("runs", []):
        run_id = entry.get("run_id")
        if not run_id:
            continue
        try:
            info = read_run_info(home.run_dir(run_id))
        except StoreError:
            continue
        status = effective_status(info)
        combo = tuple(str(entry.get("tags", {}).get(k, "")) for k in keys)
        if status not in statuses or combo not in cells:
            continue
        seed = info.get("seed")
        out.append({"run_id": run_id, "cell": cells[combo], "combo": combo, "seed": seed if isinstance(seed, int) else None,
                    "status": status, **{k: _number(info.get(k)) for k in FINAL_ACCURACIES}})
    return out


def open_run(home: Union[Home, str, Path], run_id: str) -> RunResults:
    """One run's results (``run_id``: a full id, ``latest``, a unique prefix or the short
    suffix). ``MemscopeError`` (exit code 2) when it names no run or more than one."""
    return RunResults(_home(home), run_id)


def open_sweep(home: Union[Home, str, Path], sweep_id: str, statuses: Sequence[str] = ("completed",)) -> SweepResults:
    """One sweep's runs with an effective status in ``statuses``, grouped into cells."""
    return SweepResults(_home(home), sweep_id, statuses)
