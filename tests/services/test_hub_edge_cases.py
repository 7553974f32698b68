"""The hub where rules meet each other: rejections after the guard calmed down, meetings the business side edits
or deletes, one meeting in two calendars, assignments edited and reassigned at once, what the export hid, and a
calendar item that cannot be read."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from calsync.model.content import Content
from calsync.model.item import Body, ItemKind, TaskInfo
from calsync.model.refs import Side
from calsync.services.hub import BusinessItem, open_hub
from calsync.services.hub_sync import IntegrationRun, held_deletions
from calsync.state.business_port import Change
from calsync.state.store import ItemLine, JobKind
from calsync.sync.actions import Written
from tests.services.hubworld import TOMORROW, HubWorld, event, make_world, meeting


@pytest.fixture
def world(tmp_path: Path) -> HubWorld:
    return make_world(tmp_path)


def test_rejecting_held_deletions_restores_them_even_when_the_guard_would_no_longer_hold_them(world: HubWorld) -> None:
    world.push(*[(f"A{n}", "tech1", event(f"Visit {n}")) for n in range(10)])
    world.sync()
    for n in range(6):
        world.remove("tech1", f"Visit {n}")
    world.sync()  # 6 of 10: held
    world.push(*[(f"N{n}", "tech1", event(f"New {n}")) for n in range(6)])  # now 6 of 16 would not trip
    world.sync(reject_mass_delete=True)
    assert not any(world.business_row(f"A{n}").deleted for n in range(10))
    assert {f"Visit {n}" for n in range(10)} <= set(world.calendar("tech1"))


def test_a_calendar_meeting_edited_or_deleted_by_the_business_side_stays_as_it_is_in_the_calendar(
    world: HubWorld,
) -> None:
    world.add_in_calendar("tech1", meeting("Team meeting", "meet-1"))
    world.sync()
    with world.hub() as hub:  # type: ignore[attr-defined]
        (entry,) = hub.feed("acme")
        hub.put_items("acme", [BusinessItem(entry.business_id, "tech1", event("Renamed by the ERP"))])
    assert world.business(entry.business_id).attendees  # the API cannot name attendees: they are kept
    world.sync()
    kept = world.calendar("tech1")
    assert "Team meeting" in kept and kept["Team meeting"].attendees
    world.delete(entry.business_id)
    world.sync()
    assert "Team meeting" in world.calendar("tech1")


def test_one_meeting_in_two_technicians_calendars_is_two_business_items(world: HubWorld) -> None:
    world.add_in_calendar("tech1", meeting("Planning", "shared-meeting"))
    world.add_in_calendar("tech2", meeting("Planning", "shared-meeting"))
    run = world.sync()
    problems = [line for o in run.outcomes if o.report for line in o.report.lines if line.outcome != "done"]
    assert problems == []
    with world.hub() as hub:  # type: ignore[attr-defined]
        created = [e for e in hub.feed("acme") if e.change is Change.CREATED]
    assert sorted(e.owner for e in created) == ["tech1", "tech2"]
    assert len({e.business_id for e in created}) == 2
    again = world.sync()
    assert all(o.report is not None and o.report.writes == 0 for o in again.outcomes)


def test_an_assignment_edited_in_the_calendar_then_reassigned_moves_with_the_business_side(world: HubWorld) -> None:
    world.push(("AS1", "tech1", event("Repair", kind=ItemKind.ASSIGNMENT)))
    world.sync()
    world.edit("tech1", "Repair", location="Edited by tech1")
    world.push(("AS1", "tech2", event("Repair", kind=ItemKind.ASSIGNMENT)))
    world.sync()
    world.sync()
    assert "Repair" not in world.calendar("tech1")
    assert "Repair" in world.calendar("tech2")


def test_an_assignment_edited_in_the_calendar_then_deleted_by_the_business_side_is_gone(world: HubWorld) -> None:
    world.push(("AS1", "tech1", event("Repair", kind=ItemKind.ASSIGNMENT)))
    world.sync()
    world.edit("tech1", "Repair", location="Edited by tech1")
    world.delete("AS1")
    world.sync()
    assert "Repair" not in world.calendar("tech1")
    assert world.business_row("AS1").deleted
    with world.hub() as hub:  # type: ignore[attr-defined]
        assert hub.feed("acme") == []


def test_a_calendar_edit_keeps_what_the_export_hid_html_and_attendees(world: HubWorld) -> None:
    world.set_rules({"mapping": {"enrich_priority": True}})
    rich = replace(event("Visit", priority=1), body=Body("Bring the key", "<p>Bring the <b>key</b></p>"))
    rich = replace(rich, attendees=meeting("x", "y").attendees, organizer=meeting("x", "y").organizer)
    world.push(("A1", "tech1", rich))
    world.sync()
    world.edit("tech1", "Visit", location="Gate 2")
    world.sync()
    back = world.business("A1")
    assert back.location == "Gate 2"
    assert back.body == Body("Bring the key", "<p>Bring the <b>key</b></p>")
    assert back.attendees == rich.attendees and back.organizer == rich.organizer


def test_a_calendar_item_that_cannot_be_read_is_listed_with_its_error_and_the_feed_goes_on(world: HubWorld) -> None:
    from calsync.services.integrations import IntegrationPatch, open_integrations

    with open_integrations(world.settings) as service:  # no mapping at all: imports are stored as they came
        service.update("acme", IntegrationPatch(appointment_activity=""))
    good = Content.from_item(replace(event("Odd"), uid="odd-1")).text
    broken = good.replace("BEGIN:VEVENT\r\n", "BEGIN:VEVENT\r\nPRIORITY:high\r\n", 1)
    world.calendars.put_raw("tech1@acme.test", "odd-1.ics", broken)
    world.add_in_calendar("tech1", replace(event("Fine"), uid="fine-1"))
    world.sync()
    with open_hub(world.settings) as hub:
        feed = hub.feed("acme")
    assert sorted(e.item.item.title for e in feed if e.item) == ["Fine", "Odd"]
    odd = next(e.item for e in feed if e.item and e.item.item.title == "Odd")
    assert "cannot be read" in odd.error


def test_a_calendar_item_that_cannot_be_mapped_is_a_failed_line_of_the_job_and_the_rest_syncs(world: HubWorld) -> None:
    good = Content.from_item(replace(event("Odd"), uid="odd-1")).text
    broken = good.replace("BEGIN:VEVENT\r\n", "BEGIN:VEVENT\r\nPRIORITY:high\r\n", 1)
    world.calendars.put_raw("tech1@acme.test", "odd-1.ics", broken)
    world.add_in_calendar("tech1", replace(event("Fine"), uid="fine-1"))
    run = world.sync()
    lines = [line for o in run.outcomes if o.report for line in o.report.lines]
    assert [(line.outcome, line.title) for line in lines if line.outcome != "done"] == [("error", "Odd")]
    with open_hub(world.settings) as hub:
        assert [e.item.item.title for e in hub.feed("acme") if e.item] == ["Fine"]


def test_held_deletions_wait_for_a_decision_even_when_the_guard_would_no_longer_hold_them(world: HubWorld) -> None:
    world.push(*[(f"A{n}", "tech1", event(f"Visit {n}")) for n in range(10)])
    world.sync()
    for n in range(6):
        world.remove("tech1", f"Visit {n}")
    world.sync()  # 6 of 10: held
    world.push(*[(f"N{n}", "tech1", event(f"New {n}")) for n in range(6)])  # 6 of 16 would not trip any more
    world.sync()
    world.sync()
    assert not any(world.business_row(f"A{n}").deleted for n in range(6)), "a hold lapsed without a decision"
    world.sync(allow_mass_delete=True)
    assert all(world.business_row(f"A{n}").deleted for n in range(6))


def edited_then_reassigned(world: HubWorld) -> None:
    """E1 synced to tech1, edited in tech1's calendar, then reassigned to tech2 by the business side."""
    world.push(("E1", "tech1", event("Inspection")))
    world.sync()
    world.edit("tech1", "Inspection", location="Edited by tech1")
    world.push(("E1", "tech2", event("Inspection")))


