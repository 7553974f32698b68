"""Recurring series in Graph: exceptions and cancelled occurrences read from the instances, and written back.

Graph v1.0 has no list of a series' exceptions: the instances of a series are its occurrences, changed ones
(``type: exception``) among them, and a cancelled occurrence is simply missing (it has no id any more). So the
exceptions are the instances of type exception, and the excluded dates are the starts the rule expands to that
no instance has. Unbounded series are compared over ``HORIZON`` from their start.
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


def span(master: Item) -> tuple[datetime, datetime]:
    """The UTC range whose instances tell a series' exceptions: its start to its end, at most ``HORIZON``."""
    assert master.start is not None
    lo = _utc(master.start) - timedelta(days=1)
    hi = lo + HORIZON
    plain = replace(master, recurrence=Recurrence(rule=master.recurrence.rule) if master.recurrence else None)
    found = occurrences(plain, lo, hi)
    if found and found[-1].start is not None:
        hi = min(hi, _utc(found[-1].start) + timedelta(days=2))
    return lo, hi


def read(transport: Transport, collection: str, master_id: str, master: Item, mailbox: str, zone: tzinfo) -> Item:
    """``master`` with its excluded dates and overridden occurrences, from the series' instances; ``zone`` is the
    series' own (``convert.series_zone``)."""
    if master.start is None or master.recurrence is None:
        return master
    lo, hi = span(master)
    seen: set[datetime] = set()
    overrides = []
    for page in transport.pages(instances(collection, master_id, lo, hi), mailbox):
        for event in page.get("value") or ():
            original = convert.recurrence_id(str(event["originalStart"]), master.start, zone)
            seen.add(_utc(original))
            if event.get("type") == "exception":
                overrides.append(replace(convert.from_graph(event, master.uid), recurrence_id=original))
    expected = occurrences(replace(master, recurrence=Recurrence(rule=master.recurrence.rule)), lo, hi)
    exdates = tuple(
        o.recurrence_id for o in expected if o.recurrence_id is not None and _utc(o.recurrence_id) not in seen
    )
    overrides.sort(key=lambda o: _utc(o.recurrence_id or lo))
    return replace(master, recurrence=replace(master.recurrence, exdates=exdates), overrides=tuple(overrides))


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
