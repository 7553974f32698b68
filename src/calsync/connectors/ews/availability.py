"""Free/busy (GetUserAvailability) and out-of-office settings (GetUserOofSettings), as values.

Times are asked for and returned in UTC, so the answer never depends on the host's or the server's zone.
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getuseravailability-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getuseroofsettings-operation
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from exchangelib import EWSDateTime

from calsync.connectors.ews.errors import error_for
from calsync.model.item import ShowAs

_BUSY = {"Free": ShowAs.FREE, "Tentative": ShowAs.TENTATIVE, "Busy": ShowAs.BUSY, "OOF": ShowAs.OUT_OF_OFFICE}
_BUSY["WorkingElsewhere"] = ShowAs.WORKING_ELSEWHERE
_MERGED = {"1": ShowAs.TENTATIVE, "2": ShowAs.BUSY, "3": ShowAs.OUT_OF_OFFICE, "5": ShowAs.WORKING_ELSEWHERE}
"""A merged free/busy digit's show-as; 0 is free and 4 is no data."""
NO_DATA = "NoData"


@dataclass(frozen=True, slots=True)
class Busy:
    """One block of a mailbox's calendar that is not free."""

    start: datetime
    end: datetime
    show_as: ShowAs


@dataclass(frozen=True, slots=True)
class Schedule:
    """A mailbox's busy blocks over the asked range, or why Exchange would not say (``problem``).

    ``no_data`` are the ``(start, end)`` spans Exchange marked "no data": it knows nothing of them, so they are
    not free.
    """

    mailbox: str
    busy: tuple[Busy, ...] = ()
    problem: str = ""
    no_data: tuple[tuple[datetime, datetime], ...] = ()


class OofState(StrEnum):
    """Whether automatic replies are off, on, or on for a scheduled time."""

    DISABLED = "disabled"
    ENABLED = "enabled"
    SCHEDULED = "scheduled"


@dataclass(frozen=True, slots=True)
class OutOfOffice:
    """A mailbox's automatic-replies setting."""

    state: OofState
    start: datetime | None = None
    end: datetime | None = None
    internal_reply: str = ""
    external_reply: str = ""

    def active(self, at: datetime) -> bool:
        """Whether automatic replies are on at ``at``."""
        if self.state is OofState.ENABLED:
            return True
        if self.state is OofState.SCHEDULED and self.start is not None and self.end is not None:
            return self.start <= at < self.end
        return False


def schedules(account: Any, mailboxes: Sequence[str], start: datetime, end: datetime, interval: int) -> list[Schedule]:
    """The busy blocks of each mailbox over ``[start, end)`` (GetUserAvailability, detailed view)."""
    utc = account.default_timezone.__class__("UTC")
    lo = EWSDateTime.from_datetime(start.astimezone(UTC)).astimezone(utc)
    hi = EWSDateTime.from_datetime(end.astimezone(UTC)).astimezone(utc)
    asked = [(m, "Required", False) for m in mailboxes]
    views = account.protocol.get_free_busy_info(asked, lo, hi, merged_free_busy_interval=interval)
    found = []
    for mailbox, view in zip(mailboxes, views, strict=True):
        if isinstance(view, Exception):
            found.append(Schedule(mailbox, (), str(error_for(view, "", mailbox))))
        elif view.view_type == "None":  # Exchange's answer when it will not show this mailbox's free/busy
            why = "Exchange gives no free/busy for it (view None: the account may lack the right to see it)"
            found.append(Schedule(mailbox, (), why))
        else:
            found.append(_schedule(mailbox, view, lo, interval, utc))
    return found


def _schedule(mailbox: str, view: Any, lo: Any, interval: int, utc: Any) -> Schedule:
    """Why "no data" is kept apart and not dropped like free time: presence must not call a mailbox Exchange
    knows nothing about available. Without calendar events (a merged-only view) the merged digits decide."""
    busy: list[Busy] = []
    unknown: list[tuple[datetime, datetime]] = []
    if view.calendar_events:
        for e in view.calendar_events:
            kind, span = e.busy_type or "Busy", (_utc(e.start, utc), _utc(e.end, utc))
            if kind == NO_DATA:
                unknown.append(span)
            elif kind != "Free":
                busy.append(Busy(*span, _BUSY.get(kind, ShowAs.BUSY)))
        return Schedule(mailbox, tuple(busy), no_data=tuple(unknown))
    first, step = _utc(lo, utc), timedelta(minutes=interval)
    for n, digit in enumerate(view.merged or ""):
        span = (first + n * step, first + (n + 1) * step)
        if digit == "4":
            unknown.append(span)
        elif digit in _MERGED:
            busy.append(Busy(*span, _MERGED[digit]))
    return Schedule(mailbox, tuple(busy), no_data=tuple(unknown))


def _utc(moment: Any, zone: Any) -> datetime:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    return datetime.fromtimestamp(aware.timestamp(), tz=UTC)


def out_of_office(account: Any) -> OutOfOffice:
    """The automatic-replies setting of ``account``'s mailbox."""
    oof = account.oof_settings
    state = {"Enabled": OofState.ENABLED, "Scheduled": OofState.SCHEDULED}.get(oof.state, OofState.DISABLED)
    return OutOfOffice(
        state,
        datetime.fromtimestamp(oof.start.timestamp(), tz=UTC) if oof.start else None,
        datetime.fromtimestamp(oof.end.timestamp(), tz=UTC) if oof.end else None,
        str(oof.internal_reply or ""),
        str(oof.external_reply or ""),
    )
