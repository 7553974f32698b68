"""The ScheduleStore port: what the scheduler remembers between ticks and between processes.

Per integration: when its last interval turn came, when its last full sync and last run happened and how they
ended, its back-off and whether it is offline (credentials refused) and why. Per mailbox (business user): its
back-off. Per "sync now": the pending request. And the scheduler's lease, so one scheduler runs per database.

Why in the database and not in the scheduler's memory: the admin UI may run in another process than the
scheduler, a restarted scheduler must not run every integration at once or forget that one is offline, and a
second scheduler started by mistake must see the first one's lease. ``calsync.state.schedule`` implements it.

Why narrow writes (``note_turn``, ``note_run``) instead of one "save the entry": the scheduler's thread records
turns while a worker thread records the end of a run of the same integration; each touches only its own
columns, so neither overwrites what the other just wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from calsync.state.store import JobOutcome, JobRecord

SCHEDULER_LEASE = "scheduler"
"""The name of the scheduler's lease (a row of the ``locks`` table, beside the pairs' run locks)."""


@dataclass(frozen=True, slots=True)
class IntegrationPlan:
    """What the scheduler needs of an integration's settings; ``changed_at`` is its last edit by an admin."""

    name: str
    interval_minutes: int
    full_sync_minutes: int
    users: tuple[str, ...]
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """One integration's schedule state; a never-scheduled integration has the defaults.

    ``last_turn_at`` is when its last interval turn came (run or skipped), ``last_full_at`` when the last
    full sync that reached its end started, ``last_run_at``/``last_outcome`` the start and outcome of the last
    run that ended. ``failures``/``backoff_until`` count runs that failed as a whole in a row;
    ``offline_reason`` is set (with ``offline_since``) while the server refuses the credentials.
    """

    integration: str
    last_turn_at: datetime | None = None
    next_run_at: datetime | None = None
    last_full_at: datetime | None = None
    last_run_at: datetime | None = None
    last_outcome: JobOutcome | None = None
    failures: int = 0
    backoff_until: datetime | None = None
    offline_reason: str = ""
    offline_since: datetime | None = None

    @property
    def online(self) -> bool:
        """Whether the integration is scheduled (not switched offline by refused credentials)."""
        return not self.offline_reason


@dataclass(frozen=True, slots=True)
class RunNote:
    """How a run of an integration ended, as ``note_run`` records it.

    ``full_at`` is the start of a full sync that reached its end (``None`` leaves ``last_full_at`` alone);
    ``offline_reason`` empty means online.
    """

    started_at: datetime
    outcome: JobOutcome
    failures: int = 0
    backoff_until: datetime | None = None
    full_at: datetime | None = None
    offline_reason: str = ""


@dataclass(frozen=True, slots=True)
class MailboxBackoff:
    """A mailbox (business user) whose runs failed ``failures`` times in a row; not run before ``until``."""

    business_user: str
    failures: int
    until: datetime
    error: str = ""


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """A pending "sync now" of an integration, or of one business user's pairs when ``business_user`` is set."""

    id: int
    integration: str
    business_user: str | None
    requested_at: datetime


class ScheduleStore(Protocol):
    """The scheduler's state. Implementations raise ``StateError`` for their library's failures and are
    thread-safe across calls. Writes about an integration that does not exist (any more) change nothing."""

    def plans(self) -> list[IntegrationPlan]:
        """Every integration with its intervals and users, by name."""
        ...

    def entries(self) -> dict[str, ScheduleEntry]:
        """The schedule state of every integration that has one, by name."""
        ...

    def entry(self, integration: str) -> ScheduleEntry:
        """The schedule state of one integration (the defaults when it has none yet)."""
        ...

    def note_turn(self, integration: str, turn_at: datetime, next_run_at: datetime) -> None:
        """Record that an interval turn came at ``turn_at`` and when the next one is due."""
        ...

    def note_next_run(self, integration: str, next_run_at: datetime) -> None:
        """Record when the next turn is due (after an admin changed the interval)."""
        ...

    def note_run(self, integration: str, note: RunNote) -> None:
        """Record how a run ended: its outcome, the integration's back-off, offline state and last full sync."""
        ...

    def note_clock_step(self, integration: str, step: timedelta) -> None:
        """Move the integration's recorded turn, run, full sync and back-off back by ``step`` (the clock went back)."""
        ...

    def set_online(self, integration: str) -> bool:
        """Bring the integration back online, clear its back-off and every mailbox's; False when unknown."""
        ...

    def backoffs(self, integration: str) -> dict[str, MailboxBackoff]:
        """The mailboxes of an integration that are backing off (or were, until their time passed), by user."""
        ...

    def note_mailboxes(self, integration: str, failed: Sequence[MailboxBackoff], succeeded: Sequence[str]) -> None:
        """Record back-offs of mailboxes whose run failed and clear those of mailboxes whose run succeeded."""
        ...

    def request_sync(self, integration: str, business_user: str | None, at: datetime) -> int | None:
        """Record a "sync now" request; returns its id, ``None`` when the integration does not exist."""
        ...

    def requests(self) -> list[SyncRequest]:
        """Pending requests, oldest first."""
        ...

    def drop_requests(self, ids: Sequence[int]) -> None:
        """Forget requests that a run has served."""
        ...

    def hold_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take the lease ``name`` or renew it for ``owner``; False while another owner holds it.

        A lease whose time ran out, or whose owner was a process on this machine that is gone, is taken over.
        """
        ...

    def release_lease(self, name: str, owner: str) -> None:
        """Give the lease up if ``owner`` holds it."""
        ...

    def lease_holder(self, name: str) -> str | None:
        """Who holds the lease ``name`` and has not let it run out, if anyone."""
        ...

    def forget_stale(self) -> int:
        """Delete the back-offs of mailboxes no longer among their integration's users; returns how many."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True, slots=True)
class JobTotal:
    """What the dashboard's chart needs of one job."""

    started_at: datetime
    outcome: JobOutcome
    counts: Mapping[str, int]


class JobReader(Protocol):
    """Reads of the ``jobs`` table that the admin UI needs beyond ``StateStore.jobs``: by id, by integration, by
    day. Implementations raise ``StateError`` for a row this version cannot read."""

    def job(self, job_id: int) -> JobRecord | None:
        """The job ``job_id``, if there is one."""
        ...

    def jobs_of(self, integration: str | None, limit: int) -> list[JobRecord]:
        """The newest jobs first, of every pair or of one integration (its pairs and its skipped turns)."""
        ...

    def job_totals(self, since: datetime) -> list[JobTotal]:
        """Every job that ended at ``since`` or later (a running job has no counts yet), oldest first."""
        ...
