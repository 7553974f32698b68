"""Free/busy and out-of-office through GetUserAvailability and GetUserOofSettings on the fake Exchange."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from exchangelib import EWSTimeZone
from exchangelib.properties import CalendarEvent, FreeBusyView

from calsync.connectors.ews.availability import OofState, schedules
from calsync.connectors.ews.connector import EwsConnector
from calsync.model.content import Content
from calsync.model.item import ShowAs
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake.server import FakeEws
from tests.samples import event


def test_free_busy_lists_each_mailboxs_busy_time(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    alice, bob = new_mailbox(fake), new_mailbox(fake)
    conn = connect(mailboxes=[alice, bob])
    conn.create(alice, Content.from_text(event("fb1", day="20261123")), "fb1")
    free = event("fb2", day="20261123", start="140000", end="150000", extra="TRANSP:TRANSPARENT\r\n")
    conn.create(alice, Content.from_text(free), "fb2")
    fake.store.mailboxes[bob].busy.append(("2026-11-23T12:00:00Z", "2026-11-23T13:00:00Z", "OOF"))
    found = conn.free_busy(
        [alice, bob, "ghost@contoso.com"], datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC)
    )
    assert [s.mailbox for s in found] == [alice, bob, "ghost@contoso.com"]
    (busy,) = found[0].busy
    assert (busy.start, busy.end, busy.show_as) == (
        datetime(2026, 11, 23, 8, tzinfo=UTC),
        datetime(2026, 11, 23, 9, tzinfo=UTC),
        ShowAs.BUSY,
    )
    assert [b.show_as for b in found[1].busy] == [ShowAs.OUT_OF_OFFICE]
    assert "ErrorMailRecipientNotFound" in found[2].problem


def test_out_of_office_reads_the_scheduled_setting(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    mailbox = new_mailbox(fake)
    fake.store.mailboxes[mailbox].oof.update(
        state="Scheduled", start="2026-12-20T00:00:00Z", end="2027-01-04T00:00:00Z", internal="Back in January"
    )
    oof = connect(mailboxes=[mailbox]).out_of_office(mailbox)
    assert oof.state is OofState.SCHEDULED and oof.internal_reply == "Back in January"
    assert oof.active(datetime(2026, 12, 24, tzinfo=UTC)) and not oof.active(datetime(2026, 11, 24, tzinfo=UTC))


def test_out_of_office_of_a_mailbox_never_set_is_disabled(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    mailbox = new_mailbox(fake)
    oof = connect(mailboxes=[mailbox]).out_of_office(mailbox)
    assert oof.state is OofState.DISABLED and not oof.active(datetime(2026, 11, 1, 12, tzinfo=UTC))


# -- what Exchange does not know is not free time ------------------------------------------------------------


class _Answering:
    """An account whose server answers GetUserAvailability with ``view`` for every mailbox."""

    def __init__(self, view: FreeBusyView) -> None:
        protocol = SimpleNamespace(get_free_busy_info=lambda asked, lo, hi, **kw: [view for _ in asked])
        self.default_timezone, self.protocol = EWSTimeZone("UTC"), protocol


DAY = datetime(2026, 11, 23, tzinfo=UTC)


def test_a_view_of_type_none_is_a_problem_not_an_empty_calendar() -> None:
    # Why: without the right to see a mailbox Exchange answers view "None" and all "no data"; read as no busy
    # blocks, presence called the user available
    view = FreeBusyView(view_type="None", merged="4" * 48, calendar_events=None)
    (found,) = schedules(_Answering(view), ["anna@example.com"], DAY, DAY + timedelta(days=1), 30)
    assert "no free/busy" in found.problem and found.busy == ()


def test_no_data_blocks_are_kept_apart_from_busy_time() -> None:
    # Why: "NoData" events were dropped like free time, so presence read them as available
    gap = CalendarEvent(start=DAY, end=DAY + timedelta(hours=2), busy_type="NoData")
    meeting = CalendarEvent(start=DAY + timedelta(hours=3), end=DAY + timedelta(hours=4), busy_type="Busy")
    view = FreeBusyView(view_type="Detailed", merged=None, calendar_events=[gap, meeting])
    (found,) = schedules(_Answering(view), ["anna@example.com"], DAY, DAY + timedelta(days=1), 30)
    assert found.no_data == ((DAY, DAY + timedelta(hours=2)),)
    assert [(b.start.hour, b.show_as) for b in found.busy] == [(3, ShowAs.BUSY)]


def test_a_merged_only_view_is_read_from_its_digits() -> None:
    view = FreeBusyView(view_type="MergedOnly", merged="0241", calendar_events=None)
    (found,) = schedules(_Answering(view), ["anna@example.com"], DAY, DAY + timedelta(hours=2), 30)
    half = timedelta(minutes=30)
    assert found.no_data == ((DAY + 2 * half, DAY + 3 * half),)
    assert [(b.start, b.show_as) for b in found.busy] == [(DAY + half, ShowAs.BUSY), (DAY + 3 * half, ShowAs.TENTATIVE)]
