"""Time zones compared by what they do: their UTC offsets and transitions over one reference year.

Why: a TZID is only a label. Outlook writes "Customized Time Zone", Lotus Notes writes its own names, and some
servers invent ids; what identifies the zone is the VTIMEZONE's rules. Two zones that have the same offsets
and switch at the same minutes of a year are interchangeable for that year, so a custom VTIMEZONE can be
replaced by the IANA zone that behaves the same, and an IANA zone CLDR does not list can be given the Windows
zone that behaves the same. Comparing one year (the current one, or the last year a VTIMEZONE describes) is
enough for that and cheap: about 370 offset look-ups and a few bisections per zone, cached per zone and year.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

OffsetAt = Callable[[datetime], int]
"""A zone as a function: the UTC offset in seconds at an aware UTC instant."""

_MINUTES_A_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What a zone does in one year.

    ``transitions`` are (minute of the year in UTC, offset from then on in seconds), exact to the minute;
    ``daily`` holds the offset at 00:00 UTC of every day, for measuring how far apart two zones are.
    """

    initial: int
    transitions: tuple[tuple[int, int], ...]
    daily: tuple[int, ...]

    @property
    def offsets(self) -> frozenset[int]:
        """Every offset the zone uses in the year."""
        return frozenset(self.daily) | {self.initial} | {offset for _, offset in self.transitions}

    @property
    def standard(self) -> int:
        """The smaller offset: standard time for every zone whose summer time moves clocks forward."""
        return min(self.offsets)

    def distance(self, other: Behaviour) -> int:
        """The number of days on which the two zones have different offsets."""
        return sum(mine != theirs for mine, theirs in zip(self.daily, other.daily, strict=False))


def zone_offset_at(zone: tzinfo) -> OffsetAt:
    """The offset function of a ``tzinfo`` (zoneinfo, fixed offsets, dateutil …)."""

    def offset_at(instant: datetime) -> int:
        offset = instant.astimezone(zone).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    return offset_at


def table_offset_at(times: list[datetime], offsets: list[int]) -> OffsetAt:
    """The offset function of a transition table (aware UTC instants, sorted, each with the offset from then
    on).

    Before the first transition the first offset applies: VTIMEZONEs describe the past only as far as they
    need.
    """
    from bisect import bisect_right

    def offset_at(instant: datetime) -> int:
        index = bisect_right(times, instant) - 1
        return offsets[max(index, 0)]

    return offset_at


