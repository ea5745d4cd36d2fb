"""The long fault soak: kill -9 at random moments, then readers against writers for a minute.

    python bench/soak.py                      # 20 kills, 60 s of concurrent reading
    python bench/soak.py --kills 5 --read-seconds 15 --resume-rounds 2   # a short version

Part 1 (kills): an uninterrupted reference run, then runs of the same config killed with
SIGKILL at random moments and resumed each time until they finish. Half of the random kills
fall uniformly over the work still ahead once training is under way again (in an epoch,
while a part or checkpoint is written, during the post-training analyses), half in the
start-up of the resumed process and its first epoch; one kill in four is aimed with the
MEMSCOPE_FAULT hook at a random part "while it is written" so that moment is always covered. After every kill the home must pass the checks
of tests/reliability (every visible part readable, the catalog answers over every table,
the run reads crashed, finished epochs contiguous); every finished run must equal the
reference bit for bit (checkpoints, epochs minus wall time, example_epochs, analyses).

Part 2 (concurrency): two runs write (one declares a plugin table, so the catalog is swapped
mid-way) while two threads use the TUI's query core and four `memscope query` loops read
(two in one process each, two starting a new `python -m memscope query` per query). Every
answer is checked for a consistent set of parts.

Part 3 (concurrent resumes): a run is killed (MEMSCOPE_FAULT, at a random part of
example_epochs), then several `memscope run --resume` processes start at the same moment.
The run directory's writer lock must let exactly one of them train (the others exit 2,
"still running"; one started after the winner finished finds nothing to do and exits 0),
no epoch may be written twice, and the finished run must equal the reference bit for bit. A
plugin analysis (forgetting_events) starts in the same moment: it is refused or writes its
own tables only, and never changes the run's config.toml.

Prints the numbers and one JSON line; exits 1 on any failure. Uses one CPU thread per run.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.conftest import (  # noqa: E402
    assert_home_intact, cli_env, read_info, run_cli, run_ids, start, table_rows, wait_for,
)
from tests.reliability.test_concurrency import STRESS_PLUGIN, WRITER, tui_reader  # noqa: E402
from tests.reliability.test_kill import EPOCHS as TEST_EPOCHS  # noqa: E402
from tests.reliability.test_kill import KILL_CONFIG, assert_killed_state, assert_same_final_state  # noqa: E402

EXAMPLE_PLUGINS = Path(__file__).resolve().parents[1] / "plugins"  # forgetting_events: a plugin analysis
EPOCHS = 60  # more than the CI test: most random moments fall inside training

FAULT_TABLES = ("examples", "layers", "epochs", "example_epochs", "layer_rewinds", "layer_retrains")


def _seconds(info: dict) -> float:
    return (datetime.fromisoformat(info["finished_at"]) - datetime.fromisoformat(info["started_at"])).total_seconds()


def where_it_died(run_dir: Path, epoch_before: int, strays_before: set) -> str:
    info = read_info(run_dir)
    if set(run_dir.glob("*/.part-*.tmp")) - strays_before:
        return "while writing a part"
    if set(run_dir.glob("checkpoints/.*.tmp")) - strays_before:
        return "while writing a checkpoint"
    this_start = info.get("resumed_at") or info.get("started_at") or ""
    if any(e.get("status") == "running" and e.get("started_at", "") >= this_start for e in info.get("analyses", {}).values()):
        return "during an analysis"
    if info.get("epoch", 0) >= EPOCHS:
        return "after training, before the analyses"
    if info.get("epoch", 0) == epoch_before:
        return "in start-up or its first epoch"
    return "during an epoch"


def soak_kills(base: Path, kills: int, rng: random.Random, log) -> dict:
    config = base / "kill.toml"
    config.write_text(KILL_CONFIG.replace(f"epochs = {TEST_EPOCHS}\n", f"epochs = {EPOCHS}\n", 1))
    cwd = base / "cwd"
    cwd.mkdir(exist_ok=True)
    ref = run_cli(base / "ref", "run", "-q", str(config), cwd=cwd)
    if ref.returncode != 0:
        raise RuntimeError(f"the reference run failed: {ref.stderr}")
    ref_dir = base / "ref" / "runs" / ref.stdout.strip()
    ref_info = read_info(ref_dir)
    total = _seconds(ref_info)
    analyses = sum(entry["seconds"] for entry in ref_info["analyses"].values())
    log(f"reference run: {total - analyses:.1f}s of training, {analyses:.2f}s of analyses")

    home = base / "home"
    stats = {"kills": 0, "survived": 0, "runs_finished": 0, "runs_identical": 0, "where": Counter(), "failures": []}
    run_id = None
    while stats["kills"] < kills:
        if run_id is None:
            args = ["run", "-q", str(config)]
        else:
            args = ["run", "-q", "--resume", run_id]
        aimed = stats["kills"] % 4 == 3
        env = {}
        if aimed:
            env["MEMSCOPE_FAULT"] = f"kill_after_tmp_write:{rng.choice(FAULT_TABLES)}:{rng.randint(1, 3)}"
        before = set(run_ids(home))
        proc = start(home, *args, cwd=cwd, **env)
        if run_id is None:
            new = wait_for(lambda: (set(run_ids(home)) - before) or proc.poll() is not None, 300, "a new run")
            if new is True:
                raise RuntimeError(f"the run did not start: {proc.communicate()[1]}")
            (run_id,) = new
        run_dir = home / "runs" / run_id
        done_epochs = read_info(run_dir).get("epoch", 0)
        strays = set(run_dir.glob("*/.part-*.tmp")) | set(run_dir.glob("checkpoints/.*.tmp"))
        wait_for(lambda: read_info(run_dir).get("pid") == proc.pid or proc.poll() is not None, 300, "the run to start")
        if not aimed:
            if stats["kills"] % 2 == 0:  # a random moment once training is under way again
                wait_for(lambda: read_info(run_dir).get("epoch", 0) > done_epochs or proc.poll() is not None, 300, "an epoch")
                remaining = 0.7 * (total - analyses) * (EPOCHS - done_epochs - 1) / EPOCHS + 2 * analyses
            else:  # a random moment of the start-up (data, model, resume state) and first epoch
                remaining = 1.0
            time.sleep(rng.uniform(0.0, remaining))
            proc.kill()
        _, err = proc.communicate(timeout=300)
        completed_first = proc.returncode == -signal.SIGKILL and read_info(run_dir).get("status") == "completed"
        if completed_first:  # killed while the interpreter shut down, after the run said completed
            stats["kills"] += 1
            stats["survived"] += 1
            stats["where"]["after the run completed (process exit)"] += 1
            log(f"kill {stats['kills']:2d}: after the run completed, while the process exited")
        if proc.returncode == 0 or completed_first:  # it finished before the kill (or the aimed part never came)
            stats["runs_finished"] += 1
            try:
                assert_same_final_state(ref_dir, run_dir)
                assert_home_intact(home)
                stats["runs_identical"] += 1
                log(f"run {run_id} finished: identical to the reference")
            except AssertionError as exc:
                stats["failures"].append(f"run {run_id} differs from the reference: {exc}")
                log(f"run {run_id} FINISHED DIFFERENT: {exc}")
            run_id = None
            continue
        if proc.returncode != -signal.SIGKILL:
            stats["failures"].append(f"run {run_id} exited {proc.returncode}: {err[-500:]}")
            log(f"unexpected exit {proc.returncode}: {err[-300:]}")
            run_id = None
            continue
        stats["kills"] += 1
        where = where_it_died(run_dir, done_epochs, strays) + (" (aimed)" if aimed else "")
        stats["where"][where] += 1
        try:
            assert_killed_state(home, run_dir)
            stats["survived"] += 1
            log(f"kill {stats['kills']:2d}: {where}, after epoch {read_info(run_dir).get('epoch')}: home intact")
        except AssertionError as exc:
            stats["failures"].append(f"kill {stats['kills']} ({where}): {exc}")
            log(f"kill {stats['kills']:2d}: {where}: CHECK FAILED: {exc}")
    if run_id is not None:  # finish the last chain
        done = run_cli(home, "run", "-q", "--resume", run_id, cwd=cwd)
        stats["runs_finished"] += 1
        try:
            assert done.returncode == 0, done.stderr
            assert_same_final_state(ref_dir, home / "runs" / run_id)
            assert_home_intact(home)
            stats["runs_identical"] += 1
            log(f"run {run_id} finished: identical to the reference")
        except AssertionError as exc:
            stats["failures"].append(f"run {run_id} differs from the reference: {exc}")
    stats["where"] = dict(stats["where"])
    return stats


RACE_EPOCHS = 12


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str]:
    """(exit code, stderr); a process still running after ``timeout`` s gets SIGABRT first
    (PYTHONFAULTHANDLER prints where every thread is), so a hang says where it hangs."""
    try:
        return proc.wait(timeout=timeout), proc.communicate()[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            err = proc.communicate(timeout=30)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            err = proc.communicate()[1]
        return -signal.SIGABRT, f"hung for {timeout:.0f}s: {err[-3000:]}"


def soak_concurrent_resumes(base: Path, rounds: int, resumers: int, rng: random.Random, log) -> dict:
    """Kill a run, start ``resumers`` resumes at once; repeat ``rounds`` times."""
    config = base / "race.toml"
    config.write_text(KILL_CONFIG.replace(f"epochs = {TEST_EPOCHS}\n", f"epochs = {RACE_EPOCHS}\n", 1))
    cwd = base / "cwd"
    cwd.mkdir(exist_ok=True)
    ref = run_cli(base / "race-ref", "run", "-q", str(config), cwd=cwd)
    if ref.returncode != 0:
        raise RuntimeError(f"the reference run failed: {ref.stderr}")
    ref_dir = base / "race-ref" / "runs" / ref.stdout.strip()
    home = base / "race"
    stats = {"rounds": 0, "resumes": 0, "trained": 0, "refused": 0, "other_exits": [], "doubled_epochs": 0,
             "identical": 0, "plugin_analyses": 0, "failures": []}
    for _ in range(rounds):
        before = set(run_ids(home))
        fault = f"kill_after_tmp_write:example_epochs:{rng.randint(1, RACE_EPOCHS // 2)}"
        killed = run_cli(home, "run", "-q", str(config), cwd=cwd, MEMSCOPE_FAULT=fault)
        (run_id,) = set(run_ids(home)) - before
        if killed.returncode != -signal.SIGKILL:
            stats["failures"].append(f"the run to resume was not killed (exit {killed.returncode})")
            continue
        config_before = (home / "runs" / run_id / "config.toml").read_bytes()
        procs = [start(home, "run", "-q", "--resume", run_id, cwd=cwd, PYTHONFAULTHANDLER="1") for _ in range(resumers)]
        # a plugin analysis started in the same moment: refused while a resume holds the lock or
        # training is unfinished (exit 2), else it writes its own tables only (exit 0)
        plugin = start(home, "--plugins-dir", str(EXAMPLE_PLUGINS), "analyze", run_id, "-a", "forgetting_events", "-q", cwd=cwd)
        results = [_finish(p, 900) for p in procs]
        plugin_code, plugin_err = _finish(plugin, 900)
        stats["plugin_analyses"] += 1
        if plugin_code not in (0, 2):
            stats["failures"].append(f"the plugin analysis exited {plugin_code}: {plugin_err.strip()[-300:]}")
        if (home / "runs" / run_id / "config.toml").read_bytes() != config_before:
            stats["failures"].append("the plugin analysis changed the run's config.toml")
        codes = [code for code, _ in results]
        stats["rounds"] += 1
        stats["resumes"] += len(codes)
        stats["trained"] += codes.count(0)
        stats["refused"] += sum(code == 2 and "still running" in err for code, err in results)
        stats["other_exits"] += [code for code in codes if code not in (0, 2)]
        run_dir = home / "runs" / run_id
        epochs = Counter(r["epoch"] for r in table_rows(run_dir, "epochs"))
        stats["doubled_epochs"] += sum(n - 1 for n in epochs.values() if n > 1)
        try:
            # exit 0: the one that trained, or one that started after it had finished (nothing left
            # to do); what must never happen is two training at once: doubled epochs, a different run
            assert codes.count(0) >= 1, f"no resume finished the run (exit codes {codes})"
            assert_home_intact(home)
            assert_same_final_state(ref_dir, run_dir)
            stats["identical"] += 1
            log(f"race {stats['rounds']}: {resumers} resumes at once, exit codes {sorted(codes)}: identical to the reference")
        except AssertionError as exc:
            stats["failures"].append(f"race {stats['rounds']} ({run_id}): {exc}")
            log(f"race {stats['rounds']}: FAILED: {exc}")
    return stats


def soak_readers(base: Path, seconds: float, log) -> dict:
    from memscope.store.home import Home

    home = base / "concurrent"
    Home(home).ensure()
    cwd = base / "cwd"
    cwd.mkdir(exist_ok=True)
    plugins = base / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "stress.py").write_text(STRESS_PLUGIN)
    config_a, config_b = base / "writer_a.toml", base / "writer_b.toml"
    config_a.write_text(WRITER)
    config_b.write_text(WRITER.replace("analyses = []", 'analyses = ["stress"]').replace('name = "writer"', 'name = "writer-b"'))
    worker = ROOT / "tests" / "reliability" / "query_worker.py"
    writer_a = start(home, "run", "-q", str(config_a), cwd=cwd)
    wait_for(lambda: any(read_info(home / "runs" / r).get("epoch", 0) >= 1 for r in run_ids(home)) or writer_a.poll() is not None,
             300, "the first writer's first epoch")
    log("writer a is writing; readers start, writer b starts (and declares a plugin table)")
    workers = [
        subprocess.Popen([sys.executable, str(worker), str(home), str(seconds), *(["--spawn"] if i >= 2 else [])],
                         env=cli_env(home), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    tui = [{"queries": 0, "errors": 0, "lock_errors": 0, "inconsistencies": 0, "examples": []} for _ in range(2)]
    threads = [threading.Thread(target=tui_reader, args=(home, seconds, s, i == 1)) for i, s in enumerate(tui)]
    for t in threads:
        t.start()
    writers = [writer_a, start(home, "run", "-q", str(config_b), "--plugins-dir", str(plugins), cwd=cwd)]
    for t in threads:
        t.join()
    results = []
    for i, w in enumerate(workers):
        out, err = w.communicate(timeout=600)
        if w.returncode != 0:
            results.append({"queries": 0, "errors": 1, "lock_errors": 0, "inconsistencies": 0, "examples": [err[-500:]]})
        else:
            results.append(json.loads(out.strip().splitlines()[-1]))
        log(f"reader {i} ({'a process per query' if i >= 2 else 'in one process'}): {results[-1]['queries']} queries")
    for i, s in enumerate(tui):
        log(f"TUI core {'(connection per query)' if i else '(one QueryHandle)'}: {s['queries']} queries")
    results += tui
    wait_for(lambda: (len(run_ids(home)) == 2 and all(read_info(home / "runs" / r).get("epoch", 0) >= 1 for r in run_ids(home)))
             or any(w.poll() is not None for w in writers), 300, "writer b's first epoch")
    epochs = [read_info(home / "runs" / r).get("epoch", 0) for r in run_ids(home)]
    for w in writers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    codes = [w.wait(timeout=120) for w in writers]
    totals = {k: sum(r[k] for r in results) for k in ("queries", "errors", "lock_errors", "inconsistencies")}
    totals["examples"] = [e for r in results for e in r["examples"]][:5]
    totals["writer_exit_codes"] = codes
    totals["epochs_written"] = epochs
    try:
        assert_home_intact(home)
        totals["final_check"] = "ok"
    except AssertionError as exc:
        totals["final_check"] = str(exc)
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--read-seconds", type=float, default=60.0)
    parser.add_argument("--resume-rounds", type=int, default=5, help="kills followed by concurrent resumes")
    parser.add_argument("--resumers", type=int, default=4, help="resumes started at once per round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="memscope-soak-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        try:
            kills = soak_kills(base, args.kills, rng, log) if args.kills else {}
            readers = soak_readers(base, args.read_seconds, log) if args.read_seconds else {}
            races = soak_concurrent_resumes(base, args.resume_rounds, args.resumers, rng, log) if args.resume_rounds else {}
        except Exception:
            traceback.print_exc()
            return 1
    ok = (
        (not kills or (kills["survived"] == kills["kills"] and not kills["failures"] and kills["runs_identical"] == kills["runs_finished"]))
        and (not readers or (readers["errors"] == readers["lock_errors"] == readers["inconsistencies"] == 0
                             and readers["final_check"] == "ok" and all(c == 130 for c in readers["writer_exit_codes"])))
        and (not races or (not races["failures"] and races["identical"] == races["rounds"] == args.resume_rounds
                           and races["doubled_epochs"] == 0 and not races["other_exits"]))
    )
    print("\nmemscope soak")
    if kills:
        print(f"  kill -9: {kills['survived']}/{kills['kills']} kills survived "
              f"({', '.join(f'{n} {w}' for w, n in sorted(kills['where'].items()))})")
        print(f"  resumed runs identical to the reference: {kills['runs_identical']}/{kills['runs_finished']}")
        for failure in kills["failures"]:
            print(f"  FAILURE: {failure}")
    if readers:
        print(f"  concurrency ({args.read_seconds:g}s, 2 writers, 6 readers): {readers['queries']} queries served, "
              f"errors: {readers['errors']}, lock conflicts: {readers['lock_errors']}, "
              f"inconsistent answers: {readers['inconsistencies']}, epochs written: {readers['epochs_written']}")
        for example in readers["examples"]:
            print(f"  FAILURE: {example}")
    if races:
        print(f"  concurrent resumes: {races['rounds']} rounds of {args.resumers} resumes started at once: "
              f"{races['trained']} exited 0 (one trained per round), {races['refused']} refused ('still running'), "
              f"plus {races['plugin_analyses']} plugin analyses, "
              f"epochs written twice: {races['doubled_epochs']}, finished runs identical to the reference: "
              f"{races['identical']}/{races['rounds']}")
        for failure in races["failures"]:
            print(f"  FAILURE: {failure}")
    print(f"  {'PASS' if ok else 'FAIL'} in {time.monotonic() - started:.0f}s")
    print(json.dumps({"kills": kills, "readers": readers, "races": races, "ok": ok}, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
