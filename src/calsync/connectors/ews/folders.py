"""What every EWS folder connector shares (calendars, tasks, contacts): the sync loop, bulk reads, keyed creates,
change-key guarded updates and deletes. A ``Kind`` says which default folder, which item class and how items
convert; the calendar connector adds series, windows and meetings on top.

- ``changes``: SyncFolderItems, at most 512 changes a call; the sync state is the ChangeSet's token (the engine
  stores it only after it applied the changes). No token, or a state Exchange no longer accepts: a full listing
  from an empty state. Items this run wrote are remembered in the token (``absorb_writes``) and looked up next
  time, since one created and deleted between two syncs shows in no later SyncFolderItems answer.
- ``locate``: where an item of each identity is, whatever its dates (``identities``).
- ``create``: FindItem on the key's extended property first (a retried create returns the first copy, or
  ``AlreadyExists`` when it holds other content), then CreateItem with SendMeetingInvitations=SendToNone.
- ``update``: UpdateItem with the change key last seen and ConflictResolution=NeverOverwrite
  (ErrorIrresolvableConflict -> ``PreconditionFailed``); ``delete``: DeleteItem (to Deleted Items) with
  SendMeetingCancellations=SendToNone after checking the change key.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from exchangelib.errors import ErrorInvalidSyncStateData
from exchangelib.items import MOVE_TO_DELETED_ITEMS, NEVER_OVERWRITE, SEND_TO_NONE

from calsync.connectors.base import Capabilities, ChangeSet, Fetched, FetchFailed
from calsync.connectors.ews.errors import item_error, retrying, translate_errors
from calsync.connectors.ews.identities import FolderIdentities, identity
from calsync.connectors.ews.props import KEY, RESIDUE
from calsync.connectors.ews.session import Session
from calsync.errors import (
    AlreadyExists,
    ConnectorError,
    InvalidItem,
    NotFound,
    PreconditionFailed,
    ProtocolError,
    ReadOnly,
)
from calsync.model import residue
from calsync.model.content import Content
from calsync.model.item import Item
from calsync.model.refs import CollectionInfo, ItemRef
from calsync.model.uids import uid_of_ident
from calsync.model.window import Window

T = TypeVar("T")
IDS = ("id", "changekey")
BATCH = 50


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of folder: the account's default folder attribute, the item class, and the conversions."""

    folder: str
    item_class: type
    components: frozenset[str]
    to_fields: Callable[[Item], dict[str, Any]]
    from_exchange: Callable[[Any, str], Item]
    project: Callable[[Item, dict[str, Any], str], Item]
    media_type: str = "text/calendar"


