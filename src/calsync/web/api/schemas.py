"""The JSON shapes of the REST API (pydantic), and their conversion to and from the protocol-free ``Item``.

Times: ``start``/``end``/``due`` are ISO 8601. A date (``2026-12-01``) is all-day; a date-time with an offset is
exact; a date-time without one is wall time in ``time_zone`` (an IANA name such as ``Europe/Berlin`` or a Windows
name such as ``W. Europe Standard Time``), and floating when no zone is given. Every check names its field, so a
422 tells the business system exactly what to fix.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calsync.model.item import (
    Address,
    Body,
    BusinessExtras,
    ContactInfo,
    Item,
    ItemKind,
    Recurrence,
    Reminder,
    Sensitivity,
    ShowAs,
    TaskInfo,
    TaskStatus,
    Typed,
)
from calsync.model.timezones import windows_to_iana

Moment = datetime | date


class NoNul(BaseModel):
    """A request body whose text never holds a NUL character."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        """Refuse a NUL character in any text (nested models check their own fields).

        Why: PostgreSQL cannot store NUL in text, so it would fail the whole batch's transaction, and no calendar
        format carries it either. Refused here, it is one item's error naming its field.
        """
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise ValueError("text must not contain a NUL character (\\u0000)")
        return value


class _Strict(NoNul):
    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


class AddressIn(_Strict):
    """A postal address; ``kind`` tells a customer's ``bill-to`` from its ``ship-to``."""

    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    kind: str = ""


class TypedIn(_Strict):
    value: str
    kind: str = ""


class ContactIn(_Strict):
    full_name: str = ""
    given_name: str = ""
    family_name: str = ""
    organization: str = ""
    job_title: str = ""
    emails: list[TypedIn] = []
    phones: list[TypedIn] = []
    addresses: list[AddressIn] = []
    note: str = ""


class TaskIn(_Strict):
    due: Moment | None = None
    status: Literal["needs-action", "in-process", "completed", "cancelled"] = "needs-action"
    percent_complete: Annotated[int, Field(ge=0, le=100)] = 0


class RecurrenceIn(_Strict):
    rule: Annotated[str, Field(min_length=5, pattern=r"^FREQ=[A-Z]+(;[A-Z]+=[^;]+)*$")]
    exdates: list[Moment] = []


class ItemIn(_Strict):
    """One item as the business system sends it."""

    id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^/]+$")]
    kind: Literal["event", "assignment", "order-line", "task", "contact"] = "event"
    user: str = ""
    title: Annotated[str, Field(max_length=1000)] = ""
    description: str = ""
    description_html: str = ""
    location: Annotated[str, Field(max_length=1000)] = ""
    start: Moment | None = None
    end: Moment | None = None
    time_zone: str | None = None
    recurrence: RecurrenceIn | None = None
    private: bool = False
    priority: str = ""
    categories: list[str] = []
    reminder_minutes: int | None = None
    show_as: Literal["free", "tentative", "busy", "oof", "working-elsewhere"] = "busy"
    activity_type: str = ""
    sync: bool = False
    customer_address: AddressIn | None = None
    equipment: list[str] = []
    task: TaskIn | None = None
    contact: ContactIn | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = windows_to_iana(value) or value
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: give an IANA or Windows zone name") from None
        return name

    @model_validator(mode="after")
    def _consistent(self) -> ItemIn:
        if self.kind in ("event", "assignment", "order-line"):
            if self.start is None or self.end is None:
                raise ValueError(f"an item of kind {self.kind} needs start and end")
            if isinstance(self.start, datetime) != isinstance(self.end, datetime):
                raise ValueError("start and end must both be dates (all-day) or both date-times")
            if _key(self.end, self.time_zone) < _key(self.start, self.time_zone):
                raise ValueError("end is before start")
        if self.kind == "contact" and self.contact is None:
            raise ValueError("an item of kind contact needs contact")
        if self.kind != "contact" and not self.user:
            raise ValueError("the item needs user: the business user whose calendar shows it")
        return self