def test_an_event_edited_in_the_old_calendar_while_reassigned_moves_without_a_second_business_item(
    world: HubWorld,
) -> None:
    edited_then_reassigned(world)
    world.sync()
    world.sync()
    assert "Inspection" not in world.calendar("tech1")
    assert "Inspection" in world.calendar("tech2")
    with world.hub() as hub:  # type: ignore[attr-defined]
        assert [e for e in hub.feed("acme") if e.change is Change.CREATED] == []


def test_held_deletions_outlast_a_run_that_failed_in_between(world: HubWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed run has no lines: the holds of the run before it still stand (found by a second reading)."""
    from calsync.errors import Unavailable
    from calsync.services.hub_sync import sync_integration
    from calsync.state.store import JobKind

    world.push(*[(f"A{n}", "tech1", event(f"Visit {n}")) for n in range(10)])
    world.sync()
    for n in range(6):
        world.remove("tech1", f"Visit {n}")
    world.sync()  # 6 of 10: held
    with monkeypatch.context() as down:
        down.setattr(world.calendars, "changes", lambda *_: (_ for _ in ()).throw(Unavailable("server down")))
        run = sync_integration(world.settings, "acme", kind=JobKind.MANUAL, full=True, connectors=world.connectors)
        assert any(o.failed for o in run.outcomes)
    world.push(*[(f"N{n}", "tech1", event(f"New {n}")) for n in range(6)])  # 6 of 16 would not trip any more
    world.sync()
    assert not any(world.business_row(f"A{n}").deleted for n in range(6)), "a hold lapsed after a failed run"


def _lines(run: IntegrationRun) -> list[ItemLine]:
    return [line for o in run.outcomes if o.report for line in o.report.lines]


def test_an_item_the_import_gave_the_default_activity_type_is_not_written_back_to_the_calendar(world: HubWorld) -> None:
    world.add_in_calendar("tech1", replace(event("Own visit"), uid="own-1"))
    world.sync()
    writes = world.calendars.writes
    again = world.sync()
    assert world.calendars.writes == writes, [(line.rule, line.side) for line in _lines(again)]
    assert all(o.report is not None and o.report.writes == 0 for o in again.outcomes)


def test_a_calendar_edit_of_an_item_the_import_gave_the_default_activity_type_reaches_the_business_side(
    world: HubWorld,
) -> None:
    world.add_in_calendar("tech1", replace(event("Own visit"), uid="own-1"))
    world.sync()
    world.edit("tech1", "Own visit", location="Edited by tech1")
    run = world.sync()
    assert [line.rule for line in _lines(run) if "conflict" in line.rule] == []
    assert world.calendar("tech1")["Own visit"].location == "Edited by tech1"
    with world.hub() as hub:  # type: ignore[attr-defined]
        (business_id,) = {e.business_id for e in hub.feed("acme")}
    assert world.business(business_id).location == "Edited by tech1"
    assert world.business(business_id).extras.activity_type == "VISIT"


def test_a_crash_right_after_importing_a_calendar_item_settles_without_a_conflict_or_a_write(
    world: HubWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync.services import hub_pairs, hub_sync

    def crash_after_a_business_write(_journal: object, written: Written) -> None:
        if written.action.target is Side.A:
            raise RuntimeError("crash")

    world.add_in_calendar("tech1", replace(event("Own visit"), uid="own-1"))
    with monkeypatch.context() as crashing:
        crashing.setattr(hub_pairs._Journal, "after_write", crash_after_a_business_write)
        run = hub_sync.sync_integration(
            world.settings, "acme", kind=JobKind.MANUAL, full=True, connectors=world.connectors
        )
        assert any(o.failed for o in run.outcomes)
    writes = world.calendars.writes
    after = world.sync()
    assert [line.rule for line in _lines(after) if "conflict" in line.rule] == []
    assert world.calendars.writes == writes
    with world.hub() as hub:  # type: ignore[attr-defined]
        assert [e.change for e in hub.feed("acme")] == [Change.CREATED]
    assert all(o.report is not None and o.report.writes == 0 for o in world.sync().outcomes)


def test_a_meeting_made_in_a_calendar_then_reassigned_stays_in_its_organizers_calendar_unlinked(
    world: HubWorld,
) -> None:
    """The organizer's meeting is never deleted by a reassignment (on Exchange that would cancel it for every
    attendee): the new technician gets the business item as an appointment, the organizer keeps the meeting."""
    world.add_in_calendar("tech1", meeting("Site meeting", "meet-1"))
    world.sync()
    with world.hub() as hub:  # type: ignore[attr-defined]
        (entry,) = hub.feed("acme")
        hub.put_items("acme", [BusinessItem(entry.business_id, "tech2", event("Site meeting"))])
    run = world.sync()
    assert any("kept in this calendar, unlinked" in line.rule for line in _lines(run))
    world.sync()
    kept = world.calendar("tech1")
    assert "Site meeting" in kept and kept["Site meeting"].attendees
    assert "Site meeting" in world.calendar("tech2")
    assert not world.calendar("tech2")["Site meeting"].attendees
    world.edit("tech1", "Site meeting", location="Moved by the organizer")
    world.sync()
    assert world.business(entry.business_id).location != "Moved by the organizer"
    assert world.calendar("tech1")["Site meeting"].location == "Moved by the organizer"


def test_an_event_reassigned_then_deleted_while_edited_in_the_old_calendar_makes_no_second_business_item(
    world: HubWorld,
) -> None:
    edited_then_reassigned(world)
    world.delete("E1")
    world.sync()
    world.sync()
    with world.hub() as hub:  # type: ignore[attr-defined]
        assert [(e.business_id, e.change) for e in hub.feed("acme")] == []
    assert "Inspection" not in world.calendar("tech1")
    assert "Inspection" not in world.calendar("tech2")


def test_removing_a_reassigned_item_from_the_old_calendar_is_journaled_with_the_calendars_version(
    world: HubWorld,
) -> None:
    edited_then_reassigned(world)
    world.sync()
    assert "Inspection" not in world.calendar("tech1")
    with world.hub() as hub:  # type: ignore[attr-defined]
        entries = hub.journal_page("acme", "E1").entries
        removed = [e for e in entries if e.side == "calendar" and e.action is Change.DELETED]
        assert [(e.owner, e.pair) for e in removed] == [("tech2", "acme/tech1/events")]
        assert removed[0].before is not None and "Edited by tech1" in removed[0].before
        restored = hub.restore("acme", removed[0].id)
    assert restored.item.location == "Edited by tech1" and restored.owner == "tech2"


def test_restoring_an_entry_of_another_kind_moves_the_item_back_to_that_kinds_collection(world: HubWorld) -> None:
    """The restored content kept the row's current kind and collection: an event's VEVENT sat in the task list
    as a task, read back as an event, and no sync ever wrote it to the calendar."""
    world.push(("X", "tech1", event("Event X")))
    world.sync()
    with world.hub() as hub:  # type: ignore[attr-defined]
        first = hub.journal_page("acme", "X").entries[-1].id
    task = replace(event("Task X", kind=ItemKind.TASK), start=None, end=None, task=TaskInfo(due=TOMORROW))
    world.push(("X", "tech1", task))
    world.sync()
    assert world.calendar("tech1") == {} and set(world.calendar("tech1", world.tasks)) == {"Task X"}
    with world.hub() as hub:  # type: ignore[attr-defined]
        restored = hub.restore("acme", first)
    assert restored.item.kind is ItemKind.EVENT and restored.owner == "tech1"
    row = world.business_row("X")
    assert (row.kind, row.collection, row.owner) == ("event", "events", "tech1")
    world.sync()
    assert set(world.calendar("tech1")) == {"Event X"} and world.calendar("tech1", world.tasks) == {}


def test_a_calendar_edit_overwritten_by_the_business_side_is_journaled_so_it_can_be_restored(world: HubWorld) -> None:
    world.push(("OL1", "tech1", event("Order line 7", kind=ItemKind.ORDER_LINE)))
    world.sync()
    world.edit("tech1", "Order line 7", location="Edited by tech1")
    world.sync()
    assert world.calendar("tech1")["Order line 7"].location != "Edited by tech1"
    with world.hub() as hub:  # type: ignore[attr-defined]
        (overwritten,) = [e for e in hub.journal_page("acme", "OL1").entries if e.action is Change.UPDATED]
        assert overwritten.side == "calendar"
        assert overwritten.before is not None and "Edited by tech1" in overwritten.before


# -- a side found empty -------------------------------------------------------------------------------------------


def test_the_business_side_cancelling_a_technicians_last_appointments_is_not_held(world: HubWorld) -> None:
    """The business system's deletions are each made as such: a side found empty there is a decision."""
    world.push(("J1", "tech1", event("Job 1")), ("J2", "tech1", event("Job 2")))
    world.sync()
    assert {"Job 1", "Job 2"} <= set(world.calendar("tech1"))
    world.delete("J1", "J2")
    world.sync()
    assert "Job 1" not in world.calendar("tech1") and "Job 2" not in world.calendar("tech1")


