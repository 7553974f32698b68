"""Free/busy (``getSchedule``) and out-of-office (``automaticRepliesSetting``) as typed values for presence.

Times come back in UTC: the transport always sends ``Prefer: outlook.timezone="UTC"``, and each
``dateTimeTimeZone`` is read with its own zone anyway. ``availabilityView`` digits are 0 free (and, in v1.0,
working elsewhere: Graph reports it as 0 for backward compatibility), 1 tentative, 2 busy, 3 out of office; 4 is
read as working elsewhere should Graph ever send it. A schedule Graph could not read (unknown address, no
permission) is a value with ``error`` set, not an exception, so one bad mailbox does not hide the others.
https://learn.microsoft.com/en-us/graph/api/calendar-getschedule
https://learn.microsoft.com/en-us/graph/api/resources/scheduleinformation
https://learn.microsoft.com/en-us/graph/api/resources/automaticrepliessetting
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote
from zoneinfo import ZoneInfo

from calsync.connectors.graph.transport import Call, Json, Transport
from calsync.errors import InvalidItem
from calsync.model.item import ShowAs
from calsync.model.timezones import windows_to_iana

SCHEDULES_PER_CALL = 20
"""A conservative chunk: the reference names no limit on ``schedules``, large requests are slow to answer."""


class FreeBusy(StrEnum):
    """Graph's freeBusyStatus."""

    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OOF = "oof"
    WORKING_ELSEWHERE = "workingElsewhere"
    UNKNOWN = "unknown"

    @property
    def show_as(self) -> ShowAs:
        """The model's show-as for this status (unknown counts as busy: never offer a slot we cannot see)."""
        return _SHOW_AS.get(self, ShowAs.BUSY)


_SHOW_AS = {
    FreeBusy.FREE: ShowAs.FREE,
    FreeBusy.TENTATIVE: ShowAs.TENTATIVE,
    FreeBusy.OOF: ShowAs.OUT_OF_OFFICE,
    FreeBusy.WORKING_ELSEWHERE: ShowAs.WORKING_ELSEWHERE,
}
_DIGITS = {"0": FreeBusy.FREE, "1": FreeBusy.TENTATIVE, "2": FreeBusy.BUSY, "3": FreeBusy.OOF}
_DIGITS["4"] = FreeBusy.WORKING_ELSEWHERE


@dataclass(frozen=True, slots=True)
class Busy:
    """One schedule item: a span with its status (subject only where the caller may see it)."""

    status: FreeBusy
    start: datetime
    end: datetime
    subject: str = ""
    private: bool = False


@dataclass(frozen=True, slots=True)
class Slot:
    """One slot of ``availabilityView``: ``interval`` long from ``start``."""

    status: FreeBusy
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    """The availability of one mailbox over the asked range; ``error`` says why it is empty when it is."""

    mailbox: str
    slots: tuple[Slot, ...] = ()
    items: tuple[Busy, ...] = ()
    error: str = ""


class ReplyStatus(StrEnum):
    """automaticRepliesStatus."""

    DISABLED = "disabled"
    ALWAYS_ENABLED = "alwaysEnabled"
    SCHEDULED = "scheduled"


@dataclass(frozen=True, slots=True)
class AutomaticReplies:
    """A mailbox's out-of-office setting; ``start``/``end`` are set only when ``status`` is scheduled."""

    status: ReplyStatus
    start: datetime | None = None
    end: datetime | None = None
    internal_reply: str = ""
    external_reply: str = ""
    external_audience: str = "none"

    def active_at(self, moment: datetime) -> bool:
        """Whether automatic replies are on at ``moment`` (an aware datetime)."""
        if self.status is ReplyStatus.ALWAYS_ENABLED:
            return True
        if self.status is ReplyStatus.SCHEDULED and self.start is not None and self.end is not None:
            return self.start <= moment < self.end
        return False


def get_schedule(anchor: str, mailboxes: Sequence[str], start: datetime, end: datetime, interval: int) -> Call:
    """Asked through ``anchor``'s calendar. https://learn.microsoft.com/en-us/graph/api/calendar-getschedule"""
    body: Json = {
        "schedules": list(mailboxes),
        "startTime": _dtz(start),
        "endTime": _dtz(end),
        "availabilityViewInterval": interval,
    }
    return Call("POST", f"/users/{quote(anchor)}/calendar/getSchedule", body)


