"""A cheap canonical scan of iCalendar and vCard text: identity, a stable content digest, and a few facts.

Why not parse with icalendar: the engine reads every changed item, and a full parse costs about 0.7 ms an event
(7.6 s for 10,000), while syncing text to text needs only the UID, a digest that says whether the content really
changed, and the handful of fields the rules and the window look at. This module reads content lines once.

The digest ignores what servers rewrite on save, so a rewrite never looks like an edit (no ping-pong): line
folding and line endings, property and parameter order, parameter-name case, PRODID, DTSTAMP, SEQUENCE,
LAST-MODIFIED, CREATED and REV, VTIMEZONE blocks (servers regenerate them; the TZID references stay), Windows TZID
names versus their IANA equivalents, redundant ``VALUE=`` defaults, text escaping of ``,`` and ``;``, RRULE part
order, and equivalent durations (``-PT60M`` and ``-PT1H``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from calsync.errors import InvalidItem
from calsync.model.contentlines import canonical_duration, canonical_tzid, split_line, unescape, unfold
from calsync.model.facts import FactReader, Facts
from calsync.model.item import ItemKind

__all__ = [
    "ICALENDAR",
    "VCARD",
    "Facts",
    "Scan",
    "canonical_duration",
    "content_digest",
    "scan",
    "split_line",
    "unfold",
]

ICALENDAR = "text/calendar"
VCARD = "text/vcard"

_IGNORED = frozenset({"PRODID", "DTSTAMP", "SEQUENCE", "LAST-MODIFIED", "CREATED", "REV", "VERSION"})
_ITEM_COMPONENTS = frozenset({"VEVENT", "VTODO", "VJOURNAL"})
_TEXT_PROPS = frozenset({"SUMMARY", "DESCRIPTION", "LOCATION", "COMMENT", "CONTACT", "FN", "NOTE", "TITLE"})
_DEFAULT_VALUE = {
    "DTSTART": "DATE-TIME",
    "DTEND": "DATE-TIME",
    "DUE": "DATE-TIME",
    "RECURRENCE-ID": "DATE-TIME",
    "EXDATE": "DATE-TIME",
    "RDATE": "DATE-TIME",
    "TRIGGER": "DURATION",
    "DURATION": "DURATION",
    "SUMMARY": "TEXT",
    "DESCRIPTION": "TEXT",
    "LOCATION": "TEXT",
}
_FACT_PROPS = frozenset(
    {
        "UID",
        "SUMMARY",
        "CLASS",
        "DTSTART",
        "DTEND",
        "DUE",
        "DURATION",
        "RRULE",
        "RDATE",
        "RECURRENCE-ID",
        "X-CALSYNC-KIND",
        "LAST-MODIFIED",
        "DTSTAMP",
        "ATTENDEE",
    }
)
_SPECIAL = _TEXT_PROPS | {"TRIGGER", "DURATION", "RRULE", "EXRULE"}


@dataclass(frozen=True, slots=True)
class Scan:
    """The result of scanning one item's text."""

    facts: Facts
    digest: str


@dataclass(slots=True)
class _Component:
    name: str
    lines: list[str]
    children: list[_Component]
    props: dict[str, tuple[list[str], str]]

    def canonical(self) -> str:
        inner = sorted(self.lines) + sorted(child.canonical() for child in self.children)
        return "BEGIN:" + self.name + "\n" + "\n".join(inner) + "\nEND:" + self.name


def scan(text: str, media_type: str = ICALENDAR) -> Scan:
    """Scan one item (one VCALENDAR with one UID, or one vCard). Raises ``InvalidItem`` when it is not one."""
    if media_type == VCARD:
        return _scan_vcard(text)
    return _scan_ical(text)


def content_digest(text: str, media_type: str = ICALENDAR) -> str:
    """The digest of ``scan``: equal for contents that differ only in what servers rewrite."""
    return scan(text, media_type).digest


def _scan_ical(text: str) -> Scan:
    lines = unfold(text)
    if not lines or lines[0].upper() != "BEGIN:VCALENDAR":
        raise InvalidItem("not an iCalendar object: it does not start with BEGIN:VCALENDAR")
    items = _components(lines)
    if not items:
        raise InvalidItem("the calendar holds no VEVENT, VTODO or VJOURNAL")
    reader = FactReader()
    for component in items:
        reader.read(component.name, component.props)
    facts = reader.facts()
    digest = _hash(sorted(component.canonical() for component in items))
    return Scan(facts, digest)


