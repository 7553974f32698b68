"""Presence from calendars: is a business user available, in a meeting or out of office right now?

Why free/busy and out-of-office settings where the server has them (Graph ``getSchedule`` and
``automaticRepliesSetting``, EWS GetUserAvailability and GetUserOofSettings): they answer for one instant in one or
two requests, they honour the mailbox's own sharing rules, and an out-of-office reply is often switched on without
any calendar entry. Servers without them (CalDAV, a folder) are read the way a sync reads them: the user's calendar
over a short window around the instant, recurring series expanded, and the occurrence in progress decides.

An active out-of-office reply wins over the calendar; among items in progress the strongest show-as wins (out of
office, then busy, then tentative). A private or confidential item never gives its subject away. The connector
port (``connectors.base``) stays narrow: the capabilities used here are found by structural checks
(``_RepliesReader``, ``_OofReader``), not added to every connector.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from calsync.config import Settings
from calsync.connectors.base import Connector, Fetched
from calsync.errors import CalsyncError, ConfigError, InvalidItem, NotFound, Unavailable
from calsync.model.item import Item, Moment, Sensitivity, ShowAs
from calsync.model.recurrence import occurrences
from calsync.model.window import Window
from calsync.services.connections import (
    CollectionKind,
    IntegrationConnectors,
    existing_user_collection,
    integration_connectors,
)
from calsync.services.hub_binding import synced_calendars
from calsync.services.integrations import IntegrationView, UserView, open_integrations

if TYPE_CHECKING:
    from calsync.connectors.ews.availability import OutOfOffice
    from calsync.connectors.ews.availability import Schedule as EwsSchedule
    from calsync.connectors.graph.availability import AutomaticReplies
    from calsync.connectors.graph.availability import Schedule as GraphSchedule

logger = logging.getLogger(__name__)

SPAN = timedelta(hours=12)
"""How far either side of the instant free/busy is asked for: enough to see the whole item in progress."""
STEP_MINUTES = 30
"""The free/busy slot length asked for (Graph takes 5..1440 minutes)."""
CALENDAR_SPAN = timedelta(days=2)
"""How far either side of the instant a calendar is read: all-day items in any time zone still overlap it."""


class PresenceStatus(StrEnum):
    """What a business system shows next to a user's name."""

    AVAILABLE = "available"
    MEETING = "meeting"
    OUT_OF_OFFICE = "out-of-office"
    UNKNOWN = "unknown"


class PresenceSource(StrEnum):
    """Where a presence was read from, so an admin can tell why it says what it says."""

    AUTOMATIC_REPLIES = "automatic-replies"
    FREE_BUSY = "free-busy"
    CALENDAR = "calendar"


@dataclass(frozen=True, slots=True, kw_only=True)
class Presence:
    """A user's presence at one instant.

    ``since``/``until`` bound the item or out-of-office period that decided it (``None`` when open or unknown);
    ``subject`` is the meeting's subject unless it is private; ``out_of_office_text`` is the internal reply as
    plain text (or an out-of-office item's summary).
    """

    status: PresenceStatus
    since: datetime | None = None
    until: datetime | None = None
    subject: str = ""
    out_of_office_text: str = ""
    source: str


@dataclass(frozen=True, slots=True)
class UserPresence:
    """One user's line in an integration's presence list: a presence, or the error that kept it from us."""

    business_user: str
    mailbox: str
    presence: Presence | None = None
    error: str = ""


@runtime_checkable
class _RepliesReader(Protocol):
    """A connection with Graph's free/busy and automatic replies."""

    name: str

    def free_busy(
        self, mailboxes: Sequence[str], start: datetime, end: datetime, interval: int = 30
    ) -> list[GraphSchedule]: ...

    def automatic_replies(self, mailbox: str) -> AutomaticReplies: ...


