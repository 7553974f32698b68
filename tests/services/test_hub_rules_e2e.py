"""The hub's item rules end to end: business items pushed through the hub service, synced with the technicians'
calendars, edited there, synced back. One test per rule, named after it; each fails with the rule switched off."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from calsync.model.item import Address, BusinessExtras, ItemKind, Sensitivity, TaskInfo
from calsync.state.business_port import Change
from tests.services.hubworld import TOMORROW, HubWorld, event, flagged, make_world, meeting, private


@pytest.fixture
def world(tmp_path: Path) -> HubWorld:
    return make_world(tmp_path)


def test_business_items_appear_in_their_technicians_calendar_and_a_rerun_writes_nothing(world: HubWorld) -> None:
    results = world.push(("A1", "tech1", event("Boiler")), ("A2", "tech2", event("Pump")))
    assert [r.status for r in results] == ["created", "created"]
    world.sync()
    assert set(world.calendar("tech1")) == {"Boiler"}
    assert set(world.calendar("tech2")) == {"Pump"}
    writes = world.calendars.writes
    run = world.sync()
    assert world.calendars.writes == writes
    assert all(o.report is not None and not o.report.writes for o in run.outcomes)


def test_pushing_the_same_item_twice_is_unchanged(world: HubWorld) -> None:
    world.push(("A1", "tech1", event("Boiler")))
    assert [r.status for r in world.push(("A1", "tech1", event("Boiler")))] == ["unchanged"]


def test_order_line_edited_in_the_calendar_is_overwritten_and_deleted_is_recreated(world: HubWorld) -> None:
    world.push(("OL1", "tech1", event("Order line 7", kind=ItemKind.ORDER_LINE)))
    world.sync()
    world.edit("tech1", "Order line 7", title="Changed by technician")
    world.sync()
    assert set(world.calendar("tech1")) == {"Order line 7"}
    assert world.business("OL1").title == "Order line 7"
    world.remove("tech1", "Order line 7")
    world.sync()
    assert set(world.calendar("tech1")) == {"Order line 7"}


def test_assignment_reassigned_leaves_the_old_calendar_and_appears_in_the_new_in_one_run(world: HubWorld) -> None:
    world.set_user("tech1", delete_in_calendar=False)  # the business side's reassignment removes it anyway
    world.push(("AS1", "tech1", event("Repair", kind=ItemKind.ASSIGNMENT)))
    world.sync()
    assert "Repair" in world.calendar("tech1")
    world.push(("AS1", "tech2", event("Repair", kind=ItemKind.ASSIGNMENT)))
    world.sync()
    assert "Repair" not in world.calendar("tech1")
    assert "Repair" in world.calendar("tech2")


def test_assignment_deleted_in_the_calendar_is_recreated_until_the_business_side_deletes_it(world: HubWorld) -> None:
    world.push(("AS1", "tech1", event("Repair", kind=ItemKind.ASSIGNMENT)))
    world.sync()
    world.remove("tech1", "Repair")
    world.sync()
    assert "Repair" in world.calendar("tech1")
    assert not world.business_row("AS1").deleted
    world.delete("AS1")
    world.sync()
    assert "Repair" not in world.calendar("tech1")


def test_assignment_edited_in_the_calendar_flows_back(world: HubWorld) -> None:
    world.push(("AS1", "tech1", event("Repair", kind=ItemKind.ASSIGNMENT)))
    world.sync()
    world.edit("tech1", "Repair", location="Back door")
    world.sync()
    assert world.business("AS1").location == "Back door"


def test_assignment_declined_in_the_calendar_is_restored(world: HubWorld) -> None:
    world.push(("AS1", "tech1", event("Repair", kind=ItemKind.ASSIGNMENT)))
    world.sync()
    world.edit("tech1", "Repair", status="CANCELLED")
    world.sync()
    assert world.calendar("tech1")["Repair"].status != "CANCELLED"
    assert world.business("AS1").status != "CANCELLED"


def test_private_items_are_not_synced(world: HubWorld) -> None:
    world.push(("P1", "tech1", private(event("Doctor"))))
    world.add_in_calendar("tech1", private(replace(event("Dentist"), uid="cal-private-1")))
    world.sync()
    assert "Doctor" not in world.calendar("tech1")
    with world.hub() as hub:  # type: ignore[attr-defined]
        assert hub.feed("acme") == []


def test_private_items_are_synced_when_the_users_option_is_off(world: HubWorld) -> None:
    world.set_user("tech1", no_private_appointments=False)
    world.push(("P1", "tech1", private(event("Doctor"))))
    world.sync()
    assert "Doctor" in world.calendar("tech1")


def test_an_item_made_private_after_sync_is_private_on_both_sides(world: HubWorld) -> None:
    world.push(("A1", "tech1", event("Boiler")))
    world.sync()
    world.edit("tech1", "Boiler", sensitivity=Sensitivity.PRIVATE)
    world.sync()
    assert world.business("A1").sensitivity is Sensitivity.PRIVATE
    assert world.calendar("tech1")["Boiler"].sensitivity is Sensitivity.PRIVATE


def test_meetings_with_attendees_created_in_the_calendar_never_change_the_business_side(world: HubWorld) -> None:
    world.add_in_calendar("tech1", meeting("Team meeting", "meet-1"))
    world.sync()
    with world.hub() as hub:  # type: ignore[attr-defined]
        imported = [e for e in hub.feed("acme") if e.change is Change.CREATED]
    assert len(imported) == 1
    business_id = imported[0].business_id
    world.edit("tech1", "Team meeting", title="Moved meeting")
    world.sync()
    assert world.business(business_id).title == "Team meeting"
    world.remove("tech1", "Moved meeting")
    world.sync()
    assert not world.business_row(business_id).deleted


def test_business_items_are_written_without_attendees(world: HubWorld) -> None:
    with_people = replace(event("Visit"), attendees=meeting("x", "y").attendees, organizer=meeting("x", "y").organizer)
    world.push(("A1", "tech1", with_people))
    world.sync()
    written = world.calendar("tech1")["Visit"]
    assert written.attendees == ()
    assert written.organizer is None


def test_export_only_flagged_items(world: HubWorld) -> None:
    world.set_rules({"selection": {"only_flagged": True}})
    world.push(("A1", "tech1", event("Unflagged")), ("A2", "tech1", flagged(event("Flagged"))))
    world.sync()
    assert set(world.calendar("tech1")) == {"Flagged"}


def test_export_only_items_starting_after_the_sync(world: HubWorld) -> None:
    world.set_rules({"selection": {"only_future": True}})
    world.push(("A1", "tech1", event("Past", start=TOMORROW - timedelta(days=3))), ("A2", "tech1", event("Future")))
    world.sync()
    assert set(world.calendar("tech1")) == {"Future"}


def test_import_only_tagged_items_flagged_for_review_with_the_default_activity(world: HubWorld) -> None:
    world.set_rules({"selection": {"tag": "[sync]"}})
    world.add_in_calendar("tech1", replace(event("Lunch"), uid="cal-1"))
    world.add_in_calendar("tech1", replace(event("Customer call [sync]"), uid="cal-2"))
    world.sync()
    with world.hub() as hub:  # type: ignore[attr-defined]
        feed = hub.feed("acme")
    assert [(e.item.item.title if e.item else None) for e in feed] == ["Customer call [sync]"]
    assert feed[0].needs_review and feed[0].rule == "new on B"
    assert feed[0].item is not None and feed[0].item.item.extras.activity_type == "VISIT"
    assert feed[0].owner == "tech1"


def test_import_only_single_items_not_series(world: HubWorld) -> None:
    from calsync.model.item import Recurrence

    world.set_rules({"selection": {"single_only": True}})
    world.add_in_calendar("tech1", replace(event("Weekly"), uid="cal-1", recurrence=Recurrence("FREQ=WEEKLY;COUNT=3")))
    world.add_in_calendar("tech1", replace(event("Once"), uid="cal-2"))
    world.sync()
    with world.hub() as hub:  # type: ignore[attr-defined]
        assert [e.item.item.title for e in hub.feed("acme") if e.item] == ["Once"]


def test_import_only_items_within_the_next_days(world: HubWorld) -> None:
    world.set_rules({"selection": {"within_days": 3}})
    world.add_in_calendar("tech1", replace(event("Soon"), uid="cal-1"))
    world.add_in_calendar("tech1", replace(event("Later", start=TOMORROW + timedelta(days=10)), uid="cal-2"))
    world.sync()
    with world.hub() as hub:  # type: ignore[attr-defined]
        assert [e.item.item.title for e in hub.feed("acme") if e.item] == ["Soon"]


def test_imports_are_not_flagged_for_review_when_the_rule_is_off(world: HubWorld) -> None:
    world.set_rules({"imports_need_review": False})
    world.add_in_calendar("tech1", replace(event("Call"), uid="cal-1"))
    world.sync()
    with world.hub() as hub:  # type: ignore[attr-defined]
        assert [e.needs_review for e in hub.feed("acme")] == [False]


def test_calendar_deletions_reach_the_business_side_only_when_the_user_allows(world: HubWorld) -> None:
    world.push(("A1", "tech1", event("Boiler")), ("A2", "tech2", event("Pump")))
    world.set_user("tech1", delete_in_business=False)
    world.sync()
    world.remove("tech1", "Boiler")
    world.remove("tech2", "Pump")
    world.sync()
    assert not world.business_row("A1").deleted
    assert world.business_row("A2").deleted


def test_category_mapping_marker_and_priority_round_trip(world: HubWorld) -> None:
    world.set_rules(
        {
            "mapping": {
                "category_template": "ES_{number}_{description}",
                "activity_types": [{"code": "SV", "number": "10", "description": "Service", "colour": "#00aa00"}],
                "marker": "Received from ERP",
            },
            "priority_levels": {"1": "high", "2": "normal", "3": "low"},
        }
    )
    item = replace(event("Visit"), extras=BusinessExtras(activity_type="SV"))
    world.push(("A1", "tech1", item), priority_level="1")
    world.sync()
    written = world.calendar("tech1")["Visit"]
    assert set(written.categories) == {"ES_10_Service", "Received from ERP"}
    assert written.priority == 1
    world.edit("tech1", "Visit", title="Visit (moved)", categories=("ES_10_Service", "Received from ERP", "Mine"))
    world.sync()
    back = world.business("A1")
    assert back.title == "Visit (moved)"
    assert back.extras.activity_type == "SV"
    assert back.categories == ("Mine",)
    with world.hub() as hub:  # type: ignore[attr-defined]
        assert hub.item("acme", "A1").priority_level == "1"


def test_text_enrichment_on_export_is_not_imported_back(world: HubWorld) -> None:
    world.set_rules({"mapping": {"enrich_priority": True, "enrich_equipment": True, "enrich_map_link": True}})
    extras = BusinessExtras(equipment=("Ladder", "Drill"), customer_address=Address("1 Main St", "Springfield"))
    world.push(("A1", "tech1", replace(event("Visit", priority=1), extras=extras)))
    world.sync()
    text = world.calendar("tech1")["Visit"].body.text
    assert "Priority: High" in text and "Equipment: Ladder, Drill" in text and "Map: https://" in text
    world.edit("tech1", "Visit", location="Gate 2")
    world.sync()
    assert world.business("A1").body.text == ""
    assert world.business("A1").extras.equipment == ("Ladder", "Drill")


def test_tasks_sync_only_where_the_user_takes_tasks(world: HubWorld) -> None:
    task = replace(event("Order parts", kind=ItemKind.TASK), start=None, end=None, task=TaskInfo(due=TOMORROW))
    world.push(("T1", "tech1", task), ("T2", "tech2", replace(task, title="Call back")))
    world.set_user("tech2", tasks=False)
    world.sync()
    assert set(world.calendar("tech1", world.tasks)) == {"Order parts"}
    assert world.calendar("tech2", world.tasks) == {}


def test_business_only_direction_leaves_the_calendars_own_items_alone(tmp_path: Path) -> None:
    world = make_world(tmp_path, two_way=False)
    world.push(("A1", "tech1", event("Boiler")))
    world.add_in_calendar("tech1", replace(event("Own"), uid="cal-1"))
    world.sync()
    world.edit("tech1", "Boiler", title="Edited")
    world.sync()
    assert set(world.calendar("tech1")) == {"Boiler", "Own"}
    with world.hub() as hub:  # type: ignore[attr-defined]
        assert hub.feed("acme") == []


def test_journal_records_every_change_with_its_rule_and_restores_a_deleted_item(world: HubWorld) -> None:
    world.push(("A1", "tech1", event("Boiler")))
    world.sync()
    world.remove("tech1", "Boiler")
    world.sync()
    assert world.business_row("A1").deleted
    with world.hub() as hub:  # type: ignore[attr-defined]
        entries = hub.journal_page("acme", "A1").entries
        assert [(e.side, e.action, e.rule) for e in entries] == [
            ("business", Change.DELETED, "deleted on B"),
            ("calendar", Change.CREATED, "new on A"),
        ]
        restored = hub.restore("acme", entries[0].id)
    assert not restored.deleted and restored.item.title == "Boiler"
    world.sync()
    assert "Boiler" in world.calendar("tech1")


def test_mass_deletion_in_one_calendar_is_held_for_that_user_only(world: HubWorld) -> None:
    world.push(*[(f"A{n}", "tech1", event(f"Visit {n}")) for n in range(8)], ("B1", "tech2", event("Pump")))
    world.sync()
    for n in range(8):
        world.remove("tech1", f"Visit {n}")
    world.remove("tech2", "Pump")
    run = world.sync()
    held = {o.name: o.report.counts().get("a.held", 0) for o in run.outcomes if o.report is not None}
    assert held["acme/tech1/events"] == 8
    assert not any(world.business_row(f"A{n}").deleted for n in range(8))
    assert world.business_row("B1").deleted


def test_held_deletions_are_approved_or_rejected(world: HubWorld) -> None:
    world.push(*[(f"A{n}", "tech1", event(f"Visit {n}")) for n in range(8)])
    world.sync()
    for n in range(4):
        world.remove("tech1", f"Visit {n}")
    for n in range(4, 8):
        world.remove("tech1", f"Visit {n}")
    world.sync()
    assert world.calendar("tech1") == {}
    world.sync(reject_mass_delete=True)
    assert len(world.calendar("tech1")) == 8
    assert not any(world.business_row(f"A{n}").deleted for n in range(8))
    for n in range(8):
        world.remove("tech1", f"Visit {n}")
    world.sync()  # held again
    assert not any(world.business_row(f"A{n}").deleted for n in range(8))
    world.sync(allow_mass_delete=True)  # approves what the latest run held
    assert all(world.business_row(f"A{n}").deleted for n in range(8))


def test_approving_lets_through_only_what_was_held(world: HubWorld) -> None:
    world.push(*[(f"A{n}", "tech1", event(f"Visit {n}")) for n in range(16)])
    world.sync()
    for n in range(8):
        world.remove("tech1", f"Visit {n}")
    world.sync()  # 8 of 16 held
    for n in range(8, 16):
        world.remove("tech1", f"Visit {n}")  # the rest of the calendar goes after the admin looked
    world.sync(allow_mass_delete=True)
    assert all(world.business_row(f"A{n}").deleted for n in range(8))
    assert not any(world.business_row(f"A{n}").deleted for n in range(8, 16)), "unreviewed deletions went through"


def test_a_preview_lists_what_would_happen_and_writes_nothing(world: HubWorld) -> None:
    world.push(("A1", "tech1", event("Boiler")), ("P1", "tech1", private(event("Doctor"))))
    run = world.sync(dry_run=True)
    lines = [(line.action, line.rule) for o in run.outcomes if o.report for line in o.report.lines]
    assert ("create", "new on A") in lines
    assert ("skip", "private item: not synced") in lines
    assert world.calendar("tech1") == {}


def test_a_run_that_adds_to_the_feed_queues_one_webhook_event(world: HubWorld) -> None:
    from calsync.services.access import EventType, open_access

    with open_access(world.settings) as access:
        access.webhooks.add("acme", "https://erp.example.com/hooks/calsync")
    world.push(("A1", "tech1", event("Boiler")))
    world.sync()  # business -> calendar only: nothing for the feed
    world.edit("tech1", "Boiler", location="Cellar")
    world.sync()
    world.sync()  # nothing new: nothing queued
    with open_access(world.settings) as access:
        queued = access.webhooks.deliveries("acme")
    assert [d.event_type for d in queued] == [EventType.CHANGES.value]


def test_a_calendar_holding_events_and_tasks_gives_each_pair_only_its_own_kind(world: HubWorld) -> None:
    shared = world.calendars  # one collection for appointments and tasks, as many CalDAV servers keep them
    world.tasks = shared
    task = replace(
        event("Order parts", kind=ItemKind.TASK), uid="cal-t1", start=None, end=None, task=TaskInfo(due=TOMORROW)
    )
    world.add_in_calendar("tech1", task)
    world.add_in_calendar("tech1", replace(event("Call"), uid="cal-e1"))
    world.sync()
    with world.hub() as hub:  # type: ignore[attr-defined]
        kinds = sorted((e.kind, e.item.item.title) for e in hub.feed("acme") if e.item)
    assert kinds == [("event", "Call"), ("task", "Order parts")]


def test_pushing_the_same_item_again_later_is_unchanged_whatever_its_serialisation_time(world: HubWorld) -> None:
    first = replace(event("Boiler"), last_modified=TOMORROW - timedelta(days=2))
    world.push(("A1", "tech1", first))
    again = replace(first, last_modified=TOMORROW - timedelta(days=1))  # a new DTSTAMP and LAST-MODIFIED only
    assert [r.status for r in world.push(("A1", "tech1", again))] == ["unchanged"]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"guard": {"max_share": 5}}, "rules.guard.max_share"),
        ({"guard": {"min_items": 0}}, "rules.guard.min_items"),
        ({"selection": {"within_days": -1}}, "rules.selection.within_days"),
        ({"mapping": {"activity_types": [{"code": "SV", "colour": "red"}]}}, "colour"),
        ({"mapping": {"category_template": "{nope}"}}, "rules.mapping.category_template"),
        # str.format took a width (20 MB in every exported item) and attributes (a 500): neither is a field
        ({"mapping": {"category_template": "{code:>20000000}"}}, "rules.mapping.category_template"),
        ({"mapping": {"category_template": "{code.nope}"}}, "rules.mapping.category_template"),
        ({"mapping": {"category_template": "{code[0]}"}}, "rules.mapping.category_template"),
        ({"mapping": {"category_template": "{code}" + "x" * 300}}, "rules.mapping.category_template"),
        ({"mapping": {"map_url": "https://maps.example/?q={query:>99999}"}}, "rules.mapping.map_url"),
        ({"priority_levels": {"1": "urgent"}}, "rules.priority_levels"),
        ({"conflict": "loudest-wins"}, "rules.conflict"),
        ({"selectoin": {}}, "rules"),
    ],
)
def test_bad_rules_are_refused_naming_the_option(world: HubWorld, data: dict[str, object], where: str) -> None:
    from calsync.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        world.set_rules(data)
    assert where in (info.value.where or "")


def test_a_user_removed_before_a_scheduled_run_is_skipped_but_a_typo_is_an_error(world: HubWorld) -> None:
    from calsync.errors import ConfigError
    from calsync.services.hub_sync import JobKind, sync_integration

    run = sync_integration(
        world.settings, "acme", kind=JobKind.INTERVAL, full=False, users=["tech1", "gone"], connectors=world.connectors
    )
    assert {o.name.split("/")[1] for o in run.outcomes} == {"tech1"}
    with pytest.raises(ConfigError, match="'gone' is not a user"):
        sync_integration(
            world.settings, "acme", kind=JobKind.MANUAL, full=False, users=["gone"], connectors=world.connectors
        )


def test_a_colour_maps_to_the_nearest_outlook_preset() -> None:
    from calsync.model.mapping import nearest_preset

    assert [nearest_preset(c) for c in ("#e84a55", "#0078d4", "#000001", "", "red")] == [
        "preset0",
        "preset7",
        "preset14",
        "none",
        "none",
    ]
