"""Finding a folder's items by identity, whatever their dates (``FolderConnector.locate``, the ``Locating`` port).

An item's identity is the ``Content.ident`` of what ``FolderConnector.get`` reads (``identity``): calsync's key
property when it carries one, else the identity of its calendar UID, else of its id. The engine takes a key left
out of the answer as deleted, so an answer that cannot be had whole raises, and an item counts only when the
identity read from it equals the key exactly.

How: up to ``QUERIED_KEYS`` keys are first asked for together, one FindItem restricted to an Or of IsEqualTo on
the key property (the lookup a retried create relies on; exchangelib reads the property of what it found by
GetItem, whole). Exchange refuses a restriction on calendar:UID, so a key that query did not find (an item made
in Outlook is known by its UID alone, a deleted one by nothing) is looked for by reading every item's identity:
SyncFolderItems from no state, 512 items a call, to the page that says it holds the last item. Why not
FindItem's paging: it pages by offset, so an item deleted between two pages moves every later one a place back
and one slips past a page boundary unread; a sync state remembers what it sent. FindItem gives a string's first
255 characters only, and SyncFolderItems is "similar to FindItem", so a value that long is read again by GetItem.
Searching by the UID's binary twin, the GlobalObjectId, is left alone: how Exchange encodes a UID another
client made is not documented well enough to trust a search that finds nothing.
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/finditem-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/syncfolderitems-operation
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from exchangelib.items import ID_ONLY
from exchangelib.services import SyncFolderItems

from calsync.connectors.ews.errors import item_error
from calsync.connectors.ews.props import KEY
from calsync.errors import NotFound, ProtocolError
from calsync.model.uids import ident_of_uid

if TYPE_CHECKING:
    from calsync.connectors.ews.folders import Kind

T = TypeVar("T")
QUERIED_KEYS = 20
"""Most keys asked for by the key property in one FindItem before the listing."""
SUMMARY_CHARACTERS = 255
"""What FindItem and SyncFolderItems carry of a string; a value this long may have been cut."""
_IDS = ("id", "changekey")
_MAX_CHANGES = 512


def identity(found: Any) -> str:
    """The identity an item is read under, spelled as ``Content.ident`` spells it: calsync's key property (an
    identity already, as ``create`` got it), else the identity of its calendar UID, else of its id
    (``ident_of_uid``: Exchange holds a UID unescaped)."""
    return str(getattr(found, KEY, None) or ident_of_uid(str(getattr(found, "uid", None) or found.id)))


class FolderIdentities:
    """``locate`` for a folder connector; the connector provides the plumbing below."""

    name: str
    kind: Kind

    def _call(self, operation: Callable[[], T], href: str = "") -> T:
        raise NotImplementedError

    def _account(self, collection: str) -> Any:
        raise NotImplementedError

    def _folder(self, collection: str) -> Any:
        raise NotImplementedError

    def locate(self, collection: str, keys: Sequence[str]) -> dict[str, str]:
        """The id of an item of each identity in ``keys`` that the folder holds, whatever its dates; raises a
        ``ConnectorError`` when Exchange's answer cannot be had whole (see the module docstring)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        found: dict[str, str] = {}
        if len(wanted) <= QUERIED_KEYS and all(map(_queryable, wanted)):
            found = self._by_key(collection, wanted)
        rest = {key for key in wanted if key not in found}
        if rest:
            found.update(self._read_idents(collection, rest))
        return found

    def _by_key(self, collection: str, wanted: Sequence[str]) -> dict[str, str]:
        """The keys held in the key property, by one FindItem (every page of it)."""
        folder = self._folder(collection)
        query = folder.filter(**{f"{KEY}__in": builtins.list(wanted)}).only(*_IDS, KEY)
        found: dict[str, str] = {}
        for one in self._call(lambda: _whole(query)):
            key = getattr(one, KEY, None)
            if isinstance(key, str) and key in wanted and key not in found:
                found[key] = str(one.id)
        return found

    def _read_idents(self, collection: str, wanted: set[str]) -> dict[str, str]:
        """The keys found by reading every item's identity (the listing, then GetItem for a value it may cut)."""
        folder = self._folder(collection)
        fields = self._identity_fields()
        listed = self._call(lambda: _listing(folder, fields, self.name))
        cut = [href for href, one in listed.items() if any(_maybe_cut(getattr(one, f, None)) for f in fields)]
        if cut:
            listed.update(self._reread(collection, cut, fields))
        found: dict[str, str] = {}
        for href, one in listed.items():
            if one is not None and (ident := identity(one)) in wanted:
                found.setdefault(ident, href)
        return found

    def _reread(self, collection: str, hrefs: Sequence[str], fields: Sequence[str]) -> dict[str, Any]:
        """The identity fields of ``hrefs`` read whole by GetItem; ``None`` for an item deleted since."""
        account = self._account(collection)
        only = (*_IDS, *fields)
        got = self._call(lambda: builtins.list(account.fetch(ids=[(h, None) for h in hrefs], only_fields=only)))
        result: dict[str, Any] = {}
        for href, one in zip(hrefs, got, strict=True):
            error = item_error(one, self.name, href)
            if error is not None and not isinstance(error, NotFound):
                raise error
            result[href] = None if error is not None else one
        return result

    def _identity_fields(self) -> tuple[str, ...]:
        """The fields ``identity`` reads that this kind of item has (tasks and contacts have no UID)."""
        names = {field.name for field in getattr(self.kind.item_class, "FIELDS", ())}
        return (KEY, "uid") if "uid" in names else (KEY,)


def _listing(folder: Any, fields: Sequence[str], name: str) -> dict[str, Any]:
    """Every item of ``folder`` with ``fields``, by id: SyncFolderItems from no state until an answer says it
    holds the last item. exchangelib's own loop also stops when the state comes back unchanged without that, so
    this one raises then instead of answering with a part."""
    service = SyncFolderItems(account=folder.account)
    paths = {path for path in folder.normalize_fields(fields=[*_IDS, *fields]) if not path.field.is_attribute}
    items: dict[str, Any] = {}
    state: str | None = None
    while True:
        answers = service.call(
            folder=folder,
            shape=ID_ONLY,
            additional_fields=paths,
            sync_state=state,
            ignore=None,
            max_changes_returned=_MAX_CHANGES,
            sync_scope=None,
        )
        try:
            page = _whole(answers)
        except AttributeError as exc:  # exchangelib 5.6 reads SyncState before the error code of a refusal
            raise ProtocolError(f"Exchange refused to list the folder ({exc})", connector=name) from exc
        for change, one in page:
            if change == SyncFolderItems.DELETE:
                items.pop(one.id, None)
            elif change in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
                items[one.id] = one
        if service.includes_last_item_in_range:
            return items
        if service.sync_state == state:
            raise ProtocolError("Exchange stopped listing the folder before its last item", connector=name)
        state = service.sync_state


def _whole(answers: Iterable[Any]) -> builtins.list[Any]:
    """Every answer, raising the first error exchangelib hands over as a value (a page that failed)."""
    found = builtins.list(answers)
    for one in found:
        if isinstance(one, Exception):
            raise one
    return found


def _maybe_cut(value: object) -> bool:
    return isinstance(value, str) and len(value) >= SUMMARY_CHARACTERS


def _queryable(key: str) -> bool:
    """Whether a restriction is trusted with ``key``: printable (a request's XML carries it) and shorter than what
    a summary cuts (no page says how Exchange compares a longer string in a restriction)."""
    return key.isprintable() and len(key) < SUMMARY_CHARACTERS
