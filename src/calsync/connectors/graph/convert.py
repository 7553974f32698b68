"""Graph event JSON <-> ``Item``, pure: what maps where, and how a zone, a reminder or a priority is said.

- subject, body (one of text or HTML), location.displayName, start/end with their zone (Windows names from the
  core's CLDR table; all-day events as dates), isAllDay, recurrence (``graph.recurrence``), sensitivity
  (normal/personal/private/confidential), importance <-> PRIORITY (high 1, normal 0, low 9), showAs, categories,
  isReminderOn/reminderMinutesBeforeStart <-> one display reminder, isCancelled, created/lastModified.
- attendees and organizer are read (a meeting) but never written: a business item written with attendees would
  send invitations from the mailbox. The organizer is read only for meetings, since Graph names the mailbox as
  organizer of every event it holds.

Times are read from the UTC values calsync asks for (``Prefer: outlook.timezone="UTC"``) and put back into the
event's own zone (``originalStartTimeZone``), so a time never moves; an unknown zone name keeps the UTC value.
https://learn.microsoft.com/en-us/graph/api/resources/event
https://learn.microsoft.com/en-us/graph/api/resources/datetimetimezone
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from calsync.connectors.graph import recurrence
from calsync.model.item import (
    Attendee,
    AttendeeRole,
    Body,
    Item,
    Moment,
    PartStat,
    Person,
    Recurrence,
    Reminder,
    Sensitivity,
    ShowAs,
)
from calsync.model.timezones import iana_to_windows, windows_to_iana

Json = dict[str, Any]

_SENSITIVITY = {"normal": Sensitivity.PUBLIC, "personal": Sensitivity.PRIVATE, "private": Sensitivity.PRIVATE}
_SHOW_AS = {
    "free": ShowAs.FREE,
    "tentative": ShowAs.TENTATIVE,
    "busy": ShowAs.BUSY,
    "oof": ShowAs.OUT_OF_OFFICE,
    "workingElsewhere": ShowAs.WORKING_ELSEWHERE,
}
_RESPONSE = {
    "accepted": PartStat.ACCEPTED,
    "declined": PartStat.DECLINED,
    "tentativelyAccepted": PartStat.TENTATIVE,
}
_UTC_NAMES = frozenset({"utc", "tzone://microsoft/utc", "etc/utc", "z"})


# -- Item -> Graph ---------------------------------------------------------------------------------------------


def to_graph(item: Item, *, master: bool = True) -> Json:
    """The event body for a create (``master``: with the recurrence) or for a PATCH of an occurrence."""
    if item.start is None:
        from calsync.errors import InvalidItem

        raise InvalidItem(f"event {item.uid!r} has no start", href=item.uid)
    end = item.end if item.end is not None else item.start
    body: Json = {
        "subject": item.title,
        "body": {"contentType": "html", "content": item.body.html}
        if item.body.html
        else {"contentType": "text", "content": item.body.text},
        "location": {"displayName": item.location},
        "start": graph_time(item.start),
        "end": graph_time(end),
        "isAllDay": item.all_day,
        "sensitivity": "normal" if item.sensitivity is Sensitivity.PUBLIC else item.sensitivity.value,
        "importance": _importance(item.priority),
        "showAs": next(key for key, value in _SHOW_AS.items() if value is item.show_as),
        "categories": list(item.categories),
        "isReminderOn": bool(item.reminders),
        "reminderMinutesBeforeStart": item.reminders[0].minutes_before if item.reminders else 0,
    }
    if master:
        body["recurrence"] = (
            recurrence.from_rrule(item.recurrence.rule, item.start, body["start"]["timeZone"])
            if item.recurrence is not None and item.recurrence.rule
            else None
        )
    return body


def graph_time(moment: Moment) -> Json:
    """A ``dateTimeTimeZone``: wall time and a Windows zone name; dates at midnight UTC, floating times as UTC."""
    if not isinstance(moment, datetime):
        return {"dateTime": datetime.combine(moment, time()).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
    zone = moment.tzinfo
    name = iana_to_windows(zone.key) if isinstance(zone, zoneinfo.ZoneInfo) else None
    if name is None:
        moment = moment.astimezone(UTC) if zone is not None else moment
        name = "UTC"
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": name}


def _importance(priority: int) -> str:
    if 1 <= priority <= 4:
        return "high"
    return "low" if priority >= 6 else "normal"


# -- Graph -> Item ---------------------------------------------------------------------------------------------


def from_graph(event: Json, uid: str) -> Item:
    """The item an event (single, master, occurrence or exception) holds, without its series' exceptions."""
    all_day = bool(event.get("isAllDay"))
    start = read_time(event["start"], event.get("originalStartTimeZone"), all_day)
    end = read_time(event["end"], event.get("originalEndTimeZone"), all_day)
    attendees = tuple(_attendee(a) for a in event.get("attendees") or ())
    organizer = (event.get("organizer") or {}).get("emailAddress") or {}
    rule = event.get("recurrence")
    body = event.get("body") or {}
    html = (body.get("contentType") or "").lower() == "html"
    return Item(
        uid=uid,
        title=event.get("subject") or "",
        body=Body(html=body.get("content") or "") if html else Body(text=body.get("content") or ""),
        location=((event.get("location") or {}).get("displayName")) or "",
        start=start,
        end=end,
        recurrence=Recurrence(rule=recurrence.to_rrule(rule, start)) if rule else None,
        sensitivity=_SENSITIVITY.get(event.get("sensitivity") or "normal", Sensitivity.CONFIDENTIAL),
        priority={"high": 1, "low": 9}.get(event.get("importance") or "normal", 0),
        categories=tuple(event.get("categories") or ()),
        reminders=(Reminder(int(event.get("reminderMinutesBeforeStart") or 0)),) if event.get("isReminderOn") else (),
        organizer=Person(organizer.get("address", ""), organizer.get("name", "")) if attendees and organizer else None,
        attendees=attendees,
        show_as=_SHOW_AS.get(event.get("showAs") or "busy", ShowAs.BUSY),
        status="cancelled" if event.get("isCancelled") else "",
        created=_stamp(event.get("createdDateTime")),
        last_modified=_stamp(event.get("lastModifiedDateTime")),
    )


