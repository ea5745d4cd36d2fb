"""Measure the app: start-up to first paint, and paging/sorting a 1,000,000-row per-example table.

    python bench/bench_tui.py            # prints the numbers
    python bench/bench_tui.py --rows 200000

Not a test: the numbers depend on the machine (and on what else runs on it; CPU time is
printed next to wall time for that reason). Targets: first paint < 1 s; each page fetch +
draw < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST_PAINT = r"""
import time
t_import = time.perf_counter()
from memscope.tui.app import create_app
imported = time.perf_counter()

class Probe:
    pass

app = create_app({home!r}, refresh_interval=0)

def painted():
    import sys, resource
    print(f"{{time.time():.6f}} {{imported - t_import:.4f}}", flush=True)
    app.exit()

app.call_later(lambda: app.call_after_refresh(painted))
app.run(headless=True, size=(100, 30))
"""


def first_paint(home: str, repeats: int = 5) -> list[tuple[float, float]]:
    out = []
    for _ in range(repeats):
        started = time.time()
        proc = subprocess.run([sys.executable, "-c", FIRST_PAINT.format(home=home)], capture_output=True, text=True,
                              timeout=120, cwd=ROOT)
        line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        if not line:
            raise SystemExit(f"first-paint probe failed:\n{proc.stderr[-2000:]}")
        painted, import_s = (float(x) for x in line.split())
        out.append((painted - started, import_s))
    return out


async def paging(home, run_id: str, pages: int = 12) -> dict[str, list[float]]:
    from memscope.tui.app import create_app

    app = create_app(home, refresh_interval=0)
    results: dict[str, list[float]] = {"fetch": [], "draw": [], "total": []}
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        app.run_id = run_id
        await app.switch_mode("examples")
        screen = app.screen

        async def wait_page(request_tuple_prefix) -> None:
            for _ in range(6000):
                await asyncio.sleep(0.005)
                if screen.shown_request is not None and screen.shown_request[:len(request_tuple_prefix)] == request_tuple_prefix:
                    return
            raise SystemExit("page never arrived")

        t0 = time.perf_counter()
        await wait_page((run_id, "all", "example", False, 0))
        results["first_load"] = [time.perf_counter() - t0]
        plans = [("all", "loss", True), ("noisy", "margin", False), ("all", "neurons_to_flip", True),
                 ("memorized", "mean_loss", True), ("clean", "first_correct", True), ("all", "example", False)]
        rng_offsets = [0, 100, 25_000, 49_900, 12_300, 7_700]
        for i in range(pages):
            flt, sort, desc = plans[i % len(plans)]
            offset = rng_offsets[i % len(rng_offsets)]
            screen.filter_name, screen.sort, screen.descending, screen.row_offset = flt, sort, desc, offset
            start = time.perf_counter()
            screen.request_page()
            await wait_page((run_id, flt, sort, desc))
            total = time.perf_counter() - start
            results["fetch"].append(screen.page.seconds)
            results["draw"].append(screen.last_draw_seconds)
            results["total"].append(total)
            screen.shown_request = None
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="example_epochs rows (examples x 20 epochs)")
    parser.add_argument("--repeats", type=int, default=5, help="first-paint measurements")
    args = parser.parse_args()

    from tests.tui.fixture_home import make_big_home, make_home

    with tempfile.TemporaryDirectory() as tmp:
        small = make_home(Path(tmp) / "small")
        paints = first_paint(str(small.root), args.repeats)
        walls = [p for p, _ in paints]
        print(f"first paint (process start -> first frame, 100x30, 5 runs): median {statistics.median(walls):.3f} s, "
              f"min {min(walls):.3f} s, max {max(walls):.3f} s; import memscope.tui.app {statistics.median([i for _, i in paints]):.3f} s")

        epochs = 20
        t = time.perf_counter()
        big, run_id = make_big_home(Path(tmp) / "big", examples=args.rows // epochs, epochs=epochs)
        print(f"fixture: {args.rows:,} example_epochs rows ({args.rows // epochs:,} examples x {epochs} epochs) "
              f"written in {time.perf_counter() - t:.1f} s")
        cpu = time.process_time()
        results = asyncio.run(paging(big, run_id))
        cpu = time.process_time() - cpu
        print(f"examples screen, first load (per-example summary built from {args.rows:,} rows + first page): "
              f"{results['first_load'][0] * 1000:.0f} ms")
        for key, label in (("fetch", "page fetch (DuckDB, filter + ORDER BY + LIMIT/OFFSET)"),
                           ("draw", "page draw (DataTable, 100 rows)"), ("total", "page request -> drawn (worker + message)")):
            values = [v * 1000 for v in results[key]]
            print(f"{label}: median {statistics.median(values):.1f} ms, max {max(values):.1f} ms over {len(values)} pages")
        print(f"(CPU time of the paging run: {cpu:.2f} s; load average now: {' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())})")


if __name__ == "__main__":
    main()