def get_automatic_replies(mailbox: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/user-get-mailboxsettings (the automaticRepliesSetting part)"""
    return Call("GET", f"/users/{quote(mailbox)}/mailboxSettings/automaticRepliesSetting")


def schedules(
    transport: Transport, mailboxes: Sequence[str], start: datetime, end: datetime, interval: int = 30
) -> list[Schedule]:
    """The free/busy of ``mailboxes`` (in their order) from ``start`` to ``end`` (aware datetimes).

    Raises ``InvalidItem`` for an empty range or an interval outside Graph's 5..1440 minutes, and the transport's
    errors when the asking mailbox (the first one) cannot be used; a mailbox Graph cannot read is a value.
    """
    if not 5 <= interval <= 1440 or end <= start:
        raise InvalidItem(f"free/busy needs start < end and 5..1440 minute slots, not {interval}")
    if not mailboxes:
        return []
    found: dict[str, Schedule] = {}
    for lo in range(0, len(mailboxes), SCHEDULES_PER_CALL):
        chunk = mailboxes[lo : lo + SCHEDULES_PER_CALL]
        page = transport.call(get_schedule(mailboxes[0], chunk, start, end, interval), mailboxes[0])
        for info in page.get("value") or ():
            parsed = parse_schedule(info, start.astimezone(UTC), timedelta(minutes=interval))
            found[parsed.mailbox.lower()] = parsed
    return [found.get(m.lower()) or Schedule(m, error="Graph returned nothing for this mailbox") for m in mailboxes]


def parse_schedule(info: Json, start: datetime, step: timedelta) -> Schedule:
    """One scheduleInformation as a ``Schedule`` (pure)."""
    mailbox = str(info.get("scheduleId") or "")
    error = info.get("error")
    if isinstance(error, dict) and error:
        return Schedule(mailbox, error=f"{error.get('responseCode', 'error')}: {error.get('message', '')}".strip())
    view = str(info.get("availabilityView") or "")
    slots = tuple(
        Slot(_DIGITS.get(digit, FreeBusy.UNKNOWN), start + n * step, start + (n + 1) * step)
        for n, digit in enumerate(view)
    )
    items = tuple(
        Busy(
            _status(str(one.get("status") or "")),
            instant(one["start"]),
            instant(one["end"]),
            str(one.get("subject") or ""),
            bool(one.get("isPrivate")),
        )
        for one in info.get("scheduleItems") or ()
    )
    return Schedule(mailbox, slots, items)


def automatic_replies(transport: Transport, mailbox: str) -> AutomaticReplies:
    """The mailbox's automatic replies (needs MailboxSettings.Read); the transport's errors otherwise."""
    return parse_automatic_replies(transport.call(get_automatic_replies(mailbox), mailbox))


def parse_automatic_replies(body: Json) -> AutomaticReplies:
    """An automaticRepliesSetting as a value (pure); an unknown status reads as disabled."""
    try:
        status = ReplyStatus(str(body.get("status") or "disabled"))
    except ValueError:
        status = ReplyStatus.DISABLED
    scheduled = status is ReplyStatus.SCHEDULED
    start, end = body.get("scheduledStartDateTime"), body.get("scheduledEndDateTime")
    return AutomaticReplies(
        status,
        instant(start) if scheduled and start else None,
        instant(end) if scheduled and end else None,
        str(body.get("internalReplyMessage") or ""),
        str(body.get("externalReplyMessage") or ""),
        str(body.get("externalAudience") or "none"),
    )


def _status(text: str) -> FreeBusy:
    """Graph's examples spell statuses both ``busy`` and ``Tentative``: compare without case."""
    return next((s for s in FreeBusy if s.value.lower() == text.lower()), FreeBusy.UNKNOWN)


def instant(value: Json) -> datetime:
    """A ``dateTimeTimeZone`` (Windows or IANA zone) as an aware UTC datetime."""
    naive = datetime.fromisoformat(str(value["dateTime"])[:19])
    name = str(value.get("timeZone") or "UTC")
    return naive.replace(tzinfo=ZoneInfo(windows_to_iana(name) or name)).astimezone(UTC)


def _dtz(moment: datetime) -> Json:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
