"""The fake's mailboxes: folders of items kept as the XML a client wrote, ids, change keys and a change log.

An item is stored as the ``t:CalendarItem`` (``t:Task``, ``t:Contact``) element CreateItem sent, with the
fields UpdateItem set or deleted applied, and the server's own fields (ItemId, ChangeKey, UID, item type,
occurrences) added when it is read. Every change bumps one counter; SyncFolderItems' sync state is a position
in that log, so "what changed since" is exact.
"""

from __future__ import annotations

import base64
import copy
import itertools
import secrets
from dataclasses import dataclass, field

from lxml import etree

from tests.connectors.ews.fake.soap import Element, ItemError, t

FOLDERS = ("calendar", "tasks", "contacts")
ITEM_TAGS = {"calendar": "CalendarItem", "tasks": "Task", "contacts": "Contact"}


@dataclass(slots=True)
class Stored:
    """One item: its XML, identity, version and place in the change log."""

    id: str
    mailbox: str
    folder: str
    element: Element
    change_key: str
    created: int
    changed: int
    deleted: int = 0
    modified: dict[str, Element] = field(default_factory=dict)
    """Changed occurrences of a series, by their original start (UTC, ``YYYY-MM-DDTHH:MM:SSZ``)."""
    removed: set[str] = field(default_factory=set)
    """Deleted occurrences of a series, by their original start."""

    def child(self, name: str) -> Element | None:
        return self.element.find(t(name))

    def value(self, name: str) -> str:
        node = self.child(name)
        return (node.text or "") if node is not None else ""

    def set_child(self, node: Element) -> None:
        """Replace the field ``node`` names (an extended property: the one with the same field URI)."""
        for old in self.element.findall(node.tag):
            if node.tag != t("ExtendedProperty") or _ext_key(old) == _ext_key(node):
                self.element.remove(old)
        self.element.append(copy.deepcopy(node))

    def remove_field(self, local_name: str) -> None:
        for old in self.element.findall(t(local_name)):
            self.element.remove(old)

    def remove_extended(self, uri: Element) -> None:
        for old in self.element.findall(t("ExtendedProperty")):
            if _ext_key(old) == _uri_key(uri):
                self.element.remove(old)

    def extended(self, uri: Element) -> str | None:
        for node in self.element.findall(t("ExtendedProperty")):
            if _ext_key(node) == _uri_key(uri):
                value = node.find(t("Value"))
                return value.text or "" if value is not None else ""
        return None


def _uri_key(uri: Element | None) -> tuple[str, ...]:
    if uri is None:
        return ()
    names = ("DistinguishedPropertySetId", "PropertySetId", "PropertyName", "PropertyId", "PropertyTag")
    return tuple((uri.get(n) or "").lower() for n in names)


def _ext_key(prop: Element) -> tuple[str, ...]:
    return _uri_key(prop.find(t("ExtendedFieldURI")))


@dataclass(slots=True)
class Mailbox:
    """One user's mailbox: an address, an owner (the account that logs on as it) and three folders."""

    address: str
    folder_ids: dict[str, str]
    oof: dict[str, str] = field(default_factory=dict)
    busy: list[tuple[str, str, str]] = field(default_factory=list)
    """Extra free/busy blocks ``(start, end, status)`` for GetUserAvailability, in UTC ISO form."""