@runtime_checkable
class _OofReader(Protocol):
    """A connection with EWS's free/busy and out-of-office settings."""

    name: str

    def free_busy(
        self, mailboxes: Sequence[str], start: datetime, end: datetime, interval: int = 30
    ) -> list[EwsSchedule]: ...

    def out_of_office(self, mailbox: str) -> OutOfOffice: ...


_FREE = PresenceStatus.AVAILABLE
_RANK = {ShowAs.OUT_OF_OFFICE: 4, ShowAs.BUSY: 3, ShowAs.TENTATIVE: 2, ShowAs.WORKING_ELSEWHERE: 1, ShowAs.FREE: 0}
_STATUS = {
    ShowAs.OUT_OF_OFFICE: PresenceStatus.OUT_OF_OFFICE,
    ShowAs.BUSY: PresenceStatus.MEETING,
    ShowAs.TENTATIVE: PresenceStatus.MEETING,
    ShowAs.WORKING_ELSEWHERE: PresenceStatus.AVAILABLE,
    ShowAs.FREE: PresenceStatus.AVAILABLE,
}


def presence(settings: Settings, integration: str, business_user: str, at: datetime | None = None) -> Presence:
    """``business_user``'s presence at ``at`` (aware; default now).

    Raises ``ConfigError`` naming the integration or user when either is unknown, and the connector's error
    (``AuthError``, ``Unavailable``, ``NotFound`` …) when the server cannot answer. Reads only.
    """
    moment = _moment(at)
    view, users = _users(settings, integration)
    user = next((u for u in users if u.business_user == business_user), None)
    if user is None:
        raise ConfigError(f"{business_user!r} is not a user of {integration}", where="users.business_user")
    with synced_calendars(settings, view, [business_user], CollectionKind.EVENTS) as synced:
        connectors = integration_connectors(settings, integration)
        try:
            last = synced.get(business_user, ())
            return presence_on(_events(connectors, integration), user.mailbox, moment, last=last)
        finally:
            connectors.close()


def presences(settings: Settings, integration: str, at: datetime | None = None) -> list[UserPresence]:
    """Every user's presence at ``at``, each computed on its own: one mailbox that fails is a line with its
    error, not a failed list. Raises ``ConfigError`` for an unknown integration."""
    moment = _moment(at)
    view, users = _users(settings, integration)
    with synced_calendars(settings, view, (user.business_user for user in users), CollectionKind.EVENTS) as synced:
        connectors = integration_connectors(settings, integration)
        try:
            events = _events(connectors, integration)
            return [_one(events, user, moment, synced.get(user.business_user, ())) for user in users]
        finally:
            connectors.close()


def presence_on(connector: Connector, mailbox: str, at: datetime, *, last: Iterable[str] = ()) -> Presence:
    """``mailbox``'s presence at ``at`` read through ``connector``: out-of-office settings and free/busy where the
    connection has them, the mailbox's calendar otherwise (``last``: those the user's pair synced, latest first,
    the first still listed and fit read, as the sync keeps to it)."""
    if isinstance(connector, _RepliesReader):
        return _from_graph(connector, mailbox, at)
    if isinstance(connector, _OofReader):
        return _from_ews(connector, mailbox, at)
    return _from_calendar(connector, mailbox, at, last)


def _one(connector: Connector, user: UserView, at: datetime, last: Iterable[str]) -> UserPresence:
    try:
        return UserPresence(user.business_user, user.mailbox, presence_on(connector, user.mailbox, at, last=last))
    except CalsyncError as exc:
        logger.warning("presence of %s (%s): %s", user.business_user, user.mailbox, exc)
        return UserPresence(user.business_user, user.mailbox, error=" ".join(str(exc).split()))


def _users(settings: Settings, integration: str) -> tuple[IntegrationView, list[UserView]]:
    with open_integrations(settings) as service:
        return service.get(integration), service.users(integration)


def _events(connectors: IntegrationConnectors, integration: str) -> Connector:
    if connectors.events is None:
        raise ConfigError(f"{integration} keeps no calendars, so it has no presence", where="connection_type")
    return connectors.events


