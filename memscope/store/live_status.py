"""The ``runs`` view's ``status`` with the full liveness rule, per connection.

The catalog file's ``runs`` view can only apply the heartbeat rule (SQL cannot take a file
lock or look up a pid). :func:`install_live_status` shadows it on one connection with a
view whose ``status`` asks the run's writer lock, then its pid: ``memscope query`` and the
app then say ``crashed`` right after a ``kill -9``, like ``memscope runs list``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from memscope.store.views import sql_identifier

if TYPE_CHECKING:
    import duckdb


def _live_status(run_dir, recorded_status, sql_status, pid, hostname):
    """The ``runs`` view's status as ``memscope runs list`` computes it (see
    :func:`install_live_status`); ``sql_status`` is the heartbeat rule's answer."""
    if recorded_status != "running" or run_dir is None:
        return sql_status
    import socket

    from memscope.store.lock import writer_alive
    from memscope.store.runinfo import pid_alive

    here = hostname == socket.gethostname()
    alive = writer_alive(Path(run_dir))
    if alive is False and not here:
        alive = None  # flock may not cross hosts: a free lock says nothing about another host's run
    if alive is None and pid is not None and here:
        alive = pid_alive(pid)
    if alive is None:
        return sql_status  # another host: only the heartbeat can tell
    return "running" if alive else "crashed"


def install_live_status(conn: "duckdb.DuckDBPyConnection") -> None:
    """Shadow the catalog's ``runs`` view, for this connection only, with one whose
    ``status`` applies the full liveness rule (the run's writer lock, then its pid on this
    host, then the heartbeat): ``memscope query`` and the app then say ``crashed`` at once
    after a ``kill -9``, like ``memscope runs list``. Plain DuckDB clients keep the heartbeat
    rule (``crashed`` once the heartbeat is ``STALE_SECONDS`` old)."""
    import duckdb

    ((database,),) = conn.execute("SELECT current_database()").fetchall()
    # connections to one catalog file in one process share one instance: maybe defined already
    with contextlib.suppress(duckdb.CatalogException):
        conn.create_function(
            "memscope_run_status",
            _live_status,
            ["VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "VARCHAR"],
            "VARCHAR",
            null_handling="special",
            side_effects=True,  # liveness changes between calls: never cached
        )
    conn.execute(
        "CREATE OR REPLACE TEMP VIEW runs AS SELECT * REPLACE ("
        "memscope_run_status(run_dir, recorded_status, status, pid, hostname) AS status) "
        f"FROM {sql_identifier(database)}.main.runs"
    )
