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

DEFAULT_TTL_SECONDS = 300.0
"""How long a pair's lease lasts unrenewed: how long a run that died where its death cannot be seen (another
machine, another container) keeps its pair locked. Renewed every third of it while the run goes on."""
RETRY_SECONDS = 5.0
"""How soon a renewal that failed is tried again."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as taken: its name, holder and expiry (a renewal is guarded by the expiry it replaces)."""

    name: str
    owner: str
    expires_at: datetime


class Renewer(threading.Thread):
    """Renews one lease every third of its TTL until stopped; ``stop`` answers the lease as it is now.

    A renewal the database could not make is tried again every few seconds, not at the next turn: two turns
    missed in a row would let the lease run out while its run goes on. A lease found taken over is not renewed
    again; its run learns of it at its next checkpoint, which the state store fences with the lease.
    """

    def __init__(self, renew: Callable[[Lease, float], Lease | None], lease: Lease, ttl_seconds: float) -> None:
        super().__init__(name=f"renew {lease.name}", daemon=True)
        self._renew, self._ttl = renew, ttl_seconds
        self._lease = lease
        self._stopped = threading.Event()
        self._guard = threading.Lock()

    def run(self) -> None:
        turn = self._ttl / 3
        wait = turn
        while not self._stopped.wait(wait):
            with self._guard:
                if self._stopped.is_set():
                    return
                try:
                    renewed = self._renew(self._lease, self._ttl)
                except StateError as exc:  # the database hiccupped: try again soon
                    logger.warning("could not renew the lease %s: %s", self._lease.name, exc)
                    wait = min(turn, RETRY_SECONDS)
                    continue
                if renewed is None:
                    logger.error("the lease %s was lost (expired and taken over)", self._lease.name)
                    return
                self._lease, wait = renewed, turn

    def stop(self) -> Lease:
        with self._guard:
            self._stopped.set()
            return self._lease
