"""Microsoft 365 change notifications end to end: the scheduler's duty keeps Graph subscriptions on the fake Graph
service, whose validation handshake and notifications reach the real app under uvicorn on loopback; notifications
become "sync now" requests (one per user while one waits), lifecycle events renew or re-create, and the client
state is stored encrypted and never logged."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn

from calsync.config import Settings, StateSettings
from calsync.connectors.graph.connector import GraphConnector
from calsync.connectors.graph.transport import Transport
from calsync.crypto import KEY_ENV, Cipher, default_key_file, load_cipher
from calsync.model.users import UserOptions
from calsync.services.change_requests import stored_users
from calsync.services.notifications import (
    GRAPH_ROUTE,
    GraphSubscriptions,
    MaintenanceReport,
)
from calsync.state.admin import SQLAdminStore, open_admin_store
from calsync.state.admin_port import IntegrationRecord, UserRecord
from calsync.state.notifications import SQLNotificationStore, open_notification_store
from calsync.state.notifications_port import GraphSubscriptionRecord
from calsync.state.schedule import SQLScheduleStore, open_schedule_store
from calsync.state.schedule_port import MailboxBackoff, RunNote
from calsync.state.sql import open_store
from calsync.state.store import JobKind, JobOutcome
from calsync.web.app import create_app
from tests.connectors.graph.conftest import connect, fake, new_mailbox, trust  # noqa: F401 (fixtures)
from tests.connectors.graph.fake import subscriptions as fake_subs
from tests.connectors.graph.fake.server import FakeGraph

Connect = Callable[..., GraphConnector]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class World:
    """A state database with a Graph integration of two users, the app serving it, and the duty under test."""

    def __init__(self, tmp_path: Path, graph: FakeGraph, build: Connect, base: str) -> None:
        self.url = str(tmp_path / "state.db")
        self.settings = Settings(source=None, state=StateSettings(url=self.url))
        self.fake, self.base = graph, base
        self.admin: SQLAdminStore = open_admin_store(self.url)
        self.store: SQLNotificationStore = open_notification_store(self.url)
        self.schedule: SQLScheduleStore = open_schedule_store(self.url)
        self.jobs = open_store(self.url)
        self.cipher: Cipher = load_cipher(default_key_file(self.url, None))
        self.mailboxes = {"T1": new_mailbox(graph), "T2": new_mailbox(graph), "T3": new_mailbox(graph)}
        self.admin.add_integration(IntegrationRecord("m365", "Contoso", "graph", "app", interval_minutes=20))
        self.admin.add_integration(IntegrationRecord("dav", "Contoso", "caldav", "basic"))
        self.admin.put_user("m365", UserRecord("T1", self.mailboxes["T1"]))
        self.admin.put_user("m365", UserRecord("T2", self.mailboxes["T2"]))
        self.admin.put_user("m365", UserRecord("T3", self.mailboxes["T3"], UserOptions(appointments=False)))
        self.admin.put_user("dav", UserRecord("D1", "d1"))
        self.connector = build(mailboxes=list(self.mailboxes.values()))
        self.sessions: list[str] = []

    @contextmanager
    def session(self, integration: str) -> Iterator[Transport]:
        self.sessions.append(integration)
        yield self.connector.transport

    def duty(self, public_url: str | None = "", **options: object) -> GraphSubscriptions:
        return GraphSubscriptions(
            self.store,
            self.cipher,
            public_url=self.base if public_url == "" else public_url,
            wanted=lambda: stored_users(self.settings),
            session=self.session,
            **options,  # type: ignore[arg-type]
        )

    def subscription(self, user: str) -> GraphSubscriptionRecord:
        found = [r for r in self.store.graph_subscriptions() if r.business_user == user]
        assert len(found) == 1, found
        return found[0]

    def requests(self) -> list[tuple[str, str | None]]:
        return [(r.integration, r.business_user) for r in self.schedule.requests()]

    def close(self) -> None:
        for opened in (self.admin, self.store, self.schedule, self.jobs):
            opened.close()


@pytest.fixture
def world(tmp_path: Path, fake: FakeGraph, connect: Connect, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:  # noqa: F811
    monkeypatch.delenv(KEY_ENV, raising=False)
    settings = Settings(source=None, state=StateSettings(url=str(tmp_path / "state.db")))
    with serving(settings) as base:
        made = World(tmp_path, fake, connect, base)
        try:
            yield made
        finally:
            made.close()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def change(world: World, user: str, item: str = "AAMk1") -> dict[str, object]:
    mailbox = world.mailboxes[user]
    return {"changeType": "updated", "resource": f"Users/{mailbox}/Events/{item}", "resourceData": {"id": item}}


def test_subscriptions_are_made_through_the_validation_handshake_with_the_client_state_encrypted(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="calsync")  # other tests may have set calsync's own level
    report = world.duty().maintain(now())
    assert sorted(report.created) == [("m365", "T1"), ("m365", "T2")]  # T3 syncs no appointments; dav is no Graph
    assert world.sessions == ["m365"]
    record = world.subscription("T1")
    on_graph = world.fake.subscriptions[record.subscription_id]
    assert on_graph["notificationUrl"] == world.base + GRAPH_ROUTE
    assert on_graph["lifecycleNotificationUrl"] == world.base + GRAPH_ROUTE
    assert on_graph["resource"] == record.resource == f"/users/{world.mailboxes['T1']}/events"
    state = on_graph["clientState"]
    assert state not in record.client_state_enc and state not in repr(record)
    assert world.cipher.decrypt(record.client_state_enc).reveal() == state
    assert state not in caplog.text
    assert world.duty().maintain(now()) == MaintenanceReport()  # nothing due: nothing done
    assert world.sessions == ["m365"]  # ... and no connection opened


def test_a_change_notification_asks_for_one_run_of_its_user(world: World) -> None:
    world.duty().maintain(now())
    t1, t2 = world.subscription("T1").subscription_id, world.subscription("T2").subscription_id
    assert fake_subs.deliver(world.fake, t1, change(world, "T1")) == 202
    for item in ("AAMk2", "AAMk3"):
        assert fake_subs.deliver(world.fake, t1, change(world, "T1", item)) == 202
    assert world.requests() == [("m365", "T1")]  # many notifications: one request, served by one run
    assert fake_subs.deliver(world.fake, t2, change(world, "T2")) == 202
    assert world.requests() == [("m365", "T1"), ("m365", "T2")]

    time.sleep(0.01)
    world.jobs.start_job("m365/T1/events", JobKind.MANUAL)  # the run serving them has begun reading
    assert fake_subs.deliver(world.fake, t1, change(world, "T1", "AAMk4")) == 202
    assert world.requests() == [("m365", "T1"), ("m365", "T2"), ("m365", "T1")]  # not lost to the running one

    assert fake_subs.deliver(world.fake, t2, {"lifecycleEvent": "missed"}) == 202  # catch up: one more run
    assert world.requests()[-1] == ("m365", "T2")  # the integration's run began after T2's request: asked again


def test_forged_and_unknown_notifications_are_refused_and_change_nothing(world: World) -> None:
    world.duty().maintain(now())
    t1 = world.subscription("T1").subscription_id
    assert fake_subs.deliver(world.fake, t1, change(world, "T1"), state="a guess") == 403
    world.store.drop_graph_subscription(world.subscription("T2").subscription_id)
    t2 = next(
        s for s, sub in world.fake.subscriptions.items() if sub["resource"].endswith(world.mailboxes["T2"] + "/events")
    )
    assert fake_subs.deliver(world.fake, t2, change(world, "T2")) == 403
    assert world.requests() == []


def test_renewal_before_expiry_and_when_graph_asks_to_reauthorize(world: World) -> None:
    duty = world.duty()
    duty.maintain(now())
    first = world.subscription("T1")
    world.store.note_renewed(first.subscription_id, now() + timedelta(minutes=30))  # a quarter of the life is left
    report = duty.maintain(now())
    assert report.renewed == [("m365", "T1")] and report.created == []
    renewed = world.subscription("T1")
    assert renewed.subscription_id == first.subscription_id and renewed.expires_at > now() + timedelta(days=2)

    t2 = world.subscription("T2").subscription_id
    before = (now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    world.fake.subscriptions[t2]["expirationDateTime"] = before
    assert fake_subs.deliver(world.fake, t2, {"lifecycleEvent": "reauthorizationRequired"}) == 202
    assert world.subscription("T2").renew_now
    assert duty.maintain(now()).renewed == [("m365", "T2")]
    assert world.fake.subscriptions[t2]["expirationDateTime"] > before
    assert not world.subscription("T2").renew_now


def test_a_subscription_removed_or_lost_on_graph_is_made_again(world: World) -> None:
    duty = world.duty()
    duty.maintain(now())
    t1, t2 = world.subscription("T1").subscription_id, world.subscription("T2").subscription_id
    assert fake_subs.deliver(world.fake, t1, {"lifecycleEvent": "subscriptionRemoved"}) == 202
    del world.fake.subscriptions[t2]  # gone without a word: found out at its renewal
    world.store.put_graph_subscription(replace(world.subscription("T2"), renew_now=True))
    report = duty.maintain(now())
    assert sorted(report.created) == [("m365", "T1"), ("m365", "T2")]
    assert world.subscription("T1").subscription_id != t1 and world.subscription("T2").subscription_id != t2
    assert t1 in world.fake.subscriptions  # (the fake keeps a removed one; Graph would have deleted it)


def test_subscriptions_no_longer_wanted_are_deleted(world: World) -> None:
    duty = world.duty()
    duty.maintain(now())
    t1, t2 = world.subscription("T1").subscription_id, world.subscription("T2").subscription_id
    world.admin.put_user("m365", UserRecord("T1", world.mailboxes["T1"], UserOptions(appointments=False)))
    assert duty.maintain(now()).removed == [("m365", "T1")]
    assert t1 not in world.fake.subscriptions and t2 in world.fake.subscriptions

    moved = new_mailbox(world.fake)
    world.admin.put_user("m365", UserRecord("T2", moved))
    world.connector.mailboxes = (*world.connector.mailboxes, moved)
    report = duty.maintain(now())
    assert (report.removed, report.created) == ([("m365", "T2")], [("m365", "T2")])
    assert world.subscription("T2").mailbox == moved and t2 not in world.fake.subscriptions

    assert world.duty(public_url=None).maintain(now()).removed == [("m365", "T2")]  # no public URL: none at all
    assert world.store.graph_subscriptions() == []
    assert not any(s["resource"].endswith(f"{moved}/events") for s in world.fake.subscriptions.values())


def test_an_unreachable_callback_fails_one_pass_and_is_retried_later(world: World) -> None:
    duty = world.duty(public_url=f"http://127.0.0.1:{free_port()}", retry=timedelta(minutes=5))
    start = now()
    report = duty.maintain(start)
    assert sorted(report.failed) == [("m365", "T1"), ("m365", "T2")] and report.created == []
    assert world.store.graph_subscriptions() == []
    assert duty.maintain(start + timedelta(minutes=1)) == MaintenanceReport()  # waits before trying again
    assert sorted(duty.maintain(start + timedelta(minutes=6)).failed) == [("m365", "T1"), ("m365", "T2")]


def test_the_callback_answers_graphs_validation_at_once(world: World) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 1<b>&"
    query = urllib.parse.urlencode({"validationToken": token})
    request = urllib.request.Request(f"{world.base}{GRAPH_ROUTE}?{query}", data=b"", method="POST")
    began = time.monotonic()
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.read().decode() == token
    assert time.monotonic() - began < 5  # Graph gives up after 10 s; a loaded CI machine took 1.06 s here
    body = json.dumps({"value": []}).encode()
    empty = urllib.request.Request(
        f"{world.base}{GRAPH_ROUTE}", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(empty, timeout=10)
    assert refused.value.code == 400


def test_no_run_is_asked_for_while_the_integration_is_offline_or_the_mailbox_backs_off(world: World) -> None:
    world.duty().maintain(now())
    t1, t2 = world.subscription("T1").subscription_id, world.subscription("T2").subscription_id
    later = now() + timedelta(hours=1)
    world.schedule.note_mailboxes("m365", [MailboxBackoff("T1", 2, later, "mailbox unavailable")], [])
    assert fake_subs.deliver(world.fake, t1, change(world, "T1")) == 202
    assert fake_subs.deliver(world.fake, t2, change(world, "T2")) == 202
    assert world.requests() == [("m365", "T2")]  # T1's turn after its back-off syncs the change
    world.schedule.drop_requests([r.id for r in world.schedule.requests()])
    world.schedule.note_run("m365", RunNote(now(), JobOutcome.FAILED, 1, None, offline_reason="credentials refused"))
    assert fake_subs.deliver(world.fake, t2, change(world, "T2", "AAMk9")) == 202
    assert world.requests() == []
