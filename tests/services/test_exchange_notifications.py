"""Exchange pull notifications on the fake EWS server: the lease holder's duty subscribes each EWS user's
calendar, asks for a run of the users whose calendars changed (one waiting request each), subscribes again and
syncs once when Exchange dropped a subscription, and forgets users no longer wanted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.config import Settings, StateSettings
from calsync.connectors.ews.connector import EwsConnector
from calsync.model.content import Content
from calsync.model.users import UserOptions
from calsync.services.change_requests import RunRequests, stored_users
from calsync.services.exchange_notifications import ExchangePulls, PullConnector, PullReport
from calsync.services.jobs import JobService
from calsync.state.admin import open_admin_store
from calsync.state.admin_port import IntegrationRecord, UserRecord
from calsync.state.schedule import open_schedule_store
from calsync.state.sql import open_store
from tests.connectors.ews.conftest import connect, fake, new_mailbox  # noqa: F401 (fixtures)
from tests.connectors.ews.fake.server import FakeEws
from tests.samples import event

Connect = Callable[..., EwsConnector]


class World:
    """An EWS integration of two users on the fake server, and the duty with real run requests."""

    def __init__(self, tmp_path: Path, server: FakeEws, build: Connect) -> None:
        url = str(tmp_path / "state.db")
        self.settings = Settings(source=None, state=StateSettings(url=url))
        self.admin = open_admin_store(url)
        self.schedule = open_schedule_store(url)
        self.state = open_store(url)
        self.mailboxes = {"T1": new_mailbox(server), "T2": new_mailbox(server)}
        self.admin.add_integration(IntegrationRecord("exch", "Contoso", "ews", "impersonation"))
        self.admin.add_integration(IntegrationRecord("m365", "Contoso", "graph", "app"))
        for user, mailbox in self.mailboxes.items():
            self.admin.put_user("exch", UserRecord(user, mailbox))
        self.admin.put_user("m365", UserRecord("G1", "g1@contoso.com"))
        self.server = server
        self.connector = build(mailboxes=list(self.mailboxes.values()))
        self.sessions: list[str] = []
        jobs = JobService(self.state, self.schedule, self.schedule)
        self.duty = ExchangePulls(
            RunRequests(jobs, self.schedule), wanted=lambda: stored_users(self.settings, "ews"), session=self.session
        )

    @contextmanager
    def session(self, integration: str) -> Iterator[PullConnector]:
        self.sessions.append(integration)
        yield self.connector

    def change(self, user: str, uid: str) -> None:
        """An item made in the user's calendar (by anyone: the subscription sees every change)."""
        self.connector.create(self.mailboxes[user], Content.from_text(event(uid)), uid)

    def requests(self) -> list[tuple[str, str | None]]:
        return [(r.integration, r.business_user) for r in self.schedule.requests()]

    def close(self) -> None:
        for opened in (self.admin, self.schedule, self.state):
            opened.close()
        self.connector.close()


@pytest.fixture
def world(tmp_path: Path, fake: FakeEws, connect: Connect) -> Iterator[World]:  # noqa: F811
    made = World(tmp_path, fake, connect)
    try:
        yield made
    finally:
        made.close()


def test_changed_calendars_ask_for_one_run_of_their_user(world: World) -> None:
    assert world.duty.poll() == PullReport(subscribed=[("exch", "T1"), ("exch", "T2")])
    assert world.sessions == ["exch"]  # the Graph integration is not polled
    assert world.duty.poll() == PullReport()  # nothing happened
    world.change("T1", "p1")
    world.change("T1", "p2")
    assert world.duty.poll().changed == [("exch", "T1")]
    assert world.requests() == [("exch", "T1")]
    world.change("T1", "p3")
    assert world.duty.poll().changed == [("exch", "T1")]
    assert world.requests() == [("exch", "T1")]  # the waiting request covers it: still one run


def test_polls_come_at_most_every_minute_of_the_tick_clock(world: World) -> None:
    start = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    world.duty(start)
    world.duty(start + timedelta(seconds=30))
    world.duty(start + timedelta(minutes=1))
    assert world.sessions == ["exch", "exch"]


def test_a_dropped_subscription_is_made_again_and_the_user_synced_once(world: World) -> None:
    world.duty.poll()
    with world.server.lock:
        world.server.subscriptions.live.clear()  # Exchange restarted, or the poll came too late
    report = world.duty.poll()
    assert sorted(report.lost) == [("exch", "T1"), ("exch", "T2")]
    assert sorted(world.requests()) == [("exch", "T1"), ("exch", "T2")]
    assert world.duty.poll() == PullReport()  # the new subscriptions work


def test_users_no_longer_wanted_are_forgotten_and_their_subscriptions_ended(world: World) -> None:
    world.duty.poll()
    live = len(world.server.subscriptions.live)
    world.admin.put_user("exch", UserRecord("T1", world.mailboxes["T1"], UserOptions(appointments=False)))
    assert world.duty.poll() == PullReport(dropped=[("exch", "T1")])
    assert len(world.server.subscriptions.live) == live - 1
    world.change("T1", "ignored")
    assert world.duty.poll() == PullReport() and world.requests() == []
