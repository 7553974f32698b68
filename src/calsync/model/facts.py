"""The facts rules and windows need of an item, read from its content lines without a full parse.

Why a span and not a start: a window check must hold for a whole recurring series and its moved occurrences,
and must err on the side of "inside" where a zone is floating or unknown (then it is widened by the widest UTC
offset), because "inside" only means the item is looked at, while "outside" means it is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calsync.errors import InvalidItem
from calsync.model.contentlines import canonical_tzid, duration_parts, unescape, whole_days
from calsync.model.ical_maps import BUSINESS_KINDS
from calsync.model.item import ItemKind, Sensitivity

Fact = tuple[tuple[str, ...], str]
"""One property as the facts read it: its parameters and its value."""
Props = dict[str, Fact]
"""The first occurrence of each property of one component: name -> (parameters, value). Tuples, because the scan
shares one entry among every item holding the same line."""

_SLACK = 14 * 3600  # floating and unresolved times may be anywhere from UTC-12 to UTC+14
_MOMENTS_KEPT = 8192
_EPOCH = datetime(1970, 1, 1)
"""The POSIX epoch, naive: ``(naive - _EPOCH)`` is the value's seconds read as UTC."""
_SHORT = 64


@dataclass(frozen=True, slots=True)
class Facts:
    """What rules and windows need to know of an item without parsing it.

    ``span`` is the POSIX start and end of the item or of its whole series (``None`` = unbounded), widened by the
    widest UTC offset where the zone is floating or unknown, so a window check errs on the side of "inside".
    """

    ident: str
    kind: ItemKind
    title: str = ""
    sensitivity: Sensitivity = Sensitivity.PUBLIC
    span: tuple[float | None, float | None] = (None, None)
    recurring: bool = False
    has_attendees: bool = False
    stamp: str = ""

    @property
    def modified(self) -> float | None:
        """POSIX time of the latest LAST-MODIFIED of any component (else DTSTAMP), for newest-wins conflicts;
        parsed only when asked for, and ``None`` when absent or malformed (a bad stamp must not fail a pair)."""
        if not self.stamp:
            return None
        try:
            return _instant([], self.stamp)[0]
        except InvalidItem:
            return None


