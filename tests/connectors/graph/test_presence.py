"""Presence through Graph on the fake service: automatic replies first, then the schedule item in progress."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from calsync.connectors.graph.connector import GraphConnector
from calsync.errors import NotFound
from calsync.services.presence import Presence, PresenceSource, PresenceStatus, presence_on
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake.server import FakeGraph

Connect = Callable[..., GraphConnector]
DAY = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _event(fake: FakeGraph, mailbox: str, hour: int, hours: int, show_as: str, **extra: str) -> None:
    start = DAY.replace(hour=hour)
    fake.mailboxes[mailbox].add(
        {
            "subject": f"{show_as} at {hour}",
            "showAs": show_as,
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": (start + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            **extra,
        }
    )


def test_meetings_private_meetings_oof_items_and_free_time(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    _event(fake, mailbox, 9, 1, "busy")
    _event(fake, mailbox, 11, 1, "tentative", sensitivity="private")
    _event(fake, mailbox, 13, 2, "oof")
    _event(fake, mailbox, 16, 1, "free")
    conn = connect(mailboxes=[mailbox])

    def at(hour: int, minute: int = 0) -> Presence:
        return presence_on(conn, mailbox, DAY.replace(hour=hour, minute=minute))

    assert at(9, 40) == Presence(
        status=PresenceStatus.MEETING,
        since=DAY.replace(hour=9),
        until=DAY.replace(hour=10),
        subject="busy at 9",
        source=PresenceSource.FREE_BUSY,
    )
    private = at(11, 5)
    assert private.status is PresenceStatus.MEETING and private.subject == "" and private.until == DAY.replace(hour=12)
    oof = at(14)
    assert (oof.status, oof.out_of_office_text, oof.since) == (
        PresenceStatus.OUT_OF_OFFICE,
        "oof at 13",
        DAY.replace(hour=13),
    )
    assert at(10).status is PresenceStatus.AVAILABLE  # the meeting ended on the hour
    assert at(16, 30).status is PresenceStatus.AVAILABLE  # shown as free


def test_an_active_automatic_reply_wins_with_its_text_as_plain_text(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    _event(fake, mailbox, 9, 1, "busy")
    fake.mailboxes[mailbox].settings["automaticRepliesSetting"] = {
        "status": "scheduled",
        "internalReplyMessage": "<html><head><style>p {}</style></head><body><p>Away until Friday.</p>"
        "<p>Ask&nbsp;<b>Bob</b> &amp; Carol.</p></body></html>",
        "externalReplyMessage": "<p>Out</p>",
        "scheduledStartDateTime": {"dateTime": "2026-03-02T08:00:00.0000000", "timeZone": "UTC"},
        "scheduledEndDateTime": {"dateTime": "2026-03-06T17:00:00.0000000", "timeZone": "UTC"},
    }
    conn = connect(mailboxes=[mailbox])
    got = presence_on(conn, mailbox, DAY.replace(hour=9, minute=30))
    assert got == Presence(
        status=PresenceStatus.OUT_OF_OFFICE,
        since=DAY,
        until=datetime(2026, 3, 6, 17, tzinfo=UTC),
        out_of_office_text="Away until Friday.\n\nAsk Bob & Carol.",  # paragraphs kept, &nbsp; a space
        source=PresenceSource.AUTOMATIC_REPLIES,
    )
    before = presence_on(conn, mailbox, DAY - timedelta(hours=1))
    assert before.status is PresenceStatus.AVAILABLE and before.out_of_office_text == ""


def test_a_mailbox_graph_cannot_find_is_not_found(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    with pytest.raises(NotFound, match=r"ghost@contoso\.onmicrosoft\.com"):
        presence_on(conn, "ghost@contoso.onmicrosoft.com", DAY)