def _components(lines: list[str]) -> list[_Component]:
    """The item components (with nested VALARMs) of a VCALENDAR, each with its lines canonicalised.

    This loop is the hot path of every sync: it handles the common line (no parameters, nothing to normalise)
    inline and calls out only for the few that need work.
    """
    stack: list[_Component] = []
    items: list[_Component] = []
    skip_depth = 0
    ignored, facts, special = _IGNORED, _FACT_PROPS, _SPECIAL
    params: list[str] | None
    for line in lines[1:]:
        colon = line.find(":")
        if colon <= 0:
            raise InvalidItem(f"not a content line: {line[:60]!r}")
        head = line[:colon]
        if '"' in head:
            bare, params, value = split_line(line)
        else:
            semi = head.find(";")
            bare = head if semi < 0 else head[:semi]
            if not bare.isupper():
                bare = bare.upper()
            params = None if semi < 0 else head[semi + 1 :].split(";")
            value = line[colon + 1 :]
        if bare in ("BEGIN", "END"):
            skip_depth = _nest(bare, value.strip().upper(), stack, items, skip_depth)
            continue
        if skip_depth or not stack:
            continue
        component = stack[-1]
        if bare in facts and bare not in component.props:
            component.props[bare] = (params or [], value)
        if bare in ignored:
            continue
        if params is None and bare not in special:
            component.lines.append(bare + ":" + value)
        else:
            component.lines.append(_canonical_line(bare, params or [], value))
    if stack or skip_depth:
        raise InvalidItem("the calendar is cut short: a BEGIN has no matching END")
    return items


def _nest(keyword: str, name: str, stack: list[_Component], items: list[_Component], skip_depth: int) -> int:
    """Open or close a component; VCALENDAR-level components other than items (VTIMEZONE …) are skipped."""
    if keyword == "BEGIN":
        if skip_depth or (not stack and name not in _ITEM_COMPONENTS):
            return skip_depth + 1
        stack.append(_Component(name, [], [], {}))
        return skip_depth
    if skip_depth:
        return skip_depth - 1
    if stack:
        done = stack.pop()
        (stack[-1].children if stack else items).append(done)
    return skip_depth


def _canonical_line(name: str, params: list[str], value: str) -> str:
    """One content line that needs work: parameters sorted and normalised, text, durations, rules respelled."""
    if params:
        params = _canonical_params(name, params)
    if name in _TEXT_PROPS:
        value = _canonical_text(value)
    elif name in ("TRIGGER", "DURATION") and "VALUE=DATE-TIME" not in params:
        value = canonical_duration(value)
    elif name in ("RRULE", "EXRULE"):
        value = ";".join(sorted(part.upper() for part in value.split(";") if part))
    return name + "".join(";" + p for p in params) + ":" + value


def _canonical_params(name: str, params: list[str]) -> list[str]:
    result = []
    for param in params:
        key, _, val = param.partition("=")
        key = key.upper()
        if len(val) > 1 and val[0] == '"' == val[-1] and not any(c in val[1:-1] for c in ",;:"):
            val = val[1:-1]
        if key == "VALUE" and _DEFAULT_VALUE.get(name) == val.upper():
            continue
        if key == "TZID":
            val = canonical_tzid(val)
        result.append(key + "=" + val)
    return sorted(result)


def _canonical_text(value: str) -> str:
    """TEXT in one escaping: servers differ in whether they escape commas and how they spell newlines."""
    if "\\" not in value and "," not in value and ";" not in value:
        return value
    return unescape(value).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _hash(parts: Iterable[str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def _scan_vcard(text: str) -> Scan:
    lines = unfold(text)
    if not lines or lines[0].upper() != "BEGIN:VCARD" or lines[-1].upper() != "END:VCARD":
        raise InvalidItem("not a vCard: it does not start with BEGIN:VCARD and end with END:VCARD")
    canonical: list[str] = []
    uid = title = ""
    for line in lines[1:-1]:
        name, params, value = split_line(line)
        bare = name.rpartition(".")[2]
        if bare == "UID":
            uid = value.strip()
        elif bare == "FN":
            title = unescape(value)
        if name not in _IGNORED:
            canonical.append(_canonical_line(name, params, value))
    if not uid:
        raise InvalidItem("a vCard has no UID")
    return Scan(Facts(uid, ItemKind.CONTACT, title), _hash(sorted(canonical)))