def _key(moment: Moment, zone: str | None) -> datetime:
    """A comparable instant (naive times in ``zone`` or UTC; dates at midnight)."""
    if not isinstance(moment, datetime):
        return datetime(moment.year, moment.month, moment.day, tzinfo=ZoneInfo("UTC"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=ZoneInfo(zone or "UTC"))
    return moment


def _zoned(moment: Moment | None, zone: str | None) -> Moment | None:
    if isinstance(moment, datetime) and moment.tzinfo is None and zone:
        return moment.replace(tzinfo=ZoneInfo(zone))
    return moment


def to_item(given: ItemIn) -> Item:
    """The model item of a validated ``ItemIn`` (its uid is set by the hub)."""
    zone = given.time_zone
    kind = ItemKind(given.kind)
    extras = BusinessExtras(
        customer_address=Address(**given.customer_address.model_dump()) if given.customer_address else None,
        equipment=tuple(given.equipment),
        activity_type=given.activity_type,
        sync_flag=given.sync,
    )
    recurrence = None
    if given.recurrence is not None:
        exdates = tuple(m for m in (_zoned(x, zone) for x in given.recurrence.exdates) if m is not None)
        recurrence = Recurrence(given.recurrence.rule, exdates=exdates)
    return Item(
        uid="",
        kind=kind,
        title=given.title,
        body=Body(given.description, given.description_html),
        location=given.location,
        start=_zoned(given.start, zone),
        end=_zoned(given.end, zone),
        recurrence=recurrence,
        sensitivity=Sensitivity.PRIVATE if given.private else Sensitivity.PUBLIC,
        categories=tuple(given.categories),
        reminders=(Reminder(given.reminder_minutes),) if given.reminder_minutes is not None else (),
        show_as=ShowAs(given.show_as),
        task=_task(given.task, zone) if kind is ItemKind.TASK else None,
        contact=_contact(given.contact) if given.contact is not None else None,
        extras=extras,
    )


def _task(task: TaskIn | None, zone: str | None) -> TaskInfo:
    if task is None:
        return TaskInfo()
    return TaskInfo(status=TaskStatus(task.status), due=_zoned(task.due, zone), percent_complete=task.percent_complete)


def _contact(contact: ContactIn) -> ContactInfo:
    return ContactInfo(
        full_name=contact.full_name,
        given_name=contact.given_name,
        family_name=contact.family_name,
        organization=contact.organization,
        job_title=contact.job_title,
        emails=tuple(Typed(e.value, e.kind) for e in contact.emails),
        phones=tuple(Typed(p.value, p.kind) for p in contact.phones),
        addresses=tuple(Address(**a.model_dump()) for a in contact.addresses),
        note=contact.note,
    )


def from_item(item: Item) -> dict[str, Any]:
    """An item as the API returns it (the fields of ``ItemIn`` but ``id``, ``user`` and ``priority``)."""
    data: dict[str, Any] = {
        "kind": item.kind.value,
        "title": item.title,
        "description": item.body.text,
        "description_html": item.body.html,
        "location": item.location,
        "start": _iso(item.start),
        "end": _iso(item.end),
        "time_zone": getattr(getattr(item.start, "tzinfo", None), "key", None),
        "recurrence": None,
        "private": item.sensitivity is not Sensitivity.PUBLIC,
        "categories": list(item.categories),
        "reminder_minutes": item.reminders[0].minutes_before if item.reminders else None,
        "show_as": item.show_as.value,
        "activity_type": item.extras.activity_type,
        "sync": item.extras.sync_flag,
        "customer_address": _address(item.extras.customer_address),
        "equipment": list(item.extras.equipment),
        "attendees": [
            {"email": a.person.email, "name": a.person.name, "status": a.status.value} for a in item.attendees
        ],
        "status": item.status,
        "task": None,
        "contact": None,
    }
    if item.recurrence is not None:
        data["recurrence"] = {"rule": item.recurrence.rule, "exdates": [_iso(x) for x in item.recurrence.exdates]}
    if item.task is not None:
        data["task"] = {
            "due": _iso(item.task.due),
            "status": item.task.status.value,
            "percent_complete": item.task.percent_complete,
        }
    if item.contact is not None:
        c = item.contact
        data["contact"] = {
            "full_name": c.full_name,
            "given_name": c.given_name,
            "family_name": c.family_name,
            "organization": c.organization,
            "job_title": c.job_title,
            "note": c.note,
            "emails": [{"value": e.value, "kind": e.kind} for e in c.emails],
            "phones": [{"value": p.value, "kind": p.kind} for p in c.phones],
            "addresses": [_address(a) for a in c.addresses],
        }
    return data


def _address(address: Address | None) -> dict[str, str] | None:
    if address is None:
        return None
    return {
        "street": address.street,
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
        "kind": address.kind,
    }


def _iso(moment: Moment | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat()


class IdsIn(_Strict):
    """A list of business ids."""

    ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(min_length=1, max_length=500)]


class PreviewIn(_Strict):
    """Which users to preview (all when empty)."""

    users: list[str] = []
    full: bool = True


class HeldIn(_Strict):
    """Whose held deletions to approve or reject (all users when empty)."""

    users: list[str] = []