class FactReader:
    """Collects facts over the components of one item (a master and its overridden occurrences)."""

    def __init__(self) -> None:
        self.uid = ""
        self.kind = ItemKind.EVENT
        self.title = ""
        self.sensitivity = Sensitivity.PUBLIC
        self.lo: float | None = None
        self.hi: float | None = None
        self.unbounded_end = False
        self.unbounded_start = False
        self.recurring = False
        self.has_attendees = False
        self.modified_stamp = ""
        self.dtstamp = ""
        self.seen_head = False

    def read(self, component: str, props: Props, more_rdates: Sequence[Fact] = ()) -> None:
        """Take in one component (VEVENT, VTODO …) of the item, by its first property values and the RDATE lines
        after the first."""
        self.has_attendees = self.has_attendees or "ATTENDEE" in props
        uid = props.get("UID", ((), ""))[1].strip()
        if not uid:
            raise InvalidItem(f"a {component} has no UID")
        if self.uid and uid != self.uid:
            raise InvalidItem(f"one item holds two UIDs ({self.uid!r} and {uid!r})")
        self.uid = uid
        self._note_stamps(props)
        if "RECURRENCE-ID" not in props or not self.seen_head:
            # the master's, else the first override's (an invitation to one occurrence), as the parse reads them
            self._read_master_facts(component, props)
            self.seen_head = True
        self._read_span(component, props, more_rdates)

    def _note_stamps(self, props: Props) -> None:
        """Keep the latest LAST-MODIFIED of all components (an edited occurrence is an edit of the item), and
        the latest DTSTAMP for items that have none. UTC basic-format stamps compare correctly as text."""
        modified, stamp = props.get("LAST-MODIFIED"), props.get("DTSTAMP")
        if modified is not None:
            self.modified_stamp = max(self.modified_stamp, modified[1].strip())
        if stamp is not None:
            self.dtstamp = max(self.dtstamp, stamp[1].strip())

    def _read_master_facts(self, component: str, props: Props) -> None:
        kind = props.get("X-CALSYNC-KIND", ((), ""))[1].strip().lower()
        # only the kinds an event can carry, as the parse reads them (X-CALSYNC-KIND:task is still an event)
        self.kind = ItemKind.TASK if component == "VTODO" else BUSINESS_KINDS.get(kind, ItemKind.EVENT)
        self.title = unescape(props.get("SUMMARY", ((), ""))[1])
        klass = props.get("CLASS", ((), "PUBLIC"))[1].strip().lower()
        self.sensitivity = Sensitivity(klass) if klass in {"private", "confidential"} else Sensitivity.PUBLIC

    def _read_span(self, component: str, props: Props, more_rdates: Sequence[Fact]) -> None:
        start_prop = props.get("DTSTART") or (props.get("DUE") if component == "VTODO" else None)
        if start_prop is None:
            self.unbounded_start = self.unbounded_end = True
            return
        start, slack = _instant(*start_prop)
        end = self._end(props, start_prop, start)
        if "RRULE" in props or "RDATE" in props:
            self.recurring = True
            length = None if end is None or start is None else end - start
            end = _series_end(props.get("RRULE", ((), "")), end, start)
            for rdate in (props["RDATE"], *more_rdates) if "RDATE" in props else ():
                # dates before DTSTART or after the rule's UNTIL belong to the series too, on every RDATE line
                first, last = _rdates_span(*rdate, length)
                start = None if start is None or first is None else min(start, first)
                end = None if end is None or last is None else max(end, last)
        lo = None if start is None else start - slack
        hi = None if end is None else end + slack
        self.unbounded_start |= lo is None
        self.unbounded_end |= hi is None
        self.lo = lo if self.lo is None or (lo is not None and lo < self.lo) else self.lo
        self.hi = hi if self.hi is None or (hi is not None and hi > self.hi) else self.hi

    @staticmethod
    def _end(props: Props, start_prop: tuple[tuple[str, ...], str], start: float | None) -> float | None:
        end_prop = props.get("DTEND") or props.get("DUE")
        if end_prop is not None:
            return _instant(*end_prop)[0]
        if start is None:
            return None
        if "DURATION" in props:
            return _after_duration(start_prop, start, props["DURATION"][1])
        is_date = "VALUE=DATE" in [p.upper() for p in start_prop[0]] or len(start_prop[1].strip()) == 8
        return start + (86400 if is_date else 0)

    def facts(self) -> Facts:
        lo = None if self.unbounded_start else self.lo
        hi = None if self.unbounded_end else self.hi
        return Facts(
            self.uid,
            self.kind,
            self.title,
            self.sensitivity,
            (lo, hi),
            self.recurring,
            self.has_attendees,
            self.modified_stamp or self.dtstamp,
        )


def _instant(params: Sequence[str], value: str) -> tuple[float | None, float]:
    """POSIX seconds of a DATE or DATE-TIME value and the slack its zone leaves (0 when exact)."""
    tzid = ""
    for param in params:
        if param[:5].upper() == "TZID=":
            tzid = param[5:].strip('"')
            break
    value = value.strip().split(",")[0]
    if len(value) > _SHORT or len(tzid) > _SHORT:
        return _moment.__wrapped__(value, tzid)  # not remembered: a huge key must not stay in memory
    return _moment(value, tzid)