def _moment(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        raise ConfigError("a presence instant needs a time zone", where="at")
    return at


# -- Graph and EWS: out-of-office settings, then free/busy ---------------------------------------------------------


def _from_graph(connector: _RepliesReader, mailbox: str, at: datetime) -> Presence:
    replies = connector.automatic_replies(mailbox)
    if replies.active_at(at):
        return _away(replies.start, replies.end, replies.internal_reply)
    (schedule,) = connector.free_busy([mailbox], at - SPAN, at + SPAN, STEP_MINUTES)
    if schedule.error:
        raise _unreadable(mailbox, schedule.error, connector.name)
    now = [i for i in schedule.items if i.start <= at < i.end]
    if now:
        top = max(now, key=lambda i: _RANK[i.status.show_as])
        return _busy(
            top.status.show_as, top.start, top.end, "" if top.private else top.subject, PresenceSource.FREE_BUSY
        )
    if schedule.items:  # the items are exact; slots are rounded to STEP_MINUTES
        return Presence(status=PresenceStatus.AVAILABLE, source=PresenceSource.FREE_BUSY)
    slot = next((s for s in schedule.slots if s.start <= at < s.end), None)
    if slot is None or slot.status.value == "unknown":
        return Presence(status=PresenceStatus.UNKNOWN, source=PresenceSource.FREE_BUSY)
    return Presence(status=_STATUS[slot.status.show_as], source=PresenceSource.FREE_BUSY)


def _from_ews(connector: _OofReader, mailbox: str, at: datetime) -> Presence:
    oof = connector.out_of_office(mailbox)
    if oof.active(at):
        return _away(oof.start, oof.end, oof.internal_reply)
    (schedule,) = connector.free_busy([mailbox], at - SPAN, at + SPAN, STEP_MINUTES)
    if schedule.problem:
        raise _unreadable(mailbox, schedule.problem, connector.name)
    now = [b for b in schedule.busy if b.start <= at < b.end]
    if not now and any(start <= at < end for start, end in schedule.no_data):
        return Presence(status=PresenceStatus.UNKNOWN, source=PresenceSource.FREE_BUSY)  # Exchange has no data
    if not now:
        return Presence(status=PresenceStatus.AVAILABLE, source=PresenceSource.FREE_BUSY)
    top = max(now, key=lambda b: _RANK[b.show_as])
    return _busy(top.show_as, top.start, top.end, "", PresenceSource.FREE_BUSY)  # EWS free/busy names no subject


def _away(start: datetime | None, end: datetime | None, reply: str) -> Presence:
    """An active out-of-office reply; ``since``/``until`` only for a scheduled one."""
    return Presence(
        status=PresenceStatus.OUT_OF_OFFICE,
        since=start,
        until=end,
        out_of_office_text=plain_text(reply),
        source=PresenceSource.AUTOMATIC_REPLIES,
    )


def _busy(show_as: ShowAs, start: datetime, end: datetime, subject: str, source: PresenceSource) -> Presence:
    """The presence an item in progress gives: its subject for a meeting, its text for out of office."""
    status = _STATUS[show_as]
    if status is PresenceStatus.AVAILABLE:
        return Presence(status=status, source=source)
    if status is PresenceStatus.OUT_OF_OFFICE:
        return Presence(status=status, since=start, until=end, out_of_office_text=subject, source=source)
    return Presence(status=status, since=start, until=end, subject=subject, source=source)


def _unreadable(mailbox: str, why: str, connector: str) -> CalsyncError:
    """A mailbox the server would not give free/busy for: gone (``NotFound``) or not now (``Unavailable``)."""
    if "notfound" in why.replace(" ", "").lower():
        return NotFound(f"{mailbox}: {why}", connector=connector)
    return Unavailable(f"{mailbox}: free/busy not available: {why}", connector=connector)


# -- any other calendar: the occurrences in progress ---------------------------------------------------------------


def _from_calendar(connector: Connector, mailbox: str, at: datetime, last: Iterable[str]) -> Presence:
    collection = existing_user_collection(connector, mailbox, CollectionKind.EVENTS, last=last)
    if collection is None:  # no calendar yet, so nothing in it: never made just to be read
        return Presence(status=PresenceStatus.AVAILABLE, source=PresenceSource.CALENDAR)
    window = Window((at - CALENDAR_SPAN).astimezone(UTC), (at + CALENDAR_SPAN).astimezone(UTC))
    now = [n for n in _in_progress(connector, collection, window, at) if _STATUS[n[0].show_as] is not _FREE]
    if not now:
        return Presence(status=PresenceStatus.AVAILABLE, source=PresenceSource.CALENDAR)
    item, start, end = max(now, key=lambda n: _RANK[n[0].show_as])
    secret = item.sensitivity in (Sensitivity.PRIVATE, Sensitivity.CONFIDENTIAL)
    return _busy(item.show_as, start, end, "" if secret else item.title, PresenceSource.CALENDAR)


def _in_progress(
    connector: Connector, collection: str, window: Window, at: datetime
) -> Iterator[tuple[Item, datetime, datetime]]:
    """The occurrences (not cancelled) going on at ``at``, with their start and end as instants; a series that
    cannot be expanded is logged and left out."""
    for item in _items(connector, collection, window):
        try:
            found = occurrences(item, window.start, window.end)
        except InvalidItem as exc:
            logger.info("presence: skipped %s in %s: %s", item.uid, collection, exc)
            continue
        for one in found:
            span = _span(one, at)
            if span is not None and span[0] <= at < span[1] and one.status.upper() != "CANCELLED":
                yield one, *span


def _items(connector: Connector, collection: str, window: Window) -> Iterator[Item]:
    """The collection's items overlapping ``window``, fetched in the connector's batches; an unreadable item is
    logged and left out (one bad file must not hide a user's presence)."""
    refs = [ref.href for ref in connector.list(collection, window)]
    step = max(connector.capabilities.max_batch, 1)
    for lo in range(0, len(refs), step):
        for got in connector.get(collection, refs[lo : lo + step]):
            if not isinstance(got, Fetched):
                logger.info("presence: skipped %s in %s: %s", got.href, collection, got.error)
                continue
            try:
                yield got.content.item
            except CalsyncError as exc:
                logger.info("presence: skipped %s in %s: %s", got.ref.href, collection, exc)


def _span(item: Item, at: datetime) -> tuple[datetime, datetime] | None:
    """An occurrence's start and end as instants; dates and floating times are read in ``at``'s zone (all-day
    items cover whole days there)."""
    if item.start is None:
        return None
    start = _instant(item.start, at)
    if item.end is not None:
        return start, _instant(item.end, at)
    if not isinstance(item.start, datetime):
        return start, _instant(item.start + timedelta(days=1), at)
    return start, start


def _instant(moment: Moment, at: datetime) -> datetime:
    if not isinstance(moment, datetime):
        return datetime(moment.year, moment.month, moment.day, tzinfo=at.tzinfo)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=at.tzinfo)


# -- reply text -----------------------------------------------------------------------------------------------------


class _Text(HTMLParser):
    """The text of an HTML fragment: tags dropped, entities decoded, one line per block, scripts and styles out."""

    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"})
    _HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: Sequence[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self._hidden:
            self._hidden -= 1
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def plain_text(reply: str) -> str:
    """An out-of-office reply as plain text: Exchange and Graph keep it as HTML, a business system shows text."""
    if "<" not in reply and "&" not in reply:
        return reply.strip()
    parser = _Text()
    parser.feed(reply)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(_squeeze(lines)).strip()


def _squeeze(lines: Iterable[str]) -> Iterator[str]:
    """Lines without runs of blank ones."""
    blank = True
    for line in lines:
        if line or not blank:
            yield line
        blank = not line
