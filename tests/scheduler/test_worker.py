"""The scheduler as a part of a process: started on its thread, stopped with a bound on the runs still going."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from calsync.config import Settings, StateSettings
from calsync.scheduler.service import SchedulerConfig
from calsync.scheduler.worker import SchedulerProcess, WorkerOptions
from calsync.state.schedule import open_schedule_store
from calsync.state.schedule_port import SCHEDULER_LEASE
from calsync.state.sql import open_store
from calsync.state.store import JobKind, JobOutcome
from tests.scheduler.conftest import Rig, make_rig

FAST = SchedulerConfig(tick_seconds=0.05, lease_seconds=1.0)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The recording runner and the stores the test inspects; the process under test opens its own."""
    yield from make_rig(f"sqlite:///{tmp_path / 'state.db'}")


def process(rig: Rig, grace: float) -> SchedulerProcess:
    settings = Settings(source=None, state=StateSettings(rig.url))
    return SchedulerProcess(settings, WorkerOptions(workers=1, grace_seconds=grace, scheduler=FAST), runner=rig.runner)


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_stopping_lets_a_running_sync_finish_within_the_grace_time(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.runner.gate = threading.Event()
    running = process(rig, grace=10)
    running.start()
    wait_for(lambda: rig.runner.calls)
    assert rig.schedule.lease_holder(SCHEDULER_LEASE) is not None
    threading.Timer(0.2, rig.runner.gate.set).start()
    assert running.stop() == frozenset()
    assert rig.schedule.entry("acme").last_outcome is JobOutcome.COMPLETED
    assert rig.schedule.lease_holder(SCHEDULER_LEASE) is None


def test_stopping_leaves_a_sync_that_outlasts_the_grace_time_to_be_resumed(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.runner.gate = threading.Event()
    running = process(rig, grace=0.2)
    running.start()
    wait_for(lambda: rig.runner.calls)
    began = time.monotonic()
    assert running.stop() == {"acme"}
    assert time.monotonic() - began < 5
    assert rig.schedule.lease_holder(SCHEDULER_LEASE) is None  # a successor need not wait for it


def test_a_scheduler_starts_once(rig: Rig) -> None:
    running = process(rig, grace=1)
    running.start()
    try:
        with pytest.raises(RuntimeError, match="started already"):
            running.start()
    finally:
        running.stop()


def test_the_real_hub_syncs_an_integration_on_schedule(tmp_path: Path) -> None:
    from tests.services.hubworld import event, make_world

    world = make_world(tmp_path)
    (tmp_path / "cal").mkdir()
    world.push(("B-1", "tech1", event("Boiler service")))
    running = SchedulerProcess(world.settings, WorkerOptions(workers=1, grace_seconds=10, scheduler=FAST))
    running.start()
    try:
        schedule = open_schedule_store(str(tmp_path / "state.db"))
        try:
            wait_for(lambda: schedule.entry("acme").last_outcome is not None, timeout=60)
            entry = schedule.entry("acme")
        finally:
            schedule.close()
    finally:
        assert running.stop() == frozenset()
    assert (entry.last_outcome, entry.online, entry.last_full_at is not None) == (JobOutcome.COMPLETED, True, True)
    written = list((tmp_path / "cal").rglob("*.ics"))
    assert len(written) == 1 and "Boiler service" in written[0].read_text(encoding="utf-8")
    store = open_store(str(tmp_path / "state.db"))
    try:
        pairs = {job.pair: (job.kind, job.outcome) for job in store.jobs()}
    finally:
        store.close()
    assert pairs["acme/tech1/events"] == (JobKind.FULL, JobOutcome.COMPLETED)


def test_a_turn_whose_run_was_dropped_at_stop_is_due_again_after_a_restart(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.add("beta", full=0)  # one worker: beta's run waits in the queue behind acme's
    rig.runner.gate = threading.Event()
    running = process(rig, grace=0.2)
    running.start()
    wait_for(lambda: rig.runner.calls)
    wait_for(lambda: rig.schedule.entry("acme").last_turn_at and rig.schedule.entry("beta").last_turn_at)
    waiting = "beta" if rig.runner.calls[0].integration == "acme" else "acme"
    noted = rig.schedule.entry(waiting).last_turn_at
    assert noted is not None
    running.stop()  # the queued run is dropped before it started
    rig.runner.gate.set()
    entry = rig.schedule.entry(waiting)
    assert entry.last_turn_at is not None and entry.last_turn_at < noted  # its turn is due again
    assert entry.next_run_at == noted
