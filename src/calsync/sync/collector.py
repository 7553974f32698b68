"""Python's cyclic garbage collector, run less often while a sync run allocates.

Why: a run over 10,000 new items makes some 150,000 short-lived objects (items read, scans, actions, links,
report lines), none of them in a reference cycle, and the collector's default threshold starts a collection
every 700 allocations, now and then one that walks every object in the process. Measured on an initial sync of
10,000 events that was about a fifth of the engine's CPU time. Raising the threshold for the length of a run
keeps cycle collection working (a real cycle is still found, only later) and costs nothing in memory that the
run does not hold anyway.

Runs may overlap in one process (the service runs pairs on several threads), so the first run to enter raises
the threshold and the last to leave restores what was there.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

RUN_THRESHOLD = 50_000
"""Allocations between two young-generation collections during a run (Python's default is 700)."""


class _Relaxation:
    """How many runs are inside ``relaxed_collector`` and the thresholds to restore when none is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0
        self._saved: tuple[int, int, int] | None = None

    def enter(self) -> None:
        with self._lock:
            if self._runs == 0:
                saved = self._saved = gc.get_threshold()
                if saved[0] and saved[0] < RUN_THRESHOLD:  # 0 means disabled by the program: leave it so
                    gc.set_threshold(RUN_THRESHOLD, *saved[1:])
            self._runs += 1

    def leave(self) -> None:
        with self._lock:
            self._runs -= 1
            if self._runs == 0 and self._saved is not None:
                gc.set_threshold(*self._saved)
                self._saved = None


_relaxation = _Relaxation()


@contextmanager
def relaxed_collector() -> Iterator[None]:
    """Collect less often inside the block; the previous thresholds come back when the last block ends."""
    _relaxation.enter()
    try:
        yield
    finally:
        _relaxation.leave()
