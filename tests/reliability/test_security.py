"""What memscope may touch: the SQL core (``memscope query`` and the TUI's SQL screen) reads
the home and nothing else, writes nothing, attaches and installs nothing; a run creates its
files with the user's umask; nothing listens on a network port.

(The statement-by-statement refusals through the CLI live in the bad-input corpus.)
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess

import pytest

from memscope.errors import MemscopeError
from memscope.store.query import QueryHandle

from .conftest import cli_env, memscope_cmd, read_info, run_ids, tiny_toml, wait_for

#: (statement, whether the locked connection refuses it even without the statement check).
#: Writing inside the home is refused by the statement check only: DuckDB's
#: allowed_directories cannot separate reading from writing (see memscope/store/query.py).
ATTACKS = [
    ("SELECT * FROM read_csv('/etc/passwd')", True),
    ("SELECT * FROM read_text('/etc/hostname')", True),
    ("SELECT * FROM glob('/*')", True),
    ("SELECT * FROM read_parquet('{home}/../*/*.parquet')", True),
    ("COPY (SELECT 1) TO '/tmp/memscope-evil.csv'", True),
    ("COPY (SELECT 1) TO '{home}/runs/evil.csv'", False),
    ("ATTACH '{home}/evil.duckdb' AS evil", True),
    ("INSTALL httpfs", True),
    ("LOAD httpfs", True),
    ("SET enable_external_access = true", True),
    ("SET allowed_directories = ['/']", True),
    ("CREATE TABLE evil AS SELECT 1", True),
    ("CREATE TEMP VIEW evil AS SELECT 1", False),
    ("SELECT 1; DROP VIEW epochs", True),
    ("EXPORT DATABASE '{home}/dump'", False),
    ("CALL checkpoint()", False),
    # issue 12: calls that matching words missed; the check now reads DuckDB's parse
    ("SELECT * FROM checkpoint/**/()", False),
    ("SELECT * FROM truncate_duckdb_logs()", False),
    ("SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))", False),
    ("SELECT * FROM query('SELECT 1')", False),
    ("PIVOT (SELECT * FROM force_checkpoint/**/()) ON x", False),
]


def _files(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("sql,locked", ATTACKS)
def test_the_tui_sql_core_reads_the_home_only(home, make_run, sql, locked):
    make_run("run-a")
    before = _files(home.root)
    with QueryHandle(home) as handle:
        with pytest.raises(MemscopeError):
            handle.execute(sql.format(home=home.root))
        # bypassing the statement check, the connection itself still refuses
        if locked:
            with pytest.raises(Exception):
                handle.conn.execute(sql.format(home=home.root)).fetchall()
        assert handle.execute("SELECT count(*) AS n FROM epochs").table.column("n")[0].as_py() == 2
    assert _files(home.root) == before


def _sockets_of(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def _inet_sockets(inodes: set[str]) -> list[str]:
    """Lines of /proc/net/{tcp,tcp6,udp,udp6} for these socket inodes (LISTEN is state 0A)."""
    lines = []
    for name in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"/proc/net/{name}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        lines += [f"{name}: {row.strip()}" for row in rows if row.split()[9] in inodes]
    return lines


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc")
def test_a_run_uses_the_umask_and_opens_no_network_socket(tmp_path, workdir):
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_toml(epochs=100_000, batch_size=8, analyses=("rewinding",)))
    home = tmp_path / "home"
    proc = subprocess.Popen(memscope_cmd("run", "-q", str(config)), env=cli_env(home), cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.umask(0o027))
    try:
        wait_for(lambda: (run_ids(home) and read_info(home / "runs" / run_ids(home)[0]).get("epoch", 0) >= 2)
                 or proc.poll() is not None, 120, "two epochs")
        assert proc.poll() is None, proc.communicate()[1]
        assert _inet_sockets(_sockets_of(proc.pid)) == [], "the run opened a network socket"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err

    modes = {}
    for path in [home, *home.rglob("*")]:
        if path.name == "memscope.duckdb" or path.name.endswith(".wal"):
            continue  # DuckDB creates its own file; checked below
        modes[path] = stat.S_IMODE(path.stat().st_mode)
    wrong = {str(p): oct(m) for p, m in modes.items() if m != (0o750 if p.is_dir() else 0o640)}
    assert wrong == {}, f"not created with the umask (027): {wrong}"
    assert stat.S_IMODE((home / "memscope.duckdb").stat().st_mode) & 0o007 == 0
