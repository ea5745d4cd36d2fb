"""A deterministic memscope home for the app's tests, snapshots, screenshots and bench.

Runs come from :func:`memscope.testing.write_fake_run` (RunWriter parts, run.json, no
training), with fixed ids, timestamps (``day``) and seeds, so every snapshot sees the same values.
"""

from __future__ import annotations

from pathlib import Path

from memscope.store.home import Home
from memscope.testing import write_fake_run

RUN_A = "20260101-120000-synthetic-cnn-aaaa"
RUN_B = "20260102-120000-synthetic-mlp-bbbb"
RUN_C = "20260103-120000-synthetic-cnn-cccc"
RUN_D = "20260104-120000-synthetic-cnn-dddd"
RUN_E = "20260105-120000-synthetic-cnn-eeee"


def make_home(root: str | Path, *, live: bool = True) -> Home:
    """Five runs: completed with every analysis, completed, failed, running (this process), crashed."""
    home = Home(root).ensure()
    write_fake_run(home, RUN_A, status="completed", analyses=True, day=1)
    write_fake_run(home, RUN_B, status="completed", model="mlp", noise_rate=0.2, seed=1, day=2, lr=0.1)
    write_fake_run(home, RUN_C, status="failed", seed=2, done=2, day=3, error="dataset 'synthetic' failed: fixture error")
    if live:  # "running": this very process is its pid, so the liveness check says alive
        write_fake_run(home, RUN_D, status="running", seed=3, epochs=10, done=4, day=4)
    write_fake_run(home, RUN_E, status="running", seed=4, done=3, day=5, pid=2 ** 22 + 12345)
    logs = home.root / "logs"
    logs.mkdir(exist_ok=True)
    return home


def make_big_home(root: str | Path, *, examples: int = 50_000, epochs: int = 20) -> tuple[Home, str]:
    """One run with ``examples * epochs`` example_epochs rows (the bench's 1,000,000)."""
    home = Home(root).ensure()
    run_id = "20260201-120000-big-cnn-ffff"
    write_fake_run(home, run_id, status="completed", epochs=epochs, num_train=examples, day=6)
    return home, run_id


PLUGIN_GOOD = '''
"""A fixture plugin: one noise model."""
from memscope import hookimpl

__version__ = "1.2.3"


def flip_all(y, k, rate, rng, cfg):
    return (y + 1) % k


@hookimpl
def register_noise_models(register):
    register("fixture_flip", flip_all, description="every label + 1 (fixture)")
'''

PLUGIN_BAD = '''
"""A fixture plugin that fails to import."""
raise RuntimeError("this plugin is broken on purpose")
'''


def make_plugins_dir(root: str | Path) -> Path:
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good_plugin.py").write_text(PLUGIN_GOOD, encoding="utf-8")
    (folder / "broken_plugin.py").write_text(PLUGIN_BAD, encoding="utf-8")
    return folder
