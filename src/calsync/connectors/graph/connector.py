"""The Graph connector: one mailbox calendar per collection (``mailbox`` or ``mailbox/calendar-id``).

- ``changes``: a full listing is every single event and series master (``/events``), so nothing linked is taken
  for deleted just because it lies outside a range; before it, a calendarView delta's first round over
  ``delta_days`` gets the deltaLink (before, so what changes during the listing shows in the next round). Later
  runs follow that link: instances map to their series master, removed instances are looked up (gone ->
  deleted; still there -> left the range: reported as changed, so the engine unlinks it when it is outside its
  window). A 410 / syncStateNotFound starts again with a full listing.
- ``create``: the key goes into a filterable extended property and a ``transactionId`` derived from it; a retry
  first looks the key up and returns the first copy (``AlreadyExists`` when it holds other content).
- ``locate``: where an event of each identity is, whatever its dates (``identities``).
- ``update`` / ``delete``: If-Match with the etag last seen (412 -> ``PreconditionFailed``); meetings with
  attendees are never changed (``ReadOnly``): someone else's, and the mailbox's own, since Graph would mail
  every attendee a cancellation or an update.
- what Graph cannot hold is kept by ``residue`` so the digest read back equals the digest written.
"""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from calsync.connectors.base import Capabilities, ChangeSet, Fetched, FetchFailed
from calsync.connectors.graph import availability, categories, checks, convert, identities, operations, series
from calsync.connectors.graph.addressbook import GraphContactsConnector
from calsync.connectors.graph.auth import AUTHORITY_HOST, Credentials, TokenSource
from calsync.connectors.graph.tasks import GraphTasksConnector
from calsync.connectors.graph.transport import GRAPH_URL, Call, DeltaExpired, Json, Transport, check, read_items
from calsync.errors import AlreadyExists, PreconditionFailed, ReadOnly
from calsync.model import residue
from calsync.model.content import Content
from calsync.model.item import Item
from calsync.model.refs import CollectionInfo, ItemRef
from calsync.model.uids import uid_of_ident
from calsync.model.window import Window

Outcomes = list[categories.CategoryOutcome]
Schedules = list[availability.Schedule]
_TRANSACTION_NS = uuid.UUID("5d0b7bb4-2f8e-4a8e-9c7e-6f1c3f0e2a10")


