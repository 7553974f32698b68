"""Free/busy through getSchedule and out of office through mailboxSettings, as typed values."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from calsync.connectors.graph.availability import FreeBusy, ReplyStatus, parse_schedule
from calsync.connectors.graph.connector import GraphConnector
from calsync.errors import InvalidItem
from calsync.model.item import ShowAs
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake.server import FakeGraph

Connect = Callable[..., GraphConnector]
DAY = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _event(fake: FakeGraph, mailbox: str, hour: int, hours: int, show_as: str, zone: str = "UTC") -> None:
    start = DAY.replace(hour=hour)
    fake.mailboxes[mailbox].add(
        {
            "subject": f"{show_as} at {hour}",
            "showAs": show_as,
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone},
            "end": {"dateTime": (start + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone},
        }
    )


def test_schedules_read_view_and_items_for_several_mailboxes(fake: FakeGraph, connect: Connect) -> None:
    alice, bob = new_mailbox(fake), new_mailbox(fake)
    _event(fake, alice, 9, 1, "busy")
    _event(fake, alice, 11, 1, "oof")
    _event(fake, bob, 8, 2, "tentative")
    _event(fake, bob, 12, 1, "workingElsewhere")
    conn = connect(mailboxes=[alice, bob])
    got = conn.free_busy([alice, bob, "ghost@contoso.onmicrosoft.com"], DAY, DAY + timedelta(hours=6), 60)
    assert [s.mailbox for s in got] == [alice, bob, "ghost@contoso.onmicrosoft.com"]
    a, b, ghost = got
    assert [s.status for s in a.slots] == [FreeBusy.FREE, FreeBusy.BUSY, FreeBusy.FREE, FreeBusy.OOF] + [
        FreeBusy.FREE
    ] * 2
    assert a.slots[1].start == DAY + timedelta(hours=1) and a.slots[1].end == DAY + timedelta(hours=2)
    assert [(i.status, i.start.hour, i.end.hour) for i in a.items] == [(FreeBusy.BUSY, 9, 10), (FreeBusy.OOF, 11, 12)]
    assert b.slots[4].status is FreeBusy.FREE  # v1.0 shows working elsewhere as 0 in the view ...
    assert b.items[1].status is FreeBusy.WORKING_ELSEWHERE  # ... and as itself in the items
    assert b.items[1].status.show_as is ShowAs.WORKING_ELSEWHERE
    assert ghost.error.startswith("ErrorMailRecipientNotFound") and ghost.slots == ()


def test_item_times_are_read_in_their_own_zone(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    _event(fake, mailbox, 10, 1, "busy", zone="W. Europe Standard Time")  # 09:00 UTC in March
    got = connect().free_busy([mailbox], DAY, DAY + timedelta(hours=4), 30)[0]
    assert got.items[0].start == DAY.replace(hour=9)


def test_parse_accepts_statuses_spelt_as_in_graphs_examples() -> None:
    info = {
        "scheduleId": "alexw@contoso.com",
        "availabilityView": "12",
        "scheduleItems": [
            {
                "status": "Tentative",
                "start": {"dateTime": "2018-08-06T09:00:00.0000000", "timeZone": "Pacific Standard Time"},
                "end": {"dateTime": "2018-08-06T10:00:00.0000000", "timeZone": "Pacific Standard Time"},
            }
        ],
    }
    got = parse_schedule(info, DAY, timedelta(minutes=15))
    assert got.items[0].status is FreeBusy.TENTATIVE and got.items[0].start == datetime(2018, 8, 6, 16, tzinfo=UTC)
    assert [s.status for s in got.slots] == [FreeBusy.TENTATIVE, FreeBusy.BUSY]


def test_bad_ranges_are_refused(connect: Connect) -> None:
    with pytest.raises(InvalidItem):
        connect().free_busy(["a@contoso.onmicrosoft.com"], DAY, DAY, 30)
    with pytest.raises(InvalidItem):
        connect().free_busy(["a@contoso.onmicrosoft.com"], DAY, DAY + timedelta(hours=1), 2)


def test_automatic_replies_disabled_always_and_scheduled(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect()
    assert conn.automatic_replies(mailbox).status is ReplyStatus.DISABLED
    assert conn.automatic_replies(mailbox).start is None
    fake.mailboxes[mailbox].settings["automaticRepliesSetting"] = {
        "status": "scheduled",
        "externalAudience": "contactsOnly",
        "internalReplyMessage": "<p>Away</p>",
        "externalReplyMessage": "<p>Out</p>",
        "scheduledStartDateTime": {"dateTime": "2026-03-02T08:00:00.0000000", "timeZone": "UTC"},
        "scheduledEndDateTime": {"dateTime": "2026-03-06T17:00:00.0000000", "timeZone": "UTC"},
    }
    got = conn.automatic_replies(mailbox)
    assert (got.status, got.start, got.end) == (ReplyStatus.SCHEDULED, DAY, datetime(2026, 3, 6, 17, tzinfo=UTC))
    assert (got.internal_reply, got.external_reply, got.external_audience) == (
        "<p>Away</p>",
        "<p>Out</p>",
        "contactsOnly",
    )
    assert got.active_at(DAY + timedelta(days=1)) and not got.active_at(DAY + timedelta(days=5))
    fake.mailboxes[mailbox].settings["automaticRepliesSetting"] = {"status": "alwaysEnabled"}
    assert conn.automatic_replies(mailbox).active_at(DAY)
