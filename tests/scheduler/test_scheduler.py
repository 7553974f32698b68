"""The scheduler with an injected clock, a real SQLite state database, real worker threads and a recording runner."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from calsync.errors import AuthError, ConfigError, Unavailable
from calsync.jobs.queue import RunRequest
from calsync.scheduler.runner import RunRecorder
from calsync.services.jobs import JobService
from calsync.state.store import JobKind, JobOutcome
from tests.scheduler.conftest import RecordingRunner, Rig

INTERVAL = (JobKind.INTERVAL, False)
FULL = (JobKind.FULL, True)


def test_interval_runs_every_interval_and_a_full_sync_once_a_day(rig: Rig) -> None:
    rig.add("acme", interval=20, full=1440)
    start = rig.clock.now
    for _ in range(0, 24 * 60 + 41, 5):
        rig.tick()
        rig.clock.advance(5)
    assert len(rig.runner.calls) == 24 * 3 + 3
    full_at = [call.at - start for call in rig.runner.calls if call.full]
    assert full_at == [timedelta(0), timedelta(days=1)]
    assert [call.at - start for call in rig.runner.calls[:3]] == [timedelta(minutes=m) for m in (0, 20, 40)]
    assert rig.kinds()[1:4] == [INTERVAL] * 3


def test_full_sync_zero_means_never(rig: Rig) -> None:
    rig.add("acme", interval=20, full=0)
    for _ in range(4):
        rig.tick()
        rig.clock.advance(20)
    assert rig.kinds() == [INTERVAL] * 4


def test_a_full_sync_interval_shorter_than_the_interval_makes_every_run_full(rig: Rig) -> None:
    rig.add("acme", interval=20, full=5)
    rig.add("same", interval=20, full=20)
    for _ in range(3):
        rig.tick()
        rig.clock.advance(20)
    assert rig.kinds() == [FULL] * 6


def test_the_longest_intervals(rig: Rig) -> None:
    rig.add("daily", interval=1440, full=1440)
    for _ in range(3):
        rig.tick()
        rig.clock.advance(720)
    assert rig.kinds() == [FULL, FULL]


def test_a_late_tick_keeps_the_grid_and_a_long_absence_makes_nothing_up(rig: Rig) -> None:
    rig.add("acme", full=0)
    start = rig.clock.now
    for minutes in (0, 21, 42, 63, 200):
        rig.clock.now = start + timedelta(minutes=minutes)
        rig.tick()
    assert [call.at - start for call in rig.runner.calls] == [timedelta(minutes=m) for m in (0, 21, 42, 63, 200)]
    entry = rig.schedule.entry("acme")
    assert entry.last_turn_at == start + timedelta(minutes=200)
    assert entry.next_run_at == start + timedelta(minutes=220)
    rig.clock.now = start + timedelta(minutes=221)
    rig.tick()
    assert rig.schedule.entry("acme").last_turn_at == start + timedelta(minutes=220)  # on its grid again


def test_a_run_still_going_at_its_next_turn_is_not_started_twice_and_the_skip_is_recorded(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.runner.gate = threading.Event()
    rig.scheduler.tick()
    rig.clock.advance(20)
    report = rig.scheduler.tick()
    assert report.skipped == ("acme",) and report.submitted == ()
    rig.runner.gate.set()
    rig.drain()
    assert len(rig.runner.calls) == 1
    skipped = [job for job in rig.store.jobs() if job.outcome is JobOutcome.SKIPPED]
    assert [(job.pair, job.kind) for job in skipped] == [("acme", JobKind.INTERVAL)]
    assert "still going" in skipped[0].message
    rig.clock.advance(20)
    rig.tick()
    assert len(rig.runner.calls) == 2


def test_a_pair_never_runs_twice_at_once_even_with_sync_now_during_a_run(rig: Rig) -> None:
    rig.add("acme", full=0)
    jobs = JobService(rig.store, rig.schedule, rig.schedule, clock=rig.clock, wake=rig.scheduler.wake)
    rig.runner.gate = threading.Event()
    rig.scheduler.tick()
    rig.wait_for_calls(1)
    jobs.sync_now("acme", "T2")
    rig.scheduler.tick()  # the interval run is still going: the request waits
    assert len(rig.runner.calls) == 1
    rig.runner.gate.set()
    rig.drain()
    rig.tick()
    assert [(c.kind, c.users) for c in rig.runner.calls] == [(JobKind.INTERVAL, None), (JobKind.MANUAL, ("T2",))]
    assert rig.runner.most_running == 1
    assert rig.runner.locked_out == []
    assert rig.schedule.requests() == []


def test_a_manual_run_comes_before_a_due_turn_which_then_follows(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.tick()
    rig.clock.advance(20)
    JobService(rig.store, rig.schedule, rig.schedule, clock=rig.clock).sync_now("acme")
    rig.tick()
    rig.tick()
    assert [c.kind for c in rig.runner.calls] == [JobKind.INTERVAL, JobKind.MANUAL, JobKind.INTERVAL]
    assert not [job for job in rig.store.jobs() if job.outcome is JobOutcome.SKIPPED]


def test_runs_of_different_integrations_go_side_by_side(rig: Rig) -> None:
    rig.add("acme")
    rig.add("beta")
    rig.runner.gate = threading.Event()
    report = rig.scheduler.tick()
    assert sorted(r.integration for r in report.submitted) == ["acme", "beta"]
    rig.wait_for_calls(2)
    rig.runner.gate.set()
    rig.drain()
    assert rig.runner.most_running == 2


def test_a_pair_held_by_another_run_is_skipped_not_failed(rig: Rig) -> None:
    rig.add("acme", users=("T1",), full=0)
    with rig.store.lock_pair("acme/T1/events", "cli-host:42"):
        rig.tick()
    entry = rig.schedule.entry("acme")
    assert (entry.last_outcome, entry.failures) == (JobOutcome.SKIPPED, 0)
    assert rig.schedule.backoffs("acme") == {}


def test_a_failing_mailbox_backs_off_exponentially_and_recovers(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.runner.errors["T1"] = Unavailable("mailbox T1 unreachable")
    for _ in range(8):
        rig.tick()
        rig.clock.advance(20)
    runs = [call.users for call in rig.runner.calls]
    # T1 fails at minute 0 (waits 20), 20 (waits 40), 60 (waits 80) and 140: left out at 40, 80, 100 and 120
    assert runs == [None, None, ("T2",), None, ("T2",), ("T2",), ("T2",), None]
    backoff = rig.schedule.backoffs("acme")["T1"]
    assert (backoff.failures, backoff.error) == (4, "mailbox T1 unreachable")
    assert rig.schedule.entry("acme").last_outcome is JobOutcome.WARNINGS  # T2 ran, T1 failed again
    del rig.runner.errors["T1"]
    rig.clock.advance(200)
    rig.tick()
    assert rig.runner.calls[-1].users is None
    assert rig.schedule.backoffs("acme") == {}
    status = JobService(rig.store, rig.schedule, rig.schedule, clock=rig.clock).status()
    assert status[0].waiting_users == ()


def test_a_run_that_cannot_start_backs_the_integration_off(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.runner.raises = ConfigError("connection type not runnable")
    for _ in range(4):
        rig.tick()
        rig.clock.advance(20)
    assert len(rig.runner.calls) == 3  # turns 0, 1 and 2 ran; turn 3 waits out a back-off of 40 minutes
    entry = rig.schedule.entry("acme")
    assert (entry.failures, entry.last_outcome, entry.online) == (3, JobOutcome.FAILED, True)
    assert entry.backoff_until == rig.runner.calls[-1].at + timedelta(minutes=80)
    status = JobService(rig.store, rig.schedule, rig.schedule, clock=rig.clock).status()[0]
    assert status.next_run == entry.backoff_until


def test_refused_credentials_take_the_integration_offline_until_retry(rig: Rig) -> None:
    rig.add("acme", full=0)
    refused = AuthError("401 Unauthorized: the service account's password was refused")
    rig.runner.errors.update(T1=refused, T2=refused)
    rig.tick()
    for _ in range(5):
        rig.clock.advance(20)
        rig.tick()
    assert len(rig.runner.calls) == 1
    jobs = JobService(rig.store, rig.schedule, rig.schedule, clock=rig.clock, wake=rig.scheduler.wake)
    status = jobs.status()[0]
    assert (status.online, status.next_run) == (False, None)
    assert "password was refused" in status.offline_reason
    rig.runner.errors.clear()
    jobs.retry("acme")
    rig.clock.advance(20)
    rig.tick()
    assert len(rig.runner.calls) == 2
    assert jobs.status()[0].online is True


def test_an_admins_edit_of_an_offline_integration_brings_it_back(rig: Rig) -> None:
    rig.add("acme", users=("T1",), full=0)
    rig.clock.now = datetime.now(UTC)  # the edit below is stamped by the real clock
    rig.runner.errors["T1"] = AuthError("consent missing")
    rig.tick()
    rig.tick()  # no edit yet: stays offline
    assert rig.schedule.entry("acme").online is False
    record = rig.admin.integration("acme")
    assert record is not None
    rig.admin.replace_integration(record)  # what IntegrationService.update does, with new credentials
    rig.runner.errors.clear()
    rig.tick()
    assert rig.schedule.entry("acme").online is True
    rig.clock.advance(20)
    rig.tick()
    assert len(rig.runner.calls) == 2


def test_one_mailbox_refused_does_not_take_the_integration_offline(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.runner.errors["T1"] = AuthError("impersonation of T1 denied")
    rig.tick()
    entry = rig.schedule.entry("acme")
    assert (entry.online, entry.last_outcome) == (True, JobOutcome.WARNINGS)
    assert rig.schedule.backoffs("acme")["T1"].failures == 1


def test_a_full_sync_that_failed_is_tried_again_at_the_next_turn(rig: Rig) -> None:
    rig.add("acme", users=("T1",), interval=20, full=1440)
    rig.runner.errors["T1"] = Unavailable("down")
    rig.tick()
    rig.runner.errors.clear()
    rig.clock.advance(20)
    rig.tick()
    rig.clock.advance(20)
    rig.tick()
    assert rig.kinds() == [FULL, FULL, INTERVAL]


def test_job_history_is_pruned_after_the_configured_days(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.tick()
    rig.clock.advance(29 * 24 * 60)
    assert rig.scheduler.tick().pruned == 0
    rig.drain()
    assert len(rig.store.jobs()) == 4
    rig.clock.advance(2 * 24 * 60)
    assert rig.scheduler.tick().pruned == 4  # every job finished more than 30 days before the clock's now
    rig.drain()
    assert len(rig.store.jobs()) == 2


def test_requests_for_removed_users_are_dropped(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.tick()
    JobService(rig.store, rig.schedule, rig.schedule, clock=rig.clock).sync_now("acme", "T1")
    rig.admin.remove_user("acme", "T1")
    rig.tick()
    assert len(rig.runner.calls) == 1
    assert rig.schedule.requests() == []


def test_a_request_is_a_plain_json_document_for_a_distributed_queue() -> None:
    import json

    request = RunRequest("acme", JobKind.FULL, full=True, users=("T1",), request_ids=(3, 4))
    assert RunRequest.from_args(json.loads(json.dumps(request.as_args()))) == request


def test_a_refused_mailbox_in_a_one_user_run_does_not_take_the_integration_offline(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.tick()  # the first turn: both users fine
    jobs = JobService(rig.store, rig.schedule, rig.schedule, clock=rig.clock, wake=rig.scheduler.wake)
    rig.runner.errors["T1"] = AuthError("403 ErrorAccessDenied: T1 is outside the application access policy")
    jobs.sync_now("acme", "T1")
    rig.tick()
    entry = rig.schedule.entry("acme")
    assert entry.online is True and entry.failures == 0, entry
    assert rig.schedule.backoffs("acme")["T1"].failures == 1
    rig.clock.advance(20)
    rig.tick()
    last = rig.runner.calls[-1]  # the next interval turn still runs T2
    assert last.users is None or "T2" in last.users


def test_a_turn_that_meets_a_running_manual_run_waits_for_it_instead_of_being_skipped(rig: Rig) -> None:
    rig.add("acme", full=0)
    rig.tick()
    rig.clock.advance(20)
    jobs = JobService(rig.store, rig.schedule, rig.schedule, clock=rig.clock, wake=rig.scheduler.wake)
    rig.runner.gate = threading.Event()
    jobs.sync_now("acme", "T1")  # a change notification, say, just before the turn
    rig.scheduler.tick()
    rig.wait_for_calls(2)
    rig.clock.advance(1)
    rig.scheduler.tick()  # the manual run is still going: the due turn waits, it is not skipped
    rig.runner.gate.set()
    rig.drain()
    rig.tick()
    assert [c.kind for c in rig.runner.calls] == [JobKind.INTERVAL, JobKind.MANUAL, JobKind.INTERVAL]
    assert not [job for job in rig.store.jobs() if job.outcome is JobOutcome.SKIPPED]


# -- a clock stepped back, a mailbox backing off, a run that starts late ------------------------------------------


def test_a_clock_stepped_back_keeps_the_turns_coming_and_shortens_no_wait(rig: Rig) -> None:
    # Why: turns were due one interval after the last recorded one, so after the host clock stepped back three
    # hours nothing ran for three hours, and a back-off recorded before the step was stretched by it too
    rig.add("acme", full=0)
    rig.runner.errors["T1"] = Unavailable("mailbox T1 unreachable")
    rig.tick()
    rig.clock.advance(20)
    rig.tick()  # T1 failed twice: left out for 40 minutes from this turn
    del rig.runner.errors["T1"]
    rig.clock.advance(-3 * 60)
    for _ in range(6):
        rig.clock.advance(10)
        rig.tick()
    runs = [call.users for call in rig.runner.calls[2:]]
    assert runs == [("T2",), ("T2",), None]  # every 20 minutes from the step; T1 back after its 40 minutes


def test_an_integration_backing_off_when_the_clock_steps_back_runs_again_after_its_back_off(rig: Rig) -> None:
    # Why: its back-off was moved back at each tick by a step measured from its last run, which no run moved on
    # while it backed off: the step shrank as the clock went on and the back-off stayed three hours ahead
    rig.add("acme", full=0)
    rig.runner.raises = ConfigError("server down")
    rig.tick()
    rig.clock.advance(20)
    rig.tick()  # failed twice: backing off 40 minutes from this turn
    before = len(rig.runner.calls)
    rig.runner.raises = None
    rig.clock.advance(-3 * 60)
    for _ in range(18):
        rig.clock.advance(10)
        rig.tick()
    assert len(rig.runner.calls) - before >= 3


def test_a_mailbox_backing_off_does_not_make_every_turn_a_full_sync(rig: Rig) -> None:
    # Why: a full sync was recorded only when it covered every user, so while the scheduler left one mailbox
    # out, every turn after the day was up was a full sync again
    rig.add("acme", interval=20, full=1440)
    rig.runner.errors["T2"] = Unavailable("T2's calendar is gone")
    start = rig.clock.now
    for _ in range(0, 30 * 60, 20):
        rig.tick()
        rig.clock.advance(20)
    assert [call.at - start for call in rig.runner.calls if call.full] == [timedelta(0), timedelta(days=1)]


def test_a_first_failure_costs_no_turn_when_the_run_started_after_it(rig: Rig) -> None:
    # Why: the back-off counted from the run's start, so a run a worker picked up a moment after its turn
    # backed off past the next turn, and one blip cost two intervals
    late = RecordingRunner(rig.store, rig.admin, rig.clock)
    recorder = RunRecorder(late, rig.schedule, clock=lambda: rig.clock() + timedelta(seconds=5), cap=timedelta(hours=6))
    rig.add("acme", full=0)
    late.errors["T1"] = Unavailable("blip")
    recorder(RunRequest("acme", JobKind.INTERVAL, due_at=rig.clock()))
    assert rig.schedule.backoffs("acme")["T1"].until == rig.clock() + timedelta(minutes=20)
    late.raises = ConfigError("server down for a moment")
    recorder(RunRequest("acme", JobKind.INTERVAL, due_at=rig.clock()))
    assert rig.schedule.entry("acme").backoff_until == rig.clock() + timedelta(minutes=20)
