"""The ScheduleStore (and JobReader) on SQLAlchemy Core: the scheduler's state in the state database.

Schedule rows are keyed by the integration's id with a cascading foreign key, so removing an integration
removes its schedule, back-offs and pending requests. The scheduler's lease is a row of ``locks`` named
``scheduler``, measured like the pairs' run locks on the database's clock (PostgreSQL's, shared by every
machine), and renewed on every tick; a lease whose holder was a process on this machine that is gone is taken
over at once (``owner_is_dead``), any other once it runs out.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Row, delete, exists, insert, or_, select, update

from calsync.errors import StateError
from calsync.state.db import OwnDatabase
from calsync.state.schedule_port import (
    IntegrationPlan,
    JobTotal,
    MailboxBackoff,
    RunNote,
    ScheduleEntry,
    SyncRequest,
)
from calsync.state.store import JobKind, JobOutcome, JobRecord, owner_is_dead
from calsync.state.tables.hub import integration_users, integrations
from calsync.state.tables.operations import schedule, schedule_mailboxes, sync_requests
from calsync.state.tables.sync import jobs, locks

if TYPE_CHECKING:
    from calsync.state.schedule_port import JobReader, ScheduleStore

logger = logging.getLogger(__name__)
__all__ = ["SQLScheduleStore", "open_schedule_store"]

_ENTRY_COLUMNS = tuple(c for c in schedule.c if c.name != "integration_id")
_BLANK = {"failures": 0, "offline_reason": ""}


def open_schedule_store(url_or_path: str | os.PathLike[str] | URL) -> SQLScheduleStore:
    """Open (creating or migrating when needed) the scheduler's tables at a URL or SQLite file path."""
    return SQLScheduleStore(url_or_path)


