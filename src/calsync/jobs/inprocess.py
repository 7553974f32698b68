"""The in-process JobQueue: worker threads in the scheduler's own process (embedded mode).

Why daemon threads of our own instead of ``concurrent.futures``: the executor's threads are joined when the
interpreter exits, so one run hanging on a dead server would keep a stopped service alive forever. Here
``shutdown`` waits as long as it was told and returns; a run still going dies with the process, and the next
run resumes it safely (write-ahead intents, the dead run's lock taken over).

Why threads are enough: a run spends its time waiting for servers and the database, not computing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING

from calsync.jobs.queue import RunHandler, RunRequest

if TYPE_CHECKING:
    from calsync.jobs.queue import JobQueue

logger = logging.getLogger(__name__)
__all__ = ["InProcessQueue"]


class InProcessQueue:
    """A JobQueue on ``workers`` daemon threads calling ``handler``; thread-safe."""

    def __init__(self, handler: RunHandler, *, workers: int = 2, name: str = "calsync-worker") -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self._handler = handler
        self._pending: queue.SimpleQueue[RunRequest | None] = queue.SimpleQueue()
        self._keys: set[str] = set()
        self._running: set[str] = set()
        self._changed = threading.Condition()
        self._closed = False
        self._dropped: list[RunRequest] = []
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True) for n in range(1, workers + 1)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, request: RunRequest) -> bool:
        """Queue the request unless its key is queued or running, or the queue is shut down."""
        with self._changed:
            if self._closed or request.key in self._keys:
                return False
            self._keys.add(request.key)
        self._pending.put(request)
        return True

    def busy(self) -> frozenset[str]:
        """The keys queued or running."""
        with self._changed:
            return frozenset(self._keys)

    def shutdown(self, timeout: float) -> frozenset[str]:
        """Refuse new requests, drop the queued ones, wait up to ``timeout`` for the running ones."""
        with self._changed:
            self._closed = True
            self._keys &= self._running  # queued requests are dropped here; a worker that races for one drops it too
            while True:
                try:
                    waiting = self._pending.get_nowait()
                except queue.Empty:
                    break
                if waiting is not None:
                    self._dropped.append(waiting)
        for _ in self._threads:
            self._pending.put(None)
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while self._running and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            still = frozenset(self._running)
        if still:
            logger.warning("stopping with runs still going: %s", ", ".join(sorted(still)))
        return still

    def dropped(self) -> list[RunRequest]:
        """The requests ``shutdown`` dropped before they started."""
        with self._changed:
            return list(self._dropped)

    def _work(self) -> None:
        while (request := self._pending.get()) is not None:
            with self._changed:
                if self._closed:
                    self._dropped.append(request)  # dropped: the scheduler makes its turn due again
                    continue
                self._running.add(request.key)
            try:
                self._handler(request)
            except Exception:  # the handler records outcomes itself; this is a bug, and the worker must live on
                logger.exception("the run of %s failed unexpectedly", request.key)
            finally:
                with self._changed:
                    self._running.discard(request.key)
                    self._keys.discard(request.key)
                    self._changed.notify_all()


if TYPE_CHECKING:
    _queue_check: type[JobQueue] = InProcessQueue
