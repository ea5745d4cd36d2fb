"""Executors without training: GPU detection, per-run environment, the local process queue."""

from __future__ import annotations

import pytest

from memscope.sweep import executors
from memscope.sweep.executors import LocalExecutor, default_workers, detect_gpus, thread_env


@pytest.mark.parametrize(
    "value, expected", [("0,1", ["0", "1"]), ("", []), ("-1", []), ("GPU-3fa2", ["GPU-3fa2"]), (" 2 , 3 ", ["2", "3"])]
)
def test_detect_gpus_from_cuda_visible_devices(monkeypatch, value, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert detect_gpus() == expected


def test_detect_gpus_without_nvidia_smi(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(executors.shutil, "which", lambda name: None)
    assert detect_gpus() == []


def test_default_workers():
    assert default_workers("auto", ["0", "1", "2"]) == 3
    assert default_workers("cuda", ["0"]) == 1
    assert default_workers("cpu", ["0", "1"]) == 1
    assert default_workers("auto", []) == 1


def test_child_env_caps_threads_and_pins_a_gpu_per_slot(monkeypatch):
    monkeypatch.setattr(executors, "cpu_count", lambda: 8)
    ex = LocalExecutor(2, gpus=["4", "5"], env={"MEMSCOPE_STRICT_PLUGINS": "1"})
    assert ex.threads == 4
    env0, env1 = ex.child_env(0), ex.child_env(1)
    assert env0["OMP_NUM_THREADS"] == env0["MKL_NUM_THREADS"] == "4"
    assert (env0["CUDA_VISIBLE_DEVICES"], env1["CUDA_VISIBLE_DEVICES"]) == ("4", "5")
    assert env0["MEMSCOPE_STRICT_PLUGINS"] == "1"
    assert thread_env(0) == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def test_local_executor_runs_processes(tmp_path):
    ex = LocalExecutor(2)
    ok = ex.start(0, 1, ["--version"], tmp_path / "0.log", tmp_path / "0.out")
    bad = ex.start(1, 1, ["no-such-command"], tmp_path / "1.log", tmp_path / "1.out")
    assert {ok.slot, bad.slot} == {0, 1}
    results = {}
    for _ in range(200):
        for handle, result in ex.wait([h for h in (ok, bad) if h.index not in results], timeout=0.5):
            results[handle.index] = result
        if len(results) == 2:
            break
    assert results[0].rc == 0 and results[0].stdout.startswith("memscope ")
    assert results[1].rc == 2 and "No such command" in results[1].stderr
    assert ex._slots == set()  # both slots free again


def test_probe_ray_address_fails_fast_on_a_closed_port():
    import socket

    from memscope.errors import ConfigError
    from memscope.sweep.executors import probe_ray_address

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        probe_ray_address(f"127.0.0.1:{port}", timeout=2)
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        probe_ray_address("no-port")
    probe_ray_address("auto")  # left to Ray
    probe_ray_address(None)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        probe_ray_address(f"ray://127.0.0.1:{server.getsockname()[1]}")
