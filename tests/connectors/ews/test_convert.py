"""What Exchange holds for calsync's items (read from the fake's stored XML), and how items made in Outlook
(no residue property) are read: sensitivity, importance, reminders, categories, free/busy, bodies, location,
all-day dates and time zones pinned to the item's own zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from calsync.connectors.base import Fetched
from calsync.connectors.ews.connector import EwsConnector
from calsync.model.content import Content
from calsync.model.item import Item, Sensitivity, ShowAs
from tests.connectors.ews import outlook
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake.server import FakeEws
from tests.connectors.ews.fake.soap import t
from tests.connectors.ews.fake.store import Stored
from tests.samples import event

RICH = (
    "CLASS:CONFIDENTIAL\r\nPRIORITY:1\r\nCATEGORIES:Service,Customer\r\nTRANSP:OPAQUE\r\nLOCATION:Hall 3\r\n"
    "DESCRIPTION:Bring the spare parts\r\nX-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
)
ALL_DAY = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\nBEGIN:VEVENT\r\nUID:holiday\r\n"
    "DTSTAMP:20261101T080000Z\r\nDTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261227\r\n"
    "SUMMARY:Holidays\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture
def conn(fake: FakeEws, connect: Callable[..., EwsConnector]) -> EwsConnector:
    return connect(mailboxes=[new_mailbox(fake)])


def _stored(fake: FakeEws, href: str) -> Stored:
    return fake.store.items[href]


def _outlook_view(fake: FakeEws, conn: EwsConnector, href: str) -> Item:
    """The item as calsync reads it once the residue is gone (an item made or rewritten in Outlook)."""
    with fake.lock:
        for prop in _stored(fake, href).element.findall(t("ExtendedProperty")):
            if prop.find(t("ExtendedFieldURI")).get("PropertyName") == "calsync-residue":  # type: ignore[union-attr]
                prop.getparent().remove(prop)  # type: ignore[union-attr]
    (got,) = conn.get(conn.mailboxes[0], [href])
    assert isinstance(got, Fetched)
    return got.content.item


def test_what_exchange_holds_for_a_rich_event(fake: FakeEws, conn: EwsConnector) -> None:
    ref = conn.create(conn.mailboxes[0], Content.from_text(event("r1", "Service", extra=RICH)), "r1")
    stored = _stored(fake, ref.href)
    assert stored.value("Sensitivity") == "Confidential" and stored.value("Importance") == "High"
    assert [c.text for c in stored.element.iterfind(f"{t('Categories')}/{t('String')}")] == ["Service", "Customer"]
    assert stored.value("ReminderIsSet") == "true" and stored.value("ReminderMinutesBeforeStart") == "15"
    assert stored.value("Location") == "Hall 3" and stored.value("Body") == "Bring the spare parts"
    assert stored.child("StartTimeZone").get("Id") == "W. Europe Standard Time"  # type: ignore[union-attr]
    assert stored.value("Start") == "2026-11-23T08:00:00Z"


def test_an_event_made_in_outlook_is_read_field_by_field(fake: FakeEws, conn: EwsConnector) -> None:
    ref = conn.create(conn.mailboxes[0], Content.from_text(event("r2", "Service", extra=RICH)), "r2")
    item = _outlook_view(fake, conn, ref.href)
    assert item.uid == "r2" and item.title == "Service" and item.location == "Hall 3"
    assert item.sensitivity is Sensitivity.CONFIDENTIAL and item.priority == 1
    assert item.categories == ("Service", "Customer")
    assert [r.minutes_before for r in item.reminders] == [15]
    assert item.body.text == "Bring the spare parts"
    assert item.start == datetime(2026, 11, 23, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    assert isinstance(item.start, datetime) and item.start.tzinfo == ZoneInfo("Europe/Berlin")


def test_legacy_free_busy_and_html_bodies(fake: FakeEws, conn: EwsConnector) -> None:
    free = event("r3", extra="TRANSP:TRANSPARENT\r\nX-ALT-DESC;FMTTYPE=text/html:<p>Hi <b>there</b></p>\r\n")
    ref = conn.create(conn.mailboxes[0], Content.from_text(free), "r3")
    stored = _stored(fake, ref.href)
    assert stored.value("LegacyFreeBusyStatus") == "Free"
    assert stored.child("Body").get("BodyType") == "HTML"  # type: ignore[union-attr]
    item = _outlook_view(fake, conn, ref.href)
    assert item.show_as is ShowAs.FREE
    assert item.body.html == "<p>Hi <b>there</b></p>" and item.body.text == ""


def test_all_day_events_are_dates_in_the_configured_zone(fake: FakeEws, conn: EwsConnector) -> None:
    ref = conn.create(conn.mailboxes[0], Content.from_text(ALL_DAY), "holiday")
    stored = _stored(fake, ref.href)
    assert stored.value("IsAllDayEvent") == "true"
    assert stored.value("Start") == "2026-12-23T23:00:00Z"  # midnight in Europe/Berlin, the connection's zone
    item = _outlook_view(fake, conn, ref.href)
    assert (item.start, item.end) == (date(2026, 12, 24), date(2026, 12, 27))


def test_a_private_item_made_in_outlook_reads_private(fake: FakeEws, conn: EwsConnector) -> None:
    href = outlook.put(fake, conn.mailboxes[0], "p1", event("p1", "Doctor", private=True))
    (got,) = conn.get(conn.mailboxes[0], [href])
    assert isinstance(got, Fetched) and got.content.item.sensitivity is Sensitivity.PRIVATE


INVITATION = """<t:CalendarItem xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <t:Subject>Quarterly review</t:Subject>
  <t:Start>2026-11-24T13:00:00Z</t:Start><t:End>2026-11-24T14:00:00Z</t:End>
  <t:StartTimeZone Id="W. Europe Standard Time"/><t:EndTimeZone Id="W. Europe Standard Time"/>
  <t:UID>review-2026</t:UID>
  <t:Organizer><t:Mailbox><t:Name>The Boss</t:Name><t:EmailAddress>boss@contoso.com</t:EmailAddress></t:Mailbox>
  </t:Organizer>
  <t:RequiredAttendees><t:Attendee><t:Mailbox><t:Name>Anna</t:Name><t:EmailAddress>{mailbox}</t:EmailAddress>
  </t:Mailbox><t:ResponseType>Accept</t:ResponseType></t:Attendee></t:RequiredAttendees>
  <t:MyResponseType>Accept</t:MyResponseType>
</t:CalendarItem>"""


def test_a_meeting_organised_by_someone_else_is_read_and_never_changed(fake: FakeEws, conn: EwsConnector) -> None:
    from lxml import etree

    from calsync.errors import ReadOnly
    from calsync.model.item import PartStat, Person

    mailbox = conn.mailboxes[0]
    with fake.lock:
        href = fake.store.add(mailbox, "calendar", etree.fromstring(INVITATION.format(mailbox=mailbox))).id
    (got,) = conn.get(mailbox, [href])
    assert isinstance(got, Fetched)
    item = got.content.item
    assert item.uid == "review-2026" and item.organizer == Person("boss@contoso.com", "The Boss")
    assert [(a.person.email, a.status) for a in item.attendees] == [(mailbox, PartStat.ACCEPTED)]
    with pytest.raises(ReadOnly, match=r"boss@contoso\.com"):
        conn.update(mailbox, got.ref, Content.from_text(event("review-2026", "Moved by calsync")))
    with pytest.raises(ReadOnly):
        conn.delete(mailbox, got.ref)
    assert _stored(fake, href).value("Subject") == "Quarterly review" and not _stored(fake, href).deleted
