"""The hub's use cases for the business system: push items, read them, read the change feed, review, journal.

Behind the REST API and the CLI. Items cross this border as ``BusinessItem`` values (a business id, the business
user whose calendar shows it, and a protocol-free ``Item``); the store keeps their iCalendar/vCard text.
A batch is checked item by item: a bad item is a result with an error and the rest of the batch is stored, in
one transaction (so a batch is never half-written by a crash).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from calsync.config import Settings
from calsync.errors import ConfigError, InvalidItem, NotFound
from calsync.model.content import Content
from calsync.model.item import Item, ItemKind
from calsync.services.hub_rules import HubRules, rules_from_dict
from calsync.state.business_port import BusinessRow, BusinessStore, Change, JournalEntry, Origin

if TYPE_CHECKING:
    from sqlalchemy import URL

__all__ = [
    "LAST_ENTRY",
    "MAX_BATCH",
    "BusinessItem",
    "FeedItem",
    "HubService",
    "ItemResult",
    "ItemView",
    "JournalEntry",
    "JournalPage",
    "build_hub",
    "open_hub",
]

logger = logging.getLogger(__name__)

COLLECTION_OF = {
    ItemKind.EVENT: "events",
    ItemKind.ASSIGNMENT: "events",
    ItemKind.ORDER_LINE: "events",
    ItemKind.TASK: "tasks",
    ItemKind.CONTACT: "contacts",
}
"""Which of a user's collections holds each kind."""

MAX_BATCH = 500
"""The most items one put or delete takes (the API refuses larger batches with 413)."""
JOURNAL_PAGE = 1000
"""The most journal entries one read returns; older ones are read page by page (``HubService.journal_page``)."""
LAST_ENTRY = 2**63 - 1  # the largest journal entry id there can be (a 64-bit integer): the bound of ``older_than``


@dataclass(frozen=True, slots=True)
class BusinessItem:
    """One item as the business system sends it. ``owner`` is the business user ("" for contacts, which go to
    every user who takes contacts); ``priority_level`` a business priority level mapped by the rules."""

    business_id: str
    owner: str
    item: Item
    priority_level: str = ""


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What became of one item of a batch: ``created``/``updated``/``unchanged``/``deleted``/``missing``, or
    ``error`` with the message."""

    business_id: str
    status: str
    version: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class ItemView:
    """One stored item as the business system reads it."""

    business_id: str
    owner: str
    item: Item
    priority_level: str
    version: int
    deleted: bool
    origin: Origin
    needs_review: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class JournalPage:
    """A page of the journal, newest first; ``older``: the ``older_than`` of the next page (``None``: the last)."""

    entries: list[JournalEntry]
    older: int | None


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One feed entry with the item as it is now (``None`` for a deletion)."""

    cursor: int
    business_id: str
    owner: str
    kind: str
    change: Change
    rule: str
    needs_review: bool
    item: ItemView | None


