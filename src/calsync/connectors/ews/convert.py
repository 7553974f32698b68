"""``Item`` <-> the fields of an exchangelib ``CalendarItem``, pure: what maps where, how a zone is pinned.

- subject, body (HTML when the item has HTML, else text), location, start/end with explicit StartTimeZone and
  EndTimeZone (Windows names from the core's CLDR table), IsAllDayEvent (dates; exchangelib's end date is
  inclusive, the model's exclusive), recurrence (``recurrence``), sensitivity (Normal/Personal/Private/
  Confidential), importance <-> PRIORITY (High 1, Normal 0, Low 9), LegacyFreeBusyStatus <-> show-as, categories,
  ReminderIsSet/ReminderMinutesBeforeStart <-> one display reminder, IsCancelled.
- attendees and organizer are read (a meeting) but never written: writing them would make the item a meeting
  request in the mailbox.

Times come back from Exchange in UTC and are put into the item's own zone (StartTimeZone), never the host's.
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/calendaritem
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from exchangelib import EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.properties import Body as EwsBody
from exchangelib.properties import HTMLBody

from calsync.connectors.ews import recurrence
from calsync.errors import InvalidItem
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

Fields = dict[str, Any]

_SENSITIVITY = {"Normal": Sensitivity.PUBLIC, "Personal": Sensitivity.PRIVATE, "Private": Sensitivity.PRIVATE}
_SHOW_AS = {
    "Free": ShowAs.FREE,
    "Tentative": ShowAs.TENTATIVE,
    "Busy": ShowAs.BUSY,
    "OOF": ShowAs.OUT_OF_OFFICE,
    "WorkingElsewhere": ShowAs.WORKING_ELSEWHERE,
}
_RESPONSE = {"Accept": PartStat.ACCEPTED, "Decline": PartStat.DECLINED, "Tentative": PartStat.TENTATIVE}
WRITTEN = (
    "subject",
    "body",
    "location",
    "start",
    "end",
    "is_all_day",
    "recurrence",
    "sensitivity",
    "importance",
    "legacy_free_busy_status",
    "categories",
    "reminder_is_set",
    "reminder_minutes_before_start",
)
"""The fields calsync writes (and updates, all of them, so an update leaves nothing of the old content)."""


# -- zones -----------------------------------------------------------------------------------------------------


def ews_zone(zone: tzinfo | None) -> EWSTimeZone:
    """The EWS zone for a model zone: its Windows name from the core's CLDR table; UTC for unknown ones."""
    key = getattr(zone, "key", None)
    windows = iana_to_windows(key) if key else None
    if not key or windows is None:
        return EWSTimeZone("UTC")
    try:
        found = EWSTimeZone(key)
    except Exception:  # exchangelib's older table lacks a name the CLDR table has: a zone of the same rules
        found = EWSTimeZone(windows_to_iana(windows) or "UTC")
    found.ms_id = windows
    return found


def model_zone(zone: object) -> tzinfo:
    """The model zone for the StartTimeZone Exchange returned (its Windows id through the CLDR table)."""
    ms_id = getattr(zone, "ms_id", "") or ""
    iana = windows_to_iana(ms_id) if ms_id else None
    key = iana or getattr(zone, "key", None) or "UTC"
    if key in ("UTC", "Etc/UTC"):
        return UTC
    try:
        return zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def _ews_moment(moment: Moment, *, end: bool = False) -> EWSDateTime | EWSDate:
    if not isinstance(moment, datetime):
        day = moment - timedelta(days=1) if end else moment  # exchangelib's all-day end date is inclusive
        return EWSDate(day.year, day.month, day.day)
    zone = ews_zone(moment.tzinfo) if moment.tzinfo is not None else EWSTimeZone("UTC")
    local = moment.astimezone(zone) if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    fields = (local.year, local.month, local.day, local.hour, local.minute, local.second, local.microsecond)
    return EWSDateTime(*fields, tzinfo=zone, fold=local.fold)


# -- Item -> Exchange ------------------------------------------------------------------------------------------