def test_the_business_side_reassigning_a_technicians_last_appointments_is_not_held(world: HubWorld) -> None:
    world.push(("J1", "tech1", event("Job 1")), ("J2", "tech1", event("Job 2")))
    world.sync()
    world.push(("J1", "tech2", event("Job 1")), ("J2", "tech2", event("Job 2")))
    world.sync()
    assert {"Job 1", "Job 2"} <= set(world.calendar("tech2"))
    assert "Job 1" not in world.calendar("tech1") and "Job 2" not in world.calendar("tech1")


def test_a_calendar_found_empty_deletes_no_business_appointment_though_it_held_order_lines_too(
    world: HubWorld,
) -> None:
    """Every synced item is gone from tech1's calendar (a server answering empty, say): two appointments are
    fewer than ``min_items``, and the order lines' deletions become re-creates, yet the appointments stay."""
    world.push(
        ("J1", "tech1", event("Job 1")),
        ("J2", "tech1", event("Job 2")),
        ("O1", "tech1", event("Order 1", kind=ItemKind.ORDER_LINE)),
        ("O2", "tech1", event("Order 2", kind=ItemKind.ORDER_LINE)),
    )
    world.sync()
    for title in list(world.calendar("tech1")):
        world.remove("tech1", title)
    world.sync()
    assert not world.business_row("J1").deleted and not world.business_row("J2").deleted
    assert {"Order 1", "Order 2"} <= set(world.calendar("tech1"))


