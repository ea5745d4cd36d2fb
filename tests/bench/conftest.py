"""The bench helpers are scripts beside bench/reproduce.py, not a package: put their folder on the path."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
