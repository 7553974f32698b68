"""Incremental changes through SyncFolderItems on the fake Exchange: paging by 512, and our own writes that a
user deletes before the next sync."""

from __future__ import annotations

from collections.abc import Callable

from calsync.connectors.ews.connector import EwsConnector
from calsync.model.content import Content
from tests.connectors.ews import outlook
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake.server import FakeEws
from tests.samples import event


def test_a_full_listing_pages_by_512_changes(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    template = outlook.element(event("bulk", "Bulk"))
    with fake.lock:
        made = {fake.store.add(mailbox, "calendar", template).id for _ in range(600)}
    before = sum(1 for s in fake.seen if s.operation == "SyncFolderItems")
    changes = conn.changes(mailbox, None)
    calls = [s for s in fake.seen if s.operation == "SyncFolderItems"][before:]
    assert changes.complete and {r.href for r in changes.changed} == made
    assert len(calls) == 2


def test_an_item_we_wrote_and_a_user_deleted_before_the_next_sync_is_reported_deleted(
    fake: FakeEws, connect: Callable[..., EwsConnector]
) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    token = conn.changes(mailbox, None).token
    ref = conn.create(mailbox, Content.from_text(event("gone")), "gone")
    token = conn.absorb_writes(mailbox, token, [ref])
    outlook.remove(fake, mailbox, ref.href)
    changes = conn.changes(mailbox, token)
    assert ref.href in changes.deleted and not changes.complete
    again = conn.changes(mailbox, changes.token)
    assert (list(again.changed), list(again.deleted)) == ([], [])
