"""The bad-input corpus: every case in bad_inputs/cases.toml runs ``memscope ...`` and must
end with the stated exit code, the stated words, and no traceback.

Cases run in this process through ``memscope.cli.app.main`` (the real entry point, under
click's CliRunner isolation) unless they set ``subprocess = true``. Each case gets its own
empty home; ``setup = "finished_run"`` copies one tiny finished run (trained once per
session) into it. See the header of cases.toml for every field.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from .conftest import cli_env, memscope_cmd, tiny_toml

CORPUS = Path(__file__).with_name("bad_inputs")
CASES = tomllib.loads((CORPUS / "cases.toml").read_text(encoding="utf-8"))["case"]
RUN_ID = "20260101-000000-tiny-0000"


@pytest.fixture(scope="session")
def finished_home(tmp_path_factory) -> Path:
    """A home holding one finished tiny run (rewinding analysis, a checkpoint every epoch)."""
    from memscope.config import load_config
    from memscope.plugins import PluginHost
    from memscope.store.home import Home
    from memscope.train import runner

    root = tmp_path_factory.mktemp("corpus") / "home"
    config = root.parent / "tiny.toml"
    config.write_text(tiny_toml(epochs=2, analyses=("rewinding",)))
    run = runner.Run(load_config(config), Home(root), PluginHost(None), progress=False)
    real_new_run_id = runner.new_run_id
    runner.new_run_id = lambda label: RUN_ID  # a fixed id the cases can name
    try:
        run.start()
    finally:
        runner.new_run_id = real_new_run_id
    assert run.execute().status == "completed"
    return root


def write_npz(path: Path, spec: dict[str, str]) -> None:
    """Arrays from ``"<dtype> <AxBxC> [fill]"``; fill: cycleK (arange % K), zeros, nan, const:V, text."""
    arrays = {}
    for key, text in spec.items():
        dtype, shape_text, *fill = text.split()
        shape = tuple(int(n) for n in shape_text.split("x"))
        size = int(np.prod(shape))
        how = fill[0] if fill else "rand"
        if how.startswith("cycle"):
            values = np.arange(size) % int(how[5:])
        elif how == "zeros":
            values = np.zeros(size)
        elif how == "nan":
            values = np.full(size, np.nan)
        elif how.startswith("const:"):
            values = np.full(size, float(how[6:]))
        elif how == "text":
            values = np.array([f"s{i}" for i in range(size)])
        else:
            values = np.random.default_rng(0).random(size)
        arrays[key] = values.astype(dtype).reshape(shape)
    np.savez(path, **arrays)


def tamper_checkpoint(run_dir: Path, action: str) -> None:
    import torch

    verb, _, name = action.partition(" ")
    folder = run_dir / "checkpoints"
    if verb == "delete-all":
        shutil.rmtree(folder)
    elif verb == "delete":
        (folder / name).unlink()
    elif verb == "truncate":
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 3])
    elif verb == "foreign":  # weights of another architecture
        torch.save({"conv.weight": torch.zeros(8, 1, 3, 3), "fc.weight": torch.zeros(10, 8)}, folder / name)
    else:
        raise ValueError(f"unknown checkpoint action {action!r}")


def prepare(case: dict, tmp_path: Path, finished_home: Path) -> tuple[list[str], Path]:
    home = tmp_path / "home"
    if case.get("setup") == "finished_run":
        shutil.copytree(finished_home, home)
    elif case.get("setup") == "running_run":
        from memscope.store.home import Home
        from memscope.testing import write_fake_run

        write_fake_run(Home(home).ensure(), RUN_ID, status="running", pid=os.getpid())
    if "checkpoint" in case:
        tamper_checkpoint(home / "runs" / RUN_ID, case["checkpoint"])
    if "mkfifo" in case:  # a named pipe nobody writes to: reading it would block forever
        os.mkfifo(tmp_path / case["mkfifo"])
    npz = tmp_path / "data.npz"
    if "npz" in case:
        write_npz(npz, case["npz"])
    elif "npz_text" in case:
        npz.write_text(case["npz_text"])
    config = tmp_path / "tiny.toml"
    config.write_text(tiny_toml(epochs=1))
    values = {
        "home": str(home),
        "dir": str(CORPUS),
        "tmp": str(tmp_path),
        "npz": str(npz),
        "run": RUN_ID,
        "config": str(config),
        "plugins": str(CORPUS / "plugins" / case.get("plugins", "")),
    }
    args = [arg.format(**values) for arg in case["args"]]
    return args, home


def run_in_process(args: list[str], stdin: str | None) -> tuple[int, str, str]:
    from memscope.cli.app import main

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    runner = CliRunner()
    try:
        with runner.isolation(input=stdin) as streams:
            try:
                main(args)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            sys.stdout.flush()
            sys.stderr.flush()
            out, err = streams[0].getvalue(), streams[1].getvalue()
    finally:
        for sig, handler in handlers.items():  # a run that failed in start() leaves its handlers
            signal.signal(sig, handler)
    return code, out.decode(errors="replace"), err.decode(errors="replace")


def _has_open(pid: int, name: str) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").endswith(name) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def run_as_subprocess(args: list[str], home: Path, cwd: Path, case: dict) -> tuple[int, str, str]:
    proc = subprocess.Popen(memscope_cmd(*args), env=cli_env(home, **case.get("env", {})), cwd=cwd, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if "signal_after" in case:  # counted from when the command has the catalog open (start-up varies)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not _has_open(proc.pid, "memscope.duckdb"):
            time.sleep(0.05)
        time.sleep(case["signal_after"])
        proc.send_signal(getattr(signal, case.get("signal", "SIGINT")))
    try:
        out, err = proc.communicate(input=case.get("stdin"), timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += "\n(killed: no exit within 60 s)"
    return proc.returncode, out, err


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(case, tmp_path, monkeypatch, finished_home):
    for key in [k for k in os.environ if k.startswith("MEMSCOPE_")]:
        monkeypatch.delenv(key)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    if "cwd_plugins" in case:  # a ./plugins folder where the command starts: never loaded unasked
        shutil.copytree(CORPUS / "plugins" / case["cwd_plugins"], workdir / "plugins")
    monkeypatch.chdir(workdir)
    args, home = prepare(case, tmp_path, finished_home)
    monkeypatch.setenv("MEMSCOPE_HOME", str(home))
    for key, value in case.get("env", {}).items():
        monkeypatch.setenv(key, value)
    from memscope.plugins import reset_hosts

    reset_hosts()  # a case's environment decides which plugins load
    if case.get("subprocess"):
        code, out, err = run_as_subprocess(args, home, workdir, case)
    else:
        code, out, err = run_in_process(args, case.get("stdin"))
    report = f"memscope {' '.join(args)}\n--- exit {code}\n--- stdout\n{out[-2000:]}\n--- stderr\n{err[-2000:]}"
    assert "Traceback" not in out + err, report
    assert code == case["exit"], report
    for word in case.get("words", []):
        assert word in err, f"{word!r} not on stderr\n{report}"
    for word in case.get("stdout_words", []):
        assert word in out, f"{word!r} not on stdout\n{report}"
    for word in case.get("absent", []):
        assert word not in out + err, f"{word!r} appeared\n{report}"
    if "stdout_lines" in case:
        assert len(out.splitlines()) == case["stdout_lines"], report
    if code != 0 and not case.get("stdout_ok"):
        assert out.strip() in ("", RUN_ID) or out.strip().startswith("2"), f"an error printed data on stdout\n{report}"


def test_the_corpus_is_big_and_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert len(CASES) >= 40
    for case in CASES:
        assert set(case) <= {
            "id", "about", "args", "exit", "words", "stdout_words", "stdout_lines", "stdout_ok", "setup", "checkpoint",
            "npz", "npz_text", "plugins", "subprocess", "signal", "signal_after", "stdin", "env", "mkfifo",
            "cwd_plugins", "absent",
        }, case["id"]
        assert case["exit"] in (0, 1, 2, 3, 4, 130) and case["args"], case["id"]
        assert case.get("words") or case.get("stdout_words"), f"{case['id']} checks no message"
