"""The JobRecovery port on SQLAlchemy Core: orphaned ``running`` jobs closed as failed.

A running job is left alone while its pair's lock is held, unexpired, by a process that may be alive (any process
of another machine, a live one of this machine) and no later job of the pair exists. Everything else is an
orphan. The lock's expiry is measured on the database's clock, like the locks themselves.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import URL, func, select, update

from calsync.state.db import OwnDatabase
from calsync.state.recovery_port import INTERRUPTED, Interrupted
from calsync.state.store import JobOutcome, owner_is_dead
from calsync.state.tables.sync import jobs, locks

if TYPE_CHECKING:
    from calsync.state.recovery_port import JobRecovery

__all__ = ["SQLJobRecovery", "open_job_recovery"]

_RUNNING = JobOutcome.RUNNING.value


def open_job_recovery(url_or_path: str | os.PathLike[str] | URL) -> SQLJobRecovery:
    """Open (creating or migrating when needed) the state database at a URL or SQLite file path."""
    return SQLJobRecovery(url_or_path)


class SQLJobRecovery(OwnDatabase):
    """Finds and closes orphaned jobs; thread-safe across calls."""

    def interrupt_orphans(self, at: datetime, message: str = INTERRUPTED) -> list[Interrupted]:
        """Close the running jobs whose run cannot still be going (see the module's docstring)."""
        with self._db.read() as conn:
            running = conn.execute(
                select(jobs.c.id, jobs.c.pair, jobs.c.started_at).where(jobs.c.outcome == _RUNNING)
            ).all()
            if not running:
                return []
            pairs = sorted({row.pair for row in running})
            now = self._db.now(conn)
            names = [f"pair:{pair}" for pair in pairs]
            query = select(locks.c.name, locks.c.owner).where(locks.c.name.in_(names), locks.c.expires_at > now)
            held = {str(name): str(owner) for name, owner in conn.execute(query).all()}
            query = select(jobs.c.pair, func.max(jobs.c.id)).where(jobs.c.pair.in_(pairs)).group_by(jobs.c.pair)
            newest = {str(pair): int(last) for pair, last in conn.execute(query).all()}
        orphans = [
            Interrupted(int(row.id), row.pair, row.started_at)
            for row in running
            if _orphaned(held.get(f"pair:{row.pair}"), superseded=newest.get(row.pair, row.id) > row.id)
        ]
        return [job for job in orphans if self._close(job.id, at, message)]

    def _close(self, job_id: int, at: datetime, message: str) -> bool:
        values = {"outcome": JobOutcome.FAILED.value, "finished_at": at, "message": message}
        with self._db.write() as conn:
            stmt = update(jobs).where(jobs.c.id == job_id, jobs.c.outcome == _RUNNING).values(**values)
            return bool(conn.execute(stmt).rowcount)


def _orphaned(holder: str | None, *, superseded: bool) -> bool:
    """Whether a running job's run cannot be going: a later job of its pair exists, or its lock is not held by a
    process that may be alive."""
    return superseded or holder is None or owner_is_dead(holder)


if TYPE_CHECKING:
    _recovery_check: type[JobRecovery] = SQLJobRecovery
