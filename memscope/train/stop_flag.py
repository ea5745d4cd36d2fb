"""How a run hears SIGTERM and Ctrl-C: a flag checked at each step boundary."""

from __future__ import annotations

import signal
from typing import Any


class StopFlag:
    """Set by SIGTERM / SIGINT: the run stops at the next step boundary and says 'cancelled'."""

    def __init__(self) -> None:
        self.requested = False
        self.immediate = False  # during a post-training analysis: stop at once (KeyboardInterrupt)
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.requested

    def install(self) -> None:
        if self._previous:
            return

        def handler(signum, frame):
            if self.immediate or (self.requested and signum == signal.SIGINT):
                self.requested = True
                raise KeyboardInterrupt  # a second Ctrl-C, or inside an analysis: stop now
            self.requested = True

        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not in the main thread (tests): no signal handling
                pass

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
