"""``python -m memscope.sweep drive --home HOME SWEEP_ID``: the detached sweep process.

``memscope sweep --detach`` starts this in a new session; it is not meant to be typed.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from memscope.errors import ExitCode, MemscopeError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memscope.sweep")
    sub = parser.add_subparsers(dest="command", required=True)
    drive = sub.add_parser("drive", help="run a recorded sweep in this process")
    drive.add_argument("--home", required=True)
    drive.add_argument("sweep_id")
    args = parser.parse_args(argv)

    from memscope.store.home import Home
    from memscope.sweep.driver import drive as run_sweep

    def echo(message: str) -> None:
        print(f"{datetime.now():%Y-%m-%d %H:%M:%S} sweep {args.sweep_id}: {message}", file=sys.stderr, flush=True)

    from memscope.progress import Progress  # torch-free

    progress = Progress(0, every_s=0.0)  # sweep.log: a line with the ETA each time a run ends
    try:
        return run_sweep(Home(args.home), args.sweep_id, echo, lambda ended, total: progress.steps("sweep", ended, total, "runs"))
    except MemscopeError as exc:
        print(f"memscope: error: {exc.message}", file=sys.stderr, flush=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