class GraphConnector:
    """Calendars of the mailboxes one app registration may reach."""

    def __init__(
        self,
        name: str = "graph",
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str = "",
        certificate_pem: str = "",
        mailboxes: Sequence[str] = (),
        read_only: bool = False,
        authority_host: str = AUTHORITY_HOST,
        graph_url: str = GRAPH_URL,
        verify: ssl.SSLContext | str | bool = True,
        timeout: float = 30.0,
        delta_days: tuple[int, int] = (400, 800),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self.name = name
        self.capabilities = Capabilities(
            has_sync_token=True, filters_window=True, max_batch=20, read_only=read_only, formats=frozenset()
        )
        self.mailboxes = tuple(mailboxes)
        self.delta_days = delta_days
        self.client = httpx.Client(verify=verify, timeout=timeout)
        credentials = Credentials(tenant_id, client_id, client_secret, certificate_pem)
        self.tenant_id = tenant_id
        self.tokens = TokenSource(credentials, self.client, authority_host=authority_host, name=name)
        self.transport = Transport(self.tokens, self.client, graph_url=graph_url, name=name, sleep=sleep)

    def __repr__(self) -> str:
        return f"GraphConnector({self.name!r})"

    def close(self) -> None:
        self.client.close()

    # -- reading ------------------------------------------------------------------------------------------------

    def discover(self) -> list[CollectionInfo]:
        """The calendars of every configured mailbox; the default one is named by the mailbox alone."""
        found = []
        for mailbox in self.mailboxes:
            for page in self.transport.pages(operations.list_calendars(mailbox), mailbox):
                for cal in page.get("value") or ():
                    ident = mailbox if cal.get("isDefaultCalendar") else f"{mailbox}/{cal['id']}"
                    found.append(
                        CollectionInfo(ident, str(cal.get("name") or ""), writable=bool(cal.get("canEdit", True)))
                    )
        return found

    def changes(self, collection: str, token: str | None) -> ChangeSet:
        """Everything (``token`` None or expired) or what the delta link reports since ``token``."""
        if token:
            try:
                return self._delta(collection, json.loads(token))
            except (DeltaExpired, ValueError, KeyError, TypeError):
                pass  # a delta link Graph forgot, or a token of another version: start again
        mailbox = operations.mailbox_of(collection)
        now = datetime.now(UTC)
        call = operations.calendar_delta(
            collection, now - timedelta(days=self.delta_days[0]), now + timedelta(days=self.delta_days[1])
        )
        # The delta round first: what changes while the listing runs is then after the delta link's snapshot and
        # shows in the next round. Listed first, an event made between the two was in neither, and never reported.
        link, _items, masters = self._round(call, mailbox)
        refs = [
            ItemRef(str(e["id"]), str(e["@odata.etag"]))
            for page in self.transport.pages(operations.list_events(collection), mailbox)
            for e in page.get("value") or ()
        ]
        return ChangeSet(refs, (), _token(link, masters), complete=True)

    def _delta(self, collection: str, state: dict[str, Any]) -> ChangeSet:
        mailbox = operations.mailbox_of(collection)
        link, items, masters = self._round(operations.follow(str(state["link"])), mailbox)
        known = set(state.get("series") or ()) | masters
        hrefs = {str(e.get("seriesMasterId") or e["id"]) for e in items if "@removed" not in e}
        removed = [str(e["id"]) for e in items if "@removed" in e]
        written = [str(h) for h in state.get("written") or ()]
        found = self._etags(collection, [*dict.fromkeys([*hrefs, *removed, *written])])
        if any(found.get(r) is None for r in removed):
            found.update(self._etags(collection, sorted(known - set(found))))  # a vanished occurrence: check series
        changed = [ItemRef(h, v) for h, v in found.items() if v is not None]
        deleted = [h for h, v in found.items() if v is None]
        return ChangeSet(changed, deleted, _token(link, known - set(deleted)))

    def _round(self, call: Call, mailbox: str) -> tuple[str, list[Json], set[str]]:
        """One delta round: its items, the series masters they belong to, and the new delta link."""
        items: list[Json] = []
        link = ""
        for page in self.transport.pages(call, mailbox):
            items.extend(page.get("value") or ())
            link = str(page.get("@odata.deltaLink") or link)
        masters = {str(e["seriesMasterId"]) for e in items if e.get("seriesMasterId")}
        return link, items, masters

    def _etags(self, collection: str, hrefs: Sequence[str]) -> dict[str, str | None]:
        """The current etag of each event, ``None`` for one that is gone; an occurrence answers for its master."""
        mailbox = operations.mailbox_of(collection)
        calls = [operations.get_event(collection, h, "id,type,seriesMasterId") for h in hrefs]
        result: dict[str, str | None] = {}
        masters: list[str] = []
        for href, reply in zip(hrefs, self.transport.batch(calls, mailbox), strict=True):
            if reply.status == 404:
                result[href] = None
                continue
            body = check(reply, self.name, href).body
            if body.get("seriesMasterId"):
                masters.append(str(body["seriesMasterId"]))
            else:
                result[href] = str(body["@odata.etag"])
        rest = [m for m in dict.fromkeys(masters) if m not in result]
        if rest:
            result.update(self._etags(collection, rest))
        return result

    def list(self, collection: str, window: Window | None) -> list[ItemRef]:
        """Events overlapping ``window`` (a series when any of its instances does); all events for ``None``."""
        mailbox = operations.mailbox_of(collection)
        if window is None:
            return [
                ItemRef(str(e["id"]), str(e["@odata.etag"]))
                for page in self.transport.pages(operations.list_events(collection), mailbox)
                for e in page.get("value") or ()
            ]
        hrefs = [
            str(e.get("seriesMasterId") or e["id"])
            for page in self.transport.pages(operations.calendar_view(collection, window.start, window.end), mailbox)
            for e in page.get("value") or ()
        ]
        found = self._etags(collection, list(dict.fromkeys(hrefs)))
        return [ItemRef(h, v) for h, v in found.items() if v is not None]

    def get(self, collection: str, hrefs: Sequence[str]) -> Iterator[Fetched | FetchFailed]:
        """Events in batches of 20; a series is read with its exceptions."""
        mailbox = operations.mailbox_of(collection)
        replies = self.transport.batch([operations.get_event(collection, h) for h in hrefs], mailbox)
        yield from read_items(hrefs, replies, self.name, "event", lambda event: self._content(collection, event))

    def locate(self, collection: str, keys: Sequence[str]) -> dict[str, str]:
        """The id of an event of each identity in ``keys``, whatever its dates (``Locating``; see ``identities``)."""
        return identities.locate(self.transport, collection, keys, self.name)

    def _content(self, collection: str, event: Json) -> Content:
        """The event as content whose identity is ``operations.identity(event)``: the item gets the UID that
        identity spells, which the writer escapes back into it."""
        props = operations.properties(event)
        ident = operations.identity(event)
        item = convert.from_graph(event, uid_of_ident(ident))
        kept = props.get(operations.RESIDUE_PROPERTY.lower(), "")
        if item.is_recurring:
            mailbox = operations.mailbox_of(collection)
            known = residue.written(kept)
            zone, bounds = convert.series_zone(event), self._span(item, from_start=known is None)
            item = series.read(self.transport, collection, str(event["id"]), item, mailbox, zone, bounds, known)
        return residue.decode(kept, residue.projection_signed(kept, item, ident))

    def _span(self, item: Item, *, from_start: bool = False) -> tuple[datetime, datetime]:
        """The range a series' instances are read and written in, from the delta range's past (``series.span``)."""
        return series.span(item, datetime.now(UTC), timedelta(days=self.delta_days[0]), from_start=from_start)

    # -- writing ------------------------------------------------------------------------------------------------

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        """Find the key's event (a retried create) or make it; see the module docstring."""
        self._writable(key)
        mailbox = operations.mailbox_of(collection)
        existing = self._by_key(collection, key)
        if existing is not None:
            href = str(existing["id"])
            got = next(self.get(collection, [href]))
            if isinstance(got, Fetched) and got.content.digest == content.digest:
                return got.ref
            raise AlreadyExists(
                f"an event with the key {key!r} exists with other content", connector=self.name, href=href
            )
        body, item = self._body(content, key)
        body["transactionId"] = str(uuid.uuid5(_TRANSACTION_NS, f"{collection}\n{key}"))
        created = self.transport.call(operations.create_event(collection, body), mailbox)
        return self._finish(collection, str(created["id"]), item, created)

    def update(self, collection: str, ref: ItemRef, content: Content) -> ItemRef:
        """Replace the event if it is still at ``ref.version``."""
        self._writable(ref.href)
        current = self._current(collection, ref)
        props = operations.properties(current)
        key = props.get(operations.KEY_PROPERTY.lower()) or content.ident
        body, item = self._body(content, key)
        mailbox = operations.mailbox_of(collection)
        reply = self.transport.call(operations.update_event(collection, ref.href, body, ref.version), mailbox, ref.href)
        return self._finish(collection, ref.href, item, reply)

    def delete(self, collection: str, ref: ItemRef) -> None:
        """Remove the event if it is still at ``ref.version``; already gone is fine."""
        self._writable(ref.href)
        try:
            self._current(collection, ref)
        except PreconditionFailed:
            if not self._exists(collection, ref.href):
                return
            raise
        reply = self.transport.send(
            operations.delete_event(collection, ref.href, ref.version), operations.mailbox_of(collection)
        )
        if reply.status != 404:
            check(reply, self.name, ref.href)

    def absorb_writes(self, collection: str, token: str | None, written: Iterable[ItemRef]) -> str | None:
        """The token, told to look at our writes again next time.

        Why: the delta link was taken before this run wrote, so an event we created and a user deleted before
        the next run never shows in a delta round (it is in neither snapshot); the next ``changes()`` asks for
        those events by id and reports the ones that are gone.
        """
        if not token:
            return token
        try:
            state = json.loads(token)
            state["written"] = sorted({*state.get("written", ()), *(ref.href for ref in written)})
        except (ValueError, TypeError, AttributeError):
            return token
        return json.dumps(state, separators=(",", ":"))

    # -- beyond calendars: what the hub's other features call ---------------------------------------------------

    def provision_categories(self, mailbox: str, wanted: Mapping[str, str], *, recolour: bool = False) -> Outcomes:
        """Each ``activity type -> colour preset`` as an Outlook master category (see ``categories``)."""
        self._writable(mailbox)
        return categories.provision(self.transport, mailbox, wanted, recolour=recolour)

    def free_busy(self, mailboxes: Sequence[str], start: datetime, end: datetime, interval: int = 30) -> Schedules:
        """The free/busy of ``mailboxes`` (see ``availability``)."""
        return availability.schedules(self.transport, mailboxes, start, end, interval)

    def automatic_replies(self, mailbox: str) -> availability.AutomaticReplies:
        """The mailbox's out-of-office setting (see ``availability``)."""
        return availability.automatic_replies(self.transport, mailbox)

    def tasks(self) -> GraphTasksConnector:
        """The To Do lists of the same mailboxes, through this connection's token cache and transport."""
        return GraphTasksConnector(
            self.transport, self.mailboxes, name=self.name, read_only=self.capabilities.read_only
        )

    def contacts(self) -> GraphContactsConnector:
        """The contact folders of the same mailboxes, through this connection's token cache and transport."""
        read_only = self.capabilities.read_only
        return GraphContactsConnector(self.transport, self.mailboxes, name=self.name, read_only=read_only)

    def check_connection(self, mailboxes: Sequence[str] | None = None) -> checks.ConnectionReport:
        """The tenant and each mailbox (the configured ones by default), one plain line each (see ``checks``)."""
        chosen = self.mailboxes if mailboxes is None else mailboxes
        return checks.check_connection(self.tokens, self.transport, self.tenant_id, chosen)

    # -- internals ----------------------------------------------------------------------------------------------

    def _writable(self, href: str) -> None:
        if self.capabilities.read_only:
            raise ReadOnly(f"{self.name} is read-only", connector=self.name, href=href)

    def _current(self, collection: str, ref: ItemRef) -> Json:
        """The event at ``ref``, refusing a stale version and every meeting with attendees.

        A meeting someone else organises is theirs. One this mailbox organises is refused too: Graph has no
        SendToNone, so a DELETE of it mails every attendee a cancellation and a PATCH (of its times, subject or
        recurrence, or of an occurrence) mails them an update. calsync writes no attendees, so such a meeting was
        made in Outlook; it is changed there."""
        mailbox = operations.mailbox_of(collection)
        reply = self.transport.send(
            operations.get_event(collection, ref.href, "id,isOrganizer,attendees,organizer"), mailbox
        )
        if reply.status == 404:
            raise PreconditionFailed(f"{ref.href} is gone", connector=self.name, href=ref.href)
        event = check(reply, self.name, ref.href).body
        if event.get("@odata.etag") != ref.version:
            raise PreconditionFailed(f"{ref.href} changed since it was read", connector=self.name, href=ref.href)
        if event.get("isOrganizer") is False and event.get("attendees"):
            who = ((event.get("organizer") or {}).get("emailAddress") or {}).get("address", "someone else")
            raise ReadOnly(
                f"a meeting organised by {who}: calsync never changes it", connector=self.name, href=ref.href
            )
        if event.get("attendees"):
            raise ReadOnly(
                "a meeting this mailbox organises with attendees: changing or deleting it through Graph would mail"
                " every attendee, so calsync never does; change it in Outlook",
                connector=self.name,
                href=ref.href,
            )
        return event

    def _by_key(self, collection: str, key: str) -> Json | None:
        """The first event whose key property is ``key`` exactly: Graph's filter ignores case, so it also finds
        events of keys that differ only in that, page after page of them."""
        pages = self.transport.pages(operations.find_by_key(collection, key), operations.mailbox_of(collection))
        own = operations.KEY_PROPERTY.lower()
        return next(
            (e for page in pages for e in page.get("value") or () if operations.properties(e).get(own) == key), None
        )

    def _exists(self, collection: str, href: str) -> bool:
        reply = self.transport.send(operations.get_event(collection, href, "id"), operations.mailbox_of(collection))
        return reply.status != 404

    def _body(self, content: Content, key: str) -> tuple[Json, Item]:
        """The event body to write, the residue property included, and the item as it will be written."""
        item = series.normalised(content.item)
        body = convert.to_graph(item)
        projection = replace(convert.from_graph(series.project(body), uid_of_ident(key)), overrides=item.overrides)
        if item.recurrence is not None and projection.recurrence is not None:
            projection = replace(projection, recurrence=replace(projection.recurrence, exdates=item.recurrence.exdates))
        body["singleValueExtendedProperties"] = [
            {"id": operations.KEY_PROPERTY, "value": key},
            {"id": operations.RESIDUE_PROPERTY, "value": residue.encode(content, projection, keep=item.is_recurring)},
        ]
        return body, item

    def _finish(self, collection: str, href: str, item: Item, written: Json) -> ItemRef:
        """Apply a series' excluded dates and overrides, then the master's etag after them.

        ``written`` is Graph's answer to the write: the event as it now is, its zone included."""
        if item.recurrence is None or not (item.recurrence.exdates or item.overrides):
            return ItemRef(href, str(written["@odata.etag"]))
        mailbox = operations.mailbox_of(collection)
        lo, hi = self._span(item)
        found = [
            e
            for page in self.transport.pages(operations.instances(collection, href, lo, hi), mailbox)
            for e in page.get("value") or ()
        ]
        deletions, patches = series.occurrence_targets(item, found, convert.series_zone(written))
        calls = [operations.delete_event(collection, one, "") for one in deletions]
        calls += [operations.update_event(collection, one, convert.to_graph(o, master=False), "") for one, o in patches]
        for reply in self.transport.batch(calls, mailbox):
            check(reply, self.name, href)
        master = self.transport.call(operations.get_event(collection, href, "id"), mailbox, href)
        return ItemRef(href, str(master["@odata.etag"]))


def _token(link: str, series_ids: Iterable[str]) -> str:
    return json.dumps({"link": link, "series": sorted(series_ids)}, separators=(",", ":"))
