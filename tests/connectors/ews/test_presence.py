"""Presence through EWS on the fake Exchange: the out-of-office setting first, then the free/busy block."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from calsync.connectors.ews.availability import Busy, OofState, OutOfOffice, Schedule
from calsync.connectors.ews.connector import EwsConnector
from calsync.errors import Unavailable
from calsync.model.content import Content
from calsync.model.item import ShowAs
from calsync.services.presence import Presence, PresenceSource, PresenceStatus, presence_on
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake.server import FakeEws
from tests.samples import event

Connect = Callable[..., EwsConnector]


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_busy_tentative_recurring_and_oof_blocks(fake: FakeEws, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    weekly = event("p-weekly", "Stand-up", day="20261116", extra="RRULE:FREQ=WEEKLY;COUNT=4\r\n")
    conn.create(mailbox, Content.from_text(weekly), "p-weekly")
    fake.store.mailboxes[mailbox].busy.append(("2026-11-23T14:00:00Z", "2026-11-23T16:00:00Z", "OOF"))
    fake.store.mailboxes[mailbox].busy.append(("2026-11-23T13:00:00Z", "2026-11-23T14:00:00Z", "Tentative"))

    meeting = presence_on(conn, mailbox, _utc(23, 8, 30))  # the stand-up's second occurrence, 09:00 Berlin
    assert meeting == Presence(
        status=PresenceStatus.MEETING, since=_utc(23, 8), until=_utc(23, 9), source=PresenceSource.FREE_BUSY
    )
    tentative = presence_on(conn, mailbox, _utc(23, 13, 15))
    assert (tentative.status, tentative.subject) == (PresenceStatus.MEETING, "")  # EWS free/busy names no subject
    away = presence_on(conn, mailbox, _utc(23, 15))
    assert (away.status, away.since, away.until) == (PresenceStatus.OUT_OF_OFFICE, _utc(23, 14), _utc(23, 16))
    assert presence_on(conn, mailbox, _utc(23, 10)).status is PresenceStatus.AVAILABLE
    assert presence_on(conn, mailbox, _utc(9, 8, 30)).status is PresenceStatus.AVAILABLE  # before the series


def test_an_active_out_of_office_setting_gives_its_internal_text(fake: FakeEws, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    conn.create(mailbox, Content.from_text(event("p-oof", day="20261223")), "p-oof")
    fake.store.mailboxes[mailbox].oof.update(
        state="Scheduled",
        start="2026-12-20T00:00:00Z",
        end="2027-01-04T00:00:00Z",
        internal="<div>Back in <b>January</b></div>",
    )
    got = presence_on(conn, mailbox, datetime(2026, 12, 23, 8, 30, tzinfo=UTC))
    assert got == Presence(
        status=PresenceStatus.OUT_OF_OFFICE,
        since=datetime(2026, 12, 20, tzinfo=UTC),
        until=datetime(2027, 1, 4, tzinfo=UTC),
        out_of_office_text="Back in January",
        source=PresenceSource.AUTOMATIC_REPLIES,
    )


class _NoData:
    """An EWS-shaped connection whose free/busy is a given schedule and whose out-of-office is off."""

    name = "exchange"

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def free_busy(self, mailboxes: Sequence[str], start: datetime, end: datetime, interval: int = 30) -> list[Schedule]:
        return [self.schedule]

    def out_of_office(self, mailbox: str) -> OutOfOffice:
        return OutOfOffice(OofState.DISABLED)


def test_no_data_at_the_instant_is_unknown_and_a_refused_mailbox_its_error() -> None:
    # Why: Exchange's "no data" (no right to the mailbox, or a gap it cannot see) read as available; the README
    # promises unknown, with the error where Exchange refused the mailbox
    at = _utc(23, 10)
    gap = Schedule("anna@example.com", no_data=((_utc(23, 9), _utc(23, 11)),))
    got = presence_on(_NoData(gap), "anna@example.com", at)  # type: ignore[arg-type]
    assert got == Presence(status=PresenceStatus.UNKNOWN, source=PresenceSource.FREE_BUSY)
    meeting = Schedule(gap.mailbox, (Busy(_utc(23, 10), _utc(23, 11), ShowAs.BUSY),), no_data=gap.no_data)
    assert presence_on(_NoData(meeting), gap.mailbox, at).status is PresenceStatus.MEETING  # type: ignore[arg-type]
    refused = Schedule(gap.mailbox, problem="Exchange gives no free/busy for it")
    with pytest.raises(Unavailable, match="no free/busy"):
        presence_on(_NoData(refused), gap.mailbox, at)  # type: ignore[arg-type]
