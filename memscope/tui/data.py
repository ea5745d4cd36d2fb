"""What the app reads and does, without Textual: run directories, queries, launches.

Every function here may block (file reads, DuckDB, process start-up), so screens call them
from thread workers only. Nothing here imports torch: dataset images come from the
registered (numpy) loaders, and a run is started as a separate ``memscope run`` process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from memscope.child import python_command
from memscope.errors import MemscopeError, QueryError, StoreError
from memscope.store.catalog import sql_identifier as ident
from memscope.store.catalog import sql_string
from memscope.store.home import Home
from memscope.store.runinfo import effective_status, new_run_id, read_run_info

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pyarrow as pa

    from memscope.plugins import PluginHost

LOG_DIR = "logs"
CONFIG_DIR = "configs"
HISTORY_FILE = "sql_history.json"
HISTORY_MAX = 500
TERMINAL = ("completed", "cancelled", "failed", "crashed")


def arrow_of(result: Any) -> "pa.Table":
    """A DuckDB result as an Arrow table (the method's name changed across DuckDB versions)."""
    method = getattr(result, "to_arrow_table", None) or getattr(result, "fetch_arrow_table")
    return method()


def _empty() -> "pa.Table":
    import pyarrow as pa

    return pa.table({})


# --------------------------------------------------------------------------- runs


@dataclass
class RunRow:
    """One run as the app shows it: run.json with the effective status."""

    run_id: str
    status: str
    info: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        value = self.info.get(key, default)
        return default if value is None else value

    @property
    def label(self) -> str:
        return str(self.get("name", self.run_id))

    @property
    def epoch(self) -> int:
        return int(self.get("epoch", 0) or 0)

    @property
    def epochs(self) -> int:
        return int(self.get("epochs", 0) or 0)

    @property
    def analyses(self) -> dict[str, dict[str, Any]]:
        value = self.info.get("analyses") or {}
        return value if isinstance(value, dict) else {}

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds left, from the time per epoch so far (None before the first epoch)."""
        if self.status != "running" or self.epoch < 1 or self.epochs <= self.epoch:
            return None
        started = parse_time(self.info.get("resumed_at") or self.info.get("started_at"))
        if started is None:
            return None
        now = time.time() if now is None else now
        first = int(self.info.get("resume_epoch", 0) or 0)
        done = max(1, self.epoch - first)
        return (now - started) / done * (self.epochs - self.epoch)


def parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "-"
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def read_run(home: Home, run_id: str) -> RunRow:
    try:
        info = read_run_info(home.run_dir(run_id))
        if not isinstance(info, dict):
            raise StoreError("run.json is not an object")
    except StoreError as exc:
        return RunRow(run_id, "crashed", {"run_id": run_id, "error": exc.message})
    info.setdefault("run_id", run_id)
    return RunRow(run_id, effective_status(info), info)


def list_runs(home: Home) -> list[RunRow]:
    """Every run in the home, newest first (run ids sort by their start time)."""
    return [read_run(home, run_id) for run_id in reversed(home.run_ids())]


def check_run_id(home: Home, run_id: str) -> Path:
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith((".", "_")):
        raise MemscopeError(f"not a run id: {run_id!r}")
    path = home.run_dir(run_id)
    if not path.is_dir():
        raise MemscopeError(f"no run '{run_id}' in {home.root}")
    return path


def delete_run(home: Home, run_id: str) -> None:
    """Move the run out of ``runs/`` in one rename (queries see all of it or none), then delete."""
    check_run_id(home, run_id)
    if read_run(home, run_id).status == "running":
        raise MemscopeError(f"run {run_id} is still running; cancel it first")
    home.remove_run(run_id)


def cancel_run(home: Home, run_id: str) -> int:
    """Send SIGTERM to a running run's process; it finishes the step in flight and says 'cancelled'."""
    run = read_run(home, run_id)
    if run.status != "running":
        raise MemscopeError(f"run {run_id} is {run.status}, not running")
    pid = run.info.get("pid")
    if run.info.get("hostname") != socket.gethostname() or not isinstance(pid, int):
        raise MemscopeError(f"run {run_id} runs on {run.info.get('hostname') or 'another host'}; cancel it there")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        raise MemscopeError(f"run {run_id}: process {pid} is gone") from None
    except PermissionError:
        raise MemscopeError(f"run {run_id}: not allowed to signal process {pid}") from None
    return pid


def read_config(home: Home, run_id: str) -> dict[str, Any]:
    path = home.run_dir(run_id) / "config.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value and key != "tags" and key != "options":
            out.update(flatten(value, dotted))
        else:
            out[dotted] = value
    return out


def show_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={show_value(v)}" for k, v in value.items()) + "}"
    return str(value)


