"""A catalog outside memscope: old DuckDB clients can open it, and a copied or moved catalog
says so instead of reading the home it was built for (docs/sharing.md)."""

from __future__ import annotations

import os
import shutil

import duckdb
import pytest

from memscope.store.catalog import refresh_catalog
from memscope.store.home import Home
from memscope.store.query import execute


def _plain(path) -> duckdb.DuckDBPyConnection:
    """The catalog as the duckdb CLI or Harlequin opens it: no memscope involved."""
    return duckdb.connect(str(path), read_only=True)


def test_the_catalog_is_written_for_duckdb_1_clients(home):
    conn = _plain(home.catalog_path)
    try:
        ((tags,),) = conn.execute("SELECT tags FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    finally:
        conn.close()
    # the writer's own format would lock out the duckdb-cli 1.5 ("version number 69 ... 64 and 68")
    assert tags["storage_version"].startswith("v1."), tags


def test_a_copy_refuses_to_read_the_original(home, make_run, tmp_path):
    make_run("run-a")
    refresh_catalog(home)
    copy = tmp_path / "copy"
    shutil.copytree(home.root, copy)
    conn = _plain(copy / "memscope.duckdb")
    try:
        ((built_for, opened_here),) = conn.execute("SELECT home, opened_here FROM memscope_meta").fetchall()
        assert built_for == home.root.as_posix() and opened_here is False
        for view in ("examples", "runs"):
            with pytest.raises(duckdb.Error) as failure:
                conn.execute(f"SELECT count(*) FROM {view}").fetchall()
            message = str(failure.value)
            assert os.path.realpath(home.catalog_path) in message
            assert f"Opened from: {os.path.realpath(copy / 'memscope.duckdb')}" in message
            assert "memscope --home" in message
    finally:
        conn.close()
    original = _plain(home.catalog_path)
    try:
        assert original.execute("SELECT opened_here FROM memscope_meta").fetchall() == [(True,)]
        assert original.execute("SELECT count(*) FROM examples").fetchall() == [(14,)]
    finally:
        original.close()


def test_any_memscope_command_rebuilds_the_copy(home, make_run, tmp_path):
    make_run("run-a")
    refresh_catalog(home)
    copy = Home(tmp_path / "copy")
    shutil.copytree(home.root, copy.root)
    assert execute(copy, "SELECT count(*) AS n FROM examples").table.column("n").to_pylist() == [14]
    conn = _plain(copy.catalog_path)
    try:
        assert conn.execute("SELECT home, opened_here FROM memscope_meta").fetchall() == [(copy.root.as_posix(), True)]
        assert conn.execute("SELECT run_dir FROM runs").fetchall() == [(copy.run_dir("run-a").as_posix(),)]
    finally:
        conn.close()


def test_a_home_reached_through_a_link_reads_normally(home, make_run, tmp_path):
    make_run("run-a")
    link = tmp_path / "link"
    link.symlink_to(home.root, target_is_directory=True)
    linked = Home(link)
    refresh_catalog(linked)
    conn = _plain(link / "memscope.duckdb")
    try:
        assert conn.execute("SELECT opened_here FROM memscope_meta").fetchall() == [(True,)]
        assert conn.execute("SELECT count(*) FROM examples").fetchall() == [(14,)]
    finally:
        conn.close()
