"""One builder per Graph operation calsync uses (build is pure; ``Transport`` sends; callers parse).

Collections are named ``mailbox`` (the default calendar) or ``mailbox/calendar-id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from calsync.connectors.graph.transport import Call
from calsync.model.uids import ident_of_uid

Json = dict[str, Any]

NAMESPACE = "{1c2f0a53-7c52-4d3c-9a4e-5f6b1b7d0c11}"
KEY_PROPERTY = f"String {NAMESPACE} Name calsyncKey"
"""The business key of an item calsync wrote: a single-value extended property that ``$filter`` can find."""
RESIDUE_PROPERTY = f"String {NAMESPACE} Name calsyncResidue"
"""What Graph cannot hold of an item (see ``connectors.graph.residue``)."""
EXPAND = f"singleValueExtendedProperties($filter=id eq '{KEY_PROPERTY}' or id eq '{RESIDUE_PROPERTY}')"
_KEY_ONLY = f"singleValueExtendedProperties($filter=id eq '{KEY_PROPERTY}')"
IDENTIFY = f"$select=id,iCalUId&$expand={quote(_KEY_ONLY)}"
"""What ``identity`` reads of an event, and no more (the residue property can be long)."""
PAGE = {"Prefer": "odata.maxpagesize=100"}


def mailbox_of(collection: str) -> str:
    """The mailbox a collection belongs to."""
    return collection.partition("/")[0]


def calendar_root(collection: str) -> str:
    """``/users/{mailbox}/calendar`` or ``/users/{mailbox}/calendars/{id}``."""
    mailbox, _, calendar = collection.partition("/")
    user = f"/users/{quote(mailbox)}"
    return f"{user}/calendars/{quote(calendar)}" if calendar else f"{user}/calendar"


def _event(collection: str, event_id: str) -> str:
    return f"/users/{quote(mailbox_of(collection))}/events/{quote(event_id, safe='')}"


def get_event(collection: str, event_id: str, select: str = "") -> Call:
    """https://learn.microsoft.com/en-us/graph/api/event-get"""
    query = f"$select={select}" if select else f"$expand={EXPAND}"
    return Call("GET", f"{_event(collection, event_id)}?{query}")


def create_event(collection: str, body: Json) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/calendar-post-events"""
    return Call("POST", f"{calendar_root(collection)}/events", body)


def update_event(collection: str, event_id: str, body: Json, etag: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/event-update (If-Match: the etag last seen)"""
    return Call("PATCH", _event(collection, event_id), body, {"If-Match": etag} if etag else {})


def delete_event(collection: str, event_id: str, etag: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/event-delete (If-Match: the etag last seen)"""
    return Call("DELETE", _event(collection, event_id), headers={"If-Match": etag} if etag else {})


def find_by_key(collection: str, key: str) -> Call:
    """Events carrying ``key`` in the key property.
    https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get"""
    value = key.replace("'", "''")
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{KEY_PROPERTY}' and ep/value eq '{value}')"
    return Call("GET", f"{calendar_root(collection)}/events?$filter={quote(flt)}&$expand={quote(EXPAND)}")


def events_by_key(collection: str, key: str) -> Call:
    """Events whose key property holds ``key``, ignoring case (Graph compares an extended property's value so),
    with what ``identity`` reads. https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get"""
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{KEY_PROPERTY}' and ep/value eq '{_literal(key)}')"
    return Call("GET", f"{calendar_root(collection)}/events?$filter={quote(flt)}&{IDENTIFY}", headers=PAGE)


def events_by_ical_uid(collection: str, uid: str) -> Call:
    """Events whose iCalUId is ``uid``, with what ``identity`` reads.
    https://learn.microsoft.com/en-us/graph/api/calendar-list-events (OData $filter)"""
    flt = f"iCalUId eq '{_literal(uid)}'"
    return Call("GET", f"{calendar_root(collection)}/events?$filter={quote(flt)}&{IDENTIFY}", headers=PAGE)


def list_identities(collection: str) -> Call:
    """Every single event and series master with what ``identity`` reads.
    https://learn.microsoft.com/en-us/graph/api/calendar-list-events"""
    return Call("GET", f"{calendar_root(collection)}/events?{IDENTIFY}", headers=PAGE)


def list_events(collection: str) -> Call:
    """Every single event and series master, ids and etags only.
    https://learn.microsoft.com/en-us/graph/api/calendar-list-events"""
    return Call("GET", f"{calendar_root(collection)}/events?$select=id,type", headers=PAGE)


def calendar_view(collection: str, start: datetime, end: datetime) -> Call:
    """Instances overlapping a range. https://learn.microsoft.com/en-us/graph/api/calendar-list-calendarview"""
    span = f"startDateTime={_iso(start)}&endDateTime={_iso(end)}"
    return Call("GET", f"{calendar_root(collection)}/calendarView?{span}&$select=id,type,seriesMasterId", headers=PAGE)


def calendar_delta(collection: str, start: datetime, end: datetime) -> Call:
    """The first round of a delta over a range. https://learn.microsoft.com/en-us/graph/api/event-delta"""
    span = f"startDateTime={_iso(start)}&endDateTime={_iso(end)}"
    return Call("GET", f"{calendar_root(collection)}/calendarView/delta?{span}", headers=PAGE)


def follow(link: str) -> Call:
    """A next or delta link as Graph gave it."""
    return Call("GET", link, headers=PAGE)


def instances(collection: str, event_id: str, start: datetime, end: datetime) -> Call:
    """Occurrences and exceptions of a series. https://learn.microsoft.com/en-us/graph/api/event-list-instances"""
    span = f"startDateTime={_iso(start)}&endDateTime={_iso(end)}"
    return Call("GET", f"{_event(collection, event_id)}/instances?{span}", headers=PAGE)


def list_calendars(mailbox: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/user-list-calendars"""
    return Call("GET", f"/users/{quote(mailbox)}/calendars?$select=id,name,isDefaultCalendar,canEdit")


def get_user(mailbox: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/user-get"""
    return Call("GET", f"/users/{quote(mailbox)}?$select=id,userPrincipalName,mail")


def properties(event: Json) -> dict[str, str]:
    """The expanded single-value extended properties of an event, by id (case as Graph stores it)."""
    return {
        str(p.get("id", "")).lower(): str(p.get("value", "")) for p in event.get("singleValueExtendedProperties") or ()
    }


def identity(event: Json) -> str:
    """The identity an event is read under, spelled as ``Content.ident`` spells it: calsync's key property (an
    identity already, as ``create`` got it), else the identity of its iCalUId, else of its id (``ident_of_uid``:
    Graph holds a UID unescaped)."""
    return properties(event).get(KEY_PROPERTY.lower()) or ident_of_uid(str(event.get("iCalUId") or event["id"]))


def _literal(value: str) -> str:
    """``value`` inside an OData string literal (a quote doubled)."""
    return value.replace("'", "''")


def _iso(moment: datetime) -> str:
    return quote(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