#: Config keys whose value is a set written as a list: their order does not change the run.
UNORDERED_KEYS = frozenset({"analyses"})


def config_diff(home: Home, run_ids: list[str]) -> list[tuple[str, list[str]]]:
    """The config keys whose values differ between the runs: (key, value per run).

    ``analyses`` lists the same analyses in any order (the CLI keeps the file's order, the
    app's form its own), so two runs differ there only when the sets differ.
    """
    flats = [flatten(read_config(home, run_id)) for run_id in run_ids]
    keys = sorted({k for flat in flats for k in flat})
    rows = []
    for key in keys:
        values = [show_value(flat.get(key)) if key in flat else "(default)" for flat in flats]
        compared = values
        if key in UNORDERED_KEYS:
            compared = [show_value(sorted(map(str, flat[key]))) if isinstance(flat.get(key), list) else v
                        for flat, v in zip(flats, values)]
        if len(set(compared)) > 1:
            rows.append((key, values))
    return rows


# --------------------------------------------------------------------------- logs and launching


def log_dir(home: Home) -> Path:
    return home.root / LOG_DIR


def find_log(home: Home, run: RunRow) -> Path | None:
    """The log of a run the app launched (``<home>/logs/*.pid<PID>.log``), or ``run.log``."""
    own = home.run_dir(run.run_id) / "run.log"
    if own.is_file():
        return own
    pid = run.info.get("pid")
    folder = log_dir(home)
    if not isinstance(pid, int) or not folder.is_dir():
        return None
    created = parse_time(run.info.get("created_at")) or 0.0
    candidates = []
    for path in folder.glob(f"*.pid{pid}.log"):
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        if mtime >= created - 120:  # pids are reused: the log must be as new as the run
            candidates.append((mtime, path))
    return max(candidates)[1] if candidates else None


