"""End to end: python-caldav plays the user's phone on a real server while calsync syncs a memory side two-way.

The phone creates, edits, moves and deletes events and tasks between runs; the business side changes too. After
every run both sides hold each item exactly once with the same content, and a rerun with no change writes
nothing (DESIGN.md invariants 1 and 2).
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import caldav
import pytest

from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.memory import MemoryConnector
from calsync.model.canonical import scan
from calsync.state.sql import SQLStore, open_store
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from calsync.sync.report import Report
from tests.connectors.dav.servers import Server
from tests.samples import event, task

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


class World:
    """A business side in memory, a calendar on the server, the phone's view of it, and the state store."""

    def __init__(self, server: Server, state: Path) -> None:
        self.collection = f"e2e-{uuid.uuid4().hex[:8]}"
        self.dav = CalDavConnector(server.calendar_home, username=server.username, password=server.password)
        self.dav.create_calendar(self.collection, "End to end", "#3366ccff")
        self.business = MemoryConnector("business")
        self.business.make_collection("cal")
        self.store: SQLStore = open_store(str(state))
        phone = caldav.DAVClient(url=server.url, username=server.username or None, password=server.password or None)
        self.phone = phone.calendar(url=self.dav.collection_url(self.collection))
        self.spec = PairSpec(self.collection, Endpoint(self.business, "cal"), Endpoint(self.dav, self.collection))

    def sync(self) -> Report:
        report = sync_pair(self.spec, self.store, RunOptions(now=NOW))
        assert not [line for line in report.lines if line.outcome == "error"], report.lines
        return report

    def server_titles(self) -> Counter[tuple[str, str]]:
        refs = self.dav.list(self.collection, None)
        return Counter(
            (r.content.ident, r.content.facts.title)
            for r in self.dav.get(self.collection, [ref.href for ref in refs])
            if not hasattr(r, "error")
        )

    def business_titles(self) -> Counter[tuple[str, str]]:
        return Counter((scan(t).facts.ident, scan(t).facts.title) for t in self.business.texts("cal").values())

    def assert_in_step(self) -> None:
        on_server, in_business = self.server_titles(), self.business_titles()
        assert on_server == in_business
        assert all(n == 1 for n in Counter(ident for ident, _ in on_server.elements()).values()), on_server
        assert self.sync().writes == 0  # a no-change rerun writes nothing


@pytest.fixture
def world(dav_server: Server, tmp_path: Path) -> World:
    return World(dav_server, tmp_path / "state.sqlite")


def test_phone_and_business_edits_converge(world: World) -> None:
    for i in range(3):
        world.business.put_raw("cal", f"b{i}.ics", event(f"b{i}", f"Visit {i}"))
    world.business.put_raw("cal", "bt.ics", task("bt", "Order parts"))
    world.phone.save_event(event("p1", "Dentist", day="20261126"))
    world.phone.save_todo(task("pt", "Buy milk"))
    first = world.sync()
    assert first.b.created == 4 and first.a.created == 2
    world.assert_in_step()

    world.phone.object_by_uid("b0").delete()  # the user deletes a business visit on the phone
    moved = world.phone.object_by_uid("b1")
    moved.data = event("b1", "Visit 1", day="20261127", start="140000", end="150000")  # dragged to another day
    moved.save()
    edited = world.phone.object_by_uid("bt")
    edited.data = task("bt", "Order parts (urgent)")
    edited.save()
    world.phone.save_event(event("p2", "Lunch", day="20261124"))
    world.business.put_raw("cal", "b3.ics", event("b3", "New visit", day="20261125"))
    world.business.put_raw("cal", "b2.ics", event("b2", "Visit 2 rescheduled"))
    second = world.sync()
    assert (second.a.deleted, second.a.updated, second.a.created) == (1, 2, 1)
    assert (second.b.created, second.b.updated) == (1, 1)
    world.assert_in_step()
    assert ("b1", "Visit 1") in world.business_titles()
    assert "DTSTART;TZID=Europe/Berlin:20261127T140000" in world.business.texts("cal")["b1.ics"]

    world.phone.object_by_uid("pt").delete()
    world.business.remove_raw("cal", "b2.ics")
    third = world.sync()
    assert (third.a.deleted, third.b.deleted) == (1, 1)
    world.assert_in_step()
    assert {ident for ident, _ in world.server_titles()} == {"b1", "b3", "bt", "p1", "p2"}