def to_fields(item: Item) -> Fields:
    """The CalendarItem fields calsync writes for ``item`` (a series master or a single event)."""
    if item.start is None:
        raise InvalidItem(f"event {item.uid!r} has no start", href=item.uid)
    end = item.end if item.end is not None else _default_end(item.start)
    fields: Fields = {
        "subject": item.title,
        "body": HTMLBody(item.body.html) if item.body.html else EwsBody(item.body.text),
        "location": item.location,
        "start": _ews_moment(item.start),
        "end": _ews_moment(end, end=True),
        "is_all_day": item.all_day,
        "recurrence": recurrence.to_ews(item.recurrence.rule, item.start)
        if item.recurrence is not None and item.recurrence.rule
        else None,
        "sensitivity": "Normal" if item.sensitivity is Sensitivity.PUBLIC else item.sensitivity.value.capitalize(),
        "importance": _importance(item.priority),
        "legacy_free_busy_status": next(k for k, v in _SHOW_AS.items() if v is item.show_as),
        "categories": list(item.categories) or None,
        "reminder_is_set": bool(item.reminders),
        "reminder_minutes_before_start": item.reminders[0].minutes_before if item.reminders else 0,
    }
    if item.recurrence is not None and item.recurrence.rdates:
        raise InvalidItem(f"Exchange cannot hold extra dates (RDATE) of {item.uid!r}", href=item.uid)
    return fields


def _default_end(start: Moment) -> Moment:
    return start if isinstance(start, datetime) else start + timedelta(days=1)


def _importance(priority: int) -> str:
    if 1 <= priority <= 4:
        return "High"
    return "Low" if priority >= 6 else "Normal"


# -- Exchange -> Item ------------------------------------------------------------------------------------------


def from_exchange(ci: Any, uid: str) -> Item:
    """The item a CalendarItem (single, master, occurrence or exception) holds, without its exceptions."""
    zone = model_zone(ci._start_timezone)
    start = read_moment(ci.start, zone, all_day=bool(ci.is_all_day))
    end = read_moment(ci.end, model_zone(ci._end_timezone or ci._start_timezone), all_day=bool(ci.is_all_day))
    if isinstance(end, date) and not isinstance(end, datetime):
        end = end + timedelta(days=1)
    attendees = tuple(_attendees(ci))
    body = ci.body
    html = isinstance(body, HTMLBody)
    rule = recurrence.from_ews(ci.recurrence, start) if ci.recurrence is not None else ""
    reminder = ci.reminder_is_set
    return Item(
        uid=uid,
        title=ci.subject or "",
        body=Body(html=str(body or "")) if html else Body(text=str(body or "")),
        location=ci.location or "",
        start=start,
        end=end,
        recurrence=Recurrence(rule=rule) if rule else None,
        sensitivity=_SENSITIVITY.get(ci.sensitivity or "Normal", Sensitivity.CONFIDENTIAL),
        priority={"High": 1, "Low": 9}.get(ci.importance or "Normal", 0),
        categories=tuple(ci.categories or ()),
        reminders=(Reminder(int(ci.reminder_minutes_before_start or 0)),) if reminder else (),
        organizer=_organizer(ci) if attendees else None,
        attendees=attendees,
        show_as=_SHOW_AS.get(ci.legacy_free_busy_status or "Busy", ShowAs.BUSY),
        status="cancelled" if ci.is_cancelled else "",
    )


def read_moment(value: Any, zone: tzinfo, *, all_day: bool) -> Moment:
    """A start or end as exchangelib returns it (UTC datetime, or a date for all-day items) in ``zone``."""
    if not isinstance(value, datetime):
        return date(value.year, value.month, value.day)
    moment = datetime.fromtimestamp(value.timestamp(), tz=zone)
    return moment.date() if all_day else moment


def _attendees(ci: Any) -> list[Attendee]:
    found = []
    for role, people in (
        (AttendeeRole.REQUIRED, ci.required_attendees),
        (AttendeeRole.OPTIONAL, ci.optional_attendees),
        (AttendeeRole.NON_PARTICIPANT, ci.resources),
    ):
        for one in people or ():
            mailbox = one.mailbox
            person = Person(mailbox.email_address or "", mailbox.name or "")
            found.append(Attendee(person, role, _RESPONSE.get(one.response_type or "", PartStat.NEEDS_ACTION)))
    return found


def _organizer(ci: Any) -> Person | None:
    who = ci.organizer
    return Person(who.email_address or "", who.name or "") if who is not None else None
