"""One bad file must not break everyone, and nothing foreign is added silently (issue 12,
items 5-8): hostile run.json files, foreign and copied parts, symlinked run folders, homes
with glob characters in their path, and the runs view's status right after a kill."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta, timezone

import duckdb
import pytest
from typer.testing import CliRunner

from memscope.cli.app import app
from memscope.store.home import Home
from memscope.store.lock import LOCK_FILE, RunLock
from memscope.store.runinfo import read_run_info, write_run_info
from memscope.testing import write_fake_run


def cli(home, *args):
    return CliRunner().invoke(app, [*args, "--home", str(home.root)])


def query(home, sql):
    result = cli(home, "query", "--json", sql)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_hostile_run_json_files_read_as_crashed_and_break_nothing_else(home, make_run):
    make_run("good")
    bad = {
        "not-utf8": b'{"run_id": "not-utf8", "status": "completed", "name": "\xff\xfe"}',
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "huge-pid": json.dumps({"run_id": "huge-pid", "status": "running", "pid": 2**70,
                                "hostname": os.uname().nodename}).encode(),
    }
    for run_id, content in bad.items():
        make_run(run_id)
        (home.run_dir(run_id) / "run.json").write_bytes(content)

    listed = cli(home, "runs", "list", "--json")
    assert listed.exit_code == 0, listed.output
    statuses = {r["run_id"]: r["status"] for r in json.loads(listed.stdout)}
    assert statuses == {"good": "completed", "not-utf8": "crashed", "deep": "crashed", "huge-pid": "crashed"}
    viewed = {r["run_id"]: r["status"] for r in query(home, "SELECT run_id, status FROM runs")}
    assert viewed == statuses  # the view agrees, and one bad file does not break it
    for run_id in bad:
        for args in (["runs", "show", run_id], ["run", "-q", "--resume", run_id], ["report", run_id]):
            result = cli(home, *args)
            assert "Traceback" not in result.output, (args, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))


def test_foreign_parts_and_copied_run_folders_are_found_and_moved_aside(home, make_run):
    a, b = make_run("run-a"), make_run("run-b")
    foreign = a / "epochs" / "part-000050.parquet"  # another run's rows in run-a's folder
    shutil.copy(b / "epochs" / "part-000001.parquet", foreign)
    other_table = a / "examples" / "part-000051.parquet"  # a part of another table
    shutil.copy(a / "epochs" / "part-000001.parquet", other_table)
    copy = home.runs_dir / "run-b.bak"  # a backup copy of a run folder: the same run id twice
    shutil.copytree(b, copy)

    checked = cli(home, "runs", "check", "--json")
    assert checked.exit_code == 3, checked.output
    problems = {p["path"]: p["problem"] for p in json.loads(checked.stdout)}
    assert "foreign part" in problems[str(foreign)]
    assert "not in this table" in problems[str(other_table)]
    assert "a copy of run 'run-b'" in problems[str(copy)] and "two folders" in problems[str(copy)]

    listed = cli(home, "runs", "list", "--json")
    assert sorted(r["run_id"] for r in json.loads(listed.stdout)) == ["run-a", "run-b"]  # run-b once
    assert query(home, "SELECT count(*) AS n FROM runs") == [{"n": 2}]

    repaired = cli(home, "runs", "check", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert (a / ".quarantine" / "epochs" / foreign.name).is_file()
    assert (a / ".quarantine" / "examples" / other_table.name).is_file()
    assert (home.root / ".quarantine" / "runs" / "run-b.bak" / "run.json").is_file()  # moved whole, not deleted
    assert cli(home, "runs", "check").exit_code == 0
    counts = query(home, "SELECT run_id, count(*) AS n FROM epochs GROUP BY run_id ORDER BY run_id")
    assert counts == [{"run_id": "run-a", "n": 2}, {"run_id": "run-b", "n": 2}]


def test_symlinked_run_folders_are_refused_consistently(home, make_run, tmp_path):
    make_run("real")
    elsewhere = tmp_path / "elsewhere"
    outside = Home(elsewhere).ensure()
    write_fake_run(outside, "outside")
    (home.runs_dir / "outside").symlink_to(outside.run_dir("outside"))
    (home.runs_dir / "alias").symlink_to(home.run_dir("real"))

    listed = cli(home, "runs", "list", "--json")
    assert [r["run_id"] for r in json.loads(listed.stdout)] == ["real"]  # never twice, never a link
    shown = cli(home, "runs", "show", "alias")
    assert shown.exit_code == 2 and "symbolic link" in shown.stderr
    refused = cli(home, "query", "SELECT count(*) FROM epochs")
    assert refused.exit_code == 3 and "symbolic link" in refused.stderr and "runs check --repair" in refused.stderr
    assert "Traceback" not in refused.output
    checked = cli(home, "runs", "check", "--json")
    assert checked.exit_code == 3
    assert {p["run_id"] for p in json.loads(checked.stdout) if "symbolic link" in p["problem"]} == {"outside", "alias"}

    assert cli(home, "runs", "check", "--repair").exit_code == 0
    assert outside.run_dir("outside").is_dir() and (home.root / ".quarantine" / "runs" / "alias").is_symlink()
    assert query(home, "SELECT run_id, count(*) AS n FROM epochs GROUP BY run_id") == [{"run_id": "real", "n": 2}]


@pytest.mark.parametrize("name", ["hg[1]", "hg*"])
def test_a_home_with_glob_characters_reads_only_itself(tmp_path, name):
    sibling = Home(tmp_path / "hg1").ensure()
    write_fake_run(sibling, "sibling-run")
    home = Home(tmp_path / name).ensure()
    write_fake_run(home, "own-run")
    assert query(home, "SELECT DISTINCT run_id FROM epochs") == [{"run_id": "own-run"}]
    assert query(home, "SELECT run_id FROM runs") == [{"run_id": "own-run"}]
    plain = duckdb.connect(str(home.catalog_path), read_only=True)  # a plain DuckDB client
    try:
        assert plain.execute("SELECT DISTINCT run_id FROM examples").fetchall() == [("own-run",)]
        assert plain.execute("SELECT run_id FROM runs").fetchall() == [("own-run",)]
    finally:
        plain.close()


def test_the_runs_view_says_crashed_at_once_when_nobody_holds_the_writer_lock(home, make_run):
    run_dir = make_run("live", status="running", pid=os.getpid())  # a pid that is alive
    with RunLock(run_dir):
        assert query(home, "SELECT status FROM runs") == [{"status": "running"}]
        listed = cli(home, "runs", "list", "--json")
        assert json.loads(listed.stdout)[0]["status"] == "running"
    # the writer is gone (as after kill -9): its lock is free while run.json still says running
    assert (run_dir / LOCK_FILE).is_file() and read_run_info(run_dir)["status"] == "running"
    assert query(home, "SELECT status, recorded_status FROM runs") == [{"status": "crashed", "recorded_status": "running"}]
    assert json.loads(cli(home, "runs", "list", "--json").stdout)[0]["status"] == "crashed"


def test_plain_duckdb_clients_see_a_dead_run_as_crashed_after_15_seconds(home, make_run):
    run_dir = make_run("beat", status="running")
    plain = duckdb.connect(str(home.catalog_path), read_only=True)
    try:
        assert plain.execute("SELECT status FROM runs").fetchall() == [("running",)]  # a fresh heartbeat
        info = read_run_info(run_dir)
        info["updated_at"] = (datetime.now(timezone.utc) - timedelta(seconds=16)).isoformat()
        write_run_info(run_dir, info)
        assert plain.execute("SELECT status FROM runs").fetchall() == [("crashed",)]
    finally:
        plain.close()


def test_check_finds_nothing_in_a_clean_home(home, make_run):
    """No false alarm: memscope's own parts, a plugin table and the schema parts pass."""
    make_run("x")
    make_run("y")
    result = cli(home, "runs", "check", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_a_free_lock_of_another_hosts_run_defers_to_its_heartbeat(home, make_run):
    """flock may not cross hosts (a shared file system): only a held lock is trusted there."""
    from memscope.store.runinfo import effective_status

    run_dir = make_run("remote", status="running", hostname="another-host", pid=12345)
    RunLock(run_dir).acquire().release()  # leaves a free lock file, as a remote writer would look from here
    assert effective_status(read_run_info(run_dir), run_dir) == "running"  # its heartbeat is fresh
    assert query(home, "SELECT status FROM runs") == [{"status": "running"}]
    info = read_run_info(run_dir)
    info["updated_at"] = (datetime.now(timezone.utc) - timedelta(seconds=16)).isoformat()
    write_run_info(run_dir, info)
    assert effective_status(read_run_info(run_dir), run_dir) == "crashed"
    assert query(home, "SELECT status FROM runs") == [{"status": "crashed"}]
