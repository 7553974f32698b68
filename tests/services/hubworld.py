"""A small hub for tests: one integration with two technicians, a real SQLite state database, and memory
calendars standing in for the calendar server (the sync through real servers is tested per connector)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from calsync.config import Settings, StateSettings
from calsync.connectors.memory import MemoryConnector
from calsync.model.content import Content
from calsync.model.ical import ical_to_item
from calsync.model.item import Attendee, BusinessExtras, Item, ItemKind, Person, Sensitivity
from calsync.services.connections import IntegrationConnectors
from calsync.services.hub import BusinessItem, HubService, ItemResult, open_hub
from calsync.services.hub_sync import IntegrationRun, sync_integration
from calsync.services.integrations import IntegrationInput, UserPatch, open_integrations
from calsync.state.store import JobKind

TOMORROW = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)


def event(
    title: str = "Service visit",
    *,
    kind: ItemKind = ItemKind.EVENT,
    start: datetime | date | None = None,
    hours: float = 1,
    **fields: Any,
) -> Item:
    """A business item starting tomorrow at nine (UTC) unless told otherwise."""
    begin = start if start is not None else TOMORROW
    end = begin + timedelta(hours=hours) if isinstance(begin, datetime) else begin + timedelta(days=1)
    return Item(uid="", kind=kind, title=title, start=begin, end=end, **fields)


@dataclass
class HubWorld:
    """The integration ``acme`` with users ``tech1`` and ``tech2`` (mailboxes ``tech1@…``/``tech2@…``)."""

    settings: Settings
    calendars: MemoryConnector
    tasks: MemoryConnector
    contacts: MemoryConnector

    @property
    def connectors(self) -> IntegrationConnectors:
        return IntegrationConnectors(self.calendars, self.tasks, self.contacts)

    def hub(self) -> Iterator[HubService]:
        return open_hub(self.settings)  # type: ignore[return-value]

    def push(self, *items: tuple[str, str, Item], priority_level: str = "") -> list[ItemResult]:
        """Put ``(business id, user, item)`` items through the hub service."""
        with open_hub(self.settings) as hub:
            return hub.put_items("acme", [BusinessItem(b, u, i, priority_level) for b, u, i in items])

    def delete(self, *business_ids: str) -> None:
        with open_hub(self.settings) as hub:
            hub.delete_items("acme", list(business_ids))

    def sync(self, *, full: bool = True, users: Sequence[str] | None = None, **options: Any) -> IntegrationRun:
        run = sync_integration(self.settings, "acme", kind=JobKind.MANUAL, full=full, users=users,
                               connectors=self.connectors, **options)  # fmt: skip
        failed = [o for o in run.outcomes if o.failed]
        assert not failed, [(o.name, o.message) for o in failed]
        return run

    def calendar(self, user: str, store: MemoryConnector | None = None) -> dict[str, Item]:
        """The items in a technician's calendar, by title."""
        source = store or self.calendars
        try:
            texts = source.texts(f"{user}@acme.test")
        except Exception:
            return {}
        items = [ical_to_item(t) for t in texts.values()]
        return {i.title: i for i in items}

    def href(self, user: str, title: str) -> str:
        texts = self.calendars.texts(f"{user}@acme.test")
        return next(h for h, t in texts.items() if ical_to_item(t).title == title)

    def edit(self, user: str, current: str, /, **changes: Any) -> None:
        """Edit an item in a technician's calendar as their client would."""
        href = self.href(user, current)
        item = ical_to_item(self.calendars.texts(f"{user}@acme.test")[href])
        self.calendars.put_raw(f"{user}@acme.test", href, Content.from_item(replace(item, **changes)).text)

    def remove(self, user: str, title: str, /) -> None:
        self.calendars.remove_raw(f"{user}@acme.test", self.href(user, title))

    def add_in_calendar(self, user: str, item: Item) -> None:
        self.calendars.put_raw(f"{user}@acme.test", f"{item.uid}.ics", Content.from_item(item).text)

    def set_user(self, user: str, **flags: bool) -> None:
        with open_integrations(self.settings) as service:
            service.update_user("acme", user, UserPatch(**flags))

    def set_rules(self, data: dict[str, Any]) -> None:
        with open_hub(self.settings) as hub:
            hub.set_rules("acme", data)

    def business_row(self, business_id: str) -> Any:
        with open_hub(self.settings) as hub:
            return hub.store.rows("acme", [business_id])[business_id]

    def business(self, business_id: str) -> Item:
        with open_hub(self.settings) as hub:
            return hub.item("acme", business_id).item


def make_world(tmp_path: Path, *, two_way: bool = True, state_url: str | None = None) -> HubWorld:
    """The integration and its two users in a fresh state database."""
    settings = Settings(tmp_path / "calsync.toml", StateSettings(state_url or str(tmp_path / "state.db")))
    with open_integrations(settings) as service:
        service.add(IntegrationInput(name="acme", company="ACME", connection_type="folder",
                                     url=str(tmp_path / "cal"), two_way=two_way,
                                     appointment_activity="VISIT", task_activity="TODO"))  # fmt: skip
        for user in ("tech1", "tech2"):
            service.add_user("acme", user, f"{user}@acme.test")
    return HubWorld(settings, MemoryConnector("calendar"), MemoryConnector("tasks"), MemoryConnector("contacts"))


def meeting(title: str, uid: str) -> Item:
    """A meeting with an attendee, as a technician's client creates it."""
    return replace(
        event(title),
        uid=uid,
        organizer=Person("tech1@acme.test"),
        attendees=(Attendee(Person("customer@example.com")),),
    )


def private(item: Item) -> Item:
    return replace(item, sensitivity=Sensitivity.PRIVATE)


def flagged(item: Item) -> Item:
    return replace(item, extras=replace(item.extras, sync_flag=True))


__all__ = ["BusinessExtras", "HubWorld", "event", "flagged", "make_world", "meeting", "private"]
