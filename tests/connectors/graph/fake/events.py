"""Event routes of the fake: CRUD with change keys and If-Match, calendarView and its delta, instances, and
extended properties that can be filtered on.

https://learn.microsoft.com/en-us/graph/api/user-post-events
https://learn.microsoft.com/en-us/graph/api/event-get , event-update , event-delete
https://learn.microsoft.com/en-us/graph/api/user-list-calendarview
https://learn.microsoft.com/en-us/graph/api/event-delta
https://learn.microsoft.com/en-us/graph/api/event-list-instances
https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.connectors.graph.fake.http import (
    EXT_ANY,
    EXT_EXPAND,
    EXT_ID,
    ICAL_UID_EQ,
    GraphError,
    Json,
    Pager,
    Request,
    Response,
    offset_page,
    select,
)
from tests.connectors.graph.fake.mailbox import Mailbox, Stored, instant, stamp, zone

if TYPE_CHECKING:
    from tests.connectors.graph.fake.server import FakeGraph

_READ_ONLY = {"id", "changeKey", "createdDateTime", "lastModifiedDateTime", "type", "seriesMasterId", "iCalUId"}
_TAGS = re.compile(r"<[^>]+>")


def change_key(change: int) -> str:
    return base64.b64encode(f"calsync-fake-{change:08d}".encode()).decode()


def etag(change: int) -> str:
    return f'W/"{change_key(change)}"'


def render(body: Json, change: int, request: Request) -> Json:
    """An event as Graph answers it: etag, times in the preferred zone, body in the preferred type."""
    out = copy.deepcopy(body)
    out["@odata.etag"] = etag(change)
    out["changeKey"] = change_key(change)
    tz = request.prefer("outlook.timezone") or "UTC"
    for key in ("start", "end"):
        if key in out:
            out["original" + key.capitalize() + "TimeZone"] = out[key].get("timeZone") or "UTC"
            local = instant(out[key]).astimezone(zone(tz))
            out[key] = {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz}
    wanted = request.prefer("outlook.body-content-type")
    content = out.get("body") or {"contentType": "text", "content": ""}
    if wanted == "text" and content.get("contentType") == "html":
        out["body"] = {"contentType": "text", "content": _TAGS.sub("", content.get("content", "")).strip()}
    props = out.pop("singleValueExtendedProperties", None) or []
    match = EXT_EXPAND.match(request.query.get("$expand", ""))
    if match:
        ids = {found.lower() for found in EXT_ID.findall(match.group(1))}
        chosen = [p for p in props if p["id"].lower() in ids]
        if chosen:
            out["singleValueExtendedProperties"] = chosen
    out.pop("transactionId", None)
    return select(out, request)


def route(fake: FakeGraph, box: Mailbox, request: Request, rest: str) -> Response:
    """Dispatch one events request below ``/users/{id}``."""
    rest = re.sub(r"^/calendars/[^/]+", "/calendar", rest)
    method = request.method
    if rest == "/calendar/calendarView/delta" and method == "GET":
        return _delta(fake, box, request)
    if rest == "/calendar/calendarView" and method == "GET":
        return _view(fake.pager, box, request)
    if rest in ("/calendar/events", "/events"):
        return _create(fake, box, request) if method == "POST" else _list(box, request)
    found = re.fullmatch(r"(?:/calendar)?/events/([^/]+)(/instances)?", rest)
    if found is None:
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest}'.")
    event_id, instances = found.groups()
    if instances:
        return _instances(fake.pager, box, event_id, request)
    if method == "GET":
        stored, original = _find(box, event_id)
        body, change = _instance(box, stored, original)
        return Response(200, render(body, change, request))
    if method == "PATCH":
        return _update(box, event_id, request)
    if method == "DELETE":
        return _delete(box, event_id, request)
    raise GraphError(405, "ErrorInvalidRequest", "The method is not allowed.")


def _find(box: Mailbox, event_id: str) -> tuple[Stored, str | None]:
    found = box.find(event_id)
    if found is None:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return found


def _instance(box: Mailbox, stored: Stored, original: str | None) -> tuple[Json, int]:
    if original is None:
        return stored.data, stored.change
    moment = datetime.fromisoformat(original.replace("Z", "+00:00"))
    for body, change in box.instances(stored, datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)):
        if body["originalStart"] == stamp(moment):
            return body, change
    raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def _window(request: Request) -> tuple[datetime, datetime]:
    try:
        lo = datetime.fromisoformat(request.query["startDateTime"].replace("Z", "+00:00"))
        hi = datetime.fromisoformat(request.query["endDateTime"].replace("Z", "+00:00"))
    except (KeyError, ValueError) as exc:
        raise GraphError(400, "ErrorInvalidParameter", "startDateTime and endDateTime are required.") from exc
    return (lo if lo.tzinfo else lo.replace(tzinfo=UTC)), (hi if hi.tzinfo else hi.replace(tzinfo=UTC))


def _view(pager: Pager, box: Mailbox, request: Request) -> Response:
    more = pager.next(request)
    if more is not None:
        return more
    lo, hi = _window(request)
    items = sorted(box.window(lo, hi), key=lambda pair: instant(pair[0]["start"]))
    return pager.page(request, [render(body, change, request) for body, change in items], {})


def _delta(fake: FakeGraph, box: Mailbox, request: Request) -> Response:
    """A delta round: everything in the window first, then what changed since the token's snapshot."""
    more = fake.pager.next(request)
    if more is not None:
        return more
    token = request.query.get("$deltatoken")
    if token is not None:
        if token not in box.snapshots:
            raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")
        lo, hi, before = box.snapshots[token]
    else:
        lo, hi = _window(request)
        before = {}
    now = {body["id"]: (body, change) for body, change in box.window(lo, hi)}
    items = [render(body, change, request) for key, (body, change) in now.items() if before.get(key) != change]
    items += [{"id": key, "@removed": {"reason": "deleted"}} for key in before if key not in now]
    new_token = box.snapshot(lo, hi, {key: change for key, (_, change) in now.items()})
    link = {"@odata.deltaLink": f"{request.base}{request.path}?$deltatoken={new_token}"}
    return fake.pager.page(request, items, link)


