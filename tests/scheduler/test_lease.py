"""One scheduler per database, on SQLite and on the real PostgreSQL: the lease, its takeover and its release."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from calsync.scheduler.service import SchedulerConfig
from calsync.state.schedule_port import SCHEDULER_LEASE
from tests.scheduler.conftest import Rig, make_rig
from tests.state.conftest import ended_process_owner

SHORT = SchedulerConfig(tick_seconds=0.05, lease_seconds=0.5)


@pytest.fixture
def first(db_url: str) -> Iterator[Rig]:
    yield from make_rig(db_url, config=SHORT, owner="host-a:1")


def second(db_url: str, owner: str) -> Iterator[Rig]:
    return make_rig(db_url, config=SHORT, owner=owner)


def dead_owner() -> str:
    """The owner name a scheduler on this machine had before it was killed."""
    return ended_process_owner()


def test_two_schedulers_on_one_database_do_not_both_sync(db_url: str, first: Rig) -> None:
    first.add("acme")
    for other in second(db_url, "host-b:2"):
        assert first.scheduler.tick().leader is True
        refused = other.scheduler.tick()
        assert (refused.leader, refused.submitted) == (False, ())
        first.drain()
        first.clock.advance(20)
        other.clock.advance(20)
        assert other.scheduler.tick().leader is False
        assert first.scheduler.tick().leader is True  # renewing its own lease
        first.drain()
        assert len(first.runner.calls) == 2 and other.runner.calls == []


def test_a_crashed_schedulers_lease_on_this_machine_is_taken_over_at_once(db_url: str) -> None:
    for crashed in make_rig(db_url, config=SchedulerConfig(), owner=dead_owner()):
        crashed.add("acme")
        assert crashed.scheduler.tick().leader is True
        crashed.drain()
        for successor in second(db_url, "host-b:2"):
            successor.clock.advance(20)
            report = successor.scheduler.tick()
            assert report.leader is True
            assert [r.integration for r in report.submitted] == ["acme"]
            successor.drain()


def test_a_lease_from_another_machine_is_taken_over_once_it_runs_out(db_url: str, first: Rig) -> None:
    assert first.scheduler.tick().leader is True
    for successor in second(db_url, "host-b:2"):
        assert successor.scheduler.tick().leader is False
        time.sleep(SHORT.lease_seconds + 0.2)
        assert successor.scheduler.tick().leader is True
        assert first.scheduler.tick().leader is False  # it stopped renewing in time, so it gave way


def test_a_stopped_scheduler_gives_its_lease_up(db_url: str, first: Rig) -> None:
    stop = threading.Event()
    loop = threading.Thread(target=first.scheduler.run, args=(stop,))
    loop.start()
    deadline = time.monotonic() + 10
    while first.schedule.lease_holder(SCHEDULER_LEASE) != "host-a:1":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stop.set()
    first.scheduler.wake()
    loop.join(10)
    assert not loop.is_alive()
    assert first.schedule.lease_holder(SCHEDULER_LEASE) is None
