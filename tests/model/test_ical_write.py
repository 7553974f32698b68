"""Item -> iCalendar: business fields, zones of every kind, HTML bodies, and random items that survive."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings

from calsync.model.ical import ical_to_item, item_to_ical
from calsync.model.item import Address, Body, BusinessExtras, Item, ItemKind, Recurrence, Reminder, ShowAs
from tests.model.strategies import items

DATA = Path(__file__).parents[1] / "data" / "ical"
BERLIN = ZoneInfo("Europe/Berlin")


# -- writing -----------------------------------------------------------------------------------------------


def test_business_fields_travel_as_x_calsync_properties() -> None:
    item = Item(
        "order-4711",
        kind=ItemKind.ORDER_LINE,
        title="Replace boiler",
        start=datetime(2026, 11, 23, 9, tzinfo=BERLIN),
        end=datetime(2026, 11, 23, 12, tzinfo=BERLIN),
        extras=BusinessExtras(
            Address("Gneisenaustr. 12", "Berlin", "", "10961", "DE", "Hinterhaus;\n3. OG", "ship-to"),
            ("Van B-XY 123", "Ladder, 3 m"),
            "installation",
            sync_flag=True,
            needs_review=True,
        ),
    )
    text = item_to_ical(item)
    assert "X-CALSYNC-KIND:order-line" in text
    assert "X-CALSYNC-EQUIPMENT:Ladder\\, 3 m" in text
    assert "X-CALSYNC-SYNC-FLAG:TRUE" in text
    assert ical_to_item(text) == item


def test_html_body_show_as_and_zones_of_every_kind_survive() -> None:
    fixed = timezone(timedelta(hours=5, minutes=45), "Kathmandu office")
    item = Item(
        "x",
        body=Body("plain", "<p>rich &amp; <b>bold</b></p>"),
        start=datetime(2026, 1, 5, 9, tzinfo=fixed),
        end=datetime(2026, 1, 5, 10, tzinfo=fixed),
        recurrence=Recurrence("FREQ=DAILY;COUNT=3", exdates=(datetime(2026, 1, 6, 9, tzinfo=fixed),)),
        show_as=ShowAs.OUT_OF_OFFICE,
        reminders=(Reminder(0), Reminder(-30, "AUDIO")),
    )
    text = item_to_ical(item)
    assert "X-ALT-DESC;FMTTYPE=text/html:" in text
    assert "X-MICROSOFT-CDO-BUSYSTATUS:OOF" in text
    back = ical_to_item(text)
    assert back == item
    assert back.start.utcoffset() == timedelta(hours=5, minutes=45)  # type: ignore[union-attr]


def test_dtstamp_is_the_last_modification() -> None:
    modified = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert "DTSTAMP:20260203T040506Z" in item_to_ical(Item("x", last_modified=modified))


def test_a_task_is_a_vtodo_with_its_fields() -> None:
    item = replace(ical_to_item((DATA / "issue_97_simple_todo.ics").read_text(encoding="utf-8")), uid="t")
    text = item_to_ical(item)
    assert "BEGIN:VTODO" in text and "DUE:19920516T045959Z" in text and "STATUS:NEEDS-ACTION" in text


def test_parameter_values_of_unusual_spaces_survive() -> None:
    for label in ("\xa0", "\u3000Hof ", "Tor\u2009B"):  # found by the property below: a no-break space vanished
        address = Address(country=" ", label=label)
        item = Item(uid="u", kind=ItemKind.EVENT, extras=BusinessExtras(customer_address=address))
        assert ical_to_item(item_to_ical(item)).extras.customer_address == address


# -- property ----------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items())
def test_random_items_survive_ical_unchanged(item: Item) -> None:
    assert ical_to_item(item_to_ical(item)) == item
