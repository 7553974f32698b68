"""The canonical spelling of one content line: what the digest hashes in place of a line as a server wrote it.

Why it stands apart from ``canonical``: that module walks an item's lines, nests its components and remembers the
lines it has read; this one holds what servers rewrite within a single line (parameter order and case, parameters
and ``VALUE=`` types that only say their default, the case of tokens and of ``mailto:``, TEXT escaping, RRULE part
order, lists of dates, durations, Windows TZIDs), each a pure function of the line's name, parameters and value.
It is where the next rewrite a server is found to make gets its spelling.
"""

from __future__ import annotations

from functools import lru_cache

from calsync.model.contentlines import canonical_duration, canonical_tzid, unescape

_TEXT_PROPS = frozenset({"SUMMARY", "DESCRIPTION", "LOCATION", "COMMENT", "CONTACT", "FN", "NOTE", "TITLE"})
_ADDRESSES = frozenset({"ATTENDEE", "ORGANIZER"})
DATE_LISTS = frozenset({"EXDATE", "RDATE"})
RESPELLED = _TEXT_PROPS | _ADDRESSES | DATE_LISTS | {"TRIGGER", "DURATION", "RRULE", "EXRULE"}
"""Properties whose values servers spell in more than one way: ``canonical_value`` (``canonical_dates`` for the
lists of dates) respells them."""
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
_ENUMERATED_PARAMS = frozenset(
    {"CUTYPE", "ENCODING", "FBTYPE", "PARTSTAT", "RELATED", "RELTYPE", "ROLE", "RSVP", "TYPE", "VALUE"}
)
"""Parameters whose values are tokens compared without regard to case (RFC 5545 3.2, RFC 6350 5.6)."""
_DEFAULT_PARAMS = frozenset(
    {"CUTYPE=INDIVIDUAL", "PARTSTAT=NEEDS-ACTION", "RELATED=START", "ROLE=REQ-PARTICIPANT", "RSVP=FALSE"}
)
"""Parameters that say what their absence says (RFC 5545 3.2): some servers write them out, others drop them."""
_HEADS_KEPT = 4096
"""How many distinct property heads (name and parameters) ``canonical_head`` remembers."""


@lru_cache(maxsize=_HEADS_KEPT)
def canonical_head(head: str) -> tuple[str, bool]:
    """A property's name and parameters (no quotes in them) in canonical form, and whether its value needs
    respelling too (TEXT, a duration that is not a date-time, a rule)."""
    semi = head.find(";")
    name = head[:semi].upper()
    params = _canonical_params(name, head[semi + 1 :].split(";"))
    respell = name in _TEXT_PROPS or name in _ADDRESSES or name in ("RRULE", "EXRULE")
    respell = respell or (name in ("TRIGGER", "DURATION") and "VALUE=DATE-TIME" not in params)
    return name + "".join(";" + p for p in params), respell


def canonical_value(name: str, value: str) -> str:
    """A value in the spelling the digest uses; ``name`` is one of ``RESPELLED`` (TRIGGER and DURATION here are
    durations: a ``VALUE=DATE-TIME`` trigger has parameters, so ``canonical_head`` decides for it)."""
    if name in _TEXT_PROPS:
        return _canonical_text(value)
    if name in ("TRIGGER", "DURATION"):
        return canonical_duration(value)
    if name in _ADDRESSES:
        return _canonical_address(value)
    return ";".join(sorted(part.upper() for part in value.split(";") if part))


def canonical_line(name: str, params: list[str], value: str) -> str:
    """One content line that needs work: parameters sorted and normalised, text, durations, rules respelled."""
    if params:
        params = _canonical_params(name, params)
    if name in _TEXT_PROPS:
        value = _canonical_text(value)
    elif name in ("TRIGGER", "DURATION") and "VALUE=DATE-TIME" not in params:
        value = canonical_duration(value)
    elif name in _ADDRESSES:
        value = _canonical_address(value)
    elif name in DATE_LISTS:
        return canonical_dates(name + "".join(";" + p for p in params), value)
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
        if key in _ENUMERATED_PARAMS:
            val = val.upper()
            if (key == "VALUE" and _DEFAULT_VALUE.get(name) == val) or key + "=" + val in _DEFAULT_PARAMS:
                continue
        elif key == "TZID":
            val = canonical_tzid(val)
        result.append(key + "=" + val)
    return sorted(result)


def canonical_dates(head: str, value: str) -> str:
    """An EXDATE or RDATE as one line per date (``canonical._Component.canonical`` splits them): servers join a
    list of dates on one line or give each its own line."""
    return "\n".join(head + ":" + date for date in sorted(value.upper().split(",")) if date)


def _canonical_address(value: str) -> str:
    """A calendar user's address: servers spell the ``mailto:`` scheme, and often the address, in either case."""
    if value[:7].lower() == "mailto:":
        return "mailto:" + value[7:].lower()
    return value


def _canonical_text(value: str) -> str:
    """TEXT in one escaping: servers differ in whether they escape commas and how they spell newlines.

    Most values are already in that escaping: every backslash starts one of ``\\n``, ``\\,`` and ``\\;``, and
    every ``,`` and ``;`` is escaped; counting (these escapes cannot overlap) proves it without rebuilding the
    value.
    """
    escapes = value.count("\\")
    if "," not in value and ";" not in value and (not escapes or escapes == value.count("\\n")):
        return value
    commas, semis = value.count("\\,"), value.count("\\;")
    if escapes == value.count("\\n") + commas + semis and value.count(",") == commas and value.count(";") == semis:
        return value
    return unescape(value).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
