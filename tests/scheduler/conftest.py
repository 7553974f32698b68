"""A scheduler on a real state database with a recording runner: the parts the scheduler tests share.

``RecordingRunner`` stands in for ``calsync.services.hub_sync.sync_integration`` behind the ``IntegrationRunner``
port. It does what the engine does around a run with the real store (takes each pair's lock, records one job
per pair) and answers with real ``PairOutcome`` values; a test decides which mailboxes fail and with what, and
can hold runs at a gate to have them still going when the next turn comes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.errors import AuthError, PairLocked
from calsync.jobs.inprocess import InProcessQueue
from calsync.scheduler.runner import RunRecorder
from calsync.scheduler.service import Scheduler, SchedulerConfig
from calsync.services.syncing import PairOutcome
from calsync.state.admin import SQLAdminStore, open_admin_store
from calsync.state.admin_port import IntegrationRecord, UserRecord
from calsync.state.schedule import SQLScheduleStore, open_schedule_store
from calsync.state.sql import SQLStore, open_store
from calsync.state.store import JobKind, JobOutcome, run_owner
from calsync.sync.report import Report


class FakeClock:
    """The scheduler's clock, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


@dataclass(frozen=True, slots=True)
class Call:
    integration: str
    kind: JobKind
    full: bool
    users: tuple[str, ...] | None
    at: datetime


@dataclass(frozen=True, slots=True)
class FakeRun:
    """Shaped like ``calsync.services.hub_sync.IntegrationRun``."""

    integration: str
    outcomes: list[PairOutcome]

    @property
    def failed(self) -> bool:
        return any(o.failed for o in self.outcomes)

    @property
    def auth_failed(self) -> bool:
        return any(isinstance(o.error, AuthError) for o in self.outcomes)


@dataclass
class RecordingRunner:
    """The ``IntegrationRunner`` double: records calls, syncs nothing, records real jobs and takes real locks."""

    store: SQLStore
    admin: SQLAdminStore
    clock: FakeClock
    calls: list[Call] = field(default_factory=list)
    errors: dict[str, Exception] = field(default_factory=dict)
    raises: Exception | None = None
    gate: threading.Event | None = None
    running: int = 0
    most_running: int = 0
    locked_out: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, integration: str, *, kind: JobKind, full: bool, users: Sequence[str] | None = None) -> FakeRun:
        with self._lock:
            self.calls.append(Call(integration, kind, full, tuple(users) if users is not None else None, self.clock()))
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            if self.gate is not None:
                assert self.gate.wait(10), "the test never opened the gate"
            if self.raises is not None:
                raise self.raises
            chosen = users if users is not None else [u.business_user for u in self.admin.users(integration)]
            return FakeRun(
                integration, [self._pair(f"{integration}/{user}/events", user, kind, full) for user in chosen]
            )
        finally:
            with self._lock:
                self.running -= 1

    def _pair(self, name: str, user: str, kind: JobKind, full: bool) -> PairOutcome:
        try:
            with self.store.lock_pair(name, run_owner()):
                job = self.store.start_job(name, JobKind.FULL if full else kind)
                if user in self.errors:
                    self.store.finish_job(job, JobOutcome.FAILED, {}, str(self.errors[user]))
                    return PairOutcome(name, "business:x", "calendar:x", error=self.errors[user])
                report = Report(name)
                report.b.created = 1
                self.store.finish_job(job, report.outcome, report.counts())
                return PairOutcome(name, "business:x", "calendar:x", report=report)
        except PairLocked as exc:
            self.locked_out.append(name)
            return PairOutcome(name, "business:x", "calendar:x", error=exc)


@dataclass
class Rig:
    """A scheduler with its stores, queue, runner and clock."""

    url: str
    store: SQLStore
    schedule: SQLScheduleStore
    admin: SQLAdminStore
    clock: FakeClock
    runner: RecordingRunner
    queue: InProcessQueue
    scheduler: Scheduler

    def add(self, name: str, users: Sequence[str] = ("T1", "T2"), *, interval: int = 20, full: int = 1440) -> None:
        record = IntegrationRecord(name, "ACME", "caldav", "basic", interval_minutes=interval, full_sync_minutes=full)
        self.admin.add_integration(record)
        for user in users:
            self.admin.put_user(name, UserRecord(user, f"{user.lower()}@{name}.example.com"))

    def tick(self) -> None:
        """One tick, then wait until every run it queued has ended."""
        self.scheduler.tick()
        self.drain()

    def drain(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.queue.busy():
            assert time.monotonic() < deadline, f"runs still going: {self.queue.busy()}"
            time.sleep(0.002)

    def wait_for_calls(self, count: int, timeout: float = 10.0) -> None:
        """Wait until the runner was called ``count`` times (a queued run starts on a worker thread)."""
        deadline = time.monotonic() + timeout
        while len(self.runner.calls) < count:
            assert time.monotonic() < deadline, f"{len(self.runner.calls)} runs started, not {count}"
            time.sleep(0.002)

    def kinds(self) -> list[tuple[JobKind, bool]]:
        return [(call.kind, call.full) for call in self.runner.calls]


def make_rig(url: str, *, config: SchedulerConfig | None = None, owner: str = "test-host:1") -> Iterator[Rig]:
    store = open_store(url)
    schedule = open_schedule_store(url)
    admin = open_admin_store(url)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1))  # after any admin edit
    runner = RecordingRunner(store, admin, clock)
    recorder = RunRecorder(runner, schedule, clock=clock, cap=timedelta(hours=6))
    queue = InProcessQueue(recorder, workers=2)
    scheduler = Scheduler(schedule, store, queue, clock=clock, config=config, owner=owner)
    try:
        yield Rig(url, store, schedule, admin, clock, runner, queue, scheduler)
    finally:
        if runner.gate is not None:
            runner.gate.set()
        queue.shutdown(10)
        for opened in (admin, schedule, store):
            opened.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """A scheduler on a fresh SQLite database."""
    yield from make_rig(f"sqlite:///{tmp_path / 'state.db'}")


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
