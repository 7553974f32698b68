"""Change notifications: subscribing through the validation handshake, renewal, lifecycle events, and the
callback as a pure function served here by a small loopback server (as the web app will mount it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Set
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from calsync.connectors.graph import subscriptions as subs
from calsync.connectors.graph.connector import GraphConnector
from calsync.connectors.graph.subscriptions import Kind, Notification, Subscription, handle_callback
from calsync.errors import InvalidItem, NotFound
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake import subscriptions as fake_subs
from tests.connectors.graph.fake.server import FakeGraph

Connect = Callable[..., GraphConnector]


class Hub:
    """The web app's side: known client states, and what the callback accepted."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.received: list[Notification] = []
        self.refuse_validation = False


@pytest.fixture
def hub() -> Iterator[tuple[Hub, str]]:
    state = Hub()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            query = dict(parse_qsl(urlsplit(self.path).query))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if state.refuse_validation and "validationToken" in query:
                query = {}
            answer = handle_callback(query, body, lambda ids: {i: state.states[i] for i in ids if i in state.states})
            state.received.extend(answer.notifications)
            payload = answer.body.encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_subscribe_validates_then_changes_and_lifecycle_events_arrive(
    fake: FakeGraph, connect: Connect, hub: tuple[Hub, str]
) -> None:
    state, url = hub
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    now = datetime.now(UTC)
    sub = subs.subscribe(conn.transport, mailbox, url + "/notify", url + "/lifecycle", now)
    assert sub.resource == f"/users/{mailbox}/events" and sub.expires > now + timedelta(days=2)
    assert sub.client_state not in repr(sub) and len(sub.client_state) <= 128
    state.states[sub.id] = sub.client_state
    changed = {"changeType": "updated", "resource": f"Users/{mailbox}/Events/AAMk1", "resourceData": {"id": "AAMk1"}}
    assert fake_subs.deliver(fake, sub.id, changed) == 202
    assert fake_subs.deliver(fake, sub.id, {"lifecycleEvent": "reauthorizationRequired"}) == 202
    assert fake_subs.deliver(fake, sub.id, {**changed, "resourceData": {"id": "forged"}}, state="guess") == 202
    assert state.received == [
        Notification(sub.id, Kind.CHANGE, "updated", f"Users/{mailbox}/Events/AAMk1", "AAMk1"),
        Notification(sub.id, Kind.REAUTHORIZATION_REQUIRED),
    ]


def test_a_callback_that_fails_the_handshake_gets_no_subscription(
    fake: FakeGraph, connect: Connect, hub: tuple[Hub, str]
) -> None:
    state, url = hub
    state.refuse_validation = True
    mailbox = new_mailbox(fake)
    before = set(fake.subscriptions)
    with pytest.raises(InvalidItem, match="validation"):
        subs.subscribe(connect().transport, mailbox, url, url, datetime.now(UTC))
    assert set(fake.subscriptions) == before


def test_renewal_before_expiry_then_unsubscribe(fake: FakeGraph, connect: Connect, hub: tuple[Hub, str]) -> None:
    _state, url = hub
    mailbox = new_mailbox(fake)
    transport = connect().transport
    now = datetime.now(UTC)
    sub = subs.subscribe(transport, mailbox, url, url, now)
    assert subs.due_for_renewal([sub], now) == []
    later = sub.expires - subs.RENEW_WHEN_LEFT + timedelta(minutes=1)
    assert subs.due_for_renewal([sub], later) == [sub]
    renewed = subs.renew(transport, sub, now + timedelta(minutes=5))
    assert renewed.id == sub.id and renewed.expires > sub.expires and renewed.client_state == sub.client_state
    subs.unsubscribe(transport, renewed)
    subs.unsubscribe(transport, renewed)  # already gone is fine
    with pytest.raises(NotFound):
        subs.renew(transport, renewed, now)


def test_the_callback_is_pure_and_refuses_what_it_cannot_trust() -> None:
    known = Subscription("s1", "/users/a/events", datetime(2026, 11, 24, tzinfo=UTC), "state-1")
    lookup = _lookup({known.id: known.client_state})
    token = handle_callback({"validationToken": "Validation: a b&c"}, b"", lookup)
    assert (token.status, token.content_type, token.body) == (200, "text/plain", "Validation: a b&c")
    assert handle_callback({}, b"not json", lookup).status == 400
    assert handle_callback({}, b'{"value": 3}', lookup).status == 400
    assert handle_callback({}, b"[" * 50_000 + b"]" * 50_000, lookup).status == 400  # not a RecursionError
    body = (
        b'{"value": [{"subscriptionId": "s1", "clientState": "state-1", "lifecycleEvent": "missed"},'
        b' {"subscriptionId": "s9", "clientState": "state-1", "changeType": "created"},'
        b' {"subscriptionId": "s1", "clientState": "state-1", "lifecycleEvent": "somethingNew"}, 7]}'
    )
    answer = handle_callback({}, body, lookup)
    assert (answer.status, answer.notifications, answer.rejected) == (202, (Notification("s1", Kind.MISSED),), 3)


def _lookup(states: dict[str, str], asked: list[set[str]] | None = None) -> Callable[[Set[str]], dict[str, str]]:
    """A ``client_states_of`` over ``states`` that records each set of ids it was asked for."""

    def look(ids: Set[str]) -> dict[str, str]:
        if asked is not None:
            asked.append(set(ids))
        return {i: states[i] for i in ids if i in states}

    return look


def test_one_body_costs_one_lookup_of_its_distinct_ids_and_a_made_up_flood_none() -> None:
    """The route is public: a 1 MB body of 20,000 made-up ids used to cost 20,000 database lookups."""
    asked: list[set[str]] = []
    lookup = _lookup({"s1": "state-1"}, asked)
    notes = [{"subscriptionId": i, "clientState": "state-1", "lifecycleEvent": "missed"} for i in ("s1", "s2", "s1")]
    notes += [{"subscriptionId": "a\x00b"}, {"subscriptionId": "x" * 5000}]
    answer = handle_callback({}, json.dumps({"value": notes}).encode(), lookup)
    assert (answer.status, len(answer.notifications), answer.rejected) == (202, 2, 3)
    assert asked == [{"s1", "s2"}]  # NUL and overlong ids are no Graph id: never looked up
    flood = [{"subscriptionId": f"s{n}", "clientState": "x"} for n in range(subs.MAX_NOTIFICATIONS + 1)]
    assert handle_callback({}, json.dumps({"value": flood}).encode(), lookup).status == 413
    assert len(asked) == 1