class HubService:
    """Items, feed, journal and rules of integrations, on a business store."""

    def __init__(
        self,
        store: BusinessStore,
        users: Callable[[str], set[str]] | None = None,
        *,
        closers: Sequence[Callable[[], None]] = (),
    ) -> None:
        """``users`` gives an integration's business users, for checking owners (``None``: unchecked);
        ``closers`` release what the service was built on."""
        self.store = store
        self.users = users
        self._closers = tuple(closers)

    def close(self) -> None:
        """Release the stores the service was built on."""
        for closer in self._closers:
            closer()

    # -- items ----------------------------------------------------------------------------------------------

    def put_items(self, integration: str, items: Sequence[BusinessItem]) -> list[ItemResult]:
        """Store a batch; each item is checked on its own and the valid ones are stored in one transaction."""
        _check_batch(items)
        rules = self.rules(integration)
        owners = self.users(integration) if self.users is not None else None
        known = self.store.rows(integration, [i.business_id for i in items])
        results: dict[int, ItemResult] = {}
        rows: list[tuple[int, BusinessRow]] = []
        seen: set[str] = set()
        for n, given in enumerate(items):
            try:
                if given.business_id in seen:
                    raise InvalidItem(f"{given.business_id!r} appears twice in this batch")
                seen.add(given.business_id)
                rows.append((n, self._row(integration, given, known.get(given.business_id), rules, owners)))
            except (InvalidItem, ConfigError) as exc:
                results[n] = ItemResult(given.business_id, "error", error=str(exc))
        for (n, _), outcome in zip(rows, self.store.put(integration, [r for _, r in rows]), strict=True):
            results[n] = ItemResult(outcome.business_id, outcome.status, outcome.version)
        return [results[n] for n in range(len(items))]

    def _row(
        self, integration: str, given: BusinessItem, old: BusinessRow | None, rules: HubRules, owners: set[str] | None
    ) -> BusinessRow:
        if not given.business_id.strip() or len(given.business_id) > 200 or "/" in given.business_id:
            raise InvalidItem("an item needs an id of 1 to 200 characters without '/'")
        kind = given.item.kind
        if kind is ItemKind.CONTACT and given.owner:
            raise InvalidItem("contacts go to every user who takes contacts: give no user")
        if kind is not ItemKind.CONTACT:
            _check_owner(integration, given.owner, owners)
        uid = old.uid if old is not None else f"{given.business_id}@{integration}"
        item = replace(given.item, uid=uid)
        if old is not None and "ATTENDEE" in old.content and not item.attendees:
            item = _with_attendees_of(old, item)  # the API cannot name attendees: a meeting keeps its own
        if given.priority_level:
            item = replace(item, priority=rules.calendar_priority(given.priority_level))
        content = Content.from_item(item)
        if (
            old is not None
            and not old.deleted
            and Content.from_text(old.content, old.media_type).digest == content.digest
        ):
            content = Content.from_text(old.content, old.media_type)  # the same item: its stored text is kept
        return BusinessRow(
            given.business_id, uid, given.owner, COLLECTION_OF[kind], kind.value, content.media_type, content.text
        )

    def delete_items(self, integration: str, business_ids: Sequence[str]) -> list[ItemResult]:
        """Delete items (synced as deletions to calendars where the users' options allow)."""
        if len(business_ids) > MAX_BATCH:
            raise ConfigError(f"at most {MAX_BATCH} items per request", where="ids")
        business_ids = list(dict.fromkeys(business_ids))  # an id given twice is deleted (and reported) once
        done = self.store.remove(integration, business_ids)
        return [ItemResult(b, "deleted" if d else "missing") for b, d in zip(business_ids, done, strict=True)]

    def items(self, integration: str, business_ids: Sequence[str]) -> list[ItemView]:
        """Stored items by business id (deleted ones included, flagged); unknown ids are left out."""
        rules = self.rules(integration)
        rows = self.store.rows(integration, list(business_ids))
        return [view(rows[b], rules) for b in business_ids if b in rows]

    def item(self, integration: str, business_id: str) -> ItemView:
        """One stored item; ``NotFound`` when there is none."""
        found = self.items(integration, [business_id])
        if not found:
            raise NotFound(f"no item {business_id!r} in integration {integration!r}")
        return found[0]

    # -- feed -----------------------------------------------------------------------------------------------

    def feed(self, integration: str, since: int = 0, limit: int = 100) -> list[FeedItem]:
        """What came back from calendars after cursor ``since``, oldest first, with each item as it is now."""
        entries = self.store.feed(integration, since, max(1, min(limit, 1000)))
        rules = self.rules(integration)
        rows = self.store.rows(integration, [e.business_id for e in entries])
        return [
            FeedItem(
                e.cursor,
                e.business_id,
                e.owner,
                e.kind,
                e.change,
                e.rule,
                rows[e.business_id].needs_review if e.business_id in rows else e.needs_review,
                view(rows[e.business_id], rules) if e.change is not Change.DELETED and e.business_id in rows else None,
            )
            for e in entries
        ]

    def mark_reviewed(self, integration: str, business_ids: Sequence[str]) -> int:
        """Clear the needs-review flag; returns how many items were flagged."""
        return self.store.mark_reviewed(integration, list(business_ids))

    # -- journal --------------------------------------------------------------------------------------------

    def journal_page(
        self, integration: str, business_id: str | None = None, limit: int = 100, older_than: int | None = None
    ) -> JournalPage:
        """A page of the journal, newest first: at most ``limit`` entries (1,000), older than entry ``older_than``
        when given; the page's ``older`` reads the next one. Why pages: a busy integration writes thousands of
        entries a day, and the change to restore from may be older than any one answer may be long."""
        limit = max(1, min(limit, JOURNAL_PAGE))
        entries = self.store.journal(integration, business_id, limit + 1, older_than)
        return JournalPage(entries[:limit], entries[limit - 1].id if len(entries) > limit else None)

    def restore(self, integration: str, entry_id: int) -> ItemView:
        """Put the item of a journal entry back as it was before that change (or as written by it, for a
        creation); the next sync writes it to the calendar again. ``NotFound`` for an unknown entry."""
        entry = self.store.journal_entry(integration, entry_id)
        if entry is None:
            raise NotFound(f"no journal entry {entry_id} in integration {integration!r}")
        content = entry.before if entry.before is not None else entry.after
        if content is None:
            raise NotFound(f"journal entry {entry_id} holds no content to restore")
        current = self.store.rows(integration, [entry.business_id]).get(entry.business_id)
        if current is None:
            raise NotFound(f"no item {entry.business_id!r} in integration {integration!r}")
        placed = _placed(current, entry, content)
        if placed.collection != current.collection:
            logger.info(
                "restoring journal entry %d of %s/%s moves it from %s (%s) to %s (%s)", entry_id, integration,
                entry.business_id, current.collection, current.kind, placed.collection, placed.kind,
            )  # fmt: skip
        row = self.store.restore(integration, placed, f"restored from journal entry {entry_id}")
        return view(row, self.rules(integration))

    # -- rules ----------------------------------------------------------------------------------------------

    def rules(self, integration: str) -> HubRules:
        """The integration's rules (defaults when never set)."""
        return HubRules.from_json(self.store.rules(integration))

    def set_rules(self, integration: str, data: object) -> HubRules:
        """Check and store rules given as plain data; ``ConfigError`` names the bad field."""
        rules = rules_from_dict(data)
        self.store.set_rules(integration, rules.to_json())
        return rules


