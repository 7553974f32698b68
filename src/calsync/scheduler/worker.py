"""The scheduler as a running part of a process: its stores, its queue and its thread, started and stopped.

``calsync worker`` runs only this; ``calsync serve`` runs it beside the web app. Stopping lets the runs that are
going finish for at most ``grace_seconds``; a run still going after that is left to die with the process, and
the next one resumes it (the engine records every write before making it, and a dead run's pair lock is taken
over). Queued runs that had not started are dropped: their turns stay due and come again after a restart.

Beside the runs, the lease holder delivers due webhooks, keeps the Graph change-notification subscriptions (when
the service has a public URL) and polls Exchange mailboxes for changes, each on a thread of its own
(``InBackground``), and closes the jobs a dead process left running when it takes the lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from calsync.config import Settings
from calsync.errors import StateError
from calsync.jobs.queue import JobQueue, RunRequest
from calsync.scheduler import cadence
from calsync.scheduler.duties import InBackground, WebhookDelivery
from calsync.scheduler.runner import Clock, IntegrationResult, IntegrationRunner, RunRecorder
from calsync.scheduler.service import Scheduler, SchedulerConfig
from calsync.services.jobs import JobService, job_queue, open_schedule
from calsync.services.syncing import open_state_store
from calsync.state.recovery_port import JobRecovery
from calsync.state.schedule_port import ScheduleStore
from calsync.state.store import JobKind, StateStore

if TYPE_CHECKING:
    from calsync.state.schedule import SQLScheduleStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How many runs go at once, how long stopping waits for them, the scheduler's pacing, and the URL at which
    the service is reachable from the internet (``None``: no Graph change notifications, polling only)."""

    workers: int = 2
    grace_seconds: float = 60.0
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    public_url: str | None = None
    webhooks_per_tick: int = 100


def hub_runner(settings: Settings) -> IntegrationRunner:
    """The real runner: ``calsync.services.hub_sync.sync_integration`` on ``settings`` (imported when first used)."""

    def run(integration: str, *, kind: JobKind, full: bool, users: Sequence[str] | None = None) -> IntegrationResult:
        from calsync.services.hub_sync import sync_integration

        return sync_integration(settings, integration, kind=kind, full=full, users=users)

    return run


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SchedulerProcess:
    """The scheduler, its queue and stores, on a thread of this process. ``start`` once, ``stop`` once."""

    def __init__(
        self,
        settings: Settings,
        options: WorkerOptions | None = None,
        *,
        runner: IntegrationRunner | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        self.options = options or WorkerOptions()
        self._settings = settings
        self._runner = runner or hub_runner(settings)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state: StateStore | None = None
        self._schedule: ScheduleStore | None = None
        self._queue: JobQueue | None = None
        self._closers: list[Callable[[], None]] = []
        self.duties: list[InBackground] = []
        self.scheduler: Scheduler | None = None

    def start(self) -> None:
        """Open the stores (migrating the database when needed), start the workers and the ticking thread."""
        if self._thread is not None:
            raise RuntimeError("the scheduler was started already")
        self._state = open_state_store(self._settings)
        try:
            self._schedule = schedule = open_schedule(self._settings)
            recovery = self._open_chores(self._state, schedule)
        except BaseException:
            self._close_stores()
            raise
        cap = self.options.scheduler.backoff_cap
        recorder = RunRecorder(self._runner, self._schedule, clock=self._clock, cap=cap)
        self._queue = job_queue(recorder, workers=self.options.workers)
        self.scheduler = Scheduler(
            self._schedule,
            self._state,
            self._queue,
            clock=self._clock,
            config=self.options.scheduler,
            duties=self.duties,
            recovery=recovery,
        )
        self._thread = threading.Thread(target=self.scheduler.run, args=(self._stop,), name="calsync-scheduler")
        self._thread.start()
        logger.info("scheduler %s started with %d workers", self.scheduler.owner, self.options.workers)

    def _open_chores(self, state: StateStore, schedule: SQLScheduleStore) -> JobRecovery:
        """The stores of the lease holder's chores, each closed with the others when the process stops."""
        from calsync.services.access import build_access
        from calsync.services.change_requests import RunRequests
        from calsync.services.exchange_notifications import build_exchange_pulls
        from calsync.services.notifications import build_graph_subscriptions
        from calsync.state.db import database_url
        from calsync.state.recovery import open_job_recovery

        url = database_url(self._settings.state.url)
        if self._settings.state.password is not None:
            url = url.set(password=self._settings.state.password.reveal())
        recovery = open_job_recovery(url)
        self._closers.append(recovery.close)
        access = build_access(self._settings)
        self._closers.append(access.close)
        self.duties.append(InBackground(WebhookDelivery(access.webhooks, limit=self.options.webhooks_per_tick)))
        graph, store = build_graph_subscriptions(self._settings, self.options.public_url)
        self._closers.append(store.close)
        self.duties.append(InBackground(graph))
        jobs = JobService(state, schedule, schedule, wake=self.wake)
        self.duties.append(InBackground(build_exchange_pulls(self._settings, RunRequests(jobs, schedule))))
        return recovery

    def wake(self) -> None:
        """Tick now (a "sync now" or "retry" was asked for)."""
        if self.scheduler is not None:
            self.scheduler.wake()

    def stop(self) -> frozenset[str]:
        """Stop ticking, release the lease, let running runs finish within the grace time, close the stores.

        Returns the integrations whose runs were still going when the grace time ran out.
        """
        if self._thread is None or self.scheduler is None or self._queue is None:
            return frozenset()
        self._stop.set()
        self.scheduler.wake()
        self._thread.join()
        deadline = time.monotonic() + self.options.grace_seconds
        still = self._queue.shutdown(self.options.grace_seconds)
        self._turns_due_again(self._queue.dropped())
        settled = [duty.join(max(0.0, deadline - time.monotonic())) for duty in self.duties]
        if not still and all(settled):  # a chore cut off is safe: a webhook is sent again, a subscription renewed
            self._close_stores()  # with runs still going, their stores stay open until the process ends
        logger.info("scheduler %s stopped", self.scheduler.owner)
        return still

    def _turns_due_again(self, dropped: list[RunRequest]) -> None:
        """Turns whose runs were dropped before they started are due again (at the next start), instead of
        waiting a whole interval; manual requests stay in the database anyway."""
        turns = [request for request in dropped if request.due_at is not None]
        if not turns or self._schedule is None:
            return
        plans = {plan.name: plan for plan in self._schedule.plans()}
        for request in turns:
            plan = plans.get(request.integration)
            if plan is not None and request.due_at is not None:
                self._schedule.note_turn(plan.name, request.due_at - cadence.interval(plan), request.due_at)

    def _close_stores(self) -> None:
        closers = [store.close for store in (self._schedule, self._state) if store is not None] + self._closers
        for close in closers:
            try:
                close()
            except StateError as exc:
                logger.warning("closing the state store failed: %s", exc)