@lru_cache(maxsize=_MOMENTS_KEPT)
def _moment(value: str, tzid: str) -> tuple[float | None, float]:
    """``_instant`` of one value in one zone, remembered: appointments start on few distinct hours, so most
    values repeat across a calendar, and building a zoned datetime costs more than looking it up."""
    try:
        if len(value) == 8:
            return (datetime(int(value[:4]), int(value[4:6]), int(value[6:8])) - _EPOCH).total_seconds(), _SLACK
        moment = datetime(
            int(value[:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
        )
    except (ValueError, IndexError):
        raise InvalidItem(f"not a date or date-time: {value[:40]!r}") from None
    seconds = (moment - _EPOCH).total_seconds()  # as if UTC: arithmetic, where .timestamp() costs 8x more
    if value.endswith(("Z", "z")):
        return seconds, 0.0
    zone = _zone(tzid) if tzid else None
    if zone is None:
        return seconds, _SLACK
    offset = zone.utcoffset(moment)  # fold=0, as .timestamp() of the zoned value takes it
    return seconds - (offset.total_seconds() if offset is not None else 0.0), 0.0


@lru_cache(maxsize=256)
def _zone(tzid: str) -> ZoneInfo | None:
    """The zone of an IANA or Windows TZID; ``None`` for anything else, including a name of a folder of the zone
    database (``Europe``), which ``ZoneInfo`` fails to open with an ``OSError`` rather than "not found"."""
    try:
        return ZoneInfo(canonical_tzid(tzid))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _after_duration(start_prop: tuple[tuple[str, ...], str], start: float, duration: str) -> float | None:
    """The POSIX end of ``start`` plus an RFC 5545 duration, as the full parse computes it: days and weeks on the
    wall clock of the start's zone (a day across a change of summer time is 23 or 25 hours), hours exact; a DATE
    start covers whole days."""
    days, seconds = duration_parts(value=duration)
    params, value = start_prop
    value = value.strip().split(",")[0]
    if len(value) == 8:
        return start + whole_days(days, seconds) * 86400
    if days:
        try:
            wall = datetime.strptime(value[:15], "%Y%m%dT%H%M%S") + timedelta(days=days)
        except ValueError:
            raise InvalidItem(f"not a date-time: {value[:40]!r}") from None
        shifted = _instant(params, wall.strftime("%Y%m%dT%H%M%S") + value[15:])[0]
        start = start if shifted is None else shifted
    return start + seconds


def _series_end(rule: tuple[tuple[str, ...], str], end: float | None, start: float | None) -> float | None:
    """The end of the last occurrence the rule makes (no rule: the item's own end), or ``None`` when the rule never
    ends or ends by COUNT.

    COUNT is taken as unbounded on purpose: computing it needs an expansion, and "unbounded" only means the
    series is kept in the window, never that anything is deleted.
    """
    if not rule[1]:
        return end
    parts = dict(part.partition("=")[::2] for part in rule[1].upper().split(";") if part)
    until = parts.get("UNTIL")
    if not until or "COUNT" in parts or end is None or start is None:
        return None
    last_start, _ = _instant([], until)
    if last_start is None:
        return None
    return last_start + (end - start) + _SLACK


def _rdates_span(params: Sequence[str], value: str, length: float | None) -> tuple[float | None, float | None]:
    """The first start and the last end of the occurrences one RDATE line adds; a period
    ends as it says, a date or date-time lasts as long as the item. ``None`` for what cannot be known."""
    first: float | None = None
    last: float | None = None
    for one in value.split(","):
        begin_text, _, period_end = one.strip().partition("/")
        if not begin_text:
            continue
        begin, slack = _instant(params, begin_text)
        if begin is None:
            return None, None
        if period_end[:1] in ("P", "+", "-", "p"):
            end: float | None = begin + sum(_duration_seconds(period_end))
        elif period_end:
            end = _instant(params, period_end)[0]
        else:
            end = None if length is None else begin + length
        if end is None:
            return None, None
        first = begin - slack if first is None else min(first, begin - slack)
        last = end + slack if last is None else max(last, end + slack)
    return first, last


def _duration_seconds(value: str) -> tuple[int, int]:
    days, seconds = duration_parts(value)
    return days * 86400, seconds
