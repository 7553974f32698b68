"""The EWS connector: the default calendar of each mapped mailbox is one collection, named by its address.

The sync loop, keyed creates and guarded writes are ``folders.FolderConnector``'s. Calendars add:

- ``list`` over a window: FindItem with a CalendarView (occurrences map to their series master through
  RecurringMasterItemId); without a window, every item.
- series: modified and deleted occurrences are read with the master and written after it (``series``).
- meetings organised by someone else are never changed (``ReadOnly``); attendees are never written.
- the mailbox is opened by ApplicationImpersonation or as a delegate, as the settings say (``session``), and
  ``tasks()`` and ``contacts()`` reach the same mailboxes' task and contact folders through the same session.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from exchangelib import CalendarItem, EWSDateTime
from exchangelib.properties import RecurringMasterItemId

from calsync.connectors.base import ConnectionReport
from calsync.connectors.ews import availability, checks, convert, notifications, series
from calsync.connectors.ews.addressbook import EwsContactsConnector
from calsync.connectors.ews.cache import AutodiscoverCache, MemoryAutodiscoverCache
from calsync.connectors.ews.folders import IDS, FolderConnector, Kind
from calsync.connectors.ews.props import KEY
from calsync.connectors.ews.session import Session
from calsync.connectors.ews.settings import EwsSettings
from calsync.connectors.ews.tasks import EwsTasksConnector
from calsync.errors import NotFound, ReadOnly
from calsync.model.item import Item
from calsync.model.refs import ItemRef
from calsync.model.window import Window

Schedules = list[availability.Schedule]

EVENTS = Kind(
    folder="calendar",
    item_class=CalendarItem,
    components=frozenset({"VEVENT"}),
    to_fields=convert.to_fields,
    from_exchange=convert.from_exchange,
    project=series.projection,
)


class EwsConnector(FolderConnector):
    """Calendars of the mailboxes one Exchange service account may open."""

    kind = EVENTS
    filters_window = True

    def __init__(
        self,
        name: str = "ews",
        *,
        settings: EwsSettings,
        mailboxes: Sequence[str] = (),
        read_only: bool = False,
        cache: AutodiscoverCache | None = None,
    ) -> None:
        session = Session(settings, cache or MemoryAutodiscoverCache(), name)
        super().__init__(name, session, mailboxes, read_only=read_only)

    def list(self, collection: str, window: Window | None) -> builtins.list[ItemRef]:
        """Items overlapping ``window`` (a series when any occurrence does), or every item for ``None``."""
        if window is None:
            return super().list(collection, None)
        folder = self._folder(collection)
        start, end = EWSDateTime.from_datetime(window.start), EWSDateTime.from_datetime(window.end)
        seen = self._call(lambda: builtins.list(folder.view(start=start, end=end).only("id", "changekey", "type")))
        singles = {i.id: ItemRef(i.id, i.changekey) for i in seen if i.type not in ("Occurrence", "Exception")}
        occurrences = [i for i in seen if i.type in ("Occurrence", "Exception")]
        if occurrences:
            account = self._account(collection)
            ids = [RecurringMasterItemId(id=i.id, changekey=i.changekey) for i in occurrences]
            masters = self._call(lambda: builtins.list(account.fetch(ids=ids, only_fields=IDS)))
            singles.update({m.id: ItemRef(m.id, m.changekey) for m in masters if not isinstance(m, Exception)})
        return builtins.list(singles.values())

    # -- beyond calendars ---------------------------------------------------------------------------------------

    def tasks(self) -> EwsTasksConnector:
        """The Tasks folders of the same mailboxes, through this connection's session."""
        return EwsTasksConnector(self.name, self.session, self.mailboxes, read_only=self.capabilities.read_only)

    def contacts(self) -> EwsContactsConnector:
        """The Contacts folders of the same mailboxes, through this connection's session."""
        return EwsContactsConnector(self.name, self.session, self.mailboxes, read_only=self.capabilities.read_only)

    def check_connection(self, principals: Sequence[str] = ()) -> ConnectionReport:
        """The server (its version), then each of ``principals`` (mailboxes), one plain line each (``checks``)."""
        return checks.check_connection(self, principals)

    def free_busy(self, mailboxes: Sequence[str], start: datetime, end: datetime, interval: int = 30) -> Schedules:
        """The free/busy of ``mailboxes`` over ``[start, end)`` (GetUserAvailability)."""
        account = self._account(self.mailboxes[0] if self.mailboxes else mailboxes[0])
        return self._call(lambda: availability.schedules(account, mailboxes, start, end, interval))

    def out_of_office(self, mailbox: str) -> availability.OutOfOffice:
        """The mailbox's automatic-replies setting (GetUserOofSettings)."""
        account = self._account(mailbox)
        return self._call(lambda: availability.out_of_office(account), mailbox)

    def subscribe(self, collection: str) -> notifications.Subscription:
        """A pull subscription on the collection's calendar (see ``notifications``)."""
        folder = self._folder(collection)
        return self._call(lambda: notifications.subscribe(folder, collection))

    def poll(self, subscription: notifications.Subscription) -> notifications.Events:
        """What happened since the subscription's watermark; ``NotFound`` when Exchange dropped it."""
        folder = self._folder(subscription.collection)
        return self._call(lambda: notifications.poll(folder, subscription))

    def unsubscribe(self, subscription: notifications.Subscription) -> None:
        """End a pull subscription; one Exchange already dropped is no error."""
        folder = self._folder(subscription.collection)
        with contextlib.suppress(NotFound):
            self._call(lambda: notifications.unsubscribe(folder, subscription))

    # -- calendar hooks -----------------------------------------------------------------------------------------

    def _normalised(self, item: Item) -> Item:
        return series.normalised(item)

    def _complete(self, collection: str, found: Any, item: Item) -> Item:
        if not item.is_recurring:
            return item
        account = self._account(collection)
        return self._call(lambda: series.read(account, found, item))

    def _finish(self, collection: str, ref: ItemRef, item: Item) -> ItemRef:
        """Apply a series' deleted and modified occurrences, then the master's change key after them."""
        if item.recurrence is None or not (item.recurrence.exdates or item.overrides):
            return ref
        account = self._account(collection)
        return self._call(lambda: series.write(account, ref, item), ref.href)

    def _current_fields(self) -> tuple[str, ...]:
        return (*IDS, KEY, "is_meeting", "my_response_type", "organizer")

    def _current(self, collection: str, ref: ItemRef) -> Any:
        """The item at ``ref``, refusing a stale change key and meetings organised by someone else."""
        found = super()._current(collection, ref)
        if found.is_meeting and found.my_response_type not in (None, "Organizer"):
            who = found.organizer.email_address if found.organizer is not None else "someone else"
            raise ReadOnly(
                f"a meeting organised by {who}: calsync never changes it", connector=self.name, href=ref.href
            )
        return found