class FolderConnector(FolderIdentities):
    """The default folder of one kind in each mapped mailbox; a collection is named by the mailbox address."""

    kind: Kind
    filters_window = False

    def __init__(self, name: str, session: Session, mailboxes: Sequence[str], *, read_only: bool = False) -> None:
        self.name = name
        self.capabilities = Capabilities(
            has_sync_token=True,
            filters_window=self.filters_window,
            max_batch=BATCH,
            read_only=read_only,
            formats=frozenset(),
        )
        self.mailboxes = tuple(m.lower() for m in mailboxes)
        self.session = session
        self.settings = session.settings

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def close(self) -> None:
        """Nothing to close per connector: exchangelib pools its HTTP sessions per endpoint and account."""

    # -- plumbing -----------------------------------------------------------------------------------------------

    def _call(self, operation: Callable[[], T], href: str = "") -> T:
        """One EWS operation, its errors translated, ErrorServerBusy ridden out within the settings' patience."""
        with translate_errors(self.name, href):
            return retrying(operation, self.settings.patience, self.name)

    def _account(self, collection: str) -> Any:
        return self.session.account(collection.partition("/")[0])

    def _folder(self, collection: str) -> Any:
        account = self._account(collection)
        return self._call(lambda: getattr(account, self.kind.folder))

    # -- reading ------------------------------------------------------------------------------------------------

    def discover(self) -> builtins.list[CollectionInfo]:
        """The default folder of this kind in every configured mailbox."""
        found = []
        for mailbox in self.mailboxes:
            folder = self._folder(mailbox)
            found.append(CollectionInfo(mailbox, str(folder.name or self.kind.folder), components=self.kind.components))
        return found

    def changes(self, collection: str, token: str | None) -> ChangeSet:
        """What SyncFolderItems reports since ``token`` (everything without one or for a state Exchange forgot)."""
        state = read_token(token)
        if state is not None:
            try:
                return self._sync(collection, state)
            except _Expired:
                pass  # a sync state Exchange no longer accepts: start again with a full listing
        return self._sync(collection, {"s": None, "w": []})

    def _sync(self, collection: str, state: dict[str, Any]) -> ChangeSet:
        folder = self._folder(collection)
        changed, deleted, new_state = self._call(partial(self._sync_items, folder, state["s"]))
        written = [h for h in state["w"] if h not in changed and h not in deleted]
        for href, version in self._versions(collection, written).items():
            if version is None:
                deleted.append(href)
            else:
                changed[href] = ItemRef(href, version)
        token = json.dumps({"s": new_state, "w": []}, separators=(",", ":"))
        return ChangeSet(builtins.list(changed.values()), deleted, token, complete=state["s"] is None)

    def _sync_items(self, folder: Any, state: str | None) -> tuple[dict[str, ItemRef], builtins.list[str], str]:
        """Every SyncFolderItems round from ``state``: changed refs, deleted ids, the new state."""
        changed: dict[str, ItemRef] = {}
        deleted: builtins.list[str] = []
        folder.item_sync_state = state  # exchangelib falls back to the folder's last state when given None
        try:
            for kind, item in folder.sync_items(sync_state=state, only_fields=IDS, max_changes_returned=512):
                if kind in ("create", "update"):
                    changed[item.id] = ItemRef(item.id, item.changekey)
                elif kind == "delete":
                    deleted.append(item.id)
        except ErrorInvalidSyncStateData as exc:
            raise _Expired(str(exc), connector=self.name) from exc
        except AttributeError as exc:  # exchangelib 5.6 reads SyncState before the error code of a refusal
            raise _Expired(f"Exchange refused the sync state ({exc})", connector=self.name) from exc
        return changed, deleted, str(folder.item_sync_state)

    def _versions(self, collection: str, hrefs: Sequence[str]) -> dict[str, str | None]:
        """The change key of each item, ``None`` for one that is gone."""
        if not hrefs:
            return {}
        account = self._account(collection)
        found = self._call(lambda: builtins.list(account.fetch(ids=[(h, None) for h in hrefs], only_fields=IDS)))
        return {h: None if isinstance(x, Exception) else str(x.changekey) for h, x in zip(hrefs, found, strict=True)}

    def list(self, collection: str, window: Window | None) -> builtins.list[ItemRef]:
        """Every item of the folder (this kind does not filter by window; the engine does)."""
        folder = self._folder(collection)
        listed = self._call(lambda: builtins.list(folder.all().only(*IDS)))
        return [ItemRef(i.id, i.changekey) for i in listed]

    def get(self, collection: str, hrefs: Sequence[str]) -> Iterator[Fetched | FetchFailed]:
        """Items in bulk (GetItem, 50 a call); one that cannot be read is a ``FetchFailed``."""
        account = self._account(collection)
        for offset in range(0, len(hrefs), BATCH):
            chunk = hrefs[offset : offset + BATCH]
            found = self._call(partial(_fetch, account, chunk))
            for href, one in zip(chunk, found, strict=True):
                error = item_error(one, self.name, href)
                if error is not None:
                    yield FetchFailed(href, error)
                    continue
                try:
                    yield Fetched(ItemRef(one.id, one.changekey), self._content(collection, one))
                except (NotFound, InvalidItem) as exc:
                    yield FetchFailed(href, exc)
                except ConnectorError:
                    raise  # the server or the account failed, not this item: the batch stops
                except Exception as exc:  # a value exchangelib or the model cannot take: this item only
                    text = f"cannot read the item: {type(exc).__name__}: {exc}"
                    yield FetchFailed(href, InvalidItem(text, connector=self.name, href=href))

    def _content(self, collection: str, found: Any) -> Content:
        """The item as content whose identity is ``identity(found)``: the item gets the UID that identity spells,
        which the writer escapes back into it."""
        ident = identity(found)
        item = self._complete(collection, found, self.kind.from_exchange(found, uid_of_ident(ident)))
        kept = getattr(found, RESIDUE, None) or ""
        return residue.decode(kept, residue.projection_signed(kept, item, ident), self.kind.media_type)

    # -- writing ------------------------------------------------------------------------------------------------

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        """Find the key's item (a retried create) or make it; see the module docstring."""
        self._writable(key)
        folder = self._folder(collection)
        found = self._call(lambda: builtins.list(folder.filter(**{KEY: key}).only(*IDS, KEY)))
        existing = [item for item in found if getattr(item, KEY, None) == key]  # Exchange may ignore case
        if existing:
            got = next(self.get(collection, [existing[0].id]))
            if isinstance(got, Fetched) and got.content.digest == content.digest:
                return got.ref
            raise AlreadyExists(
                f"an item with the key {key!r} exists with other content", connector=self.name, href=existing[0].id
            )
        fields, item = self._fields(content, key)
        account = self._account(collection)
        made = self.kind.item_class(account=account, folder=folder, **fields)
        (result,) = self._call(
            lambda: account.bulk_create(folder=folder, items=[made], send_meeting_invitations=SEND_TO_NONE)
        )
        self._raise(result, key)
        return self._finish(collection, ItemRef(result.id, result.changekey), item)

    def update(self, collection: str, ref: ItemRef, content: Content) -> ItemRef:
        """Replace the item if it is still at ``ref.version`` (its change key)."""
        self._writable(ref.href)
        current = self._current(collection, ref)
        key = getattr(current, KEY, None) or content.ident
        fields, item = self._fields(content, key)
        account = self._account(collection)
        changed = self.kind.item_class(
            account=account, folder=self._folder(collection), id=ref.href, changekey=ref.version
        )
        for name, value in fields.items():
            setattr(changed, name, value)
        (result,) = self._call(
            lambda: account.bulk_update(
                [(changed, builtins.list(fields))],
                conflict_resolution=NEVER_OVERWRITE,
                send_meeting_invitations_or_cancellations=SEND_TO_NONE,
            ),
            ref.href,
        )
        self._raise(result, ref.href)
        return self._finish(collection, ItemRef(ref.href, result[1]), item)

    def delete(self, collection: str, ref: ItemRef) -> None:
        """Remove the item if it is still at ``ref.version``; already gone is fine."""
        self._writable(ref.href)
        try:
            self._current(collection, ref)
        except NotFound:
            return
        account = self._account(collection)
        (result,) = self._call(
            lambda: account.bulk_delete(
                [(ref.href, ref.version)], delete_type=MOVE_TO_DELETED_ITEMS, send_meeting_cancellations=SEND_TO_NONE
            ),
            ref.href,
        )
        error = item_error(result, self.name, ref.href)
        if error is not None and not isinstance(error, NotFound):
            raise error

    def absorb_writes(self, collection: str, token: str | None, written: Iterable[ItemRef]) -> str | None:
        """The token, told to look at our writes again next time (see the module docstring)."""
        state = read_token(token)
        if state is None:
            return token
        state["w"] = sorted({*state["w"], *(ref.href for ref in written)})
        return json.dumps(state, separators=(",", ":"))

    # -- hooks and internals ------------------------------------------------------------------------------------

    def _fields(self, content: Content, key: str) -> tuple[dict[str, Any], Item]:
        """The fields to write, the key and residue properties included, and the item as it will be written."""
        item = self._normalised(content.item)
        fields = self.kind.to_fields(item)
        projection = self.kind.project(item, fields, uid_of_ident(key))
        fields[KEY] = key
        fields[RESIDUE] = residue.encode(content, projection)
        return fields, item

    def _normalised(self, item: Item) -> Item:
        """The item as it will be written (a series' occurrences in their written form)."""
        return item

    def _complete(self, collection: str, found: Any, item: Item) -> Item:
        """The item read, with what lives beside it (a series' occurrences)."""
        return item

    def _finish(self, collection: str, ref: ItemRef, item: Item) -> ItemRef:
        """What a write still has to do after the item itself (a series' occurrences); its final ref."""
        return ref

    def _current_fields(self) -> tuple[str, ...]:
        return (*IDS, KEY)

    def _current(self, collection: str, ref: ItemRef) -> Any:
        """The item at ``ref``, refusing a stale change key (``NotFound`` when it is gone)."""
        account = self._account(collection)
        fields = self._current_fields()
        (found,) = self._call(
            lambda: builtins.list(account.fetch(ids=[(ref.href, None)], only_fields=fields)), ref.href
        )
        self._raise(found, ref.href)
        if found.changekey != ref.version:
            raise PreconditionFailed(f"{ref.href} changed since it was read", connector=self.name, href=ref.href)
        return found

    def _writable(self, href: str) -> None:
        if self.capabilities.read_only:
            raise ReadOnly(f"{self.name} is read-only", connector=self.name, href=href)

    def _raise(self, result: object, href: str) -> None:
        error = item_error(result, self.name, href)
        if error is not None:
            raise error


def _fetch(account: Any, hrefs: Sequence[str]) -> builtins.list[Any]:
    """GetItem of ``hrefs`` with every field: items, or exceptions in their places."""
    return builtins.list(account.fetch(ids=[(h, None) for h in hrefs]))


class _Expired(ProtocolError):
    """Exchange no longer accepts the sync state (ErrorInvalidSyncStateData)."""


def read_token(token: str | None) -> dict[str, Any] | None:
    """A token's sync state and remembered writes; ``None`` for no token or one of another form."""
    if not token:
        return None
    try:
        state = json.loads(token)
        return {"s": str(state["s"]), "w": [str(h) for h in state.get("w") or ()]}
    except (ValueError, TypeError, KeyError):
        return None
