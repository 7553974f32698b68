"""The vocabulary shared by the iCalendar reader and writer: value maps and the properties the model owns.

Why one module: the reader and the writer must agree on every name and value, and on which properties the
model maps (everything else is kept verbatim in ``Item.unknown``). Keeping the tables side by side makes a
one-sided change visible.
"""

from __future__ import annotations

import re
from typing import TypeVar

from calsync.model.item import AttendeeRole, ItemKind, PartStat, Sensitivity, ShowAs, TaskStatus

K = TypeVar("K")
V = TypeVar("V")

PRODID = "-//calsync//calsync//EN"

# Properties the model maps, per component. A property not listed here is kept in ``Item.unknown``.
MAPPED_COMMON = frozenset({
    "UID", "DTSTAMP", "SUMMARY", "DESCRIPTION", "LOCATION", "DTSTART", "DURATION", "RRULE", "RDATE", "EXDATE",
    "RECURRENCE-ID", "CLASS", "PRIORITY", "CATEGORIES", "ORGANIZER", "ATTENDEE", "STATUS", "CREATED",
    "LAST-MODIFIED", "X-ALT-DESC", "X-CALSYNC-KIND", "X-CALSYNC-CUSTOMER-ADDRESS", "X-CALSYNC-EQUIPMENT",
    "X-CALSYNC-ACTIVITY-TYPE", "X-CALSYNC-SYNC-FLAG", "X-CALSYNC-NEEDS-REVIEW",
})  # fmt: skip
MAPPED_EVENT = MAPPED_COMMON | {"DTEND", "TRANSP", "X-MICROSOFT-CDO-BUSYSTATUS"}
MAPPED_TODO = MAPPED_COMMON | {"DUE", "COMPLETED", "PERCENT-COMPLETE"}

DISPLAY_PLACEHOLDER = "Reminder"
"""RFC 5545 requires a DESCRIPTION in a DISPLAY alarm; an empty reminder text is written as this and read back
as empty."""

ROLES = {
    "CHAIR": AttendeeRole.CHAIR,
    "REQ-PARTICIPANT": AttendeeRole.REQUIRED,
    "OPT-PARTICIPANT": AttendeeRole.OPTIONAL,
    "NON-PARTICIPANT": AttendeeRole.NON_PARTICIPANT,
}
PARTSTATS = {
    "NEEDS-ACTION": PartStat.NEEDS_ACTION,
    "ACCEPTED": PartStat.ACCEPTED,
    "DECLINED": PartStat.DECLINED,
    "TENTATIVE": PartStat.TENTATIVE,
    "DELEGATED": PartStat.DELEGATED,
}
CLASSES = {
    "PUBLIC": Sensitivity.PUBLIC,
    "PRIVATE": Sensitivity.PRIVATE,
    "CONFIDENTIAL": Sensitivity.CONFIDENTIAL,
}
TASK_STATUSES = {
    "NEEDS-ACTION": TaskStatus.NEEDS_ACTION,
    "IN-PROCESS": TaskStatus.IN_PROCESS,
    "COMPLETED": TaskStatus.COMPLETED,
    "CANCELLED": TaskStatus.CANCELLED,
}
BUSY_STATUSES = {
    "FREE": ShowAs.FREE,
    "TENTATIVE": ShowAs.TENTATIVE,
    "BUSY": ShowAs.BUSY,
    "OOF": ShowAs.OUT_OF_OFFICE,
    "WORKINGELSEWHERE": ShowAs.WORKING_ELSEWHERE,
}
BUSINESS_KINDS = {"assignment": ItemKind.ASSIGNMENT, "order-line": ItemKind.ORDER_LINE}

ADDRESS_PARAMS = (
    ("X-STREET", "street"),
    ("X-CITY", "city"),
    ("X-REGION", "region"),
    ("X-POSTAL-CODE", "postal_code"),
    ("X-COUNTRY", "country"),
    ("X-LABEL", "label"),
    ("X-KIND", "kind"),
)
"""X-CALSYNC-CUSTOMER-ADDRESS carries the address fields as parameters (RFC 6868 escapes newlines and quotes
in them) and the one-line address as its value, so a person reading the file sees the address and a program
gets the fields."""

_TEXT_ESCAPE = re.compile(r"\\([\\;,nN])")


def unescape_text(raw: str) -> str:
    """RFC 5545 TEXT unescaping (3.3.11), for X- properties icalendar keeps unparsed."""
    return _TEXT_ESCAPE.sub(lambda match: "\n" if match.group(1) in "nN" else match.group(1), raw)


def invert(mapping: dict[K, V]) -> dict[V, K]:
    """The reverse of a one-to-one map."""
    return {value: key for key, value in mapping.items()}
