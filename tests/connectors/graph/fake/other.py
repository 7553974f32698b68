"""The fake's smaller resources: calendars, master categories, mailbox settings, getSchedule.

https://learn.microsoft.com/en-us/graph/api/user-list-calendars
https://learn.microsoft.com/en-us/graph/api/outlookuser-list-mastercategories
https://learn.microsoft.com/en-us/graph/api/outlookuser-post-mastercategories
https://learn.microsoft.com/en-us/graph/api/outlookcategory-update (only ``color`` can change)
https://learn.microsoft.com/en-us/graph/api/user-get-mailboxsettings
https://learn.microsoft.com/en-us/graph/api/calendar-getschedule
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tests.connectors.graph.fake import contacts, todo
from tests.connectors.graph.fake.http import GraphError, Json, Request, Response
from tests.connectors.graph.fake.mailbox import Mailbox, instant, zone

if TYPE_CHECKING:
    from tests.connectors.graph.fake.server import FakeGraph

_VIEW = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "0"}
"""v1.0 reports working elsewhere as 0 in availabilityView (scheduleInformation: "for backward compatibility")."""
_PRESETS = {"none", *(f"preset{n}" for n in range(25))}
_SETTINGS: Json = {
    "timeZone": "W. Europe Standard Time",
    "automaticRepliesSetting": {
        "status": "disabled",
        "externalAudience": "all",
        "internalReplyMessage": "",
        "externalReplyMessage": "",
        "scheduledStartDateTime": {"dateTime": "2026-01-01T00:00:00.0000000", "timeZone": "UTC"},
        "scheduledEndDateTime": {"dateTime": "2026-01-02T00:00:00.0000000", "timeZone": "UTC"},
    },
}


def route(fake: FakeGraph, box: Mailbox, request: Request, rest: str) -> Response | None:
    """Answer one of the smaller resources, or ``None`` to let the event routes try."""
    if rest == "/calendars" and request.method == "GET":
        return Response(200, {"value": [_calendar(box)]})
    if rest == "/outlook/masterCategories":
        return _categories(box, request)
    if rest.startswith("/outlook/masterCategories/") and request.method == "PATCH":
        return _recolour(box, rest.rsplit("/", 1)[1], request)
    if rest == "/mailboxSettings" and request.method == "GET":
        return Response(200, {**_SETTINGS, **box.settings})
    if rest == "/mailboxSettings/automaticRepliesSetting" and request.method == "GET":
        return Response(200, {**_SETTINGS, **box.settings}["automaticRepliesSetting"])
    if rest == "/calendar/getSchedule" and request.method == "POST":
        return _schedule(fake, request)
    if rest.startswith("/todo/"):
        return todo.route(fake, box, request, rest)
    if rest.startswith(("/contacts", "/contactFolders")):
        return contacts.route(fake, box, request, rest)
    return None


def _calendar(box: Mailbox) -> Json:
    return {"id": "cal-" + box.user_id, "name": "Calendar", "isDefaultCalendar": True, "canEdit": True}


def _categories(box: Mailbox, request: Request) -> Response:
    if request.method == "GET":
        return Response(200, {"value": box.categories})
    body = request.body if isinstance(request.body, dict) else {}
    name = str(body.get("displayName") or "")
    if not name:
        raise GraphError(400, "ErrorInvalidRequest", "displayName is required.")
    if any(c["displayName"].lower() == name.lower() for c in box.categories):
        raise GraphError(409, "ErrorDuplicateCategoryName", "A category with this name already exists.")
    colour = str(body.get("color", "none"))
    if colour not in _PRESETS:
        raise GraphError(400, "ErrorInvalidRequest", f"'{colour}' is not a valid categoryColor.")
    category = {"id": secrets.token_hex(8), "displayName": name, "color": colour}
    box.categories.append(category)
    return Response(201, category)


def _recolour(box: Mailbox, category_id: str, request: Request) -> Response:
    body = request.body if isinstance(request.body, dict) else {}
    found = next((c for c in box.categories if c["id"] == category_id), None)
    if found is None:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    if "displayName" in body and body["displayName"] != found["displayName"]:
        raise GraphError(400, "ErrorInvalidRequest", "The displayName of a category cannot be changed.")
    if str(body.get("color")) not in _PRESETS:
        raise GraphError(400, "ErrorInvalidRequest", "color must be a categoryColor.")
    found["color"] = body["color"]
    return Response(200, found)


def _schedule(fake: FakeGraph, request: Request) -> Response:
    body = request.body if isinstance(request.body, dict) else {}
    lo, hi = instant(body["startTime"]), instant(body["endTime"])
    tz = request.prefer("outlook.timezone") or "UTC"  # answers are in the Prefer zone, UTC without one
    step = timedelta(minutes=int(body.get("availabilityViewInterval") or 30))
    answers = []
    for address in body.get("schedules", []):
        box = fake.mailboxes.get(address.lower())
        if box is None:
            answers.append(
                {
                    "scheduleId": address,
                    "error": {"message": "The user was not found.", "responseCode": "ErrorMailRecipientNotFound"},
                }
            )
            continue
        items = []
        for event, _change in sorted(box.window(lo, hi), key=lambda pair: instant(pair[0]["start"])):
            items.append(
                {
                    "status": event.get("showAs", "busy"),
                    "isPrivate": event.get("sensitivity") == "private",
                    "subject": event.get("subject", ""),
                    "start": _local(instant(event["start"]), tz),
                    "end": _local(instant(event["end"]), tz),
                }
            )
        answers.append({"scheduleId": address, "availabilityView": _view(items, lo, hi, step), "scheduleItems": items})
    return Response(200, {"value": answers})


def _local(moment: datetime, tz: str) -> Json:
    return {"dateTime": moment.astimezone(zone(tz)).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz}


def _view(items: list[Json], lo: datetime, hi: datetime, step: timedelta) -> str:
    slots = []
    at = lo
    while at < hi:
        level = "0"
        for item in items:
            if instant(item["start"]) < at + step and instant(item["end"]) > at:
                level = max(level, _VIEW.get(item["status"], "2"))
        slots.append(level)
        at += step
    return "".join(slots)
