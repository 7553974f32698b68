"""The scheduler's store on SQLite and on the real PostgreSQL: schedule rows, back-offs, requests, the lease."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from calsync.state.admin import SQLAdminStore, open_admin_store
from calsync.state.admin_port import IntegrationRecord, UserRecord
from calsync.state.schedule import SQLScheduleStore, open_schedule_store
from calsync.state.schedule_port import SCHEDULER_LEASE, MailboxBackoff, RunNote, ScheduleEntry
from calsync.state.sql import SQLStore
from calsync.state.store import JobKind, JobOutcome
from tests.state.conftest import Backend, ended_process_owner

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.fixture
def admin(backend: Backend, store: SQLStore) -> Iterator[SQLAdminStore]:
    opened = open_admin_store(backend.url)
    opened.add_integration(IntegrationRecord("acme", "ACME", "caldav", "basic", interval_minutes=5))
    opened.add_integration(IntegrationRecord("beta_1", "Beta", "graph", "app", full_sync_minutes=0))
    for user in ("T1", "T2"):
        opened.put_user("acme", UserRecord(user, f"{user.lower()}@example.com"))
    yield opened
    opened.close()


@pytest.fixture
def schedule(backend: Backend, admin: SQLAdminStore) -> Iterator[SQLScheduleStore]:
    opened = open_schedule_store(backend.url)
    yield opened
    opened.close()


def test_plans_list_every_integration_with_its_intervals_and_users(schedule: SQLScheduleStore) -> None:
    acme, beta = schedule.plans()
    assert (acme.name, acme.interval_minutes, acme.full_sync_minutes, acme.users) == ("acme", 5, 1440, ("T1", "T2"))
    assert (beta.name, beta.interval_minutes, beta.full_sync_minutes, beta.users) == ("beta_1", 20, 0, ())
    assert acme.changed_at.tzinfo is not None


def test_an_unscheduled_integration_has_the_default_entry(schedule: SQLScheduleStore) -> None:
    assert schedule.entry("acme") == ScheduleEntry("acme")
    assert schedule.entries() == {}


def test_turns_and_runs_write_only_their_own_columns(schedule: SQLScheduleStore) -> None:
    schedule.note_run("acme", RunNote(T0, JobOutcome.COMPLETED, full_at=T0))
    schedule.note_turn("acme", T0 + timedelta(minutes=5), T0 + timedelta(minutes=10))
    schedule.note_run("acme", RunNote(T0 + timedelta(minutes=5), JobOutcome.WARNINGS))
    entry = schedule.entry("acme")
    assert entry.last_turn_at == T0 + timedelta(minutes=5)
    assert entry.next_run_at == T0 + timedelta(minutes=10)
    assert entry.last_full_at == T0  # a run that was not full leaves the last full sync alone
    assert (entry.last_run_at, entry.last_outcome) == (T0 + timedelta(minutes=5), JobOutcome.WARNINGS)
    assert schedule.entries() == {"acme": entry}


def test_offline_keeps_the_time_it_began_until_set_online(schedule: SQLScheduleStore) -> None:
    refused = RunNote(T0, JobOutcome.FAILED, failures=1, backoff_until=T0 + timedelta(minutes=5), offline_reason="401")
    schedule.note_run("acme", refused)
    schedule.note_run("acme", RunNote(T0 + timedelta(hours=1), JobOutcome.FAILED, failures=2, offline_reason="401"))
    entry = schedule.entry("acme")
    assert (entry.online, entry.offline_reason, entry.offline_since, entry.failures) == (False, "401", T0, 2)
    schedule.note_mailboxes("acme", [MailboxBackoff("T1", 3, T0, "down")], [])
    assert schedule.set_online("acme") is True
    entry = schedule.entry("acme")
    assert (entry.online, entry.offline_since, entry.failures, entry.backoff_until) == (True, None, 0, None)
    assert schedule.backoffs("acme") == {}
    assert schedule.set_online("nobody") is False


def test_mailbox_backoffs_are_recorded_and_cleared_per_user(schedule: SQLScheduleStore, admin: SQLAdminStore) -> None:
    schedule.note_mailboxes("acme", [MailboxBackoff("T1", 1, T0, "boom"), MailboxBackoff("T2", 1, T0, "")], [])
    schedule.note_mailboxes("acme", [MailboxBackoff("T1", 2, T0 + timedelta(minutes=10), "boom again")], ["T2"])
    assert schedule.backoffs("acme") == {"T1": MailboxBackoff("T1", 2, T0 + timedelta(minutes=10), "boom again")}
    admin.put_user("acme", UserRecord("T2", "t2-new@acme.test"))  # a new mailbox is tried at once
    schedule.note_mailboxes("acme", [MailboxBackoff("T2", 1, T0, "boom")], [])
    admin.put_user("acme", UserRecord("T2", "t2-newer@acme.test"))
    assert set(schedule.backoffs("acme")) == {"T1"}
    admin.remove_user("acme", "T1")  # takes the user's backoff with it
    assert schedule.backoffs("acme") == {}
    schedule.note_mailboxes("acme", [MailboxBackoff("gone", 1, T0, "boom")], [])  # noted as the user went
    assert schedule.forget_stale() == 1
    assert schedule.backoffs("acme") == {}


def test_requests_are_kept_until_dropped_and_go_with_their_integration(
    schedule: SQLScheduleStore, admin: SQLAdminStore
) -> None:
    first = schedule.request_sync("acme", None, T0)
    second = schedule.request_sync("acme", "T2", T0 + timedelta(seconds=1))
    assert schedule.request_sync("nobody", None, T0) is None
    assert [(r.integration, r.business_user, r.requested_at) for r in schedule.requests()] == [
        ("acme", None, T0),
        ("acme", "T2", T0 + timedelta(seconds=1)),
    ]
    assert first is not None and second is not None
    schedule.drop_requests([first])
    assert [r.id for r in schedule.requests()] == [second]
    schedule.note_turn("acme", T0, T0)
    admin.remove_integration("acme")
    assert schedule.requests() == []
    assert schedule.entries() == {}


def test_writes_about_an_unknown_integration_change_nothing(schedule: SQLScheduleStore) -> None:
    schedule.note_turn("nobody", T0, T0)
    schedule.note_run("nobody", RunNote(T0, JobOutcome.FAILED))
    schedule.note_mailboxes("nobody", [MailboxBackoff("T1", 1, T0)], [])
    assert schedule.entries() == {}


def test_one_holder_of_the_lease_at_a_time(schedule: SQLScheduleStore) -> None:
    assert schedule.hold_lease(SCHEDULER_LEASE, "host-a:1", 60) is True
    assert schedule.hold_lease(SCHEDULER_LEASE, "host-b:2", 60) is False
    assert schedule.hold_lease(SCHEDULER_LEASE, "host-a:1", 60) is True  # renewed
    assert schedule.lease_holder(SCHEDULER_LEASE) == "host-a:1"
    schedule.release_lease(SCHEDULER_LEASE, "host-b:2")  # not its lease: nothing happens
    assert schedule.lease_holder(SCHEDULER_LEASE) == "host-a:1"
    schedule.release_lease(SCHEDULER_LEASE, "host-a:1")
    assert schedule.lease_holder(SCHEDULER_LEASE) is None
    assert schedule.hold_lease(SCHEDULER_LEASE, "host-b:2", 60) is True


def test_a_lease_that_ran_out_is_taken_over(schedule: SQLScheduleStore) -> None:
    assert schedule.hold_lease(SCHEDULER_LEASE, "host-a:1", 0.3) is True
    assert schedule.hold_lease(SCHEDULER_LEASE, "host-b:2", 60) is False
    time.sleep(0.5)
    assert schedule.lease_holder(SCHEDULER_LEASE) is None
    assert schedule.hold_lease(SCHEDULER_LEASE, "host-b:2", 60) is True
    assert schedule.hold_lease(SCHEDULER_LEASE, "host-a:1", 60) is False


def test_the_lease_of_a_crashed_scheduler_on_this_machine_is_taken_over_at_once(schedule: SQLScheduleStore) -> None:

    crashed = ended_process_owner()
    assert schedule.hold_lease(SCHEDULER_LEASE, crashed, 3600) is True
    assert schedule.hold_lease(SCHEDULER_LEASE, "host-b:2", 60) is True
    assert schedule.lease_holder(SCHEDULER_LEASE) == "host-b:2"


def test_the_lease_of_a_scheduler_on_another_machine_waits_for_its_end(schedule: SQLScheduleStore) -> None:
    assert schedule.hold_lease(SCHEDULER_LEASE, "another-host:1", 3600) is True
    assert schedule.hold_lease(SCHEDULER_LEASE, "host-b:2", 60) is False


def test_jobs_are_read_by_integration_by_id_and_by_day(schedule: SQLScheduleStore, store: SQLStore) -> None:
    ours = store.start_job("acme/T1/events", JobKind.INTERVAL)
    store.finish_job(ours, JobOutcome.COMPLETED, {"a.created": 2, "b.errors": 1})
    skipped = store.start_job("acme", JobKind.INTERVAL)
    store.finish_job(skipped, JobOutcome.SKIPPED, {}, "still running")
    store.start_job("acme_x/T1/events", JobKind.FULL)  # "_" is not a wildcard
    store.start_job("beta_1/T9/events", JobKind.MANUAL)
    assert [job.id for job in schedule.jobs_of("acme", 10)] == [skipped, ours]
    assert len(schedule.jobs_of(None, 10)) == 4
    assert len(schedule.jobs_of(None, 2)) == 2
    record = schedule.job(ours)
    assert record is not None
    assert (record.pair, record.outcome, dict(record.counts)) == (
        "acme/T1/events",
        JobOutcome.COMPLETED,
        {"a.created": 2, "b.errors": 1},
    )
    assert schedule.job(10**9) is None
    totals = schedule.job_totals(datetime.now(UTC) - timedelta(minutes=5))
    assert [t.outcome for t in totals] == [JobOutcome.COMPLETED, JobOutcome.SKIPPED]  # running ones have no counts
    assert schedule.job_totals(datetime.now(UTC) + timedelta(minutes=5)) == []
