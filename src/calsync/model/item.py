"""The protocol-free model of one event, task or contact.

Every connector converts its own representation (iCalendar, vCard, Graph JSON, EWS items) to and from ``Item``;
rules and conversions work on it. It is a value: frozen, hashable, comparable. Times are ``datetime`` values that
are aware (an IANA zone or UTC), naive (floating local time, RFC 5545 form 1) or ``date`` values (all-day).

Why a full model *and* raw text: syncing iCalendar to iCalendar passes text through untouched (fast and lossless);
``Item`` is built only where a conversion needs it (see ``calsync.model.content``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

Moment = datetime | date
"""A point in time: an aware or floating ``datetime``, or a ``date`` for all-day values."""


class ItemKind(StrEnum):
    """What an item is; rules differ per kind (see DESIGN.md, sync semantics)."""

    EVENT = "event"
    TASK = "task"
    ASSIGNMENT = "assignment"
    ORDER_LINE = "order-line"
    CONTACT = "contact"


class Sensitivity(StrEnum):
    """iCalendar CLASS, Exchange/Graph sensitivity (Exchange's "personal" maps to private)."""

    PUBLIC = "public"
    PRIVATE = "private"
    CONFIDENTIAL = "confidential"


class ShowAs(StrEnum):
    """How the time shows in free/busy; feeds presence."""

    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OUT_OF_OFFICE = "oof"
    WORKING_ELSEWHERE = "working-elsewhere"


class PartStat(StrEnum):
    """An attendee's participation status (RFC 5545 PARTSTAT)."""

    NEEDS_ACTION = "needs-action"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    DELEGATED = "delegated"


class AttendeeRole(StrEnum):
    """RFC 5545 ROLE."""

    CHAIR = "chair"
    REQUIRED = "required"
    OPTIONAL = "optional"
    NON_PARTICIPANT = "non-participant"


class TaskStatus(StrEnum):
    """RFC 5545 VTODO STATUS, which Exchange and To Do statuses map onto."""

    NEEDS_ACTION = "needs-action"
    IN_PROCESS = "in-process"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Person:
    """Someone identified by an e-mail address."""

    email: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attendee:
    """An invited person and their answer."""

    person: Person
    role: AttendeeRole = AttendeeRole.REQUIRED
    status: PartStat = PartStat.NEEDS_ACTION
    rsvp: bool = False


@dataclass(frozen=True, slots=True)
class Body:
    """The description, as plain text and, where a side has it, as HTML."""

    text: str = ""
    html: str = ""


@dataclass(frozen=True, slots=True)
class Reminder:
    """An alarm ``minutes_before`` the start (negative: after the start).

    ``extras`` are the alarm's other properties as content lines (REPEAT, DURATION, ACKNOWLEDGED, ATTACH …), kept so
    that writing the alarm back neither drops them nor makes a dismissed alarm fire again.
    """

    minutes_before: int
    action: str = "DISPLAY"
    description: str = ""
    extras: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A recurring series: the rule as RFC 5545 RRULE text, extra dates and excluded dates.

    ``rule`` keeps RRULE's own text form (``FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=...``) because every side can say it or
    map it, and a parsed form would only be turned back into text.
    """

    rule: str = ""
    rdates: tuple[Moment, ...] = ()
    exdates: tuple[Moment, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What only tasks have."""

    status: TaskStatus = TaskStatus.NEEDS_ACTION
    due: Moment | None = None
    completed: datetime | None = None
    percent_complete: int = 0


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address (vCard ADR, Exchange physical address, a customer's bill-to or ship-to)."""

    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    label: str = ""
    kind: str = ""

    def one_line(self) -> str:
        """The address as one human line, for text enrichment and map links."""
        parts = [
            self.street,
            " ".join(p for p in (self.postal_code, self.city) if p),
            self.region,
            self.country,
        ]
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class Typed:
    """A value with a type label: an e-mail address or phone number of a contact (``kind`` like "work")."""

    value: str
    kind: str = ""


@dataclass(frozen=True, slots=True)
class ContactInfo:
    """What only contacts have."""

    full_name: str = ""
    given_name: str = ""
    family_name: str = ""
    organization: str = ""
    job_title: str = ""
    emails: tuple[Typed, ...] = ()
    phones: tuple[Typed, ...] = ()
    addresses: tuple[Address, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class BusinessExtras:
    """Fields only the business side knows; carried through calendars as X- properties."""

    customer_address: Address | None = None
    equipment: tuple[str, ...] = ()
    activity_type: str = ""
    sync_flag: bool = False
    needs_review: bool = False


@dataclass(frozen=True, slots=True)
class Item:
    """One event, task, assignment, order line or contact, free of any protocol.

    ``uid`` is the item's identity across sides (iCalendar UID, vCard UID, or the business key an Exchange or
    Graph item carries in an extended property). ``overrides`` holds the changed occurrences of a recurring
    series, each an ``Item`` with ``recurrence_id`` set. ``unknown`` keeps the content lines of properties this
    model does not know, exactly as read, so they survive a round trip.
    """

    uid: str
    kind: ItemKind = ItemKind.EVENT
    title: str = ""
    body: Body = field(default_factory=Body)
    location: str = ""
    start: Moment | None = None
    end: Moment | None = None
    recurrence: Recurrence | None = None
    recurrence_id: Moment | None = None
    overrides: tuple[Item, ...] = ()
    sensitivity: Sensitivity = Sensitivity.PUBLIC
    priority: int = 0
    categories: tuple[str, ...] = ()
    reminders: tuple[Reminder, ...] = ()
    organizer: Person | None = None
    attendees: tuple[Attendee, ...] = ()
    show_as: ShowAs = ShowAs.BUSY
    status: str = ""
    task: TaskInfo | None = None
    contact: ContactInfo | None = None
    extras: BusinessExtras = field(default_factory=BusinessExtras)
    created: datetime | None = None
    last_modified: datetime | None = None
    unknown: tuple[str, ...] = ()

    @property
    def all_day(self) -> bool:
        """True when the item is dated rather than timed."""
        moment = self.start if self.start is not None else (self.task.due if self.task else None)
        return isinstance(moment, date) and not isinstance(moment, datetime)

    @property
    def is_recurring(self) -> bool:
        """True for the master of a series (a rule or extra dates)."""
        return self.recurrence is not None and bool(self.recurrence.rule or self.recurrence.rdates)

    @property
    def is_meeting(self) -> bool:
        """True when the item has attendees: a meeting the calendar side organises or was invited to."""
        return bool(self.attendees)