class Store:
    """Every mailbox's items, one change counter, and sync states over it."""

    def __init__(self) -> None:
        self.mailboxes: dict[str, Mailbox] = {}
        self.items: dict[str, Stored] = {}
        self._clock = itertools.count(1)
        self.now = 0
        self.log: list[tuple[int, str, Stored]] = []
        """Every change as it happened: (position, Create | Update | Delete, item), for GetEvents."""

    def add_mailbox(self, address: str) -> Mailbox:
        key = address.lower()
        if key not in self.mailboxes:
            ids = {name: f"F{secrets.token_hex(6)}-{name}" for name in FOLDERS}
            self.mailboxes[key] = Mailbox(key, ids)
        return self.mailboxes[key]

    def folder_of(self, folder_id: str) -> tuple[Mailbox, str]:
        for box in self.mailboxes.values():
            for name, ident in box.folder_ids.items():
                if ident == folder_id:
                    return box, name
        raise ItemError("ErrorFolderNotFound", "The specified folder could not be found in the store.")

    def tick(self) -> int:
        self.now = next(self._clock)
        return self.now

    def add(self, mailbox: str, folder: str, element: Element, ident: str = "") -> Stored:
        ident = ident or "AAMk" + base64.b64encode(secrets.token_bytes(24)).decode().replace("/", "_")
        when = self.tick()
        element = copy.deepcopy(element)
        for node in element.findall(t("ItemId")):
            element.remove(node)
        if element.find(t("UID")) is None and folder == "calendar":
            etree.SubElement(element, t("UID")).text = "040000008200E00074C5B7101A82E008" + secrets.token_hex(16)
        normalise_times(element)
        stored = Stored(ident, mailbox.lower(), folder, element, _change_key(), when, when)
        self.items[ident] = stored
        self.log.append((when, "Create", stored))
        return stored

    def touch(self, stored: Stored) -> None:
        stored.changed = self.tick()
        stored.change_key = _change_key()
        self.log.append((stored.changed, "Update", stored))

    def delete(self, stored: Stored) -> None:
        stored.deleted = self.tick()
        self.log.append((stored.deleted, "Delete", stored))

    def events_since(self, mailbox: str, folder: str, since: int) -> list[tuple[int, str, Stored]]:
        """The folder's changes after log position ``since``, each as it happened."""
        return [e for e in self.log if e[0] > since and e[2].mailbox == mailbox and e[2].folder == folder]

    def live(self, mailbox: str, folder: str) -> list[Stored]:
        return [s for s in self.items.values() if s.mailbox == mailbox and s.folder == folder and not s.deleted]

    def get(self, ident: str) -> Stored:
        stored = self.items.get(ident)
        if stored is None or stored.deleted:
            raise ItemError("ErrorItemNotFound", "The specified object was not found in the store.")
        return stored

    def changes_since(self, mailbox: str, folder: str, since: int) -> list[tuple[str, Stored]]:
        """Create / Update / Delete changes after log position ``since``, oldest first."""
        found: list[tuple[int, str, Stored]] = []
        for s in self.items.values():
            if s.mailbox != mailbox or s.folder != folder:
                continue
            if s.deleted:
                if s.deleted > since and s.created <= since:
                    found.append((s.deleted, "Delete", s))
            elif s.created > since:
                found.append((s.changed, "Create", s))
            elif s.changed > since:
                found.append((s.changed, "Update", s))
        found.sort(key=lambda entry: entry[0])
        return [(kind, s) for _, kind, s in found]


_BOOLEANS = ("ReminderIsSet", "IsAllDayEvent", "IsResponseRequested", "AllowNewTimeProposal", "IsDraft")


def normalise_times(element: Element) -> None:
    """Store values as Exchange answers them: times in UTC with a Z whatever offset the client sent, booleans
    as ``true``/``false`` whether the client sent ``1``/``0`` or words."""
    from datetime import UTC, datetime

    for name in _BOOLEANS:
        for node in element.findall(t(name)):
            node.text = "true" if (node.text or "").strip().lower() in ("1", "true") else "false"

    for name in ("Start", "End"):
        for node in element.findall(t(name)):
            moment = datetime.fromisoformat((node.text or "").strip().replace("Z", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            node.text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _change_key() -> str:
    return "DwAAABYA" + secrets.token_hex(10)


def sync_state(folder_id: str, position: int) -> str:
    return base64.b64encode(f"fake-sync|{folder_id}|{position}".encode()).decode()


def read_sync_state(folder_id: str, state: str) -> int:
    try:
        magic, folder, position = base64.b64decode(state.encode(), validate=True).decode().split("|")
        if magic != "fake-sync" or folder != folder_id:
            raise ValueError(state)
        return int(position)
    except ValueError as exc:
        raise ItemError("ErrorInvalidSyncStateData", "Invalid synchronization state data is specified.") from exc
