"""Leases (a pair's lock, the scheduler's) and the thread that renews one while its holder runs.

Why renew: a run holds its pair's lease for its whole length, and a first full sync of a large mailbox can last
longer than any TTL chosen in advance; a lease that lapsed mid-run would let a second run in (invariant 5). A
crashed run stops renewing, so its lease still expires.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from calsync.errors import StateError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as taken: its name, holder and expiry (a renewal is guarded by the expiry it replaces)."""

    name: str
    owner: str
    expires_at: datetime


class Renewer(threading.Thread):
    """Renews one lease every third of its TTL until stopped; ``stop`` answers the lease as it is now."""

    def __init__(self, renew: Callable[[Lease, float], Lease | None], lease: Lease, ttl_seconds: float) -> None:
        super().__init__(name=f"renew {lease.name}", daemon=True)
        self._renew, self._ttl = renew, ttl_seconds
        self._lease = lease
        self._stopped = threading.Event()
        self._guard = threading.Lock()

    def run(self) -> None:
        while not self._stopped.wait(self._ttl / 3):
            with self._guard:
                if self._stopped.is_set():
                    return
                try:
                    renewed = self._renew(self._lease, self._ttl)
                except StateError as exc:  # the database hiccupped: try again at the next turn
                    logger.warning("could not renew the lease %s: %s", self._lease.name, exc)
                    continue
                if renewed is None:
                    logger.warning("the lease %s was lost (expired and taken over)", self._lease.name)
                    return
                self._lease = renewed

    def stop(self) -> Lease:
        with self._guard:
            self._stopped.set()
            return self._lease