def _list(box: Mailbox, request: Request) -> Response:
    """``/events``: masters and single events, filtered by an extended property or by iCalUId when asked, paged
    by offset over the calendar as it is when each page is asked for."""
    wanted = (request.query.get("$filter") or "").strip()
    chosen = list(box.events.values())
    if wanted:
        keep = _filter(wanted)
        chosen = [s for s in chosen if keep(s.data)]
    return offset_page(request, [render(s.data, s.change, request) for s in chosen])


def _filter(wanted: str) -> Callable[[Json], bool]:
    """One filter of the two forms calsync sends: an extended property's value (compared ignoring case, as
    https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get says), or ``iCalUId eq``
    (a property of the event, filtered as a list's $filter filters any:
    https://learn.microsoft.com/en-us/graph/api/calendar-list-events ; no page says how it compares: exactly)."""
    match = EXT_ANY.match(wanted)
    if match is not None:
        key, value = match.group(1).lower(), match.group(2).replace("''", "'")
        return lambda data: _has_property(data, key, value)
    match = ICAL_UID_EQ.match(wanted)
    if match is not None:
        uid = match.group(1).replace("''", "'")
        return lambda data: data.get("iCalUId") == uid
    raise GraphError(400, "ErrorInvalidUrlQueryFilter", "The query filter is not supported.")


def _has_property(data: Json, key: str, value: str) -> bool:
    return any(
        p["id"].lower() == key and str(p.get("value", "")).casefold() == value.casefold()
        for p in data.get("singleValueExtendedProperties", [])
    )


def _instances(pager: Pager, box: Mailbox, event_id: str, request: Request) -> Response:
    more = pager.next(request)
    if more is not None:
        return more
    stored, original = _find(box, event_id)
    if original is not None or not stored.data.get("recurrence"):
        raise GraphError(400, "ErrorInvalidRequest", "The event is not a series master.")
    lo, hi = _window(request)
    items = [render(body, change, request) for body, change in box.instances(stored, lo, hi)]
    return pager.page(request, items, {})


def _validate(body: Any) -> Json:
    if not isinstance(body, dict) or "start" not in body or "end" not in body:
        raise GraphError(400, "ErrorInvalidRequest", "An event needs a start and an end.")
    if body.get("isAllDay"):
        for key in ("start", "end"):
            if body[key]["dateTime"][11:19] not in ("", "00:00:00"):
                raise GraphError(400, "ErrorInvalidRequest", "All-day events must start and end at midnight.")
    if instant(body["end"]) < instant(body["start"]):
        raise GraphError(400, "ErrorInvalidRequest", "The end is before the start.")
    return {key: value for key, value in body.items() if key not in _READ_ONLY}


def _create(fake: FakeGraph, box: Mailbox, request: Request) -> Response:
    data = _validate(request.body)
    known = box.transactions.get(data.get("transactionId") or "")
    if known is not None and known in box.events:
        stored = box.events[known]
        return Response(201, render(stored.data, stored.change, request))
    if data.get("attendees"):
        fake.invitations.append(data.get("subject", ""))
    stored = box.add(data)
    return Response(201, render(stored.data, stored.change, request))


def _check_match(request: Request, change: int) -> None:
    wanted = request.headers.get("if-match")
    if wanted and wanted != "*" and wanted != etag(change):
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The change key passed in the request does not match the current change key for the item.",
        )


def _update(box: Mailbox, event_id: str, request: Request) -> Response:
    stored, original = _find(box, event_id)
    body, change = _instance(box, stored, original)
    _check_match(request, change)
    if not isinstance(request.body, dict):
        raise GraphError(400, "ErrorInvalidRequest", "The body must be an event.")
    patch = {key: value for key, value in request.body.items() if key not in _READ_ONLY}
    if original is None:
        merged = {**stored.data, **patch}
        _validate(merged)
        box.patch(stored, patch)
        return Response(200, render(stored.data, stored.change, request))
    previous = stored.exceptions.get(original, ({}, 0))[0]
    exception = {**previous, **patch}
    stored.exceptions[original] = (exception, box.next_change())
    stored.change = box.next_change()
    body, change = _instance(box, stored, original)
    return Response(200, render(body, change, request))


def _delete(box: Mailbox, event_id: str, request: Request) -> Response:
    stored, original = _find(box, event_id)
    _body, change = _instance(box, stored, original)
    _check_match(request, change)
    if original is None:
        del box.events[stored.data["id"]]
    else:
        stored.cancelled.add(original)
        stored.exceptions.pop(original, None)
        stored.change = box.next_change()
    return Response(204)
