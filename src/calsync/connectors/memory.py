"""An in-memory store: the reference implementation of the Connector port, and a test double that can fail.

It behaves like a careful server: versions change on every write, writes are guarded by version, creates are
idempotent by identity, and it keeps a change log for incremental sync. Tests make it fail a write on demand
(``fail_writes``), rewrite what it stores the way real servers do (``rewrite``), or refuse all writes
(``read_only``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from calsync.connectors.base import Capabilities, ChangeSet, Fetched, FetchFailed, hrefs_for_key, other_identity
from calsync.errors import AlreadyExists, ConnectorError, InvalidItem, NotFound, PreconditionFailed, ReadOnly
from calsync.model.content import Content
from calsync.model.refs import CollectionInfo, ItemRef
from calsync.model.window import Window

Fault = Callable[[str, str], ConnectorError | None]
"""Given an operation ("create", "update", "delete") and an href, the error to raise instead, or None."""


@dataclass(slots=True)
class _Stored:
    version: str
    text: str
    media_type: str


@dataclass(slots=True)
class _Collection:
    items: dict[str, _Stored] = field(default_factory=dict)
    log: list[tuple[int, str]] = field(default_factory=list)


class MemoryConnector:
    """Collections of items held in a dict, with a change log for sync tokens."""

    def __init__(
        self,
        name: str = "memory",
        *,
        read_only: bool = False,
        fail_writes: Fault | None = None,
        rewrite: Callable[[str], str] | None = None,
    ) -> None:
        self.name = name
        self.capabilities = Capabilities(
            has_sync_token=True,
            filters_window=True,
            read_only=read_only,
            formats=frozenset({"text/calendar", "text/vcard"}),
        )
        self.fail_writes = fail_writes
        self.rewrite = rewrite
        self.writes = 0
        self._collections: dict[str, _Collection] = {}
        self._versions = itertools.count(1)
        self._sequence = itertools.count(1)

    # -- reading ------------------------------------------------------------------------------------------------

    def discover(self) -> list[CollectionInfo]:
        """Every collection that has been written to or created."""
        return [CollectionInfo(id=name, display_name=name) for name in sorted(self._collections)]

    def make_collection(self, collection: str) -> None:
        """Create an empty collection (idempotent)."""
        self._collections.setdefault(collection, _Collection())

    def changes(self, collection: str, token: str | None) -> ChangeSet:
        """Changes since ``token`` from the change log; ``None`` or an unknown token lists everything."""
        coll = self._coll(collection)
        head = str(coll.log[-1][0]) if coll.log else "0"
        if token is None or not token.isdigit() or int(token) > int(head):
            refs = [ItemRef(href, stored.version) for href, stored in coll.items.items()]
            return ChangeSet(refs, (), head, complete=True)
        since = int(token)
        touched = dict.fromkeys(href for seq, href in coll.log if seq > since)
        changed = [ItemRef(h, coll.items[h].version) for h in touched if h in coll.items]
        deleted = [h for h in touched if h not in coll.items]
        return ChangeSet(changed, deleted, head)

    def list(self, collection: str, window: Window | None) -> list[ItemRef]:
        """Refs of items overlapping ``window``; unreadable items are listed so ``get`` can report them."""
        refs = []
        for href, stored in self._coll(collection).items.items():
            if window is not None:
                try:
                    lo, hi = Content.from_text(stored.text, stored.media_type).facts.span
                except InvalidItem:
                    lo = hi = None
                if not window.overlaps(lo, hi):
                    continue
            refs.append(ItemRef(href, stored.version))
        return refs

    def get(self, collection: str, hrefs: Sequence[str]) -> Iterator[Fetched | FetchFailed]:
        """Items by href; a missing one is a ``FetchFailed`` with ``NotFound``."""
        coll = self._coll(collection)
        for href in hrefs:
            stored = coll.items.get(href)
            if stored is None:
                yield FetchFailed(href, NotFound(f"{href} does not exist", connector=self.name, href=href))
            else:
                content = Content.from_text(stored.text, stored.media_type)
                yield Fetched(ItemRef(href, stored.version), content)

    def locate(self, collection: str, keys: Sequence[str]) -> dict[str, str]:
        """The href of an item of each identity in ``keys`` (``Locating``), as a CalDAV query on the UID finds it."""
        wanted, found = set(keys), {}
        for href, stored in self._coll(collection).items.items():
            try:
                ident = Content.from_text(stored.text, stored.media_type).ident
            except InvalidItem:
                continue
            if ident in wanted and ident not in found:
                found[ident] = href
        return found

    # -- writing ------------------------------------------------------------------------------------------------

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        """Store at an href derived from ``key``; a retry with the same content returns the first copy. An item
        of identity ``key`` elsewhere in the collection (a user's, at a name of their own) is ``AlreadyExists``
        naming it, as a CalDAV server refuses a second item of one UID (``no-uid-conflict``)."""
        candidates = hrefs_for_key(key, ".ics" if content.media_type == "text/calendar" else ".vcf")
        self._check_write("create", candidates[0])
        coll = self._collections.setdefault(collection, _Collection())
        found = ""
        for href in candidates:
            existing = coll.items.get(href)
            if existing is None:
                holder = _holder(coll, key, candidates)
                if holder is not None:
                    raise AlreadyExists(f"{key} exists at {holder}", connector=self.name, href=holder)
                return self._store(coll, href, content)
            try:
                held = Content.from_text(existing.text, existing.media_type)
                found = held.ident
            except InvalidItem:
                continue  # an unreadable item holds the name: it is not ours
            if found == key:
                if held.digest == content.digest:
                    return ItemRef(href, existing.version)
                raise AlreadyExists(f"{key} exists with other content", connector=self.name, href=href)
        raise other_identity(key, candidates[-1], found, self.name)

    def update(self, collection: str, ref: ItemRef, content: Content) -> ItemRef:
        """Replace the item if it is still at ``ref.version``."""
        self._check_write("update", ref.href)
        coll = self._coll(collection)
        self._check_version(coll, ref)
        return self._store(coll, ref.href, content)

    def delete(self, collection: str, ref: ItemRef) -> None:
        """Remove the item if it is still at ``ref.version``; already gone is fine."""
        self._check_write("delete", ref.href)
        coll = self._coll(collection)
        if ref.href not in coll.items:
            return
        self._check_version(coll, ref)
        del coll.items[ref.href]
        coll.log.append((next(self._sequence), ref.href))
        self.writes += 1

    def absorb_writes(self, collection: str, token: str | None, written: Iterable[ItemRef]) -> str | None:
        """The change log already tells our writes apart by version: the token stays."""
        return token

    # -- what a user of the store does --------------------------------------------------------------------------

    def put_raw(self, collection: str, href: str, text: str, media_type: str = "text/calendar") -> ItemRef:
        """Write as a user's client would: no guard, no parsing (so tests can store broken items)."""
        coll = self._collections.setdefault(collection, _Collection())
        version = f"m{next(self._versions)}"
        coll.items[href] = _Stored(version, text, media_type)
        coll.log.append((next(self._sequence), href))
        return ItemRef(href, version)

    def remove_raw(self, collection: str, href: str) -> None:
        """Delete as a user's client would."""
        coll = self._coll(collection)
        if coll.items.pop(href, None) is not None:
            coll.log.append((next(self._sequence), href))

    def texts(self, collection: str) -> dict[str, str]:
        """Every item's stored text by href."""
        return {href: stored.text for href, stored in self._coll(collection).items.items()}

    # -- internals ----------------------------------------------------------------------------------------------

    def _coll(self, collection: str) -> _Collection:
        try:
            return self._collections[collection]
        except KeyError:
            raise NotFound(f"no collection {collection!r}", connector=self.name) from None

    def _check_write(self, operation: str, href: str) -> None:
        if self.capabilities.read_only:
            raise ReadOnly(f"{self.name} is read-only", connector=self.name, href=href)
        if self.fail_writes is not None:
            error = self.fail_writes(operation, href)
            if error is not None:
                raise error

    def _check_version(self, coll: _Collection, ref: ItemRef) -> None:
        stored = coll.items.get(ref.href)
        if stored is None:
            raise PreconditionFailed(f"{ref.href} is gone", connector=self.name, href=ref.href)
        if stored.version != ref.version:
            raise PreconditionFailed(f"{ref.href} changed since it was read", connector=self.name, href=ref.href)

    def _store(self, coll: _Collection, href: str, content: Content) -> ItemRef:
        text = content.text if self.rewrite is None else self.rewrite(content.text)
        version = f"m{next(self._versions)}"
        coll.items[href] = _Stored(version, text, content.media_type)
        coll.log.append((next(self._sequence), href))
        self.writes += 1
        return ItemRef(href, version)


def _holder(coll: _Collection, key: str, besides: Sequence[str]) -> str | None:
    """The href of an item of identity ``key`` in ``coll`` other than ``besides``, if any."""
    for href, stored in coll.items.items():
        if href in besides or key not in stored.text:  # the UID is in the text: most items are passed at once
            continue
        try:
            if Content.from_text(stored.text, stored.media_type).ident == key:
                return href
        except InvalidItem:
            continue
    return None
