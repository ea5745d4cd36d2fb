"""The snapshot fixture's fixed directory is guarded by an exclusive flock while in use."""

from __future__ import annotations

import subprocess
import sys

from tests.tui.conftest import SNAPSHOT_LOCK, SNAPSHOT_ROOT

# Exit 3 when another open file description holds the lock, 0 when it could be taken.
TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(3)
sys.exit(0)
"""


def try_lock_elsewhere() -> int:
    return subprocess.run([sys.executable, "-c", TRY_LOCK, str(SNAPSHOT_LOCK)], timeout=60).returncode


def test_the_lock_file_sits_next_to_the_fixed_directory():
    assert SNAPSHOT_ROOT.name == "memscope-tui-snapshots"  # the path the committed SVGs show
    assert SNAPSHOT_LOCK == SNAPSHOT_ROOT.parent / "memscope-tui-snapshots.lock"


def test_the_lock_is_held_while_the_fixture_is_active(snapshot_paths):
    home, plugins = snapshot_paths
    assert home.root == SNAPSHOT_ROOT / "home" and plugins == SNAPSHOT_ROOT / "plugins"
    assert SNAPSHOT_ROOT.is_dir()
    assert try_lock_elsewhere() == 3, "another process could lock the snapshot directory while it is in use"
