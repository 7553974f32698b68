"""The scheduler: every tick, hold the lease, give each due integration its turn, serve "sync now", prune jobs.

One scheduler runs per database: each tick first takes or renews the lease (``locks`` row ``scheduler``); a
scheduler that does not hold it only waits, so two copies started by mistake never both sync, and the lease of
one that crashed is taken over (at once on the same machine, when it runs out elsewhere).

A tick only decides and hands runs to the ``JobQueue``; workers run them (``RunRecorder``). A turn that comes
while the integration's previous run is still going is not started twice: it is recorded as a skipped job (pair
= the integration's name) and the next turn comes an interval later. A turn of an offline integration, or of one
backing off, runs nothing; mailboxes backing off are left out of the run.

A tick that leads also does the lease holder's chores (``duties``: webhook delivery, Graph subscriptions …), after
the turns, and closes the jobs a dead process left running (``recovery``) when it takes the lease and then with
every pruning.

Why a tick method and an injected clock: tests drive the scheduler through hours of turns in milliseconds,
with a real state store and a recording runner, without a thread or a sleep.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from calsync.errors import CalsyncError
from calsync.jobs.queue import JobQueue, RunRequest
from calsync.scheduler import cadence
from calsync.scheduler.duties import Duty, run_duty
from calsync.state.recovery_port import JobRecovery
from calsync.state.schedule_port import (
    SCHEDULER_LEASE,
    IntegrationPlan,
    ScheduleEntry,
    ScheduleStore,
    SyncRequest,
)
from calsync.state.store import JobKind, JobOutcome, StateStore, run_owner

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """How the scheduler paces itself.

    ``tick_seconds``: how often it looks for due turns (well below the shortest interval, one minute);
    ``lease_seconds``: how long its lease lasts unrenewed, so how long a crashed scheduler on another machine
    blocks a successor; ``keep_days``: how many days of job history are kept; ``backoff_cap``: the longest
    back-off of a failing mailbox or integration.
    """

    tick_seconds: float = 10.0
    lease_seconds: float = 60.0
    keep_days: int = 30
    prune_every: timedelta = timedelta(hours=1)
    backoff_cap: timedelta = cadence.DEFAULT_BACKOFF_CAP

    def __post_init__(self) -> None:
        if self.tick_seconds <= 0 or self.lease_seconds <= self.tick_seconds:
            raise ValueError("the lease must outlast a tick, and a tick must take some time")
        if self.keep_days < 1:
            raise ValueError(f"job history must be kept at least one day, not {self.keep_days}")


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick did: whether it held the lease, the runs it queued and the turns it skipped, by name."""

    leader: bool
    submitted: tuple[RunRequest, ...] = ()
    skipped: tuple[str, ...] = ()
    pruned: int = 0
    interrupted: int = 0


