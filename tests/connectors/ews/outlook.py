"""What a user does in Outlook, played directly on the fake's mailbox (no change key, no calsync property
unless ``key``): the item's XML is what exchangelib would send for it, so it is what Outlook would store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exchangelib import Build, CalendarItem, Contact, Task, Version
from lxml import etree

from calsync.connectors.ews import addressbook, convert, tasks
from calsync.connectors.ews.props import KEY
from calsync.model.canonical import VCARD
from calsync.model.content import Content
from tests.connectors.ews.fake.server import FakeEws
from tests.connectors.ews.fake.soap import t

_VERSION = Version(Build(15, 1, 2507, 6))
_KINDS: dict[str, tuple[type, Callable[[Any], dict[str, Any]]]] = {
    "calendar": (CalendarItem, convert.to_fields),
    "tasks": (Task, tasks.to_fields),
    "contacts": (Contact, addressbook.to_fields),
}


def element(text: str, *, key: bool = False, folder: str = "calendar") -> etree._Element:
    """The item element of an iCalendar event or task or a vCard; ``key``: with its UID as calsync's key."""
    item = Content.from_text(text, VCARD if folder == "contacts" else "text/calendar").item
    item_class, to_fields = _KINDS[folder]
    fields = to_fields(item)
    if key:
        fields[KEY] = item.uid
    made = item_class(**{k: v for k, v in fields.items() if v is not None})
    node = made.to_xml(version=_VERSION)
    if folder == "calendar":
        etree.SubElement(node, t("UID")).text = item.uid
    return node


def put(fake: FakeEws, mailbox: str, href: str, text: str, *, key: bool = False, folder: str = "calendar") -> str:
    """Create or edit the item ``href``; an edit keeps the item's extended properties, as Outlook does."""
    node = element(text, key=key, folder=folder)
    with fake.lock:
        stored = fake.store.items.get(href)
        if stored is not None and not stored.deleted and stored.mailbox == mailbox.lower():
            kept = list(stored.element.findall(t("ExtendedProperty")))
            stored.element = node
            for prop in kept:
                if not any(_same(prop, mine) for mine in node.findall(t("ExtendedProperty"))):
                    node.append(prop)
            stored.modified.clear()
            stored.removed.clear()
            fake.store.touch(stored)
            return href
        fake.store.items.pop(href, None)  # ids are global; tests reuse names like "t4.ics" in fresh mailboxes
        return fake.store.add(mailbox, folder, node, ident=href).id


def _same(a: etree._Element, b: etree._Element) -> bool:
    from tests.connectors.ews.fake.shapes import _same as same

    return same(a.find(t("ExtendedFieldURI")), b.find(t("ExtendedFieldURI")))  # type: ignore[arg-type]


def remove(fake: FakeEws, mailbox: str, href: str) -> None:
    with fake.lock:
        stored = fake.store.items.get(href)
        if stored is not None and not stored.deleted:
            fake.store.delete(stored)