class SQLScheduleStore(OwnDatabase):
    """The scheduler's state on a SQLAlchemy database; thread-safe across calls."""

    # -- integrations and their schedule ------------------------------------------------------------------------

    def plans(self) -> list[IntegrationPlan]:
        """Every integration with its intervals and users, by name."""
        query = select(
            integrations.c.id,
            integrations.c.name,
            integrations.c.interval_minutes,
            integrations.c.full_sync_minutes,
            integrations.c.updated_at,
        ).order_by(integrations.c.name)
        user_query = select(integration_users.c.integration_id, integration_users.c.business_user).order_by(
            integration_users.c.business_user
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
            users: dict[int, list[str]] = {}
            for ident, user in conn.execute(user_query).all():
                users.setdefault(ident, []).append(user)
        return [
            IntegrationPlan(
                row.name, row.interval_minutes, row.full_sync_minutes, tuple(users.get(row.id, ())), row.updated_at
            )
            for row in rows
        ]

    def entries(self) -> dict[str, ScheduleEntry]:
        """The schedule state of every integration that has one, by name."""
        query = select(integrations.c.name, *_ENTRY_COLUMNS).join(
            integrations, integrations.c.id == schedule.c.integration_id
        )
        with self._db.read() as conn:
            return {row.name: _entry(row) for row in conn.execute(query).all()}

    def entry(self, integration: str) -> ScheduleEntry:
        """One integration's schedule state; the defaults when it has none (or does not exist)."""
        query = (
            select(integrations.c.name, *_ENTRY_COLUMNS)
            .join(integrations, integrations.c.id == schedule.c.integration_id)
            .where(integrations.c.name == integration)
        )
        with self._db.read() as conn:
            row = conn.execute(query).first()
        return _entry(row) if row is not None else ScheduleEntry(integration)

    def note_turn(self, integration: str, turn_at: datetime, next_run_at: datetime) -> None:
        """Record an interval turn and the next one's time."""
        self._update(integration, {"last_turn_at": turn_at, "next_run_at": next_run_at})

    def note_next_run(self, integration: str, next_run_at: datetime) -> None:
        """Record when the next turn is due."""
        self._update(integration, {"next_run_at": next_run_at})

    def note_run(self, integration: str, note: RunNote) -> None:
        """Record the end of a run; going offline keeps the first ``offline_since`` of a series of refusals."""
        values: dict[str, object] = {
            "last_run_at": note.started_at,
            "last_outcome": note.outcome.value,
            "failures": note.failures,
            "backoff_until": note.backoff_until,
            "offline_reason": note.offline_reason,
        }
        if note.full_at is not None:
            values["last_full_at"] = note.full_at
        with self._db.write() as conn:
            ident = self._ensure_row(conn, integration)
            if ident is None:
                return
            since = None
            if note.offline_reason:
                query = select(schedule.c.offline_since).where(schedule.c.integration_id == ident)
                since = conn.execute(query).scalar() or note.started_at
            values["offline_since"] = since
            conn.execute(update(schedule).where(schedule.c.integration_id == ident).values(**values))

    def note_clock_step(self, integration: str, step: timedelta) -> None:
        """Move the integration's recorded times back by ``step``: the clock went back, and the runs to come record
        times on the new clock (a back-off left ahead would hold the integration for as long as the step)."""
        names = ("last_turn_at", "last_run_at", "last_full_at", "backoff_until")
        with self._db.write() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return
            row = conn.execute(
                select(*(schedule.c[name] for name in names)).where(schedule.c.integration_id == ident)
            ).first()
            if row is None:
                return
            values = {name: moment - step for name, moment in zip(names, row, strict=True) if moment is not None}
            if values:
                conn.execute(update(schedule).where(schedule.c.integration_id == ident).values(**values))

    def set_online(self, integration: str) -> bool:
        """Clear offline state and every back-off of the integration."""
        values = {"offline_reason": "", "offline_since": None, "failures": 0, "backoff_until": None}
        with self._db.write() as conn:
            ident = self._ensure_row(conn, integration)
            if ident is None:
                return False
            conn.execute(update(schedule).where(schedule.c.integration_id == ident).values(**values))
            conn.execute(delete(schedule_mailboxes).where(schedule_mailboxes.c.integration_id == ident))
        return True

    # -- mailboxes ----------------------------------------------------------------------------------------------

    def backoffs(self, integration: str) -> dict[str, MailboxBackoff]:
        """The recorded back-offs of an integration's mailboxes, by business user."""
        query = (
            select(schedule_mailboxes)
            .join(integrations, integrations.c.id == schedule_mailboxes.c.integration_id)
            .where(integrations.c.name == integration)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return {
            row.business_user: MailboxBackoff(row.business_user, row.failures, row.backoff_until, row.last_error)
            for row in rows
        }

    def note_mailboxes(self, integration: str, failed: Sequence[MailboxBackoff], succeeded: Sequence[str]) -> None:
        """Upsert the failed mailboxes' back-offs and delete the succeeded ones', in one transaction."""
        with self._db.write() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return
            if succeeded:
                conn.execute(
                    delete(schedule_mailboxes).where(
                        schedule_mailboxes.c.integration_id == ident,
                        schedule_mailboxes.c.business_user.in_(list(succeeded)),
                    )
                )
            rows = [
                {
                    "integration_id": ident,
                    "business_user": b.business_user,
                    "failures": b.failures,
                    "backoff_until": b.until,
                    "last_error": b.error,
                }
                for b in failed
            ]
            if rows:
                conn.execute(self._db.upsert(schedule_mailboxes, ("integration_id", "business_user")), rows)

    def forget_stale(self) -> int:
        """Delete back-offs of users that were removed from their integration."""
        user_exists = exists().where(
            integration_users.c.integration_id == schedule_mailboxes.c.integration_id,
            integration_users.c.business_user == schedule_mailboxes.c.business_user,
        )
        with self._db.write() as conn:
            return conn.execute(delete(schedule_mailboxes).where(~user_exists)).rowcount

    # -- "sync now" ---------------------------------------------------------------------------------------------

    def request_sync(self, integration: str, business_user: str | None, at: datetime) -> int | None:
        """Record a request; ``None`` when the integration does not exist."""
        with self._db.write() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return None
            row = {"integration_id": ident, "business_user": business_user, "requested_at": at}
            key = conn.execute(insert(sync_requests), row).inserted_primary_key
        if key is None:
            raise StateError(f"state store {self._db.shown} did not return the new request's id")
        return int(key[0])

    def requests(self) -> list[SyncRequest]:
        """Pending requests, oldest first."""
        query = (
            select(sync_requests, integrations.c.name)
            .join(integrations, integrations.c.id == sync_requests.c.integration_id)
            .order_by(sync_requests.c.id)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [SyncRequest(int(row.id), row.name, row.business_user, row.requested_at) for row in rows]

    def drop_requests(self, ids: Sequence[int]) -> None:
        """Delete served requests."""
        if ids:
            with self._db.write() as conn:
                conn.execute(delete(sync_requests).where(sync_requests.c.id.in_(list(ids))))

    # -- the lease ----------------------------------------------------------------------------------------------

    def hold_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew the lease; take over one that ran out or whose holder on this machine is gone."""
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, not {ttl_seconds}")
        holder = self._try_hold(name, owner, ttl_seconds)
        if holder is None:
            return True
        if not owner_is_dead(holder):
            return False
        with self._db.write() as conn:
            conn.execute(delete(locks).where(locks.c.name == name, locks.c.owner == holder))
        logger.warning("took over the lease %s of %s, which is no longer running", name, holder)
        return self._try_hold(name, owner, ttl_seconds) is None

    def _try_hold(self, name: str, owner: str, ttl_seconds: float) -> str | None:
        """Take or renew in one statement; returns the other holder when it was refused, else ``None``."""
        with self._db.write() as conn:
            now = self._db.now(conn)
            row = {"name": name, "owner": owner, "expires_at": now + timedelta(seconds=ttl_seconds)}
            stmt = self._db.upsert(locks, ("name",), where=or_(locks.c.expires_at <= now, locks.c.owner == owner))
            if conn.execute(stmt, row, execution_options={"preserve_rowcount": True}).rowcount == 1:
                return None
            holder: str | None = conn.execute(select(locks.c.owner).where(locks.c.name == name)).scalar()
        return holder or ""

    def release_lease(self, name: str, owner: str) -> None:
        """Delete the lease row if it is ``owner``'s."""
        with self._db.write() as conn:
            conn.execute(delete(locks).where(locks.c.name == name, locks.c.owner == owner))

    def lease_holder(self, name: str) -> str | None:
        """The owner of an unexpired lease ``name``."""
        with self._db.read() as conn:
            now = self._db.now(conn)
            found: str | None = conn.execute(
                select(locks.c.owner).where(locks.c.name == name, locks.c.expires_at > now)
            ).scalar()
        return found

    # -- jobs, as the admin UI reads them -----------------------------------------------------------------------

    def job(self, job_id: int) -> JobRecord | None:
        """One job by id."""
        with self._db.read() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return _job_record(row) if row is not None else None

    def jobs_of(self, integration: str | None, limit: int) -> list[JobRecord]:
        """The newest jobs first; of one integration: its skipped turns (``pair`` is its name) and its pairs
        (``<integration>/...``)."""
        query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if integration is not None:
            query = query.where(
                or_(jobs.c.pair == integration, jobs.c.pair.startswith(f"{integration}/", autoescape=True))
            )
        with self._db.read() as conn:
            return [_job_record(row) for row in conn.execute(query).all()]

    def job_totals(self, since: datetime) -> list[JobTotal]:
        """Start, outcome and counts of the jobs that ended since ``since`` (by the index on ``finished_at``),
        oldest first."""
        query = select(jobs).where(jobs.c.finished_at >= since).order_by(jobs.c.started_at, jobs.c.id)
        with self._db.read() as conn:
            return [JobTotal(row.started_at, _outcome(row), _counts(row)) for row in conn.execute(query).all()]

    # -- helpers ------------------------------------------------------------------------------------------------

    def _update(self, integration: str, values: Mapping[str, object]) -> None:
        with self._db.write() as conn:
            ident = self._ensure_row(conn, integration)
            if ident is not None:
                conn.execute(update(schedule).where(schedule.c.integration_id == ident).values(**values))

    def _ensure_row(self, conn: Connection, integration: str) -> int | None:
        """The integration's id after making sure it has a schedule row; ``None`` when it does not exist."""
        ident = self._id(conn, integration)
        if ident is not None:
            conn.execute(
                self._db.upsert(schedule, ("integration_id",), replace=False), {"integration_id": ident, **_BLANK}
            )
        return ident

    @staticmethod
    def _id(conn: Connection, name: str) -> int | None:
        found = conn.execute(select(integrations.c.id).where(integrations.c.name == name)).scalar_one_or_none()
        return int(found) if found is not None else None


def _entry(row: Row[Any]) -> ScheduleEntry:
    try:
        outcome = JobOutcome(row.last_outcome) if row.last_outcome else None
    except ValueError as exc:
        raise StateError(f"the schedule of {row.name} holds data this version cannot read: {exc}") from exc
    return ScheduleEntry(
        integration=row.name,
        last_turn_at=row.last_turn_at,
        next_run_at=row.next_run_at,
        last_full_at=row.last_full_at,
        last_run_at=row.last_run_at,
        last_outcome=outcome,
        failures=row.failures,
        backoff_until=row.backoff_until,
        offline_reason=row.offline_reason,
        offline_since=row.offline_since,
    )


def _outcome(row: Row[Any]) -> JobOutcome:
    try:
        return JobOutcome(row.outcome)
    except ValueError as exc:
        raise StateError(f"job {row.id} holds data this version of calsync cannot read: {exc}") from exc


def _counts(row: Row[Any]) -> dict[str, int]:
    try:
        return {str(key): int(value) for key, value in json.loads(row.counts).items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise StateError(f"job {row.id} holds data this version of calsync cannot read: {exc}") from exc


def _job_record(row: Row[Any]) -> JobRecord:
    try:
        kind = JobKind(row.kind)
    except ValueError as exc:
        raise StateError(f"job {row.id} holds data this version of calsync cannot read: {exc}") from exc
    return JobRecord(
        id=int(row.id),
        pair=row.pair,
        kind=kind,
        started_at=row.started_at,
        finished_at=row.finished_at,
        outcome=_outcome(row),
        counts=_counts(row),
        message=row.message,
    )


if TYPE_CHECKING:
    _schedule_check: type[ScheduleStore] = SQLScheduleStore
    _reader_check: type[JobReader] = SQLScheduleStore
