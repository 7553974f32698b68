"""The lease holder's chores beside the syncs: each a ``Duty`` the scheduler calls at every tick it leads.

Why duties and not more code in ``Scheduler.tick``: the tick decides turns and must stay quick and testable with
an injected clock; what else the one scheduler of a database does (delivering webhooks, keeping Graph
subscriptions, polling Exchange) is given to it as values, each tested through the tick on its own.

Why ``InBackground``: a duty talking to other servers can take long (a webhook receiver that hangs costs its
timeout per event). Run on the tick's thread it would hold up the next turns, so a slow receiver would delay
every sync; on a thread of its own it only delays itself. A pass still going when the next tick comes is not
started twice, so one process never runs a duty twice at once (and a duty that claims its work, like the webhook
outbox, stays safe beside other processes).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from calsync.errors import CalsyncError

logger = logging.getLogger(__name__)


class Duty(Protocol):
    """One chore of the lease holder, called at each tick it leads with the tick's time."""

    @property
    def name(self) -> str:
        """What the duty does, for log lines."""
        ...

    def __call__(self, now: datetime) -> None:
        """Do one pass; raising is allowed (the caller logs it and the next tick tries again)."""
        ...


def run_duty(duty: Duty, now: datetime) -> bool:
    """One pass of ``duty``; a failure is logged, never raised, so one failing chore stops nothing else."""
    try:
        duty(now)
    except CalsyncError as exc:
        logger.warning("%s failed: %s", duty.name, exc)
        return False
    except Exception:
        logger.exception("%s failed unexpectedly", duty.name)
        return False
    return True


class InBackground:
    """A duty run on a daemon thread of its own: a call starts a pass unless one is going, and returns at once."""

    def __init__(self, duty: Duty) -> None:
        self._duty = duty
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self.passes = 0
        """How many passes were started (for status and tests)."""

    @property
    def name(self) -> str:
        """The wrapped duty's name."""
        return self._duty.name

    def __call__(self, now: datetime) -> None:
        """Start a pass at ``now`` on a new thread, unless the previous one is still going."""
        with self._guard:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=run_duty,
                args=(self._duty, now),
                name=f"calsync-{self._duty.name.replace(' ', '-')}",
                daemon=True,
            )
            self.passes += 1
            self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the pass going, if any, up to ``timeout`` seconds; True when none is going any more."""
        with self._guard:
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()


class DeliversWebhooks(Protocol):
    """What ``WebhookDelivery`` needs of ``calsync.services.access.WebhookService``."""

    def deliver_due(self, now: datetime | None = None, *, limit: int = 500) -> object: ...


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """Sends the webhooks due at the tick's time, at most ``limit`` a pass (the rest at the next ticks).

    Why bounded: a backlog (a receiver back after a day away) must not keep one pass going for hours, so a
    stop is never held up long and the events' order of due times is kept across passes.
    """

    webhooks: DeliversWebhooks
    limit: int = 100
    name: str = "webhook delivery"

    def __call__(self, now: datetime) -> None:
        """One bounded pass over the outbox."""
        self.webhooks.deliver_due(now, limit=self.limit)
