"""How a business item looks in a calendar and back: categories, marker, priority, text enrichment, attendees.

The business store keeps each item in its *business form*; calendars get its *calendar form*. ``export_item``
turns the first into the second, ``import_item`` the second into the first. Both are pure and deterministic, so
the content a connector serves is stable (its digest does not change between runs) and an item that went out
and came back unchanged is the same business item.

Why attendees are dropped on export: a business appointment written as a meeting would make the server send
invitations (and cancellations on delete) to customers and technicians. Items are appointments of the mailbox.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace
from urllib.parse import quote_plus

from calsync.model.item import Body, BusinessExtras, Item, ItemKind

ENRICHMENT_SEPARATOR = "\n\n---\n"
"""Put before the lines text enrichment adds to a description, so they can be told apart on import."""

_LABELS = ("Priority: ", "Equipment: ", "Map: ")
PRIORITY_WORDS = {1: "High", 5: "Normal", 9: "Low"}
"""iCalendar PRIORITY values for High/Normal/Low (RFC 5545 3.8.1.9: 1-4 high, 5 normal, 6-9 low)."""


@dataclass(frozen=True, slots=True)
class ActivityType:
    """A business activity type and how it shows as a calendar category."""

    code: str
    number: str = ""
    description: str = ""
    colour: str = ""


@dataclass(frozen=True, slots=True)
class MappingRules:
    """An integration's mappings between business items and calendar items.

    ``category_template`` names the category of an activity type (``{code}``, ``{number}``, ``{description}``);
    empty means activity types are not shown as categories. ``marker`` is a category put on every exported item
    ("Received from ERP"), empty for none. ``enrich_*`` append lines to the exported description.
    """

    activity_types: tuple[ActivityType, ...] = ()
    category_template: str = ""
    marker: str = ""
    enrich_priority: bool = False
    enrich_equipment: bool = False
    enrich_map_link: bool = False
    map_url: str = "https://www.openstreetmap.org/search?query={query}"
    default_appointment_activity: str = ""
    default_task_activity: str = ""

    def category_of(self, code: str) -> str:
        """The category an activity type shows as ("" when none)."""
        if not self.category_template or not code:
            return ""
        for activity in self.activity_types:
            if activity.code == code:
                return _render(self.category_template, activity)
        return _render(self.category_template, ActivityType(code))

    def activity_of(self, category: str) -> str:
        """The activity type a category stands for ("" when it is no activity type's category)."""
        if not self.category_template:
            return ""
        return next((a.code for a in self.activity_types if _render(self.category_template, a) == category), "")

    @property
    def shapes_export(self) -> bool:
        """Whether ``export_item`` changes anything but attendees (categories, marker or enrichment are set)."""
        return bool(
            self.category_template
            or self.marker
            or self.enrich_priority
            or self.enrich_equipment
            or self.enrich_map_link
        )

    def shapes_import(self, kind: ItemKind, text: str) -> bool:
        """Whether ``import_item`` may change a new calendar item of ``kind`` whose text is ``text``."""
        default = self.default_task_activity if kind is ItemKind.TASK else self.default_appointment_activity
        return bool(self.category_template or self.marker or default or ENRICHMENT_SEPARATOR.strip() in text)

    def fingerprint(self) -> str:
        """A short hash of the rules: part of every served version, so changed rules re-export every item."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:8]


MAX_CATEGORY = 255
"""The longest category a template renders (Outlook's limit for a category name); longer ones are cut."""
CATEGORY_FIELDS = ("code", "number", "description")
"""The fields a ``category_template`` may name."""
MAP_FIELDS = ("query",)
"""The field a ``map_url`` may name."""
_PLACE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def fill(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]`` (``{{`` and ``}}`` are braces).

    Why not ``str.format``: it also takes a format spec (``{code:>20000000}`` makes 20 MB) and attribute or index
    access (``{code.x}``), neither of which a rule needs. Raises ``ValueError`` naming anything but a known field.
    """

    def one(found: re.Match[str]) -> str:
        text = found.group(0)
        if text in ("{{", "}}"):
            return text[0]
        name = found.group(1)
        if name is None or name not in values:
            raise ValueError(f"{text!r} is not a field")
        return values[name]

    return _PLACE.sub(one, template)


def _render(template: str, activity: ActivityType) -> str:
    values = {
        "code": activity.code,
        "number": activity.number or activity.code,
        "description": activity.description or activity.code,
    }
    return fill(template, values)[:MAX_CATEGORY]


def export_item(item: Item, rules: MappingRules) -> Item:
    """The calendar form of a business item: no attendees, categories from the activity type and the marker,
    and the description enriched as configured."""
    categories = [c for c in item.categories if c]
    for extra in (rules.category_of(item.extras.activity_type), rules.marker):
        if extra and extra not in categories:
            categories.append(extra)
    lines = _enrichment(item, rules)
    body = item.body
    if lines:
        body = Body(text=body.text + ENRICHMENT_SEPARATOR + "\n".join(lines), html="")
    overrides = tuple(replace(o, attendees=(), organizer=None) for o in item.overrides)
    return replace(item, attendees=(), organizer=None, categories=tuple(categories), body=body, overrides=overrides)


def _enrichment(item: Item, rules: MappingRules) -> list[str]:
    lines = []
    if rules.enrich_priority and item.priority:
        lines.append(f"Priority: {PRIORITY_WORDS.get(_level(item.priority), 'Normal')}")
    if rules.enrich_equipment and item.extras.equipment:
        lines.append("Equipment: " + ", ".join(item.extras.equipment))
    address = item.extras.customer_address
    if rules.enrich_map_link and address is not None and address.one_line():
        lines.append("Map: " + fill(rules.map_url, {"query": quote_plus(address.one_line())}))
    return lines


def _level(priority: int) -> int:
    """1 (high), 5 (normal) or 9 (low) for any RFC 5545 priority; 0 (undefined) is normal."""
    if 1 <= priority <= 4:
        return 1
    if priority >= 6:
        return 9
    return 5


def import_item(item: Item, rules: MappingRules, previous: Item | None = None) -> Item:
    """The business form of a calendar item: the activity type from its categories (else the previous one, else
    the default for its kind), the marker and activity categories removed, enrichment lines stripped, and the
    business extras a calendar may have dropped (customer address, equipment …) taken from ``previous``."""
    activity = next((a for a in (rules.activity_of(c) for c in item.categories) if a), "")
    kept = tuple(c for c in item.categories if c != rules.marker and not rules.activity_of(c))
    extras = item.extras if previous is None else _merged(previous.extras, item.extras)
    if not activity:
        activity = extras.activity_type or _default_activity(item.kind, rules)
    body = Body(text=strip_enrichment(item.body.text), html=item.body.html if not _enriched(item.body.text) else "")
    kind = previous.kind if previous is not None else item.kind
    imported = replace(item, kind=kind, categories=kept, body=body, extras=replace(extras, activity_type=activity))
    return imported if previous is None else _kept_from(previous, imported)


def _kept_from(previous: Item, imported: Item) -> Item:
    """What the export hid from the calendar comes back from the previous business form: attendees and organizer
    (business items go out without them) and the HTML body (dropped when the text was enriched)."""
    if not imported.attendees and not imported.organizer and (previous.attendees or previous.organizer):
        imported = replace(imported, attendees=previous.attendees, organizer=previous.organizer)
    if not imported.body.html and previous.body.html and imported.body.text == previous.body.text:
        imported = replace(imported, body=Body(imported.body.text, previous.body.html))
    return imported


def _merged(previous: BusinessExtras, calendar: BusinessExtras) -> BusinessExtras:
    """Business fields the calendar kept win; those it dropped come from the previous business form."""
    return BusinessExtras(
        customer_address=calendar.customer_address or previous.customer_address,
        equipment=calendar.equipment or previous.equipment,
        activity_type=calendar.activity_type or previous.activity_type,
        sync_flag=calendar.sync_flag or previous.sync_flag,
        needs_review=previous.needs_review,
    )


def _default_activity(kind: ItemKind, rules: MappingRules) -> str:
    return rules.default_task_activity if kind is ItemKind.TASK else rules.default_appointment_activity


_ENRICHED = re.compile(r"(?:\n(?:" + "|".join(re.escape(label) for label in _LABELS) + r")[^\n]*)+\n?\Z")


def _enriched(text: str) -> bool:
    at = text.rfind(ENRICHMENT_SEPARATOR)
    return at >= 0 and _ENRICHED.fullmatch("\n" + text[at + len(ENRICHMENT_SEPARATOR) :]) is not None


def strip_enrichment(text: str) -> str:
    """``text`` without the lines ``export_item`` appended (a description without them is returned as is)."""
    normalized = text.replace("\r\n", "\n")
    if not _enriched(normalized):
        return text
    return normalized[: normalized.rfind(ENRICHMENT_SEPARATOR)]


OUTLOOK_PRESETS: dict[str, tuple[int, int, int]] = {
    "preset0": (0xE7, 0x48, 0x56),  # red
    "preset1": (0xFF, 0x8C, 0x00),  # orange
    "preset2": (0xAB, 0x6B, 0x3E),  # brown
    "preset3": (0xFF, 0xF1, 0x00),  # yellow
    "preset4": (0x47, 0xD0, 0x41),  # green
    "preset5": (0x30, 0xC6, 0xCC),  # teal
    "preset6": (0x73, 0xAA, 0x24),  # olive
    "preset7": (0x00, 0x78, 0xD4),  # blue
    "preset8": (0x88, 0x64, 0xC5),  # purple
    "preset9": (0xE3, 0x00, 0x8C),  # cranberry
    "preset10": (0x8D, 0xA3, 0xAF),  # steel
    "preset11": (0x4A, 0x5C, 0x67),  # dark steel
    "preset12": (0xA0, 0xA0, 0xA0),  # gray
    "preset13": (0x5A, 0x5A, 0x5A),  # dark gray
    "preset14": (0x00, 0x00, 0x00),  # black
    "preset15": (0x75, 0x0B, 0x1C),  # dark red
    "preset16": (0xCA, 0x50, 0x10),  # dark orange
    "preset17": (0x5D, 0x3E, 0x1F),  # dark brown
    "preset18": (0xC1, 0x9C, 0x00),  # dark yellow
    "preset19": (0x0B, 0x6A, 0x0B),  # dark green
    "preset20": (0x03, 0x83, 0x87),  # dark teal
    "preset21": (0x49, 0x5E, 0x15),  # dark olive
    "preset22": (0x00, 0x3A, 0x8C),  # dark blue
    "preset23": (0x4B, 0x2E, 0x83),  # dark purple
    "preset24": (0x82, 0x00, 0x4B),  # dark cranberry
}
"""Outlook's 25 category colours (Graph's ``outlookCategory.color`` presets), as Outlook shows them."""


def nearest_preset(colour: str) -> str:
    """The Outlook preset closest to a ``#rrggbb`` colour (``none`` for an empty or malformed one): Outlook
    categories take one of 25 colours, the admin picks any."""
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour or ""):
        return "none"
    rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return min(OUTLOOK_PRESETS, key=lambda p: sum((a - b) ** 2 for a, b in zip(OUTLOOK_PRESETS[p], rgb, strict=True)))


def category_colours(rules: MappingRules) -> dict[str, str]:
    """Each activity type's category with the Outlook preset nearest its colour (types without a colour left out)."""
    return {
        rules.category_of(activity.code): nearest_preset(activity.colour)
        for activity in rules.activity_types
        if activity.colour and rules.category_of(activity.code)
    }
