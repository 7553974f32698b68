"""A retried create finds the first copy by its key exactly, though Graph's filter on the key ignores case.

Why: Graph compares an extended property's value ignoring case
(https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get), so the lookup before a
create also finds events of keys that differ from it only in case; taken for the first copy, one of them made
every create of such a key fail as ``AlreadyExists``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from calsync.connectors.base import Fetched
from calsync.connectors.graph.connector import GraphConnector
from calsync.connectors.graph.operations import RESIDUE_PROPERTY
from calsync.model.content import Content
from tests.connectors.graph import outlook
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake.server import FakeGraph
from tests.samples import event


def test_keys_that_differ_only_in_case_are_two_events_and_a_retry_finds_its_own(
    fake: FakeGraph, connect: Callable[..., GraphConnector]
) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    for n in range(12):  # more than a page of events whose key differs only in case
        outlook.put(fake, mailbox, f"other-{n}", event("ORDER-7" if n % 2 else "Order-7"), key=True)
    ours = conn.create(mailbox, Content.from_text(event("order-7", "Ours")), "order-7")
    assert conn.create(mailbox, Content.from_text(event("order-7", "Ours")), "order-7") == ours
    (got,) = conn.get(mailbox, [ours.href])
    assert isinstance(got, Fetched) and got.content.facts.title == "Ours" and got.content.ident == "order-7"
    assert len(fake.mailboxes[mailbox].events) == 13


def test_an_event_signed_under_its_key_before_the_key_was_read_as_an_identity_reads_back_unchanged(
    fake: FakeGraph, connect: Callable[..., GraphConnector]
) -> None:
    """Before a key was read as an identity, the projection an event is signed with took the key itself as its
    UID, a comma in it escaped twice. Such an event, untouched since, must still give back the text written (not
    its projection, as if edited in Outlook), or every such event would look changed once after an upgrade."""
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    content = Content.from_text(event("b\\,1", extra="X-CALSYNC-KIND:order-line\r\n"))
    ref = conn.create(mailbox, content, content.ident)
    stored = fake.mailboxes[mailbox].events[ref.href].data
    (residue_property,) = [p for p in stored["singleValueExtendedProperties"] if p["id"] == RESIDUE_PROPERTY]
    written = residue_property["value"].partition("\n")[2]
    residue_property["value"] = "-"
    (plain,) = conn.get(mailbox, [ref.href])
    assert isinstance(plain, Fetched) and plain.content.digest != content.digest  # the projection alone
    earlier = Content.from_item(replace(plain.content.item, uid=content.ident)).digest
    residue_property["value"] = f"{earlier}\n{written}"
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, Fetched)
    assert got.content.digest == content.digest and got.content.ident == "b\\,1"
