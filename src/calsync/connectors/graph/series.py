"""Recurring series in Graph: exceptions and cancelled occurrences read from the instances, and written back.

Graph v1.0 has no list of a series' exceptions: the instances of a series are its occurrences, changed ones
(``type: exception``) among them, and a cancelled occurrence is simply missing (it has no id any more). So the
exceptions are the instances of type exception, and the excluded dates are the starts the rule expands to that
no instance has. Instances are read around now (``span``): outside that range a series keeps the exceptions
calsync last wrote (Graph is not asked, and an update does not write them again).
https://learn.microsoft.com/en-us/graph/api/event-list-instances
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from calsync.connectors.graph import convert
from calsync.connectors.graph.operations import instances
from calsync.connectors.graph.transport import Json, Transport
from calsync.model.item import Item, Moment, Recurrence
from calsync.model.recurrence import occurrences

HORIZON = timedelta(days=2 * 366)


def span(master: Item, now: datetime, past: timedelta, *, from_start: bool = False) -> tuple[datetime, datetime]:
    """The UTC range whose instances tell a series' exceptions: ``HORIZON`` from ``past`` before ``now`` (from the
    series' start when that is later), and no further than its last occurrence.

    Around now, not from the start: a series that began years ago is changed this year, and an update (which
    drops every exception on Exchange) must write this year's exceptions again. ``from_start``: from the series'
    start to the same end, for a series calsync has no written copy of (made in Outlook): the exceptions before
    the range would otherwise drop out of its reading as the days pass, a change nobody made."""
    assert master.start is not None
    first = _utc(master.start) - timedelta(days=1)
    lo = max(first, now - past)
    hi = lo + HORIZON
    if from_start:
        lo = first
    plain = replace(master, recurrence=Recurrence(rule=master.recurrence.rule) if master.recurrence else None)
    found = occurrences(plain, lo, hi)
    if found and found[-1].start is not None:
        hi = min(hi, _utc(found[-1].start) + timedelta(days=2))
    return lo, hi


def read(
    transport: Transport,
    collection: str,
    master_id: str,
    master: Item,
    mailbox: str,
    zone: tzinfo,
    bounds: tuple[datetime, datetime],
    known: Item | None = None,
) -> Item:
    """``master`` with its excluded dates and overridden occurrences, from the series' instances in ``bounds``
    (``span``); ``zone`` is the series' own (``convert.series_zone``). Outside ``bounds`` nothing is read: the
    exceptions there are those of ``known``, the series as calsync last wrote it, when it has the same start."""
    if master.start is None or master.recurrence is None:
        return master
    lo, hi = bounds
    seen: set[datetime] = set()
    overrides = []
    for page in transport.pages(instances(collection, master_id, lo, hi), mailbox):
        for event in page.get("value") or ():
            original = convert.recurrence_id(str(event["originalStart"]), master.start, zone)
            seen.add(_utc(original))
            if event.get("type") == "exception":
                overrides.append(replace(convert.from_graph(event, master.uid), recurrence_id=original))
    expected = occurrences(replace(master, recurrence=Recurrence(rule=master.recurrence.rule)), lo, hi)
    exdates = [o.recurrence_id for o in expected if o.recurrence_id is not None and _utc(o.recurrence_id) not in seen]
    kept_exdates, kept_overrides = _outside(known, master.start, lo, hi)
    overrides += [o for o in kept_overrides if _utc(o.recurrence_id or lo) not in seen]
    overrides.sort(key=lambda o: _utc(o.recurrence_id or lo))
    excluded = tuple(sorted({*exdates, *kept_exdates}, key=_utc))
    return replace(master, recurrence=replace(master.recurrence, exdates=excluded), overrides=tuple(overrides))


def _outside(known: Item | None, start: Moment, lo: datetime, hi: datetime) -> tuple[list[Moment], list[Item]]:
    """The excluded dates and overrides of ``known`` (normalised) outside ``[lo, hi)``, if it starts at ``start``."""
    if known is None or known.start is None or known.recurrence is None or _utc(known.start) != _utc(start):
        return [], []
    kept = normalised(known)
    assert kept.recurrence is not None

    def outside(moment: Moment) -> bool:
        return not lo <= _utc(moment) < hi

    exdates = [x for x in kept.recurrence.exdates if outside(x)]
    overrides = [o for o in kept.overrides if o.recurrence_id is not None and outside(o.recurrence_id)]
    return exdates, overrides


def normalised(item: Item) -> Item:
    """The series as Graph will give it back: excluded dates in the master's zone, overrides as projected."""
    if item.start is None or item.recurrence is None:
        return item
    start = item.start
    exdates = tuple(sorted({_like(x, start) for x in item.recurrence.exdates}, key=_utc))
    overrides = []
    for override in item.overrides:
        if override.recurrence_id is None or _utc(override.recurrence_id) in {_utc(x) for x in exdates}:
            continue
        body = project(convert.to_graph(override, master=False))
        overrides.append(
            replace(convert.from_graph(body, item.uid), recurrence_id=_like(override.recurrence_id, start))
        )
    overrides.sort(key=lambda o: _utc(o.recurrence_id or start))
    return replace(item, recurrence=Recurrence(item.recurrence.rule, (), exdates), overrides=tuple(overrides))


def project(body: Json) -> Json:
    """A written body as Graph answers it: each time's zone also named as its original zone."""
    answered = dict(body)
    for key in ("start", "end"):
        answered["original" + key.capitalize() + "TimeZone"] = body[key]["timeZone"]
    return answered


def occurrence_targets(item: Item, found: list[Json], zone: tzinfo) -> tuple[list[str], list[tuple[str, Item]]]:
    """Which instances to delete (excluded dates) and which to patch (overrides), by instance id; ``zone`` is the
    series' own as written (``convert.series_zone``)."""
    assert item.start is not None and item.recurrence is not None
    by_start = {_utc(convert.recurrence_id(str(e["originalStart"]), item.start, zone)): str(e["id"]) for e in found}
    deletions = [by_start[_utc(x)] for x in item.recurrence.exdates if _utc(x) in by_start]
    patches = [
        (by_start[_utc(o.recurrence_id)], o)
        for o in item.overrides
        if o.recurrence_id is not None and _utc(o.recurrence_id) in by_start
    ]
    return deletions, patches


def _like(moment: Moment, start: Moment) -> Moment:
    """``moment`` in the form of the series' start (a date, or a time in the start's zone)."""
    if not isinstance(start, datetime):
        return moment.date() if isinstance(moment, datetime) else moment
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, start.time().replace(tzinfo=None), start.tzinfo)
    if start.tzinfo is None:
        return moment.replace(tzinfo=None)
    return (moment if moment.tzinfo else moment.replace(tzinfo=start.tzinfo)).astimezone(start.tzinfo)


def _utc(moment: Moment) -> datetime:
    if not isinstance(moment, datetime):
        return datetime.combine(moment, time(), UTC)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def first_date(moment: Moment) -> date:
    return moment.date() if isinstance(moment, datetime) else moment
