"""What a user does in Outlook, played directly on the fake's mailbox (no guard, no calsync property)."""

from __future__ import annotations

from calsync.connectors.graph import convert
from calsync.model.content import Content
from tests.connectors.graph.fake.mailbox import Mailbox
from tests.connectors.graph.fake.server import FakeGraph


def put(fake: FakeGraph, mailbox: str, href: str, text: str, *, key: bool = False, imported: bool = False) -> str:
    """Create or edit the event ``href`` from iCalendar text; ``key``: carry the UID as calsync's key property
    (an item another calsync-aware writer made); ``imported``: keep the text's UID as the event's iCalUId (an
    iCalendar file imported, as https://devblogs.microsoft.com/microsoft365dev/microsoft-graph-calendar-events-icaluid-update/
    describes it), where an event made in Outlook gets one Exchange makes up. Returns the event id."""
    from calsync.connectors.graph.operations import KEY_PROPERTY

    item = Content.from_text(text).item
    body = convert.to_graph(item)
    with fake.lock:
        box: Mailbox = fake.mailboxes[mailbox.lower()]
        stored = box.events.get(href)
        if stored is not None:
            box.patch(stored, body)
            return href
        if key:
            body["singleValueExtendedProperties"] = [{"id": KEY_PROPERTY, "value": item.uid}]
        if imported:
            body["iCalUId"] = item.uid
        stored = box.add(body)
        box.events[href] = box.events.pop(stored.data["id"])
        stored.data["id"] = href
        return href


def remove(fake: FakeGraph, mailbox: str, href: str) -> None:
    with fake.lock:
        fake.mailboxes[mailbox.lower()].events.pop(href, None)