def tail(path: Path, lines: int = 200, max_bytes: int = 64_000) -> list[str]:
    """The last lines of a text file; carriage-return progress redraws keep their last state."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace")
    out = []
    for line in text.rstrip("\n").split("\n"):
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
        line = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line)
        out.append(line)
    return out[-lines:]


@dataclass
class Launch:
    """A ``memscope run`` process started by the app (detached: it outlives the app)."""

    process: subprocess.Popen
    log_path: Path
    config_path: Path
    started: float
    known_runs: set[str] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.process.pid


def run_command(config_path: Path, home: Home, plugins_dir: str | Path | None) -> list[str]:
    """The command line the app launches: the same ``memscope run`` a person would type."""
    cmd = python_command("-m", "memscope", "run", str(config_path), "--home", str(home.root))
    if plugins_dir is not None:
        cmd += ["--plugins-dir", str(plugins_dir)]
    return cmd


def save_launch_config(home: Home, toml_text: str, label: str) -> Path:
    folder = home.root / CONFIG_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{new_run_id(label)}.toml"
    path.write_text(toml_text, encoding="utf-8")
    return path


def launch_run(home: Home, config_path: Path, plugins_dir: str | Path | None = None) -> Launch:
    """Start ``memscope run CONFIG --home HOME`` in its own session, output to a log file.

    Closing the app never stops the run (new session, no pipes to the app); re-opening the
    app finds it again through its run directory.
    """
    home.ensure()
    folder = log_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    stem = config_path.stem
    provisional = folder / f"{stem}.log"
    known = set(home.run_ids())
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(provisional, "ab") as log:
        try:
            process = subprocess.Popen(
                run_command(config_path, home, plugins_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                env=env,
            )
        except OSError as exc:
            raise MemscopeError(f"cannot start memscope run: {exc.strerror or exc}") from None
    final = folder / f"{stem}.pid{process.pid}.log"
    try:
        provisional.rename(final)  # the child keeps writing to the same open file
    except OSError:
        final = provisional
    return Launch(process, final, config_path, time.time(), known)


def wait_for_run(home: Home, launch: Launch, timeout: float = 300.0, poll: float = 0.25,
                 cancelled: Callable[[], bool] = lambda: False) -> str:
    """The id of the run the launched process created; MemscopeError if it exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not cancelled():
        for run_id in home.run_ids():
            if run_id in launch.known_runs:
                continue
            try:
                info = read_run_info(home.run_dir(run_id))
            except StoreError:
                continue
            if info.get("pid") == launch.pid and info.get("hostname") == socket.gethostname():
                return run_id
        code = launch.process.poll()
        if code is not None:
            lines = [line for line in tail(launch.log_path, 20) if line.strip()]
            detail = "\n".join(lines[-6:]) or f"exit code {code}"
            raise MemscopeError(f"memscope run exited (code {code}) before the run started:\n{detail}")
        time.sleep(poll)
    raise MemscopeError(f"memscope run did not start a run within {timeout:.0f}s (log: {launch.log_path})")


# --------------------------------------------------------------------------- sample configs, history


def sample_config_dirs() -> list[Path]:
    import memscope

    dirs = [Path.cwd() / "sample_configs", Path(memscope.__file__).resolve().parent / "sample_configs"]
    out = []
    for d in dirs:
        d = d.resolve()
        if d.is_dir() and d not in out:
            out.append(d)
    return out


def sample_configs() -> list[Path]:
    seen: dict[str, Path] = {}
    for folder in sample_config_dirs():
        for path in sorted(folder.glob("*.toml")):
            seen.setdefault(path.name, path)
    return list(seen.values())


