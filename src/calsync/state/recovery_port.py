"""The JobRecovery port: finding the jobs a dead process left ``running`` and closing them as failed.

Why it is needed: a run that dies with its process (killed, crashed, or cut off after the grace time of a stop)
never records its end, so the history would show it running forever and the admin could not tell it from a run
that is going. Why it is safe: a run holds its pair's lock (``pair:<pair>`` in ``locks``) from before it starts
its job until after it finishes it, so a job whose lock is free, ran out or belongs to a process of this machine
that is gone cannot still be going; nor can one older than a later job of the same pair (runs of a pair never
overlap). ``calsync.state.recovery`` implements it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

INTERRUPTED = "interrupted: the process stopped during the run"
"""The message of a job closed by recovery."""


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A job recovery closed: its id, pair and start."""

    id: int
    pair: str
    started_at: datetime


class JobRecovery(Protocol):
    """Closes orphaned jobs. Implementations raise ``StateError`` for their library's failures."""

    def interrupt_orphans(self, at: datetime, message: str = INTERRUPTED) -> list[Interrupted]:
        """Mark every ``running`` job that cannot still be going as failed at ``at`` with ``message``.

        Guarded: a job is changed only while it is still ``running``, so a run that ends meanwhile keeps its
        own outcome. Returns the jobs closed.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
