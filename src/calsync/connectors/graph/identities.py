"""Finding a calendar's events by identity, whatever their dates (``GraphConnector.locate``, the ``Locating`` port).

An event's identity is the ``Content.ident`` of what ``GraphConnector.get`` reads (``operations.identity``):
calsync's key property when it carries one, else the identity of Graph's iCalUId, else of its id. The engine
takes a key left out of the answer as deleted, so an answer that cannot be had whole raises (a failed request,
one inside a batch, a page that did not come), and an event counts only when the identity read from it equals
the key exactly: Graph compares an extended property's value ignoring case, so a filter finds more than that.

How: up to ``QUERIED_KEYS`` keys are asked for one by one, by the key property and by iCalUId, two requests a
key in JSON batches of 20, every answer followed to its last page. That is the lookup Graph documents for an
extended property (one ``eq`` on its value; no ``or`` of values), and the one a retried create relies on. More
keys, or a key a filter cannot carry, are looked for by listing every event's identity: a listing costs a
request per 100 events, the queries two a key, and the keys asked about are the items a complete listing missed
(deletions, events saved again under another id), so usually few.

A listing alone is not trusted to leave a key out: Graph pages ``/events`` by offset (``$skip``), so an event
deleted from a page already read moves every later one a place back, and the first of the next page slips past
the boundary unread (no page documents a stable order to page by instead). So a key the listing missed is asked
for by the two filters before it is left out (those are mostly the deleted ones, two requests each); a key no
filter can carry is left out only when a second listing misses it too.

What a filter can carry: a printable key of at most 255 bytes (a request line) without an escape. The iCalUId
filter asks for the UID the key spells (``uid_of_ident``): Exchange imports a UID as TEXT ([MS-OXCICAL]
2.1.3.1.1.20.26), so iCalUId holds it unescaped. But a line break has four raw spellings (LF, CRLF, CR,
``\\N``) that one filter cannot all ask for, and that page gives the UID's format as Text and no more, so how
Exchange reads an escape in a UID is not written down; the listing compares what ``get`` reads, whatever that
is. A UID with white space around it is taken to have none (an identity is stripped): no generator writes one,
and allowing for it would cost a listing on every call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from calsync.connectors.graph import operations
from calsync.connectors.graph.transport import Json, Transport, check
from calsync.errors import ProtocolError
from calsync.model.uids import uid_of_ident

QUERIED_KEYS = 25
"""Most keys asked for one by one: 50 requests in 3 batches, about what listing 5,000 events costs."""
_QUERYABLE_BYTES = 255


def locate(transport: Transport, collection: str, keys: Sequence[str], name: str) -> dict[str, str]:
    """The id of an event of each identity in ``keys`` that the calendar holds, whatever its dates; raises a
    ``ConnectorError`` when Graph's answer cannot be had whole (see the module docstring)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    if len(wanted) <= QUERIED_KEYS and all(map(_queryable, wanted)):
        return _queried(transport, collection, wanted, name)
    found = _listed(transport, collection, set(wanted), name)
    missed = [key for key in wanted if key not in found]
    asked = [key for key in missed if _queryable(key)]
    if asked:
        found.update(_queried(transport, collection, asked, name))
    again = {key for key in missed if not _queryable(key)}
    if again:
        found.update(_listed(transport, collection, again, name))
    return found


def _queried(transport: Transport, collection: str, wanted: Sequence[str], name: str) -> dict[str, str]:
    """Each key asked for by the key property and by iCalUId, in batches."""
    mailbox = operations.mailbox_of(collection)
    calls = [
        call
        for key in wanted
        for call in (
            operations.events_by_key(collection, key),
            operations.events_by_ical_uid(collection, uid_of_ident(key)),
        )
    ]
    found: dict[str, str] = {}
    for number, reply in enumerate(transport.batch(calls, mailbox)):
        key = wanted[number // 2]
        for event in _every_page(transport, check(reply, name).body, mailbox, name):
            if key not in found and operations.identity(event) == key:
                found[key] = str(event["id"])
    return found


def _listed(transport: Transport, collection: str, wanted: set[str], name: str) -> dict[str, str]:
    """The keys found by reading every event's identity, until each is found or the listing ends."""
    mailbox = operations.mailbox_of(collection)
    found: dict[str, str] = {}
    for page in transport.pages(operations.list_identities(collection), mailbox):
        for event in _events(page, name):
            ident = operations.identity(event)
            if ident in wanted:
                found.setdefault(ident, str(event["id"]))
        if len(found) == len(wanted):
            break
    return found


def _every_page(transport: Transport, first: Json, mailbox: str, name: str) -> Iterator[Json]:
    """The events of an answer and of every page after it (``@odata.nextLink``)."""
    yield from _events(first, name)
    link = first.get("@odata.nextLink")
    if link:
        for page in transport.pages(operations.follow(str(link)), mailbox):
            yield from _events(page, name)


def _events(page: Json, name: str) -> list[Json]:
    """A page's events; a page without its list, or with an event without an id, is an answer cut short."""
    value = page.get("value")
    if not isinstance(value, list) or not all(isinstance(e, dict) and e.get("id") for e in value):
        raise ProtocolError("Graph answered a listing of events without them", connector=name)
    return value


def _queryable(key: str) -> bool:
    """Whether a filter can carry ``key`` whole: printable, short enough for a request line, and without an
    escape, so the iCalUId it stands for is known (see the module docstring)."""
    return key.isprintable() and len(key.encode("utf-8")) <= _QUERYABLE_BYTES and "\\" not in key