class SqlHistory:
    """The SQL screen's history, kept across sessions in ``<home>/sql_history.json``."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: list[str] = []

    def load(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.entries = [e["sql"] if isinstance(e, dict) else str(e) for e in data][-HISTORY_MAX:]
        except (OSError, ValueError, KeyError, TypeError):
            self.entries = []
        return list(self.entries)

    def add(self, sql: str) -> None:
        sql = sql.strip()
        if not sql:
            return
        if sql in self.entries:
            self.entries.remove(sql)
        self.entries.append(sql)
        self.entries = self.entries[-HISTORY_MAX:]
        self.save()

    def save(self) -> None:
        with contextlib.suppress(OSError):  # a read-only home keeps the history for this session only
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps([{"sql": s} for s in self.entries], indent=1), encoding="utf-8")
            os.replace(tmp, self.path)


# --------------------------------------------------------------------------- queries


class Store:
    """The app's one read-only connection to the catalog: the same locked-down connection
    ``memscope query`` opens (:class:`memscope.store.query.QueryHandle`).

    DuckDB shares one database instance per file inside a process and its configuration is
    locked, so the app opens exactly one handle: the SQL screen runs statements on it (and
    cancels them with ``handle.cancel()``), the screens' own reads take a cursor each, so thread
    workers can query at the same time. When the set of tables changes (a plugin declared one)
    the handle is reopened.
    """

    def __init__(self, home: Home, host_getter: Callable[[], "PluginHost | None"] = lambda: None):
        self.home = home
        self.host_getter = host_getter
        self._lock = threading.Lock()
        self._handle: Any = None
        self._base: Any = None
        self._tables: list[str] = []

    def handle(self) -> Any:
        """The QueryHandle (opened on first use, reopened when the table set changed)."""
        from memscope.store.query import QueryHandle

        with self._lock:
            existed = self.home.exists()
            tables = self.home.table_names() if existed else []
            if self._handle is not None and tables != self._tables:
                try:
                    self._base.close()
                    self._handle.close()
                    self._handle = None
                except Exception:  # noqa: BLE001 - busy with a query: keep it until the next call
                    pass
            if self._handle is None:
                self._handle = QueryHandle(self.home, self.host_getter())
                # the screens' reads branch off their own connection, so a long statement in
                # the SQL screen (which holds the handle's) never blocks them
                self._base = self._handle.conn.cursor()
                self._tables = tables if existed else self.home.table_names()  # opening creates a missing home
            return self._handle

    def cursor(self) -> "duckdb.DuckDBPyConnection":
        self.handle()
        with self._lock:
            return self._base.cursor()

    def query(self, sql: str, params: Iterable[Any] = ()) -> "pa.Table":
        import duckdb

        cur = self.cursor()
        try:
            relation = cur.sql(sql, params=list(params) or None)
            return arrow_of(relation) if relation is not None else _empty()
        except duckdb.Error as exc:
            raise QueryError(str(exc).rstrip()) from None
        finally:
            cur.close()

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        return self.query(sql, params).to_pylist()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                try:
                    self._handle.cancel()
                    self._base.close()
                    self._handle.close()
                except Exception:  # noqa: BLE001 - closing at exit: nothing to report
                    pass
                self._handle = None

    # ---------------------------------------------------------------- run-level reads

    def curves(self, metric: str = "noisy_train_acc", run_ids: list[str] | None = None) -> dict[str, list[float]]:
        """Per run, ``metric`` by epoch (for sparklines and overlays)."""
        where = ""
        params: list[Any] = []
        if run_ids is not None:
            if not run_ids:
                return {}
            where = "WHERE run_id IN (" + ", ".join("?" for _ in run_ids) + ")"
            params = list(run_ids)
        rows = self.rows(
            f"SELECT run_id, list({ident(metric)} ORDER BY epoch) AS ys FROM epochs {where} GROUP BY run_id", params
        )
        return {r["run_id"]: [float("nan") if y is None else float(y) for y in r["ys"]] for r in rows}

    def epochs(self, run_id: str) -> "pa.Table":
        return self.query("SELECT * EXCLUDE (run_id) FROM epochs WHERE run_id = ? ORDER BY epoch", [run_id])

    def table_counts(self, run_id: str) -> dict[str, int]:
        """Tables holding rows for this run, with their row counts."""
        return {t: n for t, n in self.home.table_row_counts(run_id).items() if n}

    def preview(self, run_id: str, table: str, limit: int = 200) -> "pa.Table":
        if table not in self.home.table_names():
            raise MemscopeError(f"no table '{table}'")
        return self.query(f"SELECT * EXCLUDE (run_id) FROM {ident(table)} WHERE run_id = ? LIMIT {int(limit)}", [run_id])


def parts_signature(home: Home, run_id: str, tables: Iterable[str]) -> tuple:
    """Cheap change detection: the part files of some tables of a run."""
    sig = []
    run_dir = home.run_dir(run_id)
    for table in tables:
        folder = run_dir / table
        try:
            sig.append((table, tuple(sorted(p.name for p in folder.iterdir() if p.name.endswith(".parquet")))))
        except OSError:
            sig.append((table, ()))
    return tuple(sig)


# --------------------------------------------------------------------------- per-example table

EXAMPLE_FILTERS = {
    "all": "TRUE",
    "clean": "NOT is_noisy",
    "noisy": "is_noisy",
    "memorized": "is_noisy AND correct",
    "not learned": "NOT coalesce(correct, false)",
    "flipped": "coalesce(flipped, false)",
}

EXAMPLE_COLUMNS = (
    "example", "true_label", "observed_label", "is_noisy", "loss", "margin", "correct", "pred",
    "mean_loss", "first_correct", "epochs_correct", "neurons_to_flip", "flipped",
)


@dataclass
class ExamplePage:
    table: "pa.Table"
    total: int  # rows matching the filter
    offset: int
    all_rows: int  # train examples of the run
    final_epoch: int | None
    seconds: float = 0.0


class ExampleTable:
    """One run's per-example summary (final-epoch metrics, per-epoch aggregates, flips, plugin
    scores), built once from ``example_epochs`` and paged with LIMIT/OFFSET.

    The summary has one row per training example (not per epoch), held in a private
    in-memory DuckDB, so sorting and paging stay fast however many epochs the run has. It is
    rebuilt when the run writes new parts (a live run).
    """

    TABLES = ("examples", "example_epochs", "neuron_flips", "example_scores")

    def __init__(self, store: Store, run_id: str):
        self.store = store
        self.run_id = run_id
        self.signature: tuple | None = None
        self.columns: list[str] = []
        self.score_columns: list[str] = []
        self.final_epoch: int | None = None
        self.all_rows = 0
        self._mem: "duckdb.DuckDBPyConnection | None" = None
        self._lock = threading.Lock()

    def stale(self) -> bool:
        return self.signature != parts_signature(self.store.home, self.run_id, self.TABLES)

    def load(self) -> None:
        import duckdb

        signature = parts_signature(self.store.home, self.run_id, self.TABLES)
        scores = self.store.rows(
            "SELECT DISTINCT analysis, metric FROM example_scores WHERE run_id = ? ORDER BY ALL", [self.run_id]
        )
        score_cols = []
        score_exprs = []
        for row in scores:
            name = re.sub(r"[^a-z0-9_]+", "_", f"{row['analysis']}_{row['metric']}".lower())
            score_cols.append(name)
            score_exprs.append(
                f"max(value) FILTER (WHERE analysis = {sql_string(row['analysis'])} AND metric = {sql_string(row['metric'])}) AS {ident(name)}"
            )
        score_join = ""
        score_select = ""
        if score_exprs:
            score_join = (
                "LEFT JOIN (SELECT example, " + ", ".join(score_exprs)
                + " FROM example_scores WHERE run_id = $run GROUP BY example) sc USING (example)"
            )
            score_select = ", " + ", ".join(f"sc.{ident(c)}" for c in score_cols)
        sql = f"""
