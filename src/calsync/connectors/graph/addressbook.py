"""The contacts connector: one Outlook contact folder per collection (``mailbox`` or ``mailbox/folder-id``).

Built from a ``GraphConnector`` (``contacts()``) so it shares its token cache and transport. ``changes`` is a
full listing of ids and etags (``has_sync_token=False``): contact folders do have a delta, but address books are
small and the listing is one paged request, so that is left for later. ``create`` finds the key's contact
first (a retry returns the first copy); ``update``/``delete`` compare the etag last seen and send it as If-Match;
what Graph cannot hold travels in the residue property, as for events.
https://learn.microsoft.com/en-us/graph/api/resources/contact
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence

from calsync.connectors.base import Capabilities, ChangeSet, Fetched, FetchFailed
from calsync.connectors.graph import contacts, operations
from calsync.connectors.graph.transport import Json, Transport, check, read_items
from calsync.errors import AlreadyExists, PreconditionFailed, ReadOnly
from calsync.model import residue
from calsync.model.canonical import VCARD
from calsync.model.content import Content
from calsync.model.refs import CollectionInfo, ItemRef
from calsync.model.uids import ident_of_uid, uid_of_ident
from calsync.model.window import Window


class GraphContactsConnector:
    """Outlook contact folders of the mailboxes one app registration may reach (needs Contacts.ReadWrite)."""

    def __init__(
        self, transport: Transport, mailboxes: Sequence[str], *, name: str = "graph", read_only: bool = False
    ) -> None:
        self.name = name
        self.transport = transport
        self.mailboxes = tuple(mailboxes)
        self.capabilities = Capabilities(
            has_sync_token=False, filters_window=False, max_batch=20, read_only=read_only, formats=frozenset()
        )

    def __repr__(self) -> str:
        return f"GraphContactsConnector({self.name!r})"

    def discover(self) -> builtins.list[CollectionInfo]:
        """The default Contacts folder of each mailbox (named by the mailbox alone) and its other folders."""
        found = []
        for mailbox in self.mailboxes:
            found.append(CollectionInfo(mailbox, "Contacts", components=frozenset({"VCARD"})))
            for page in self.transport.pages(contacts.list_folders(mailbox), mailbox):
                for one in page.get("value") or ():
                    name = str(one.get("displayName") or "")
                    found.append(CollectionInfo(f"{mailbox}/{one['id']}", name, components=frozenset({"VCARD"})))
        return found

    def changes(self, collection: str, token: str | None) -> ChangeSet:
        """A full listing every time (see the module docstring)."""
        return ChangeSet(self.list(collection, None), (), None, complete=True)

    def list(self, collection: str, window: Window | None) -> builtins.list[ItemRef]:
        """Every contact of the folder; contacts have no time, so the window does not apply."""
        mailbox = operations.mailbox_of(collection)
        return [
            ItemRef(str(c["id"]), str(c["@odata.etag"]))
            for page in self.transport.pages(contacts.list_contacts(collection), mailbox)
            for c in page.get("value") or ()
        ]

    def get(self, collection: str, hrefs: Sequence[str]) -> Iterator[Fetched | FetchFailed]:
        """Contacts in batches of 20; one missing or unreadable contact is a value."""
        mailbox = operations.mailbox_of(collection)
        replies = self.transport.batch([contacts.get_contact(collection, h) for h in hrefs], mailbox)
        yield from read_items(hrefs, replies, self.name, "contact", _content)

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        """Find the key's contact (a retried create) or make it."""
        self._writable(key)
        mailbox = operations.mailbox_of(collection)
        existing = self.transport.call(contacts.find_by_key(collection, key), mailbox).get("value") or []
        if existing:
            got = next(self.get(collection, [str(existing[0]["id"])]))
            if isinstance(got, Fetched) and got.content.digest == content.digest:
                return got.ref
            raise AlreadyExists(f"a contact with the key {key!r} exists with other content", connector=self.name)
        created = self.transport.call(contacts.create_contact(collection, _body(content, key)), mailbox)
        return ItemRef(str(created["id"]), str(created["@odata.etag"]))

    def update(self, collection: str, ref: ItemRef, content: Content) -> ItemRef:
        """Replace the contact if it is still at ``ref.version``."""
        self._writable(ref.href)
        current = self._current(collection, ref)
        if current is None:
            raise PreconditionFailed(f"{ref.href} is gone", connector=self.name, href=ref.href)
        key = operations.properties(current).get(operations.KEY_PROPERTY.lower()) or content.ident
        call = contacts.update_contact(collection, ref.href, _body(content, key), ref.version)
        reply = self.transport.call(call, operations.mailbox_of(collection), ref.href)
        return ItemRef(ref.href, str(reply["@odata.etag"]))

    def delete(self, collection: str, ref: ItemRef) -> None:
        """Remove the contact if it is still at ``ref.version``; already gone is fine."""
        self._writable(ref.href)
        if self._current(collection, ref) is None:
            return
        reply = self.transport.send(
            contacts.delete_contact(collection, ref.href, ref.version), operations.mailbox_of(collection)
        )
        if reply.status != 404:
            check(reply, self.name, ref.href)

    def absorb_writes(self, collection: str, token: str | None, written: Iterable[ItemRef]) -> str | None:
        """Unchanged: there is no token (every ``changes`` is a full listing)."""
        return token

    def _current(self, collection: str, ref: ItemRef) -> Json | None:
        """The contact at ``ref`` (``None`` when gone); ``PreconditionFailed`` when changed since it was read."""
        mailbox = operations.mailbox_of(collection)
        reply = self.transport.send(contacts.get_contact(collection, ref.href), mailbox)
        if reply.status == 404:
            return None
        body = check(reply, self.name, ref.href).body
        if body.get("@odata.etag") != ref.version:
            raise PreconditionFailed(f"{ref.href} changed since it was read", connector=self.name, href=ref.href)
        return body

    def _writable(self, href: str) -> None:
        if self.capabilities.read_only:
            raise ReadOnly(f"{self.name} is read-only", connector=self.name, href=href)


def _body(content: Content, key: str) -> Json:
    """The contact body with the key and residue properties; the projection gets the UID the key spells."""
    body = contacts.to_contact(content.item)
    projection = contacts.from_contact(body, uid_of_ident(key))
    body["singleValueExtendedProperties"] = [
        {"id": operations.KEY_PROPERTY, "value": key},
        {"id": operations.RESIDUE_PROPERTY, "value": residue.encode(content, projection)},
    ]
    return body


def _content(body: Json) -> Content:
    """The contact as content whose identity is its key property (an identity already), else its id's; the item
    gets the UID that identity spells, which the writer escapes back into it."""
    props = operations.properties(body)
    ident = props.get(operations.KEY_PROPERTY.lower()) or ident_of_uid(str(body["id"]))
    item = contacts.from_contact(body, uid_of_ident(ident))
    kept = props.get(operations.RESIDUE_PROPERTY.lower(), "")
    return residue.decode(kept, residue.projection_signed(kept, item, ident), VCARD)