def test_a_rejected_hold_in_a_one_way_integration_keeps_the_copies_and_is_not_asked_again(tmp_path: Path) -> None:
    """The business side is read-only there: the items cannot be created again on it, so rejecting keeps the
    calendar's copies, left alone from then on, instead of planning their deletion and holding it at every run."""
    world = make_world(tmp_path, two_way=False)
    world.push(*[(f"A{n}", "tech1", event(f"Visit {n}")) for n in range(8)])
    world.sync()
    world.delete(*[f"A{n}" for n in range(6)])

    def held(run: IntegrationRun) -> int:
        return sum(o.report.counts().get("b.held", 0) for o in run.outcomes if o.report is not None)

    assert held(world.sync()) == 6
    world.sync(reject_mass_delete=True)
    assert len(world.calendar("tech1")) == 8
    again = world.sync()
    assert held(again) == 0 and len(world.calendar("tech1")) == 8, [o.report for o in again.outcomes]
    assert held_deletions(world.settings, "acme") == []


def test_rejecting_a_calendar_found_empty_does_not_make_a_meeting_the_calendar_owns_again(world: HubWorld) -> None:
    """The found-empty rule holds the park of a calendar's own meeting with the rest; rejecting the holds re-creates
    the other items, but the meeting stays as the item rules have it (making it again would invite its attendees
    again)."""
    world.add_in_calendar("tech1", meeting("Team meeting", "meet-1"))
    world.push(("J1", "tech1", event("Job 1")), ("J2", "tech1", event("Job 2")))
    world.sync()
    for title in list(world.calendar("tech1")):
        world.remove("tech1", title)
    world.sync()
    assert "Team meeting" in {h.title for h in held_deletions(world.settings, "acme")}
    world.sync(reject_mass_delete=True)
    assert {"Job 1", "Job 2"} <= set(world.calendar("tech1"))
    assert "Team meeting" not in world.calendar("tech1")


def test_a_calendar_found_empty_where_business_deletions_are_off_is_held_and_undone_when_rejected(
    world: HubWorld,
) -> None:
    """Each copy gone from the calendar would leave the business item unlinked for good; held, it says so, and a
    rejection puts the calendar's copies back, synced as before."""
    world.set_user("tech1", delete_in_business=False)
    world.push(*[(f"J{n}", "tech1", event(f"Job {n}")) for n in range(3)])
    world.sync()
    for title in list(world.calendar("tech1")):
        world.remove("tech1", title)
    world.sync()
    found = held_deletions(world.settings, "acme")
    assert [(h.side, h.effect) for h in found] == [("a", "unlink")] * 3
    world.sync(reject_mass_delete=True)
    assert held_deletions(world.settings, "acme") == []
    world.push(("J0", "tech1", event("Job 0, edited")))
    world.sync()
    assert {"Job 0, edited", "Job 1", "Job 2"} <= set(world.calendar("tech1"))