WITH ee AS (SELECT example, epoch, loss, margin, correct, pred FROM example_epochs WHERE run_id = $run),
agg AS (
    SELECT example,
           arg_max(loss, epoch) AS loss, arg_max(margin, epoch) AS margin,
           arg_max(correct, epoch) AS correct, arg_max(pred, epoch) AS pred,
           avg(loss) AS mean_loss,
           min(epoch) FILTER (WHERE correct) AS first_correct,
           count(*) FILTER (WHERE correct) AS epochs_correct,
           max(epoch) AS last_epoch
    FROM ee GROUP BY example
),
nf AS (SELECT example, any_value(neurons_to_flip) AS neurons_to_flip, bool_or(flipped) AS flipped
       FROM neuron_flips WHERE run_id = $run GROUP BY example)
SELECT e.example, e.true_label, e.observed_label, e.is_noisy,
       agg.loss, agg.margin, agg.correct, agg.pred, agg.mean_loss, agg.first_correct,
       agg.epochs_correct, nf.neurons_to_flip, nf.flipped, agg.last_epoch{score_select}
FROM examples e
LEFT JOIN agg USING (example)
LEFT JOIN nf USING (example)
{score_join}
WHERE e.run_id = $run AND e.split = 'train'
ORDER BY e.example
"""
        cur = self.store.cursor()
        try:
            table = arrow_of(cur.sql(sql, params={"run": self.run_id}))
        except duckdb.Error as exc:
            raise QueryError(str(exc).rstrip()) from None
        finally:
            cur.close()
        last = table.column("last_epoch")
        final = None
        if table.num_rows:
            import pyarrow.compute as pc

            value = pc.max(last).as_py()
            final = int(value) if value is not None else None
        table = table.drop_columns(["last_epoch"])
        mem = duckdb.connect(":memory:", config={"enable_external_access": False, "autoinstall_known_extensions": False, "autoload_known_extensions": False})
        mem.from_arrow(table).create("summary")
        mem.execute("SET lock_configuration = true")
        with self._lock:
            if self._mem is not None:
                self._mem.close()
            self._mem = mem
            self.columns = list(table.column_names)
            self.score_columns = score_cols
            self.final_epoch = final
            self.all_rows = table.num_rows
            self.signature = signature

    def page(self, filter_name: str = "all", sort: str = "example", descending: bool = False,
             offset: int = 0, limit: int = 100, where: str = "") -> ExamplePage:
        """One page of the summary; ``where`` is an extra SQL condition over its columns."""
        import duckdb

        from memscope.store.query import read_only_statements

        started = time.perf_counter()
        if self._mem is None or self.stale():
            self.load()
        if sort not in self.columns:
            sort = "example"
        cond = EXAMPLE_FILTERS.get(filter_name, "TRUE")
        if where.strip():
            cond = f"({cond}) AND ({where})"
        order = f"{ident(sort)} {'DESC' if descending else 'ASC'} NULLS LAST, example"
        count_sql = f"SELECT count(*) FROM summary WHERE {cond}"
        page_sql = f"SELECT * FROM summary WHERE {cond} ORDER BY {order} LIMIT {int(limit)} OFFSET {max(0, int(offset))}"
        read_only_statements(page_sql)  # one SELECT, or a clear error (a bad WHERE)
        with self._lock:
            assert self._mem is not None
            cur = self._mem.cursor()
        try:
            total = int(cur.sql(count_sql).fetchall()[0][0])
            if offset >= total and total:
                offset = max(0, (total - 1) // limit * limit)
                page_sql = f"SELECT * FROM summary WHERE {cond} ORDER BY {order} LIMIT {int(limit)} OFFSET {offset}"
            table = arrow_of(cur.sql(page_sql))
        except duckdb.Error as exc:
            raise QueryError(str(exc).rstrip()) from None
        finally:
            cur.close()
        return ExamplePage(table, total, offset, self.all_rows, self.final_epoch, time.perf_counter() - started)

    def close(self) -> None:
        with self._lock:
            if self._mem is not None:
                self._mem.close()
                self._mem = None


@dataclass
class ExampleDetail:
    run_id: str
    example: int
    info: dict[str, Any]  # true_label, observed_label, is_noisy
    trace: list[dict[str, Any]]  # per epoch: epoch, loss, correct, margin, pred
    flip: dict[str, Any] | None  # neuron_flips row
    steps: list[dict[str, Any]]  # neuron_flip_steps rows
    scores: list[dict[str, Any]]  # example_scores rows
    class_names: list[str] = field(default_factory=list)
    image: "np.ndarray | None" = None  # (H, W, C) in [0, 1]
    image_error: str = ""


def example_detail(store: Store, run_id: str, example: int) -> ExampleDetail:
    q = store.rows
    info = q(
        "SELECT true_label, observed_label, is_noisy FROM examples WHERE run_id = ? AND split = 'train' AND example = ?",
        [run_id, example],
    )
    trace = q(
        "SELECT epoch, loss, correct, margin, pred FROM example_epochs WHERE run_id = ? AND example = ? ORDER BY epoch",
        [run_id, example],
    )
    flip = q("SELECT * EXCLUDE (run_id) FROM neuron_flips WHERE run_id = ? AND example = ? LIMIT 1", [run_id, example])
    steps = q(
        "SELECT step, layer_index, layer, unit, score FROM neuron_flip_steps WHERE run_id = ? AND example = ? ORDER BY step",
        [run_id, example],
    )
    scores = q(
        "SELECT analysis, metric, value FROM example_scores WHERE run_id = ? AND example = ? ORDER BY analysis, metric",
        [run_id, example],
    )
    return ExampleDetail(run_id, example, info[0] if info else {}, trace, flip[0] if flip else None, steps, scores)


class DatasetImages:
    """Training images from the registered (numpy) loaders, cached per dataset; never downloads."""

    def __init__(self, home: Home, host_getter: Callable[[], "PluginHost"]):
        self.home = home
        self.host_getter = host_getter
        self._cache: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str) -> tuple["np.ndarray", list[str]]:
        from memscope.data import DatasetRequest

        cfg = read_config(self.home, run_id)
        data = cfg.get("data", {}) if isinstance(cfg.get("data"), dict) else {}
        name = str(data.get("dataset", "digits"))
        path = str(data.get("path", ""))
        data_dir = Path(data.get("data_dir") or self.home.data_dir)
        key = (name, path, str(data_dir))
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        host = self.host_getter()
        loader = host.registries.datasets.get(name)
        try:
            arrays = loader(DatasetRequest(name, path, data_dir, False))
            arrays = arrays.validated(f"dataset '{name}'")
        except MemscopeError:
            raise
        except Exception as exc:
            raise MemscopeError(f"dataset '{name}' could not be read here: {exc.__class__.__name__}: {exc}") from None
        value = (arrays.x_train, list(arrays.class_names))
        with self._lock:
            self._cache[key] = value
        return value


# --------------------------------------------------------------------------- layers & neurons


def layer_data(store: Store, run_id: str) -> dict[str, "pa.Table"]:
    """Everything the Layers & neurons screen draws, one small query per table.

    Neuron flipping comes through ``memscope.report.flips`` (the report's reader): one row per
    target with its status and collateral damage, and the edits of flipped targets per layer
    group, so the app and the report count the same targets."""
    from memscope.report.flips import placement_sql, targets_sql

    q = store.query
    r = [run_id]
    flip_columns = q("SELECT * FROM neuron_flips WHERE false").column_names
    step_columns = q("SELECT * FROM neuron_flip_steps WHERE false").column_names
    return {
        "layers": q("SELECT layer_index, layer, kind, num_params, num_neurons FROM layers WHERE run_id = ? ORDER BY layer_index", r),
        "layer_epochs": q(
            "SELECT epoch, layer_index, layer, clean_norm, noisy_norm, clean_norm_per_example, noisy_norm_per_example, cosine "
            "FROM layer_epochs WHERE run_id = ? ORDER BY layer_index, epoch",
            r,
        ),
        "layer_rewinds": q(
            "SELECT layer_index, layer, checkpoint_epoch, clean_train_acc, noisy_train_acc, test_acc "
            "FROM layer_rewinds WHERE run_id = ? ORDER BY layer_index, checkpoint_epoch",
            r,
        ),
        "layer_retrains": q(
            "SELECT layer_index, layer, reset_epoch, retrain_epoch, clean_train_acc, noisy_train_acc, test_acc "
            "FROM layer_retrains WHERE run_id = ? ORDER BY layer_index, reset_epoch, retrain_epoch",
            r,
        ),
        "neuron_flips": q(targets_sql(flip_columns, where="run_id = ?"), r),
        "neuron_flip_steps": q(placement_sql(flip_columns, step_columns, "run_id = ?", "run_id = ?"), [run_id, run_id]),
        "etd_evals": q(
            "SELECT mode, clean_train_acc, noisy_train_acc, noisy_train_true_acc, test_acc FROM etd_evals WHERE run_id = ? ORDER BY CASE mode WHEN 'example' THEN 0 WHEN 'kept' THEN 1 ELSE 2 END, mode",
            r,
        ),
    }
