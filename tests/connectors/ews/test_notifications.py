"""Pull notifications on the fake Exchange: a poll says which items changed since the last one, and a dropped
subscription is ``NotFound`` (subscribe again)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calsync.connectors.ews.connector import EwsConnector
from calsync.errors import NotFound
from calsync.model.content import Content
from tests.connectors.ews import outlook
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake.server import FakeEws
from tests.samples import event


def test_a_poll_reports_what_changed_since_the_last_one(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    kept = conn.create(mailbox, Content.from_text(event("n1")), "n1")
    subscription = conn.subscribe(mailbox)
    quiet = conn.poll(subscription)
    assert not quiet.changed
    made = conn.create(mailbox, Content.from_text(event("n2")), "n2")
    outlook.put(fake, mailbox, kept.href, event("n1", "edited in Outlook"))
    outlook.remove(fake, mailbox, made.href)
    found = conn.poll(quiet.subscription)
    assert found.touched == (made.href, kept.href)
    assert not conn.poll(found.subscription).changed


def test_many_events_are_read_page_by_page(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    subscription = conn.subscribe(mailbox)
    template = outlook.element(event("many", "Many"))
    with fake.lock:
        made = {fake.store.add(mailbox, "calendar", template).id for _ in range(120)}
    assert set(conn.poll(subscription).touched) == made


def test_a_dropped_subscription_is_not_found(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    subscription = conn.subscribe(mailbox)
    conn.unsubscribe(subscription)
    conn.unsubscribe(subscription)
    with pytest.raises(NotFound):
        conn.poll(subscription)
