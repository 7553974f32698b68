"""Recurring series in EWS: modified and deleted occurrences read from the master, and written back.

A series master lists its ModifiedOccurrences (each with its own item id and OriginalStart) and its
DeletedOccurrences (their starts). Reading fetches the modified ones in bulk and turns them into overrides;
writing deletes and updates occurrences by their InstanceIndex (1-based, counted over the pattern as Exchange
expands it, deleted ones included). An update of the master rewrites its recurrence, which drops every
exception on Exchange, so the exceptions are written again after every master write.
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-update-a-recurring-series-by-using-ews
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/occurrenceitemid
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from types import SimpleNamespace
from typing import Any

from exchangelib import CalendarItem
from exchangelib.items import ALWAYS_OVERWRITE, MOVE_TO_DELETED_ITEMS, SEND_TO_NONE
from exchangelib.properties import OccurrenceItemId

from calsync.connectors.ews import convert
from calsync.errors import InvalidItem
from calsync.model.item import Item, Moment, Recurrence
from calsync.model.recurrence import occurrences
from calsync.model.refs import ItemRef

_OCCURRENCE_FIELDS = tuple(name for name in convert.WRITTEN if name != "recurrence")


def normalised(item: Item) -> Item:
    """The series as Exchange will give it back: excluded dates in the master's form, overrides as projected."""
    if item.start is None or item.recurrence is None:
        return item
    start = item.start
    exdates = tuple(sorted({_like(x, start) for x in item.recurrence.exdates}, key=_utc))
    excluded = {_utc(x) for x in exdates}
    overrides = []
    for override in item.overrides:
        if override.recurrence_id is None or _utc(override.recurrence_id) in excluded:
            continue
        single = replace(override, recurrence=None, overrides=())
        fields = convert.to_fields(single)
        projected = convert.from_exchange(_as_item(fields), item.uid)
        overrides.append(replace(projected, recurrence_id=_like(override.recurrence_id, start)))
    overrides.sort(key=lambda o: _utc(o.recurrence_id or start))
    return replace(item, recurrence=Recurrence(item.recurrence.rule, (), exdates), overrides=tuple(overrides))


def projection(item: Item, fields: dict[str, Any], key: str) -> Item:
    """``item`` (normalised) as Exchange will give it back after writing ``fields`` and its exceptions."""
    projected = convert.from_exchange(_as_item(fields), key)
    if item.recurrence is not None and projected.recurrence is not None:
        projected = replace(
            projected,
            recurrence=replace(projected.recurrence, exdates=item.recurrence.exdates),
            overrides=item.overrides,
        )
    return projected


def _as_item(fields: dict[str, Any]) -> Any:
    """The fields as exchangelib's CalendarItem would carry them after a round trip (a plain namespace)."""
    start, end = fields["start"], fields["end"]
    values = dict(fields)
    values["_start_timezone"] = getattr(start, "tzinfo", None)
    values["_end_timezone"] = getattr(end, "tzinfo", None)
    values["is_cancelled"] = False
    for name in ("required_attendees", "optional_attendees", "resources", "organizer"):
        values[name] = None
    return SimpleNamespace(**values)


def read(account: Any, ci: Any, master: Item) -> Item:
    """``master`` with its excluded dates and overridden occurrences, from the master ``ci``."""
    if master.start is None or master.recurrence is None:
        return master
    start = master.start
    zone = convert.model_zone(ci._start_timezone)  # an all-day occurrence is on its date in the series' zone
    exdates = tuple(sorted({_like(d.start, start, zone) for d in ci.deleted_occurrences or ()}, key=_utc))
    modified = list(ci.modified_occurrences or ())
    overrides = []
    if modified:
        found = list(account.fetch(ids=[(o.id, o.changekey) for o in modified]))
        for occurrence, one in zip(modified, found, strict=True):
            if isinstance(one, Exception):
                raise one  # translated by the caller's translate_errors, with the connector's name
            override = replace(convert.from_exchange(one, master.uid), recurrence=None)
            overrides.append(replace(override, recurrence_id=_like(occurrence.original_start, start, zone)))
    overrides.sort(key=lambda o: _utc(o.recurrence_id or start))
    return replace(master, recurrence=replace(master.recurrence, exdates=exdates), overrides=tuple(overrides))