@dataclass(slots=True)
class _Tick:
    now: datetime
    busy: set[str]
    requested: set[str] = field(default_factory=set)
    submitted: list[RunRequest] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Scheduler:
    """Decides turns and hands runs to a queue. ``tick`` is one pass; ``run`` ticks until stopped."""

    def __init__(
        self,
        schedule: ScheduleStore,
        jobs: StateStore,
        queue: JobQueue,
        *,
        clock: Clock,
        config: SchedulerConfig | None = None,
        owner: str | None = None,
        duties: Sequence[Duty] = (),
        recovery: JobRecovery | None = None,
    ) -> None:
        self._schedule = schedule
        self._jobs = jobs
        self._queue = queue
        self._clock = clock
        self.config = config or SchedulerConfig()
        self.owner = owner or run_owner()
        self._leader: bool | None = None  # unknown until the first tick, so the first answer is logged
        self._pruned_at: datetime | None = None
        self._manual: set[str] = set()  # integrations whose running run is a "sync now": their turns wait for it
        self._wake = threading.Event()
        self._duties = tuple(duties)
        self._recovery = recovery

    def tick(self) -> TickReport:
        """Take or renew the lease; if held, close orphaned jobs (on taking it, then hourly), prune old jobs when it
        is time, queue every due run, then do each chore (``duties``) with the tick's time."""
        took = self._leader is not True
        if not self._hold_lease():
            return TickReport(leader=False)
        tick = _Tick(self._clock(), set(self._queue.busy()))
        self._manual &= tick.busy
        housekeeping = self._housekeeping_due(tick.now)
        pruned = self._prune(tick.now) if housekeeping else 0
        interrupted = self._recover(tick.now) if took or housekeeping else 0
        requests: dict[str, list[SyncRequest]] = {}
        for request in self._schedule.requests():
            requests.setdefault(request.integration, []).append(request)
        entries = self._schedule.entries()
        for plan in self._schedule.plans():
            entry = self._back_online_if_edited(plan, entries.get(plan.name, ScheduleEntry(plan.name)))
            if plan.name in requests:
                self._serve_requests(plan, requests[plan.name], tick)
            self._turn(plan, entry, tick)
        for duty in self._duties:
            run_duty(duty, tick.now)
        return TickReport(True, tuple(tick.submitted), tuple(tick.skipped), pruned, interrupted)

    def wake(self) -> None:
        """Make a running ``run`` loop tick now (a "sync now" was requested, or ``stop`` was set)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Tick every ``tick_seconds`` (or when woken) until ``stop`` is set, then give the lease up.

        A failing tick (the database unreachable) is logged and retried at the next one: the scheduler outlives
        an outage of its database.
        """
        while not stop.is_set():
            try:
                self.tick()
            except CalsyncError as exc:
                logger.error("scheduler tick failed: %s", exc)
            except Exception:
                logger.exception("scheduler tick failed unexpectedly")
            self._wake.wait(self.config.tick_seconds)
            self._wake.clear()
        self.release()

    def release(self) -> None:
        """Give the lease up, so a successor need not wait for it to run out."""
        try:
            self._schedule.release_lease(SCHEDULER_LEASE, self.owner)
        except CalsyncError as exc:
            logger.warning("could not release the scheduler lease: %s", exc)
        self._leader = False

    def _hold_lease(self) -> bool:
        held = self._schedule.hold_lease(SCHEDULER_LEASE, self.owner, self.config.lease_seconds)
        if held != self._leader:
            if held:
                logger.info("scheduler %s holds the lease and schedules", self.owner)
            else:
                holder = self._schedule.lease_holder(SCHEDULER_LEASE)
                logger.warning("scheduler %s waits: %s holds the lease", self.owner, holder or "another scheduler")
            self._leader = held
        return held

    def _back_online_if_edited(self, plan: IntegrationPlan, entry: ScheduleEntry) -> ScheduleEntry:
        """An admin's edit of an offline integration (new credentials, presumably) brings it back online."""
        if entry.online or entry.offline_since is None or plan.changed_at <= entry.offline_since:
            return entry
        self._schedule.set_online(plan.name)
        logger.info("integration %s was edited: back online", plan.name)
        return replace(entry, offline_reason="", offline_since=None, failures=0, backoff_until=None)

    def _serve_requests(self, plan: IntegrationPlan, requests: Sequence[SyncRequest], tick: _Tick) -> None:
        """Queue one manual run serving every pending request of the integration (once it is free)."""
        if plan.name in tick.busy:
            return  # served when the run going now has ended
        ids = tuple(r.id for r in requests)
        wanted = {r.business_user for r in requests}
        users: tuple[str, ...] | None = None
        if None not in wanted:
            users = tuple(sorted(u for u in wanted if u is not None and u in plan.users))
            if not users:  # every requested user was removed meanwhile
                self._schedule.drop_requests(ids)
                return
        request = RunRequest(plan.name, JobKind.MANUAL, users=users, request_ids=ids)
        if self._queue.submit(request):
            tick.busy.add(plan.name)
            tick.requested.add(plan.name)
            tick.submitted.append(request)
            self._manual.add(plan.name)

    def _turn(self, plan: IntegrationPlan, entry: ScheduleEntry, tick: _Tick) -> None:
        turn = cadence.turn(plan, entry, tick.now)
        if turn is None:
            due = cadence.next_due(plan, entry, tick.now)
            if entry.next_run_at != due:
                self._schedule.note_next_run(plan.name, due)
            return
        if plan.name in tick.requested or plan.name in self._manual:
            # a manual run (sync now, a change notification) is queued or going: the turn waits for it and runs
            # when it ends, instead of being skipped for a whole interval
            return
        step = cadence.clock_step(plan, entry, tick.now)
        if entry.last_turn_at is not None and entry.last_turn_at - tick.now > cadence.interval(plan):
            self._clock_stepped_back(plan, step)  # once: this turn moves the grid to now
        # the integration's back-off stays as recorded until its next run, which records a new one
        backoff_until = cadence.moved_back(entry.backoff_until, step)
        next_at = turn.next_at
        if plan.name in tick.busy:
            self._record_skip(plan.name, turn)
            tick.skipped.append(plan.name)
        elif entry.online and not _after(backoff_until, tick.now):
            users = self._available(plan, tick.now)
            if users != ():
                kind = JobKind.FULL if turn.full else JobKind.INTERVAL
                request = RunRequest(plan.name, kind, full=turn.full, users=users, due_at=turn.at)
                if self._queue.submit(request):
                    tick.busy.add(plan.name)
                    tick.submitted.append(request)
                else:
                    self._record_skip(plan.name, turn)
                    tick.skipped.append(plan.name)
        elif backoff_until is not None:
            next_at = max(next_at, backoff_until)
        self._schedule.note_turn(plan.name, turn.at, next_at)

    def _clock_stepped_back(self, plan: IntegrationPlan, step: timedelta) -> None:
        """The clock went back by ``step`` (as far as the schedule can tell): the mailboxes' back-offs and the
        integration's recorded times move back with it, recorded, since the runs to come record times on the new
        clock (recomputed at each tick instead, the step shrank as the clock went on and a back-off stayed ahead)."""
        logger.warning("the clock went back %s: the turns of %s start again from now", step, plan.name)
        moved = [replace(b, until=b.until - step) for b in self._schedule.backoffs(plan.name).values()]
        if moved:
            self._schedule.note_mailboxes(plan.name, moved, ())
        self._schedule.note_clock_step(plan.name, step)

    def _available(self, plan: IntegrationPlan, now: datetime) -> tuple[str, ...] | None:
        """The users to run: ``None`` for all, else those not backing off (``()`` when every one is)."""
        waiting = {user for user, b in self._schedule.backoffs(plan.name).items() if _after(b.until, now)}
        if not waiting or not plan.users:
            return None
        return tuple(user for user in plan.users if user not in waiting)

    def _record_skip(self, integration: str, turn: cadence.Turn) -> None:
        """A job of its own in the history, so an admin sees why a run did not happen."""
        kind = JobKind.FULL if turn.full else JobKind.INTERVAL
        job = self._jobs.start_job(integration, kind)
        message = f"skipped: the previous run of {integration} was still going"
        self._jobs.finish_job(job, JobOutcome.SKIPPED, {}, message)
        logger.info("%s", message)

    def _recover(self, now: datetime) -> int:
        """Close the jobs of runs that died with their process (the lease was just taken, or it is time)."""
        if self._recovery is None:
            return 0
        closed = self._recovery.interrupt_orphans(now)
        for job in closed:
            logger.warning("job %d of %s was left running by a process that stopped: marked failed", job.id, job.pair)
        return len(closed)

    def _housekeeping_due(self, now: datetime) -> bool:
        """Whether it is time to prune and look for orphaned jobs again (every ``prune_every``)."""
        if self._pruned_at is not None and now - self._pruned_at < self.config.prune_every:
            return False
        self._pruned_at = now
        return True

    def _prune(self, now: datetime) -> int:
        pruned = self._jobs.prune_jobs(now - timedelta(days=self.config.keep_days))
        self._schedule.forget_stale()
        if pruned:
            logger.info("pruned %d jobs older than %d days", pruned, self.config.keep_days)
        return pruned


def _after(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment > now