def behaviour(offset_at: OffsetAt, year: int) -> Behaviour:
    """Sample the zone daily through ``year`` and pin each change of offset to the minute."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    days = (datetime(year + 1, 1, 1, tzinfo=UTC) - start).days
    daily = tuple(offset_at(start + timedelta(days=day)) for day in range(days + 1))
    transitions = tuple(
        _pin(offset_at, start, day * _MINUTES_A_DAY, daily[day]) for day in range(days) if daily[day] != daily[day + 1]
    )
    return Behaviour(daily[0], transitions, daily[:days])


def _pin(offset_at: OffsetAt, start: datetime, low: int, before: int) -> tuple[int, int]:
    """The first minute in ``(low, low + 1 day]`` whose offset differs from ``before``, and that offset."""
    high = low + _MINUTES_A_DAY
    while high - low > 1:
        middle = (low + high) // 2
        if offset_at(start + timedelta(minutes=middle)) == before:
            low = middle
        else:
            high = middle
    return high, offset_at(start + timedelta(minutes=high))


@lru_cache(maxsize=2048)
def zone_behaviour(name: str, year: int) -> Behaviour:
    """The behaviour of an IANA zone in ``year``, cached: zones are compared many times over."""
    return behaviour(zone_offset_at(ZoneInfo(name)), year)


def best_match(target: Behaviour, names: Iterable[str], year: int) -> str | None:
    """The first zone in ``names`` that behaves exactly like ``target``; else the closest with the same
    offsets.

    Order matters: callers list the zones they prefer first (CLDR's main zone of each Windows zone), so a tie
    goes to the zone people expect. ``None`` when no zone uses the same set of offsets.
    """
    names = tuple(names)
    for name in names:
        if zone_behaviour(name, year) == target:
            return name
    best: tuple[int, str] | None = None
    for name in names:
        candidate = zone_behaviour(name, year)
        if candidate.offsets != target.offsets:
            continue
        distance = target.distance(candidate)
        if best is None or distance < best[0]:
            best = (distance, name)
    return best[1] if best else None


def nearest(target: Behaviour, names: Iterable[str], year: int) -> str | None:
    """Like ``best_match``, and failing that the zone with the nearest standard offset (summer time alike
    first).

    For answers that must name *some* zone, such as the Windows zone of an IANA zone CLDR does not know.
    """
    names = tuple(names)
    found = best_match(target, names, year)
    if found is not None or not names:
        return found
    has_dst = len(target.offsets) > 1

    def gap(name: str) -> tuple[int, bool]:
        candidate = zone_behaviour(name, year)
        return abs(candidate.standard - target.standard), (len(candidate.offsets) > 1) != has_dst

    return min(names, key=gap)


_CYCLE = 28
"""Years after which the Gregorian calendar's weekdays repeat (from 1901 to 2099): a rule such as "the last
Sunday of March" gives the same dates 28 years on."""
_HORIZON = 2036
"""A table reaching this year comes from yearly rules expanded to icalendar's horizon (2037), not from a last
change of offset: past its end the rules go on."""


class TableZone(tzinfo):
    """A zone that follows a VTIMEZONE's own transition table: for custom zones no IANA zone behaves like.

    Why not one fixed offset: a zone with summer time (or one that changed its offset once) would then put every
    time of the other half of the year an hour or more off. Before the first transition the first offset
    applies, as in ``table_offset_at``. After the last one: a table that reaches the horizon of the rules'
    expansion repeats its last complete 28 years (the rules go on); any other, the last offset. ``tzname`` is
    the TZID, so the writer names the zone as it was read, and ``source`` the VTIMEZONE it was read from, which
    the writer writes back as it was: rewriting a table as observances moved a change of offset by an hour on
    every round trip.
    """

    def __init__(self, name: str, times: list[datetime], offsets: list[int], dsts: list[int], source: str = "") -> None:
        if not times or not len(times) == len(offsets) == len(dsts):
            raise ValueError("a zone table needs one offset and one DST amount for each transition")
        self._name = name
        self.source = source
        self._times = [time.astimezone(UTC).replace(tzinfo=None) for time in times]
        last_year = self._times[-1].year
        self._repeat_from = last_year if len(times) > 2 and last_year >= _HORIZON else None
        self._offsets = [timedelta(seconds=offset) for offset in offsets]
        self._dsts = [timedelta(seconds=dst) for dst in dsts]
        before = [self._offsets[0], *self._offsets[:-1]]
        # the wall time from which each transition applies: the later reading of a gap or an overlap for
        # fold=0, the earlier for fold=1 (PEP 495)
        pairs = list(zip(self._times, before, self._offsets, strict=True))
        self._walls = (
            [time + max(old, new) for time, old, new in pairs],
            [time + min(old, new) for time, old, new in pairs],
        )

    def __reduce__(self) -> tuple[type[TableZone], tuple[str, list[datetime], list[int], list[int], str]]:
        seconds = [int(offset.total_seconds()) for offset in self._offsets]
        times = [time.replace(tzinfo=UTC) for time in self._times]
        return TableZone, (self._name, times, seconds, [int(dst.total_seconds()) for dst in self._dsts], self.source)

    def _years_back(self, moment: datetime) -> int:
        """How many years to move ``moment`` back into the table (whole cycles; 0 inside it)."""
        if self._repeat_from is None or moment.year < self._repeat_from:
            return 0
        return ((moment.year - self._repeat_from) // _CYCLE + 1) * _CYCLE

    @staticmethod
    def _moved(moment: datetime, years: int) -> datetime:
        try:
            return moment.replace(year=moment.year + years)
        except ValueError:  # 29 February in a year that is not a leap year (2100)
            return moment.replace(year=moment.year + years, day=28)

    def __repr__(self) -> str:
        return f"TableZone({self._name!r}, {len(self._times)} transitions)"

    def _index(self, moment: datetime) -> int:
        from bisect import bisect_right

        walls = self._walls[moment.fold]
        wall = self._moved(moment.replace(tzinfo=None), -self._years_back(moment))
        return max(bisect_right(walls, wall) - 1, 0)

    def utcoffset(self, moment: datetime | None) -> timedelta | None:
        return None if moment is None else self._offsets[self._index(moment)]

    def dst(self, moment: datetime | None) -> timedelta | None:
        return None if moment is None else self._dsts[self._index(moment)]

    def tzname(self, moment: datetime | None) -> str:
        return self._name

    def fromutc(self, moment: datetime) -> datetime:
        """The wall time of a UTC instant; the second reading of a repeated hour has ``fold=1``."""
        from bisect import bisect_right

        years = self._years_back(moment)
        utc = self._moved(moment.replace(tzinfo=None), -years)
        index = max(bisect_right(self._times, utc) - 1, 0)
        offset = self._offsets[index]
        wall = utc + offset
        previous = self._offsets[index - 1] if index else offset
        fold = int(previous > offset and wall < self._times[index] + previous)
        return self._moved(wall, years).replace(tzinfo=self, fold=fold)