def read_time(value: Json, original_zone: str | None, all_day: bool) -> Moment:
    """A ``dateTimeTimeZone`` in the event's own zone (a date for all-day events)."""
    moment = datetime.fromisoformat(value["dateTime"][:19]).replace(tzinfo=zone_of(value.get("timeZone") or "UTC"))
    moment = moment.astimezone(zone_of(original_zone or value.get("timeZone") or "UTC"))
    return moment.date() if all_day else moment


def zone_of(name: str) -> tzinfo:
    """The zone a Graph zone name (Windows, IANA or UTC) stands for; UTC for a name nobody knows."""
    if name.strip().lower() in _UTC_NAMES:
        return UTC
    iana = windows_to_iana(name) or name
    try:
        return zoneinfo.ZoneInfo(iana)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def series_zone(event: Json) -> tzinfo:
    """The zone a series was made in (``originalStartTimeZone``), in which its all-day occurrences fall."""
    return zone_of(event.get("originalStartTimeZone") or (event.get("start") or {}).get("timeZone") or "UTC")


def recurrence_id(original_start: str, master_start: Moment, zone: tzinfo = UTC) -> Moment:
    """An occurrence's ``originalStart`` (UTC) in the form and zone of its master's start.

    For an all-day series the date is taken in ``zone``, the series' own zone (``series_zone``): Graph gives the
    Tuesday all-day occurrence of a series made in Berlin as Monday 23:00 UTC.
    """
    moment = datetime.fromisoformat(original_start.replace("Z", "+00:00"))
    if not isinstance(master_start, datetime):
        return moment.date() if moment.tzinfo is None else moment.astimezone(zone).date()
    if master_start.tzinfo is None:
        return moment.replace(tzinfo=None)
    return moment.astimezone(master_start.tzinfo)


def _attendee(value: Json) -> Attendee:
    address = value.get("emailAddress") or {}
    kind = value.get("type") or "required"
    role = {"optional": AttendeeRole.OPTIONAL, "resource": AttendeeRole.NON_PARTICIPANT}.get(
        kind, AttendeeRole.REQUIRED
    )
    status = _RESPONSE.get((value.get("status") or {}).get("response") or "", PartStat.NEEDS_ACTION)
    return Attendee(Person(address.get("address", ""), address.get("name", "")), role, status)


def _stamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")[:19]).replace(tzinfo=UTC)


def date_of(moment: Moment) -> date:
    """The calendar date of a moment (its own wall time)."""
    return moment.date() if isinstance(moment, datetime) else moment
