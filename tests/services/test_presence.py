"""Presence from a plain calendar (a folder integration): series expanded, the occurrence in progress decides;
and what a lookup costs the state database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from calsync.config import Settings, StateSettings, load_settings
from calsync.errors import ConfigError
from calsync.services.integrations import IntegrationInput, open_integrations
from calsync.services.presence import (
    Presence,
    PresenceSource,
    PresenceStatus,
    plain_text,
    presence,
    presences,
)

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\n"
TAIL = "END:VCALENDAR\r\n"
STANDUP = (
    HEAD + "BEGIN:VEVENT\r\nUID:standup\r\nDTSTAMP:20261101T080000Z\r\nSUMMARY:Stand-up\r\n"
    "DTSTART;TZID=Europe/Berlin:20261102T090000\r\nDTEND;TZID=Europe/Berlin:20261102T093000\r\n"
    "RRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE;TZID=Europe/Berlin:20261123T090000\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:standup\r\nDTSTAMP:20261101T080000Z\r\nSUMMARY:Stand-up (moved)\r\n"
    "RECURRENCE-ID;TZID=Europe/Berlin:20261116T090000\r\n"
    "DTSTART;TZID=Europe/Berlin:20261116T110000\r\nDTEND;TZID=Europe/Berlin:20261116T113000\r\nEND:VEVENT\r\n" + TAIL
)


def _event(uid: str, title: str, dates: str, extra: str = "") -> str:
    return (
        f"{HEAD}BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T080000Z\r\nSUMMARY:{title}\r\n{dates}{extra}"
        f"END:VEVENT\r\n{TAIL}"
    )


def _timed(day: str, start: str, end: str) -> str:
    return f"DTSTART:{day}T{start}Z\r\nDTEND:{day}T{end}Z\r\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    config = tmp_path / "calsync.toml"
    config.write_text(f'[state]\nurl = "{tmp_path / "state.db"}"\n')
    found = load_settings(config)
    root = tmp_path / "cal"
    with open_integrations(found) as service:
        service.add(IntegrationInput(name="acme", company="ACME", connection_type="folder", url=str(root)))
        service.add_user("acme", "tech1", "tech1")
        service.add_user("acme", "tech2", "tech2")
    files = {
        "standup.ics": STANDUP,
        "private.ics": _event("private", "Doctor", _timed("20261110", "120000", "130000"), "CLASS:PRIVATE\r\n"),
        "free.ics": _event("free", "Reading", _timed("20261110", "140000", "150000"), "TRANSP:TRANSPARENT\r\n"),
        "maybe.ics": _event(
            "maybe", "Maybe", _timed("20261113", "090000", "100000"), "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\r\n"
        ),
        "training.ics": _event(
            "training",
            "Training in Hamburg",
            "DTSTART;VALUE=DATE:20261112\r\nDTEND;VALUE=DATE:20261114\r\n",
            "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\n",
        ),
        "cancelled.ics": _event("gone", "Gone", _timed("20261111", "090000", "100000"), "STATUS:CANCELLED\r\n"),
        "broken.ics": "BEGIN:VCALENDAR\r\nthis is not iCalendar\r\n",
    }
    (root / "tech1").mkdir(parents=True)
    for name, text in files.items():
        (root / "tech1" / name).write_text(text, newline="")
    return found


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_an_occurrence_of_a_recurring_meeting_is_a_meeting(settings: Settings) -> None:
    assert presence(settings, "acme", "tech1", _at(9, 8, 10)) == Presence(
        status=PresenceStatus.MEETING,
        since=_at(9, 8),
        until=_at(9, 8, 30),
        subject="Stand-up",
        source=PresenceSource.CALENDAR,
    )
    assert presence(settings, "acme", "tech1", _at(16, 8, 10)).status is PresenceStatus.AVAILABLE  # moved ...
    moved = presence(settings, "acme", "tech1", _at(16, 10, 10))  # ... to 11:00 Berlin
    assert (moved.status, moved.subject, moved.since) == (PresenceStatus.MEETING, "Stand-up (moved)", _at(16, 10))
    assert presence(settings, "acme", "tech1", _at(23, 8, 10)).status is PresenceStatus.AVAILABLE  # excluded
    assert presence(settings, "acme", "tech1", _at(30, 8, 10)).status is (PresenceStatus.MEETING)


def test_private_free_cancelled_and_empty_calendars(settings: Settings) -> None:
    private = presence(settings, "acme", "tech1", _at(10, 12, 30))
    assert (private.status, private.subject, private.until) == (PresenceStatus.MEETING, "", _at(10, 13))
    assert presence(settings, "acme", "tech1", _at(10, 14, 30)).status is PresenceStatus.AVAILABLE
    assert presence(settings, "acme", "tech1", _at(11, 9, 30)).status is PresenceStatus.AVAILABLE
    assert presence(settings, "acme", "tech2", _at(10, 12, 30)) == Presence(
        status=PresenceStatus.AVAILABLE, source=PresenceSource.CALENDAR
    )


def test_an_all_day_oof_event_wins_over_a_tentative_meeting(settings: Settings) -> None:
    got = presence(settings, "acme", "tech1", _at(13, 9, 30))
    assert got == Presence(
        status=PresenceStatus.OUT_OF_OFFICE,
        since=_at(12, 0),
        until=_at(14, 0),
        out_of_office_text="Training in Hamburg",
        source=PresenceSource.CALENDAR,
    )
    assert presence(settings, "acme", "tech1", _at(14, 0)).status is PresenceStatus.AVAILABLE


def test_unknown_users_and_integrations_are_named(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="'nobody' is not a user of acme"):
        presence(settings, "acme", "nobody")
    with pytest.raises(ConfigError, match="nowhere"):
        presence(settings, "nowhere", "tech1")
    with pytest.raises(ConfigError, match="nowhere"):
        presences(settings, "nowhere")
    with pytest.raises(ConfigError, match="time zone"):
        presence(settings, "acme", "tech1", datetime(2026, 11, 9, 8, 10))


def test_every_user_on_its_own_one_failing_is_a_line(settings: Settings) -> None:
    with open_integrations(settings) as service:
        service.add_user("acme", "tech3", "not/a/folder")
    lines = presences(settings, "acme", _at(9, 8, 10))
    assert [(u.business_user, u.presence.status if u.presence else None) for u in lines] == [
        ("tech1", PresenceStatus.MEETING),
        ("tech2", PresenceStatus.AVAILABLE),
        ("tech3", None),
    ]
    assert "cannot name a collection" in lines[2].error and lines[0].error == ""


def test_reply_text_loses_its_markup() -> None:
    assert plain_text("  Back on Monday.  ") == "Back on Monday."
    assert plain_text("<p>Back&nbsp;on <i>Monday</i>.</p><script>x()</script><p></p><br><p>Ask Bob.</p>") == (
        "Back on Monday.\n\nAsk Bob."
    )


def test_asking_the_presence_of_a_user_without_a_calendar_makes_none(settings: Settings, tmp_path: Path) -> None:
    """A lookup must not write: tech2 has no calendar folder, and still has none after being asked."""
    assert presence(settings, "acme", "tech2", _at(10, 12, 30)).status is PresenceStatus.AVAILABLE
    assert not (tmp_path / "cal" / "tech2").exists()


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs inside the block."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def _one_presence_costs(tmp_path: Path, users: int) -> int:
    """The statements on pair state one user's presence runs, on a folder integration of ``users`` users."""
    settings = Settings(source=None, state=StateSettings(url=str(tmp_path / f"state-{users}.db")))
    (tmp_path / "cal" / "tech0").mkdir(parents=True, exist_ok=True)
    with open_integrations(settings) as service:
        service.add(IntegrationInput("acme", "ACME", "folder", url=str(tmp_path / "cal")))
        for number in range(users):
            service.add_user("acme", f"tech{number}", f"tech{number}")
    with statements() as seen:
        presence(settings, "acme", "tech0", _at(10, 12, 30))
    return len([s for s in seen if "pairs" in s])


def test_one_users_presence_reads_no_pair_state_where_the_mailbox_names_the_calendar(tmp_path: Path) -> None:
    """A folder's calendar is named by the mailbox, never by the one synced last: however many users, nothing read
    (it once read every user's pair, for each lookup of one)."""
    assert _one_presence_costs(tmp_path, 200) == _one_presence_costs(tmp_path, 2) == 0