def view(row: BusinessRow, rules: HubRules) -> ItemView:
    """A stored row as the business system reads it. An item a calendar wrote that cannot be read as a whole is
    still listed (its id, kind and title, and ``error`` saying why): one bad item must not block the feed."""
    content = Content.from_text(row.content, row.media_type)
    try:
        item = content.item
    except InvalidItem as exc:
        title = _title(content)
        item = Item(uid=row.uid, kind=ItemKind(row.kind) if row.kind in _KINDS else ItemKind.EVENT, title=title)
        return ItemView(
            row.business_id,
            row.owner,
            item,
            "",
            row.version,
            row.deleted,
            row.origin,
            row.needs_review,
            error=f"the calendar's item cannot be read: {exc}",
        )
    return ItemView(
        row.business_id,
        row.owner,
        item,
        rules.business_level(item.priority),
        row.version,
        row.deleted,
        row.origin,
        row.needs_review,
    )


_KINDS = frozenset(kind.value for kind in ItemKind)


def _title(content: Content) -> str:
    try:
        return content.facts.title
    except InvalidItem:
        return ""


def _with_attendees_of(old: BusinessRow, item: Item) -> Item:
    """``item`` with the attendees and organizer of the stored item (a meeting made in a calendar), so that
    the business system's edit of its fields does not turn it into an appointment of the mailbox."""
    try:
        stored = Content.from_text(old.content, old.media_type).item
    except InvalidItem:
        return item
    return replace(item, attendees=stored.attendees, organizer=stored.organizer)


def _placed(current: BusinessRow, entry: JournalEntry, content: str) -> BusinessRow:
    """The row a restore writes: ``content`` in the collection of its own kind, which may no longer be the
    item's (an event restored after the item became a task goes back to the events, not into the task list,
    where no sync would write it). A contact has no owner; an item leaving the contacts gets the entry's. Content
    that cannot be read whole (a calendar wrote it) stays where the item is, as before: its kind is unknown."""
    try:
        kind = Content.from_text(content, entry.media_type).item.kind
    except InvalidItem:
        return replace(current, content=content)
    owner = current.owner
    if (kind is ItemKind.CONTACT) != (current.kind == ItemKind.CONTACT.value):
        owner = "" if kind is ItemKind.CONTACT else entry.owner
    if kind is not ItemKind.CONTACT and not owner:
        raise InvalidItem(f"journal entry {entry.id} names no business user to restore the item to")
    return replace(
        current, owner=owner, collection=COLLECTION_OF[kind], kind=kind.value, media_type=entry.media_type,
        content=content,
    )  # fmt: skip


def _check_owner(integration: str, owner: str, owners: set[str] | None) -> None:
    """An item of a calendar kind names a user of the integration (``owners``; ``None``: not checked)."""
    if not owner:
        raise InvalidItem("the item needs the business user whose calendar shows it")
    if owners is not None and owner not in owners:
        raise InvalidItem(f"{owner!r} is not a user of integration {integration!r}")


def _check_batch(items: Sequence[BusinessItem]) -> None:
    if len(items) > MAX_BATCH:
        raise ConfigError(f"at most {MAX_BATCH} items per request, not {len(items)}", where="items")


def build_hub(settings: Settings) -> HubService:
    """The hub service on the configured state database; the caller closes it (the web app keeps it for its
    lifetime, so a request costs no engine)."""
    from calsync.state.admin import open_admin_store
    from calsync.state.business import open_business_store

    admin = open_admin_store(state_url(settings))
    try:
        store = open_business_store(state_url(settings))
    except BaseException:
        admin.close()
        raise
    return HubService(
        store, lambda name: {u.business_user for u in admin.users(name)}, closers=(store.close, admin.close)
    )


@contextmanager
def open_hub(settings: Settings) -> Iterator[HubService]:
    """``build_hub`` closed when the block ends (one CLI command or test step)."""
    hub = build_hub(settings)
    try:
        yield hub
    finally:
        hub.close()


def state_url(settings: Settings) -> URL:
    """The state database's URL with its password, as the stores open it."""
    from calsync.state.db import database_url

    url = database_url(settings.state.url)
    if settings.state.password is not None:
        url = url.set(password=settings.state.password.reveal())
    return url
