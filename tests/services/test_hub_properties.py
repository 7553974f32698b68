"""Property test of the hub: the business system pushes, deletes and reassigns items, technicians edit and delete
them in their calendars, an admin moves a technician to another mailbox and back, syncs crash half-way; after
every clean sync nothing is duplicated or lost.

A hypothesis state machine over the real hub: the business store and the sync state in one SQLite database,
the technicians' calendars in memory stores that rewrite what they store (as real servers do) and that can
"crash" the process right after a write reached them, before calsync recorded it.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from calsync.connectors.memory import MemoryConnector
from calsync.model.content import Content
from calsync.model.ical import ical_to_item
from calsync.model.item import ItemKind
from calsync.model.refs import ItemRef
from calsync.services.hub import BusinessItem, open_hub
from calsync.services.hub_sync import JobKind, sync_integration
from calsync.services.integrations import UserPatch, open_integrations
from tests.services.hubworld import event, make_world
from tests.sync.test_properties import SimulatedCrash, server_rewrite

IDS = ("B1", "B2", "B3")
TECHS = ("tech1", "tech2")
_worlds = itertools.count()
_root: list[Path] = []


class CrashingCalendar(MemoryConnector):
    """A memory calendar whose next ``crash_after``-th write lands and then kills the process."""

    crash_after: int | None = None

    def _landed(self) -> None:
        if self.crash_after is not None:
            self.crash_after -= 1
            if self.crash_after <= 0:
                self.crash_after = None
                raise SimulatedCrash

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        ref = super().create(collection, content, key)
        self._landed()
        return ref

    def update(self, collection: str, ref: ItemRef, content: Content) -> ItemRef:
        done = super().update(collection, ref, content)
        self._landed()
        return done

    def delete(self, collection: str, ref: ItemRef) -> None:
        super().delete(collection, ref)
        self._landed()


class HubMachine(RuleBasedStateMachine):
    """One integration, two technicians, three business ids; the model is the business side's own view."""

    def __init__(self) -> None:
        super().__init__()
        self.world = make_world(_root[0] / f"w{next(_worlds)}")
        self.world.calendars = CrashingCalendar("calendar", rewrite=server_rewrite)
        self.owner: dict[str, str] = {}
        self.version = itertools.count(1)
        self.mailbox = {tech: f"{tech}@acme.test" for tech in TECHS}
        self.edited: set[str] = set()
        """Business ids a technician edited since the last clean sync: a deletion in the business system then
        meets an edit it has not seen, which brings the item back (the edit is kept)."""
        self.deleted: set[str] = set()
        """Business ids the business side deleted that nothing may bring back: no edit met the deletion."""

    # -- the business system -------------------------------------------------------------------------------

    @rule(business_id=st.sampled_from(IDS), tech=st.sampled_from(TECHS), assignment=st.booleans())
    def business_puts(self, business_id: str, tech: str, assignment: bool) -> None:
        kind = ItemKind.ASSIGNMENT if assignment else ItemKind.EVENT
        if business_id in self.owner and self._row(business_id).kind != kind.value:
            kind = ItemKind(self._row(business_id).kind)  # an item's kind stays what it was
        item = event(f"{business_id} v{next(self.version)}", kind=kind)
        with open_hub(self.world.settings) as hub:
            (result,) = hub.put_items("acme", [BusinessItem(business_id, tech, item)])
        assert result.status in ("created", "updated", "unchanged"), result
        self.owner[business_id] = tech
        self.deleted.discard(business_id)

    @rule(business_id=st.sampled_from(IDS))
    def business_deletes(self, business_id: str) -> None:
        if business_id in self.owner and business_id not in self.edited:
            self.deleted.add(business_id)
        self.world.delete(business_id)

    # -- the technicians -------------------------------------------------------------------------------------

    @rule(tech=st.sampled_from(TECHS), pick=st.integers(0, 5), delete=st.booleans())
    def technician_changes(self, tech: str, pick: int, delete: bool) -> None:
        hrefs = sorted(self._texts(tech))
        if not hrefs:
            return
        href = hrefs[pick % len(hrefs)]
        if delete:
            self.world.calendars.remove_raw(self.mailbox[tech], href)
            return
        item = ical_to_item(self._texts(tech)[href])
        business_id = item.uid.partition("@")[0]
        self.edited.add(business_id)
        self.deleted.discard(business_id)  # an edit the deletion has not met: the next sync keeps it
        edited = replace(item, title=f"{item.title} edited{next(self.version)}")
        self.world.calendars.put_raw(self.mailbox[tech], href, Content.from_item(edited).text)

    @rule()
    def admin_moves_tech1(self) -> None:
        """tech1 changes mailbox, and back the next time: the earlier mailbox still holds the copies calsync
        made there, some of items the business side deleted, edited or reassigned since."""
        moved = "tech1-alt@acme.test" if self.mailbox["tech1"] == "tech1@acme.test" else "tech1@acme.test"
        with open_integrations(self.world.settings) as service:
            service.update_user("acme", "tech1", UserPatch(mailbox=moved))
        self.mailbox["tech1"] = moved

    # -- syncs -----------------------------------------------------------------------------------------------

    @rule(after=st.integers(1, 4))
    def sync_that_crashes(self, after: int) -> None:
        self.world.calendars.crash_after = after
        try:
            self._sync()
        except SimulatedCrash:
            pass
        finally:
            self.world.calendars.crash_after = None

    @rule()
    def clean_sync(self) -> None:
        self._sync()
        self._sync()  # a change one pair made (a reassignment) is picked up by the other
        before = self.world.calendars.writes
        self._sync()
        assert self.world.calendars.writes == before, "a rerun with no change wrote to a calendar"
        self._check_agreement()
        self.edited.clear()
        with open_hub(self.world.settings) as hub:
            back = [i for i, row in hub.store.rows("acme", sorted(self.deleted)).items() if not row.deleted]
        assert not back, f"deleted by the business side, and back: {back}"

    def _sync(self) -> None:
        sync_integration(  # the technicians' deletions are meant (a calendar found empty is held otherwise)
            self.world.settings,
            "acme",
            kind=JobKind.MANUAL,
            full=True,
            allow_mass_delete=True,
            connectors=self.world.connectors,
        )

    # -- invariants ------------------------------------------------------------------------------------------

    @invariant()
    def no_calendar_holds_an_item_twice(self) -> None:
        """At every step, even after a crash: no calendar holds two copies of one item. (An item the business side
        moves to another technician may sit in both calendars between the two pairs' runs; a clean sync settles
        it, which ``_check_agreement`` checks.)"""
        for tech in TECHS:
            uids = [Content.from_text(text).ident for text in self._texts(tech).values()]
            assert len(uids) == len(set(uids)), f"{tech} holds an item twice: {sorted(uids)}"

    def _check_agreement(self) -> None:
        """After clean syncs: every live business item is in its owner's calendar with the same title, and
        every calendar item is a live business item of that technician."""
        with open_hub(self.world.settings) as hub:
            rows = (
                hub.store.collection("acme", "tech1", "events")[0] + hub.store.collection("acme", "tech2", "events")[0]
            )
        business = {row.uid: (row.owner, Content.from_text(row.content).facts.title) for row in rows}
        calendars: dict[str, tuple[str, str]] = {}
        for tech in TECHS:
            for text in self._texts(tech).values():
                facts = Content.from_text(text).facts
                assert facts.ident not in calendars, f"{facts.ident} is in {calendars[facts.ident][0]} and {tech}"
                calendars[facts.ident] = (tech, facts.title)
        assert calendars == business

    def _texts(self, tech: str) -> dict[str, str]:
        try:
            return self.world.calendars.texts(self.mailbox[tech])
        except Exception:
            return {}

    def _row(self, business_id: str) -> Any:
        with open_hub(self.world.settings) as hub:
            return hub.store.rows("acme", [business_id])[business_id]


@pytest.fixture(autouse=True)
def _root_dir(tmp_path: Path) -> None:
    _root[:] = [tmp_path]


HubMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("CALSYNC_PROPERTY_EXAMPLES", "25")),
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TestHub = HubMachine.TestCase


def test_the_machine_catches_a_deleted_item_brought_back_by_a_move_back() -> None:
    """The steps of one run of the machine that a move back to an earlier mailbox once failed: the copy of an
    item deleted meanwhile was imported into the business system again."""
    machine = HubMachine()
    machine.business_puts("B1", "tech1", assignment=False)
    machine.clean_sync()
    machine.admin_moves_tech1()
    machine.clean_sync()
    machine.business_deletes("B1")
    machine.clean_sync()
    machine.admin_moves_tech1()
    machine.clean_sync()
    machine.teardown()