def write(account: Any, ref: ItemRef, item: Item) -> ItemRef:
    """Delete the excluded occurrences and change the overridden ones of the series at ``ref``; its new ref.

    ALWAYS_OVERWRITE for the occurrences: the master was written a moment ago under its change key, and every
    occurrence write changes the master's key again.
    """
    assert item.start is not None and item.recurrence is not None
    index = _indexes(item)
    deletions = [
        OccurrenceItemId(id=ref.href, changekey=ref.version, instance_index=index[_utc(x)])
        for x in item.recurrence.exdates
        if _utc(x) in index
    ]
    if deletions:
        _check(
            account.bulk_delete(deletions, delete_type=MOVE_TO_DELETED_ITEMS, send_meeting_cancellations=SEND_TO_NONE)
        )
    changes = []
    for override in item.overrides:
        if override.recurrence_id is None or _utc(override.recurrence_id) not in index:
            continue
        at = OccurrenceItemId(id=ref.href, changekey=ref.version, instance_index=index[_utc(override.recurrence_id)])
        occurrence = CalendarItem(account=account, _id=at)
        for name, value in convert.to_fields(replace(override, recurrence=None)).items():
            if name in _OCCURRENCE_FIELDS:
                setattr(occurrence, name, value)
        changes.append((occurrence, list(_OCCURRENCE_FIELDS)))
    if changes:
        _check(
            account.bulk_update(
                changes, conflict_resolution=ALWAYS_OVERWRITE, send_meeting_invitations_or_cancellations=SEND_TO_NONE
            )
        )
    (master,) = list(account.fetch(ids=[(ref.href, None)], only_fields=("id", "changekey")))
    if isinstance(master, Exception):
        raise master
    return ItemRef(ref.href, str(master.changekey))


def _indexes(item: Item) -> dict[datetime, int]:
    """Each occurrence's InstanceIndex by its original start (UTC), up to the last date that matters."""
    assert item.start is not None and item.recurrence is not None
    wanted = [*item.recurrence.exdates, *(o.recurrence_id for o in item.overrides if o.recurrence_id is not None)]
    if not wanted:
        return {}
    plain = replace(item, recurrence=Recurrence(rule=item.recurrence.rule), overrides=())
    last = max(_utc(w) for w in wanted) + timedelta(days=1)
    found = occurrences(plain, _utc(item.start) - timedelta(days=1), last)
    return {_utc(o.recurrence_id): n for n, o in enumerate(found, start=1) if o.recurrence_id is not None}


def _check(results: Any) -> None:
    for one in results:
        if isinstance(one, Exception):
            if "OccurrenceIsDeleted" in type(one).__name__:
                continue
            raise one
        if one is not True and not isinstance(one, tuple):
            raise InvalidItem(f"unexpected answer {one!r}")


def _like(moment: Moment, start: Moment, zone: tzinfo | None = None) -> Moment:
    """``moment`` in the form of the series' start (a date, or a time in the start's zone).

    For an all-day series the date of an instant is taken in ``zone``, the series' zone: Exchange reports the
    Tuesday all-day occurrence of a Berlin series as Monday 23:00 UTC. Without ``zone`` (a moment from the model)
    its own zone's date. exchangelib's EWSDateTime refuses ``astimezone`` with a stdlib zone, so instants are
    taken through their timestamp.
    """
    if not isinstance(start, datetime):
        if isinstance(moment, datetime):
            if moment.tzinfo is None:
                return moment.date()
            if zone is None:
                return date(moment.year, moment.month, moment.day)
            return datetime.fromtimestamp(moment.timestamp(), tz=zone).date()
        return moment
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, start.time().replace(tzinfo=None), start.tzinfo)
    if start.tzinfo is None:
        return moment.replace(tzinfo=None)
    moment = datetime.fromtimestamp(moment.timestamp(), tz=UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(start.tzinfo)


def _utc(moment: Moment) -> datetime:
    if not isinstance(moment, datetime):
        return datetime.combine(moment, time(), UTC)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
