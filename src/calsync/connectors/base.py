"""The Connector port: the one narrow interface every calendar, task and contact store implements.

The engine syncs one connector with another through these methods only. Differences between stores are data in
``Capabilities``, never ``if kind == ...`` in the engine. Every write is guarded: ``create`` is idempotent under
retry through a caller-chosen identity key, ``update`` and ``delete`` are conditional on the version last seen and
raise ``PreconditionFailed`` when they lose a race.

Errors: connectors raise only ``calsync.errors.ConnectorError`` subclasses, translated at their border.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from calsync.errors import AlreadyExists, ConnectorError
from calsync.model.content import Content
from calsync.model.refs import CollectionInfo, ItemRef
from calsync.model.window import Window

_SAFE_HREF = re.compile(r"^[A-Za-z0-9@._-]{1,200}$")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a connector can do, as data the engine reads.

    - ``has_sync_token``: ``changes()`` is incremental (CalDAV sync-collection, Graph delta, EWS
      SyncFolderItems, the folder connector's stat cache); without it ``changes()`` is a full listing.
    - ``filters_window``: ``list(window)`` returns only items overlapping the window; otherwise the engine
      filters what it fetches.
    - ``max_batch``: how many hrefs one ``get()`` round trip should carry.
    - ``read_only``: the side is never written (the engine plans no write for it).
    - ``formats``: the media types ``create``/``update`` accept as text without converting the item.
    - ``creates_by_identity``: ``create`` looks its key up among every item of the collection, not only where its
      own creates put items: it never makes a second item of an identity the collection holds (it returns that
      item when it is what the content makes there, else raises ``AlreadyExists``), so the engine may repeat a
      create it cannot tell happened (``calsync.sync.intents.settle``).
    - ``logs_deletions``: every deletion ``changes()`` reports was made as such on the other system (the business
      system's change log), never inferred from an item missing in a listing; so this side found empty is a
      decision, not a folder re-pointed or a calendar answering empty (see the mass-deletion guard).
    """

    has_sync_token: bool = False
    filters_window: bool = True
    max_batch: int = 100
    read_only: bool = False
    formats: frozenset[str] = frozenset({"text/calendar"})
    creates_by_identity: bool = False
    logs_deletions: bool = False


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What changed on one collection since a sync token: refs to fetch, hrefs gone, and the token to store.

    ``complete`` is True when ``changed`` lists every item (a full listing): mapped hrefs missing from it may
    then be deleted or outside the window, and the engine checks which.
    """

    changed: Sequence[ItemRef]
    deleted: Sequence[str] = ()
    token: str | None = None
    complete: bool = False


@dataclass(frozen=True, slots=True)
class Fetched:
    """One item read by ``get()``: where it is, which version, and its content."""

    ref: ItemRef
    content: Content


@dataclass(frozen=True, slots=True)
class FetchFailed:
    """One item ``get()`` could not return: gone (``NotFound``) or unreadable (``InvalidItem``)."""

    href: str
    error: ConnectorError = field(compare=False)


@runtime_checkable
class Connector(Protocol):
    """One account on one store (a folder, a CalDAV server, a mailbox through EWS or Graph, the business store)."""

    name: str
    capabilities: Capabilities

    def discover(self) -> list[CollectionInfo]:
        """The collections this account can reach."""
        ...

    def changes(self, collection: str, token: str | None) -> ChangeSet:
        """What changed since ``token`` (``None``: everything). The engine stores the new token only after it
        has applied the changes, so a crash replays them."""
        ...

    def list(self, collection: str, window: Window | None) -> list[ItemRef]:
        """Refs of the items overlapping ``window`` (``None``: all), for a full sync."""
        ...

    def get(self, collection: str, hrefs: Sequence[str]) -> Iterator[Fetched | FetchFailed]:
        """The items at ``hrefs``, in bulk; one failure is a ``FetchFailed`` value, never an exception."""
        ...

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        """Store a new item whose identity is ``key``; idempotent: a retry finds and returns the first copy.

        Raises ``AlreadyExists`` when an item with that identity exists with different content, so the engine
        can match it instead of making a second one.
        """
        ...

    def update(self, collection: str, ref: ItemRef, content: Content) -> ItemRef:
        """Replace the item at ``ref.href`` only if it is still at ``ref.version``; else ``PreconditionFailed``."""
        ...

    def delete(self, collection: str, ref: ItemRef) -> None:
        """Remove the item at ``ref.href`` only if it is still at ``ref.version``; a missing item is no error."""
        ...

    def absorb_writes(self, collection: str, token: str | None, written: Iterable[ItemRef]) -> str | None:
        """The sync token to store after this run's own writes.

        Most stores return ``token`` unchanged (their next ``changes()`` reports our writes, and the engine
        recognises its own versions). A store whose token is a cache of what it has read (the folder connector)
        adds what it wrote, so the next run need not read those items back.
        """
        ...


@dataclass(frozen=True, slots=True)
class Check:
    """One answer of a connection check: for the server/account, or for one mailbox/principal.

    ``problem`` is a short code an admin UI can act on (``"ok"``, ``"bad_password"``, ``"no_impersonation"``,
    ``"mailbox_not_found"`` …, each connector documents its own); ``line`` is one line of plain words for a person.
    A line never holds a secret.
    """

    subject: str
    problem: str
    line: str

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong."""
        return self.problem == "ok"


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    """What "check connection" and "check users" found: the server's answer ("Connected to Exchange 15.1 (build
    …)", or why not) and one answer per mailbox/principal asked about, in the order asked."""

    server: Check
    principals: tuple[Check, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the server and every principal can be reached."""
        return self.server.ok and all(p.ok for p in self.principals)

    def lines(self) -> list[str]:
        """Every answer's line, the server's first."""
        return [self.server.line, *(p.line for p in self.principals)]


@runtime_checkable
class Checkable(Protocol):
    """A connector that can check its account and its mailboxes without syncing (the admin's "Check connection").

    Never raises for what it checks: an unreachable server or a refused mailbox is the answer, in the report.
    """

    def check_connection(self, principals: Sequence[str] = ()) -> ConnectionReport:
        """Reach the server with the configured credentials, then each of ``principals`` (mailboxes, or DAV
        principals/collections), and say what worked and what did not."""
        ...


@runtime_checkable
class Locating(Protocol):
    """A connector that finds items by identity anywhere in a collection, whatever their dates.

    Why: a listing that filters by window (a full sync of a calendar, an expired token) never reads an unlinked
    item outside the window, so an item saved under another name and rescheduled out of the window (a client
    that saves as delete and create) looks deleted. Asking where its identity is now tells that move from a
    deletion, and the engine passes on only the deletion.
    """

    def locate(self, collection: str, keys: Sequence[str]) -> dict[str, str]:
        """The href of an item of each identity in ``keys``, for those the collection holds (a key with no item
        is left out: that absence is what the engine relies on, so an answer that cannot be had raises a
        ``ConnectorError`` rather than leaving keys out)."""
        ...


def href_for_key(key: str, extension: str) -> str:
    """A deterministic href for an identity key: the key itself when it is a safe name, else its hash.

    Deterministic so that a retried create after a crash lands on the first copy instead of making a second.
    """
    if _SAFE_HREF.match(key) and not key.startswith("."):
        return key + extension
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40] + extension


def hrefs_for_key(key: str, extension: str) -> tuple[str, str]:
    """The two deterministic hrefs a create may use: ``href_for_key`` first, then one no user names a file.

    Why two: the first may be taken by an unrelated item (a user's own file named like our key). The second,
    a hash with a prefix, is where the item goes then; a retried create tries both in the same order, so it
    still finds the first copy.
    """
    return href_for_key(key, extension), "calsync-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40] + extension


def other_identity(key: str, href: str, found: str, connector: str) -> AlreadyExists:
    """The error for a create that found both of its hrefs held by items of other identities."""
    return AlreadyExists(f"{key}: {href} holds another item ({found!r})", connector=connector, href=href)
