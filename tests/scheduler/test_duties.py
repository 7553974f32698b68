"""The lease holder's chores through the scheduler's tick with an injected clock: webhooks delivered to a real
HTTP receiver on loopback, retried on the clock, never by a scheduler that waits for the lease, and never
holding up the syncs when the receiver hangs or a chore fails."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from calsync.crypto import Cipher, new_key
from calsync.errors import StateError
from calsync.scheduler.duties import InBackground, WebhookDelivery
from calsync.scheduler.service import Scheduler, SchedulerConfig
from calsync.services.access import DeliveryState, EventType, RetryPolicy, WebhookService, verify_signature
from calsync.state.access import SQLAccessStore, open_access_store
from tests.scheduler.conftest import FakeRun, Rig
from tests.services.test_access import Receiver, start_receiver

POLICY = RetryPolicy(max_attempts=3, base=timedelta(seconds=30), cap=timedelta(minutes=5), jitter=0.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started, thread = start_receiver()
    yield started
    started.server.shutdown()
    started.server.server_close()
    thread.join()


@pytest.fixture
def access(rig: Rig) -> Iterator[SQLAccessStore]:
    opened = open_access_store(rig.url)
    yield opened
    opened.close()


def webhooks_on(rig: Rig, access: SQLAccessStore, timeout: float = 5.0) -> WebhookService:
    cipher = Cipher([new_key()], origin="test")
    return WebhookService(access, cipher, clock=rig.clock, policy=POLICY, timeout=timeout, rng=random.Random(1))


def scheduler_with(rig: Rig, *duties: object, owner: str = "test-host:1") -> Scheduler:
    return Scheduler(rig.schedule, rig.store, rig.queue, clock=rig.clock, owner=owner, duties=duties)  # type: ignore[arg-type]


class Recorder:
    """A duty that records the times it was called with, and fails when told to."""

    name = "recorder"

    def __init__(self, fails: Exception | None = None) -> None:
        self.calls: list[datetime] = []
        self.fails = fails

    def __call__(self, now: datetime) -> None:
        self.calls.append(now)
        if self.fails is not None:
            raise self.fails


def test_the_lease_holder_delivers_due_webhooks_and_retries_them_on_its_clock(
    rig: Rig, access: SQLAccessStore, receiver: Receiver
) -> None:
    rig.add("acme", users=("T1",), full=0)
    webhooks = webhooks_on(rig, access)
    made = webhooks.add("acme", receiver.url("/hook"))
    assert made.secret is not None
    receiver.script["/hook"] = [500]
    webhooks.enqueue("acme", EventType.CHANGES, {"since": 0, "next": 3}, "changes-acme-3")
    delivery = InBackground(WebhookDelivery(webhooks, limit=10))
    scheduler = scheduler_with(rig, delivery)

    scheduler.tick()
    assert delivery.join(10)
    rig.drain()
    assert len(receiver.received) == 1 and len(rig.runner.calls) == 1  # the sync ran in the same tick
    assert [d.state for d in webhooks.deliveries("acme")] == [DeliveryState.PENDING]

    rig.clock.advance(0.25)  # 15 s: the retry (30 s after the failure) is not due yet
    scheduler.tick()
    assert delivery.join(10)
    assert len(receiver.received) == 1

    rig.clock.advance(0.5)
    scheduler.tick()
    assert delivery.join(10)
    assert len(receiver.received) == 2
    assert [d.state for d in webhooks.deliveries("acme")] == [DeliveryState.DELIVERED]
    last = receiver.received[-1]
    assert verify_signature(made.secret, last.headers["Calsync-Signature"], last.body, rig.clock.now)
    assert last.headers["Calsync-Event-Id"] == "changes-acme-3"


def test_a_hanging_receiver_holds_up_neither_the_tick_nor_the_syncs(
    rig: Rig, access: SQLAccessStore, receiver: Receiver
) -> None:
    rig.add("acme", users=("T1",), full=0)
    webhooks = webhooks_on(rig, access)
    webhooks.add("acme", receiver.url("/slow"))
    receiver.delay = 0.4
    for n in range(3):
        webhooks.enqueue("acme", EventType.PING, {}, f"ping-{n}")
    delivery = InBackground(WebhookDelivery(webhooks, limit=10))
    scheduler = scheduler_with(rig, delivery)

    began = time.monotonic()
    report = scheduler.tick()
    assert time.monotonic() - began < 0.35  # the tick did not wait for one receiver's answer
    assert [r.integration for r in report.submitted] == ["acme"]
    rig.drain()
    rig.clock.advance(20)
    assert [r.integration for r in scheduler.tick().submitted] == ["acme"]  # the next turn came meanwhile
    assert delivery.passes == 1  # ... and did not start a second pass beside the one going
    assert delivery.join(10)
    assert sorted(r.headers["Calsync-Event-Id"] for r in receiver.received) == ["ping-0", "ping-1", "ping-2"]


def test_a_pass_is_bounded_and_the_rest_goes_at_the_next_ticks(
    rig: Rig, access: SQLAccessStore, receiver: Receiver
) -> None:
    rig.add("acme", users=("T1",), full=0)
    webhooks = webhooks_on(rig, access)
    webhooks.add("acme", receiver.url("/hook"))
    for n in range(5):
        webhooks.enqueue("acme", EventType.PING, {}, f"ping-{n}")
    delivery = InBackground(WebhookDelivery(webhooks, limit=2))
    scheduler = scheduler_with(rig, delivery)
    counts = []
    for _ in range(3):
        scheduler.tick()
        assert delivery.join(10)
        counts.append(len(receiver.received))
    assert counts == [2, 4, 5]


def test_a_scheduler_waiting_for_the_lease_does_no_chores(rig: Rig) -> None:
    rig.add("acme", users=("T1",), full=0)
    leader, follower = Recorder(), Recorder()
    scheduler_with(rig, leader, owner="host-a:1").tick()
    assert not scheduler_with(rig, follower, owner="host-b:2").tick().leader
    assert leader.calls == [rig.clock.now] and follower.calls == []


def test_a_failing_chore_stops_neither_the_syncs_nor_the_other_chores(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.add("acme", users=("T1",), full=0)
    broken, fine = Recorder(StateError("database is locked")), Recorder()
    scheduler = scheduler_with(rig, broken, fine)
    report = scheduler.tick()
    assert [r.integration for r in report.submitted] == ["acme"]
    assert len(broken.calls) == len(fine.calls) == 1
    assert "recorder failed: database is locked" in caplog.text
    rig.clock.advance(1)
    scheduler.tick()
    assert len(broken.calls) == 2  # tried again at the next tick


def test_a_running_worker_delivers_webhooks_by_itself(tmp_path: Path, receiver: Receiver) -> None:
    from calsync.config import Settings, StateSettings
    from calsync.scheduler.worker import SchedulerProcess, WorkerOptions
    from calsync.services.access import open_access
    from calsync.state.admin import open_admin_store
    from calsync.state.admin_port import IntegrationRecord

    url = str(tmp_path / "state.db")
    admin = open_admin_store(url)
    admin.add_integration(IntegrationRecord("acme", "ACME", "caldav", "basic"))
    admin.close()
    settings = Settings(source=None, state=StateSettings(url))
    with open_access(settings) as opened:
        opened.webhooks.add("acme", receiver.url("/hook"))
        opened.webhooks.enqueue("acme", EventType.PING, {}, "ping-1")
    fast = SchedulerConfig(tick_seconds=0.05, lease_seconds=1.0)
    process = SchedulerProcess(
        settings, WorkerOptions(workers=1, grace_seconds=2, scheduler=fast), runner=lambda name, **_: FakeRun(name, [])
    )
    process.start()
    try:
        deadline = time.monotonic() + 10
        while not receiver.received:
            assert time.monotonic() < deadline, "the webhook was never delivered"
            time.sleep(0.02)
    finally:
        process.stop()
    assert [r.headers["Calsync-Event-Id"] for r in receiver.received] == ["ping-1"]
    assert [duty.name for duty in process.duties] == [
        "webhook delivery",
        "graph subscriptions",
        "exchange pull notifications",
    ]
