"""Jobs left running by a process that stopped: closed as failed when a scheduler takes the lease (and at each
pruning), on SQLite and PostgreSQL, and only those whose run cannot still be going."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from calsync.config import Settings, StateSettings
from calsync.scheduler.service import Scheduler, SchedulerConfig
from calsync.scheduler.worker import SchedulerProcess, WorkerOptions
from calsync.state.db import Database, database_url
from calsync.state.recovery import SQLJobRecovery, open_job_recovery
from calsync.state.recovery_port import INTERRUPTED
from calsync.state.store import JobKind, JobOutcome, run_owner
from calsync.state.tables.sync import locks
from tests.scheduler.conftest import Rig, make_rig
from tests.state.conftest import ended_process_owner


@pytest.fixture
def rig(db_url: str) -> Iterator[Rig]:
    yield from make_rig(db_url)


@pytest.fixture
def recovery(rig: Rig) -> Iterator[SQLJobRecovery]:
    opened = open_job_recovery(rig.url)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def dead_owner() -> str:
    """The run owner of a process of this machine that has ended."""
    return ended_process_owner()


def hold(rig: Rig, pair: str, owner: str) -> None:
    """The pair's lock held by ``owner`` for an hour, as a run of that owner would have left it (the owner is
    gone, or runs on another machine)."""
    db = Database(database_url(rig.url))
    try:
        with db.write() as conn:
            expires = db.now(conn) + timedelta(hours=1)
            conn.execute(insert(locks).values(name=f"pair:{pair}", owner=owner, expires_at=expires))
    finally:
        db.close()


def outcome(rig: Rig, job: int) -> tuple[JobOutcome, str]:
    found = rig.schedule.job(job)
    assert found is not None
    return found.outcome, found.message


def test_only_jobs_whose_run_cannot_be_going_are_closed(rig: Rig, recovery: SQLJobRecovery, dead_owner: str) -> None:
    hold(rig, "acme/T1/events", dead_owner)
    killed = rig.store.start_job("acme/T1/events", JobKind.INTERVAL)
    unlocked = rig.store.start_job("acme/T2/events", JobKind.FULL)  # its lock ran out or was given up
    hold(rig, "acme/T3/events", "another-host:4242")
    elsewhere = rig.store.start_job("acme/T3/events", JobKind.INTERVAL)
    hold(rig, "acme/T4/events", "another-host:4243")
    older = rig.store.start_job("acme/T4/events", JobKind.INTERVAL)
    newer = rig.store.start_job("acme/T4/events", JobKind.MANUAL)  # runs of a pair never overlap
    ended = rig.store.start_job("acme/T5/events", JobKind.INTERVAL)
    rig.store.finish_job(ended, JobOutcome.COMPLETED, {"b.created": 1})

    closed = recovery.interrupt_orphans(rig.clock.now)

    assert sorted(job.id for job in closed) == sorted([killed, unlocked, older])
    for job in (killed, unlocked, older):
        assert outcome(rig, job) == (JobOutcome.FAILED, INTERRUPTED)
    for job in (elsewhere, newer):
        assert outcome(rig, job) == (JobOutcome.RUNNING, "")
    assert outcome(rig, ended) == (JobOutcome.COMPLETED, "")
    assert recovery.interrupt_orphans(rig.clock.now) == []  # closed once


def test_a_run_of_this_process_that_is_going_is_left_alone(rig: Rig, recovery: SQLJobRecovery) -> None:
    with rig.store.lock_pair("acme/T1/events", run_owner()):  # this process: alive
        job = rig.store.start_job("acme/T1/events", JobKind.INTERVAL)
        assert recovery.interrupt_orphans(rig.clock.now) == []
        rig.store.finish_job(job, JobOutcome.COMPLETED, {})
    assert outcome(rig, job) == (JobOutcome.COMPLETED, "")


def test_a_scheduler_closes_orphans_when_it_takes_the_lease_and_then_at_each_pruning(
    rig: Rig, recovery: SQLJobRecovery, dead_owner: str
) -> None:
    hold(rig, "acme/T1/events", dead_owner)
    first = rig.store.start_job("acme/T1/events", JobKind.INTERVAL)
    config = SchedulerConfig(prune_every=timedelta(hours=1))
    follower = Scheduler(rig.schedule, rig.store, rig.queue, clock=rig.clock, owner="b:2", recovery=recovery)
    leader = Scheduler(
        rig.schedule, rig.store, rig.queue, clock=rig.clock, owner="a:1", config=config, recovery=recovery
    )
    assert leader.tick().interrupted == 1
    assert outcome(rig, first) == (JobOutcome.FAILED, INTERRUPTED)

    second = rig.store.start_job("acme/T2/events", JobKind.INTERVAL)  # e.g. a `calsync sync` killed since
    assert follower.tick().leader is False
    rig.clock.advance(10)
    assert leader.tick().interrupted == 0  # not looked for at every tick
    assert outcome(rig, second)[0] is JobOutcome.RUNNING
    rig.clock.advance(60)
    assert leader.tick().interrupted == 1  # the hourly pruning looks again
    assert outcome(rig, second) == (JobOutcome.FAILED, INTERRUPTED)


def test_starting_a_worker_closes_what_a_stopped_one_left_running(tmp_path: Path, dead_owner: str) -> None:
    for rig in make_rig(f"sqlite:///{tmp_path / 'state.db'}"):
        hold(rig, "acme/T1/events", dead_owner)
        job = rig.store.start_job("acme/T1/events", JobKind.FULL)
        settings = Settings(source=None, state=StateSettings(rig.url))
        fast = SchedulerConfig(tick_seconds=0.05, lease_seconds=1.0)
        process = SchedulerProcess(
            settings, WorkerOptions(workers=1, grace_seconds=1, scheduler=fast), runner=rig.runner
        )
        process.start()
        try:
            deadline = time.monotonic() + 10
            while outcome(rig, job)[0] is JobOutcome.RUNNING:
                assert time.monotonic() < deadline, "the orphan was never closed"
                time.sleep(0.02)
        finally:
            process.stop()
        assert outcome(rig, job) == (JobOutcome.FAILED, INTERRUPTED)
