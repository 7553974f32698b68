"""The business store seen as a connector: the business side (A) of every pair of an integration.

A collection is ``"<business user>/<events|tasks|contacts>"`` (contacts, shared by every user who takes them,
have an empty user: ``"/contacts"``). Hrefs are business ids. Versions are ``"<row version>.<rules hash>"``:
changing an integration's mappings changes every version, so the next run re-exports each item once.

Items are served in their calendar form (``calsync.model.mapping.export_item``) and stored in their business
form (``import_item``); both are deterministic, so a served item's digest is stable from run to run.
Sync tokens are cursors of the store's change log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from calsync.connectors.base import Capabilities, ChangeSet, Fetched, FetchFailed
from calsync.errors import AlreadyExists, InvalidItem, NotFound, PreconditionFailed, ReadOnly
from calsync.model.canonical import ICALENDAR, VCARD
from calsync.model.content import Content
from calsync.model.item import Item, ItemKind
from calsync.model.mapping import MappingRules, export_item, import_item
from calsync.model.refs import CollectionInfo, ItemRef
from calsync.model.window import Window
from calsync.state.business_port import BusinessRow, BusinessStore, CalendarWrite, Origin, WriteStatus

COLLECTIONS = ("events", "tasks", "contacts")
"""The collections each business user has (contacts only under the empty user)."""


def collection_id(owner: str, collection: str) -> str:
    """The connector's collection id for a user's collection."""
    return f"{owner}/{collection}"


def split_collection(collection: str) -> tuple[str, str]:
    """``(owner, collection)`` of a collection id; ``NotFound`` for one this connector does not have."""
    owner, _, name = collection.rpartition("/")
    if name not in COLLECTIONS or (name == "contacts") != (owner == ""):
        raise NotFound(f"no business collection {collection!r}", connector="business")
    return owner, name


def business_id_for(owner: str, collection: str, uid: str) -> str:
    """The business id calsync gives an item created in a calendar: derived from the collection and the UID, so
    a retried create finds the first copy and a meeting in two technicians' calendars is two business items;
    short enough for any business system's key column."""
    return "cal-" + hashlib.sha256(f"{owner}/{collection}/{uid}".encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How items created in calendars enter the business system."""

    needs_review: bool = True


class BusinessConnector:
    """One integration's business items as a connector."""

    def __init__(
        self,
        store: BusinessStore,
        integration: str,
        *,
        mapping: MappingRules | None = None,
        imports: ImportOptions | None = None,
        read_only: bool = False,
    ) -> None:
        self.name = f"business:{integration}"
        self.store = store
        self.integration = integration
        self.mapping = mapping or MappingRules()
        self.imports = imports or ImportOptions()
        self._stamp = self.mapping.fingerprint()
        self.capabilities = Capabilities(
            has_sync_token=True,
            filters_window=False,
            max_batch=500,
            read_only=read_only,
            formats=frozenset({ICALENDAR, VCARD}),
            creates_by_identity=True,  # by UID in the collection: see ``create``
            logs_deletions=True,  # a deletion here is the business system's, through the API
        )

    # -- reading ------------------------------------------------------------------------------------------------

    def discover(self) -> list[CollectionInfo]:
        """The collections holding items (every user's collections exist, empty ones too: see ``collection_id``)."""
        return [
            CollectionInfo(id=collection_id(owner, name), display_name=f"{owner or 'everyone'}: {name}")
            for owner, name in self.store.collections(self.integration)
        ]

    def changes(self, collection: str, token: str | None) -> ChangeSet:
        """Items logged since the cursor ``token``; every item of the collection when there is none."""
        owner, name = split_collection(collection)
        if token is None or not token.isdigit():
            rows, head = self.store.collection(self.integration, owner, name)
            return ChangeSet([self._ref(r) for r in rows], (), str(head), complete=True)
        logged = self.store.changes(self.integration, owner, name, int(token))
        return ChangeSet([self._ref(r) for r in logged.changed], list(logged.gone), str(logged.head))

    def list(self, collection: str, window: Window | None) -> list[ItemRef]:
        """Every live item of the collection (the engine applies the window: ``filters_window`` is off)."""
        owner, name = split_collection(collection)
        return [self._ref(r) for r in self.store.collection(self.integration, owner, name)[0]]

    def get(self, collection: str, hrefs: Sequence[str]) -> Iterator[Fetched | FetchFailed]:
        """Items in their calendar form; a missing or moved one is ``NotFound``, a broken one ``InvalidItem``."""
        owner, name = split_collection(collection)
        rows = self.store.rows(self.integration, list(hrefs))
        for href in hrefs:
            row = rows.get(href)
            if row is None or row.deleted or (row.owner, row.collection) != (owner, name):
                yield FetchFailed(href, NotFound(f"{href} is not in {collection}", connector=self.name, href=href))
                continue
            try:
                yield Fetched(self._ref(row), self._served(row))
            except InvalidItem as exc:
                yield FetchFailed(href, exc)

    def calendar_meetings(self, collection: str) -> Sequence[str]:
        """UIDs of the collection's meetings with attendees that were created in its calendar, deleted or
        reassigned to another user since too: the calendar owns them (``calsync.sync.rules.ItemRules.calendar_owned``),
        whatever the business side did to them since. The text is searched before anything is parsed."""
        owner, name = split_collection(collection)
        return [
            row.uid
            for row in self.store.with_attendees(self.integration, owner, name)
            if row.business_id == business_id_for(owner, name, row.uid) and _has_attendees(row)
        ]

    def moved_away(self, collection: str) -> Sequence[str]:
        """UIDs of items the business side moved from this collection to another user's (a reassignment), deleted
        there since too: a move, not a deletion here, so an edit left behind in the old calendar does not make a
        second business item."""
        owner, name = split_collection(collection)
        return self.store.moved_away(self.integration, owner, name)

    def deleted(self, collection: str, uids: Sequence[str]) -> dict[str, str]:
        """Of ``uids``, those the business system deleted from this collection (through the API; a deletion it
        took in from a calendar is the calendar's, undone when the item is put back there), each with the digest
        of the content it served last ("" when that no longer reads): see ``ItemRules.deleted``."""
        owner, name = split_collection(collection)
        found: dict[str, str] = {}
        for uid, row in self.store.by_uid(self.integration, owner, name, list(uids)).items():
            if row.deleted and row.origin is Origin.BUSINESS:
                try:
                    found[uid] = self._served(row).digest
                except InvalidItem:
                    found[uid] = ""
        return found

    # -- writing ------------------------------------------------------------------------------------------------

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        """Store an item created in a calendar; a retry with the same content returns the first copy (whether
        it is served as it came or as the import stored it: see ``_stored_ref``)."""
        owner, name = split_collection(collection)
        existing = self.store.by_uid(self.integration, owner, name, [key]).get(key)
        if existing is not None and not existing.deleted:
            served = self._served(existing)
            if served.digest == content.digest:
                return self._ref(existing)
            if self._stores_as(existing, content):
                return self._stored_ref(existing, content, served)
            raise AlreadyExists(f"{key} exists with other content", connector=self.name, href=existing.business_id)
        business_id = existing.business_id if existing is not None else business_id_for(owner, name, key)
        write = self._write(business_id, key, owner, name, content, None, None)
        return self._commit(write, collection, content)

    def update(self, collection: str, ref: ItemRef, content: Content) -> ItemRef:
        """Replace an item if it is still at ``ref.version``."""
        owner, name = split_collection(collection)
        previous = self.store.rows(self.integration, [ref.href]).get(ref.href)
        if previous is None or previous.deleted:
            raise PreconditionFailed(f"{ref.href} is gone", connector=self.name, href=ref.href)
        write = self._write(ref.href, previous.uid, owner, name, content, previous, _row_version(ref))
        return self._commit(write, collection, content)

    def delete(self, collection: str, ref: ItemRef) -> None:
        """Mark an item deleted if it is still at ``ref.version``; already gone is fine."""
        owner, name = split_collection(collection)
        previous = self.store.rows(self.integration, [ref.href]).get(ref.href)
        if previous is None or previous.deleted:
            return
        write = CalendarWrite(
            ref.href, previous.uid, owner, name, previous.kind, previous.media_type, None, _row_version(ref)
        )
        self._commit(write, collection, None)

    def business_form(self, content: Content, row: BusinessRow) -> str:
        """The text ``content`` (a calendar's copy of ``row``) would be stored as, without storing it: what a
        journal keeps so that restoring brings that copy back. Raises ``InvalidItem`` for an unreadable one."""
        write = self._write(row.business_id, row.uid, row.owner, row.collection, content, row, None)
        return write.content or row.content

    def absorb_writes(self, collection: str, token: str | None, written: Iterable[ItemRef]) -> str | None:
        """Our writes are in the log with versions the engine recorded: the token stays."""
        return token

    # -- internals ----------------------------------------------------------------------------------------------

    def _ref(self, row: BusinessRow) -> ItemRef:
        return ItemRef(row.business_id, f"{row.version}.{self._stamp}")

    def _served(self, row: BusinessRow) -> Content:
        """The calendar form of a stored item: its stored text when the mapping leaves it as it is (nothing is
        parsed when no mapping is set and it has no attendees), else the exported item."""
        stored = Content.from_text(row.content, row.media_type)
        if row.media_type == VCARD:
            return stored
        if not self.mapping.shapes_export and "ATTENDEE" not in row.content and "ORGANIZER" not in row.content:
            return stored
        exported = export_item(stored.item, self.mapping)
        return stored if exported == stored.item else Content.from_item(exported)

    def _write(
        self,
        business_id: str,
        uid: str,
        owner: str,
        name: str,
        content: Content,
        previous: BusinessRow | None,
        expected: int | None,
    ) -> CalendarWrite:
        """The business form of a calendar item as a guarded write."""
        if content.media_type == VCARD:
            text, kind = content.text, ItemKind.CONTACT
        elif previous is None and not self.mapping.shapes_import(content.facts.kind, content.text):
            text, kind = content.text, content.facts.kind  # nothing to map: stored as it came, nothing parsed
        else:
            before = Content.from_text(previous.content, previous.media_type).item if previous is not None else None
            item = import_item(content.item, self.mapping, before)
            if item.uid != uid:
                item = _with_uid(item, uid)
            text = content.text if item == content.item else Content.from_item(item).text
            kind = item.kind
        return CalendarWrite(
            business_id,
            uid,
            owner,
            name,
            kind.value,
            content.media_type,
            text,
            expected,
            needs_review=self.imports.needs_review,
        )

    def _commit(self, write: CalendarWrite, collection: str, content: Content | None) -> ItemRef:
        if self.capabilities.read_only:
            raise ReadOnly(f"{self.name} takes no changes from calendars", connector=self.name, href=write.business_id)
        status, row = self.store.write(self.integration, write, f"{self.integration}/{collection}")
        if status is WriteStatus.STALE:
            raise PreconditionFailed(
                f"{write.business_id} changed since it was read", connector=self.name, href=write.business_id
            )
        if row is None:
            return ItemRef(write.business_id, "")
        return self._ref(row) if content is None else self._stored_ref(row, content, self._served(row))

    def _stores_as(self, row: BusinessRow, content: Content) -> bool:
        """Whether creating ``content`` stores what ``row`` holds (by digest: the form may differ in a DTSTAMP)."""
        write = self._write(row.business_id, row.uid, row.owner, row.collection, content, None, None)
        stored = Content.from_text(row.content, row.media_type)
        return write.content is not None and Content.from_text(write.content, row.media_type).digest == stored.digest

    def _stored_ref(self, row: BusinessRow, content: Content, served: Content) -> ItemRef:
        """The ref of a row written from ``content``, with the digest of what it is served as when that is not
        ``content`` (the import added a default activity type, say): the engine records what it will read back,
        so the next run neither sees a change here nor rewrites the calendar."""
        ref = self._ref(row)
        if served.text == content.text or served.digest == content.digest:
            return ref
        return replace(ref, digest=served.digest)


def _row_version(ref: ItemRef) -> int:
    head = ref.version.partition(".")[0]
    if not head.isdigit():
        raise PreconditionFailed(f"{ref.href}: {ref.version!r} is not a version of this store", connector="business")
    return int(head)


def _with_uid(item: Item, uid: str) -> Item:
    """The item under the UID the business side knows it by (a calendar may have rewritten it)."""
    return replace(item, uid=uid)


def _has_attendees(row: BusinessRow) -> bool:
    try:
        return Content.from_text(row.content, row.media_type).facts.has_attendees
    except InvalidItem:
        return False
