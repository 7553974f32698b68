"""Free/busy (GetUserAvailability) and out-of-office settings (GetUserOofSettings), as values.

Times are asked for and returned in UTC, so the answer never depends on the host's or the server's zone.
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getuseravailability-operation
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getuseroofsettings-operation
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from exchangelib import EWSDateTime

from calsync.connectors.ews.errors import error_for
from calsync.model.item import ShowAs

_BUSY = {"Free": ShowAs.FREE, "Tentative": ShowAs.TENTATIVE, "Busy": ShowAs.BUSY, "OOF": ShowAs.OUT_OF_OFFICE}
_BUSY["WorkingElsewhere"] = ShowAs.WORKING_ELSEWHERE


@dataclass(frozen=True, slots=True)
class Busy:
    """One block of a mailbox's calendar that is not free."""

    start: datetime
    end: datetime
    show_as: ShowAs


@dataclass(frozen=True, slots=True)
class Schedule:
    """A mailbox's busy blocks over the asked range, or why Exchange would not say (``problem``)."""

    mailbox: str
    busy: tuple[Busy, ...] = ()
    problem: str = ""


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
            continue
        blocks = tuple(
            Busy(_utc(e.start, utc), _utc(e.end, utc), _BUSY.get(e.busy_type or "Busy", ShowAs.BUSY))
            for e in view.calendar_events or ()
            if (e.busy_type or "Busy") not in ("Free", "NoData")
        )
        found.append(Schedule(mailbox, blocks))
    return found


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
