"""Jobs and the schedule as the admin UI and the REST API see them: history, details, status, "sync now", retry.

Why a service apart from the scheduler: the web app may run in a process without a scheduler (``calsync serve``
next to ``calsync worker`` processes), so every use case here reads and writes the database only. "Sync now"
records a request that whichever scheduler holds the lease picks up; ``wake`` (given by ``calsync serve``, whose
scheduler runs in the same process) makes that happen at once instead of at its next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from calsync.config import Settings
from calsync.errors import ConfigError, NotFound
from calsync.jobs.queue import JobQueue, RunHandler
from calsync.services.syncing import open_state_store
from calsync.state.schedule_port import IntegrationPlan, JobReader, ScheduleEntry, ScheduleStore
from calsync.state.store import ItemLine, JobKind, JobOutcome, JobRecord, StateStore

if TYPE_CHECKING:
    from calsync.state.schedule import SQLScheduleStore

__all__ = [
    "WAKE_EXTRA",
    "DayCounts",
    "IntegrationStatus",
    "JobDetails",
    "JobService",
    "JobView",
    "job_queue",
    "open_jobs",
    "open_schedule",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
WAKE_EXTRA = "wake_scheduler"
"""The key of ``AppContext.extras`` under which ``calsync serve`` puts its scheduler's wake-up call."""
MAX_HISTORY = 1000
"""The most jobs one history page lists."""
MAX_CHART_DAYS = 366
_WRITES = frozenset({"created", "updated", "deleted"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class JobView:
    """One job as listed: one run of one pair, or one skipped turn of an integration (``pair`` is then the
    integration's name)."""

    id: int
    integration: str
    pair: str
    kind: JobKind
    started_at: datetime
    finished_at: datetime | None
    outcome: JobOutcome
    counts: Mapping[str, int] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True, slots=True)
class JobDetails:
    """One job with its per-item lines, in the order they were recorded."""

    job: JobView
    lines: tuple[ItemLine, ...]


@dataclass(frozen=True, slots=True)
class IntegrationStatus:
    """Where one integration stands: online or offline (and why), its last run and when the next is due
    (``None`` while offline), the runs in a row that failed and the back-off they earned, and the business users
    whose mailboxes back off after failing (left out of runs until then)."""

    name: str
    online: bool
    offline_reason: str
    last_run: datetime | None
    last_outcome: JobOutcome | None
    next_run: datetime | None
    failures: int = 0
    backoff_until: datetime | None = None
    waiting_users: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DayCounts:
    """One day of the dashboard chart: items synced (written on either side) and errors (failed items and runs)."""

    day: date
    items: int
    errors: int


class JobService:
    """The use cases behind the jobs and status pages; every call reads or writes the database, nothing is kept.

    ``state`` holds the jobs and their lines, ``schedule`` the schedule, ``reader`` the jobs by integration and
    by day (``schedule`` and ``reader`` are one object in production: ``SQLScheduleStore``).
    """

    def __init__(
        self,
        state: StateStore,
        schedule: ScheduleStore,
        reader: JobReader,
        *,
        clock: Clock = _utc_now,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self._state = state
        self._schedule = schedule
        self._reader = reader
        self._clock = clock
        self._wake = wake

    def history(self, integration: str | None = None, limit: int = 50) -> list[JobView]:
        """The newest jobs first, of every integration or of one (its pairs and its skipped turns)."""
        return [_view(record) for record in self._reader.jobs_of(integration, max(1, min(limit, MAX_HISTORY)))]

    def details(self, job_id: int) -> JobDetails:
        """The job and its lines; raises ``NotFound`` when there is no such job (any more: history is pruned)."""
        record = self._reader.job(job_id)
        if record is None:
            raise NotFound(f"there is no job {job_id}; it may have been pruned from the history")
        return JobDetails(_view(record), tuple(self._state.job_lines(job_id)))

    def status(self) -> list[IntegrationStatus]:
        """Every integration's schedule state, by name."""
        entries = self._schedule.entries()
        now = self._clock()
        return [self._status(plan, entries.get(plan.name, ScheduleEntry(plan.name)), now) for plan in self._plans()]

    def sync_now(self, integration: str, user: str | None = None) -> None:
        """Ask for a manual run of an integration, or of one business user's pairs; returns at once.

        The scheduler that holds the lease runs it at its next tick (at once in ``calsync serve``), even while
        the integration is offline or the mailbox backs off: it was asked for. Raises ``ConfigError`` for an
        unknown integration or user.
        """
        plan = self._plan(integration)
        if user is not None and user not in plan.users:
            raise ConfigError(f"{integration} has no user {user!r}", where="user")
        if self._schedule.request_sync(integration, user, self._clock()) is None:
            raise _unknown(integration, self._plans())
        logger.info("sync now requested for %s%s", integration, f" ({user})" if user else "")
        self._poke()

    def chart(self, days: int = 14) -> list[DayCounts]:
        """Items synced (created, updated or deleted on either side) and errors (failed items and failed runs)
        per UTC day, the last ``days`` days up to today, oldest first; days without jobs count zero."""
        days = max(1, min(days, MAX_CHART_DAYS))
        today = self._clock().astimezone(UTC).date()
        first = today - timedelta(days=days - 1)
        items = dict.fromkeys((first + timedelta(days=n) for n in range(days)), 0)
        errors = dict(items)
        since = datetime.combine(first, time(), tzinfo=UTC)
        for total in self._reader.job_totals(since):
            day = total.started_at.astimezone(UTC).date()
            if day not in items:
                continue
            items[day] += sum(v for k, v in total.counts.items() if k.rpartition(".")[2] in _WRITES)
            errors[day] += sum(v for k, v in total.counts.items() if k.rpartition(".")[2] == "errors")
            errors[day] += total.outcome is JobOutcome.FAILED
        return [DayCounts(day, items[day], errors[day]) for day in items]

    def retry(self, integration: str) -> None:
        """Bring an integration back online and clear its back-offs and every mailbox's, so its next turn runs
        (at once when it is due). Raises ``ConfigError`` for an unknown integration."""
        if not self._schedule.set_online(integration):
            raise _unknown(integration, self._plans())
        logger.info("integration %s: retry asked for, back online", integration)
        self._poke()

    def _status(self, plan: IntegrationPlan, entry: ScheduleEntry, now: datetime) -> IntegrationStatus:
        waiting = (
            tuple(sorted(user for user, b in self._schedule.backoffs(plan.name).items() if b.until > now))
            if plan.users
            else ()
        )
        next_run: datetime | None = None
        if entry.online:
            next_run = entry.next_run_at or now
            if entry.backoff_until is not None and entry.backoff_until > next_run:
                next_run = entry.backoff_until
        return IntegrationStatus(
            name=plan.name,
            online=entry.online,
            offline_reason=entry.offline_reason,
            last_run=entry.last_run_at,
            last_outcome=entry.last_outcome,
            next_run=next_run,
            failures=entry.failures,
            backoff_until=entry.backoff_until,
            waiting_users=waiting,
        )

    def _plans(self) -> list[IntegrationPlan]:
        return self._schedule.plans()

    def _plan(self, integration: str) -> IntegrationPlan:
        plans = self._plans()
        for plan in plans:
            if plan.name == integration:
                return plan
        raise _unknown(integration, plans)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake()


def _view(record: JobRecord) -> JobView:
    return JobView(
        id=record.id,
        integration=record.pair.partition("/")[0],
        pair=record.pair,
        kind=record.kind,
        started_at=record.started_at,
        finished_at=record.finished_at,
        outcome=record.outcome,
        counts=dict(record.counts),
        message=record.message,
    )


def _unknown(name: str, plans: Sequence[IntegrationPlan]) -> ConfigError:
    known = ", ".join(plan.name for plan in plans) or "none"
    return ConfigError(f"no integration called {name!r}; known: {known}", where="integration")


@contextmanager
def open_jobs(settings: Settings, *, wake: Callable[[], None] | None = None) -> Iterator[JobService]:
    """The service on the configured state database, closed when the block ends.

    ``wake`` is the in-process scheduler's (``calsync serve`` puts it in the app's extras as ``WAKE_EXTRA``),
    so "sync now" and "retry" take effect at once instead of at the scheduler's next tick.
    """
    state = open_state_store(settings)
    try:
        schedule = open_schedule(settings)
        try:
            yield JobService(state, schedule, schedule, wake=wake)
        finally:
            schedule.close()
    finally:
        state.close()


def open_schedule(settings: Settings) -> SQLScheduleStore:
    """The scheduler's store on the configured state database, created or migrated on first use."""
    from calsync.state.db import database_url
    from calsync.state.schedule import open_schedule_store

    url = database_url(settings.state.url)
    if settings.state.password is not None:
        url = url.set(password=settings.state.password.reveal())
    return open_schedule_store(url)


def job_queue(handler: RunHandler, *, workers: int) -> JobQueue:
    """The queue runs are handed to: worker threads in this process (a distributed backend comes later)."""
    from calsync.jobs.inprocess import InProcessQueue

    return InProcessQueue(handler, workers=workers)
