"""A reader for the concurrency tests and bench/soak.py: runs ``memscope query`` in a loop for
a while and checks that every answer is a consistent set of parts.

    python tests/reliability/query_worker.py HOME SECONDS [--spawn]

Without ``--spawn`` each query is ``memscope.cli.app.main(["query", ...])`` in this process
(a fresh read-only DuckDB connection every time, many queries per second); with it, each
query is a new ``python -m memscope query`` process. Prints one JSON line: queries, errors,
lock_errors, inconsistencies (each with its first few examples).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time

#: One statement that sees runs, epochs and example_epochs at once.
CONSISTENCY_SQL = """
SELECT r.run_id, r.num_train, e.n, e.k, e.lo, e.hi, p.es
FROM runs r
LEFT JOIN (SELECT run_id, count(*) AS n, count(DISTINCT epoch) AS k, min(epoch) AS lo, max(epoch) AS hi
           FROM example_epochs GROUP BY run_id) e USING (run_id)
LEFT JOIN (SELECT run_id, list(epoch ORDER BY epoch) AS es FROM epochs GROUP BY run_id) p USING (run_id)
"""


def inconsistencies(rows: list[dict]) -> list[str]:
    """Per run: example_epochs holds whole epochs of num_train rows, numbered 1..k; epochs 1..m."""
    found = []
    for row in rows:
        n, k, num_train = row.get("n"), row.get("k"), row.get("num_train")
        if n is not None:
            if not num_train or n != k * num_train:
                found.append(f"{row['run_id']}: {n} example_epochs rows for {k} epochs of {num_train}")
            if row["lo"] != 1 or row["hi"] != k:
                found.append(f"{row['run_id']}: example_epochs epochs {row['lo']}..{row['hi']} for {k} distinct")
        es = row.get("es")
        if es is not None and list(es) != list(range(1, len(es) + 1)):
            found.append(f"{row['run_id']}: epochs not contiguous: {list(es)[:10]}...")
    return found


def query_once(home: str, spawn: bool) -> tuple[int, str, str]:
    args = ["query", "--home", home, "--json", CONSISTENCY_SQL]
    if spawn:
        proc = subprocess.run([sys.executable, "-m", "memscope", *args], capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stdout, proc.stderr
    from memscope.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def loop(home: str, seconds: float, spawn: bool = False) -> dict:
    stats = {"queries": 0, "errors": 0, "lock_errors": 0, "inconsistencies": 0, "examples": []}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        code, out, err = query_once(home, spawn)
        stats["queries"] += 1
        problems = []
        if code != 0:
            stats["errors"] += 1
            if "lock" in err.lower():
                stats["lock_errors"] += 1
            problems.append(f"exit {code}: {err.strip()[-300:]}")
        else:
            try:
                found = inconsistencies(json.loads(out))
            except ValueError as exc:
                found = [f"unparsable output ({exc}): {out[:200]!r}"]
            stats["inconsistencies"] += len(found)
            problems += found
        if problems and len(stats["examples"]) < 5:
            stats["examples"] += problems[:2]
    return stats


if __name__ == "__main__":
    home_arg, seconds_arg = sys.argv[1], float(sys.argv[2])
    print(json.dumps(loop(home_arg, seconds_arg, "--spawn" in sys.argv[3:])), flush=True)
