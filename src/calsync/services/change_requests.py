"""Changes found by notifications turned into runs: one waiting "sync now" request per user, at most.

Shared by Microsoft 365 change notifications (``calsync.services.notifications``) and Exchange pull notifications
(``calsync.services.exchange_notifications``): both learn that a user's calendar changed and both only ask for a
run of that user's pairs, which finds the change the way every run does (delta links, sync states).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from calsync.config import Settings
from calsync.errors import ConfigError
from calsync.services.jobs import JobService
from calsync.state.schedule_port import ScheduleEntry, ScheduleStore

__all__ = ["CLOCK_SKEW", "RunRequests", "Wanted", "stored_users"]

logger = logging.getLogger(__name__)
CLOCK_SKEW = timedelta(seconds=5)
"""How far the clocks of the machines writing requests and jobs may differ without a change being lost."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Wanted:
    """A subscription there should be: the mailbox of one business user of an integration."""

    integration: str
    business_user: str
    mailbox: str


@dataclass(frozen=True, slots=True)
class RunRequests:
    """Turns "something changed for this user" into at most one waiting "sync now" request per user.

    Why jobs are checked: a request a run already took (and reads the calendar for) must not swallow a newer
    change, and taken requests are not marked. A run's pair job starts before it reads, so a request made after
    the integration's newest job started (give or take ``CLOCK_SKEW``) is not read for yet: it covers the change.
    Nor is a run asked for while the integration is offline or it or the mailbox backs off: unlike an admin's
    "sync now", a change must not make a failing server be tried at every edit; the turn after the back-off runs.
    """

    jobs: JobService
    schedule: ScheduleStore
    clock: Callable[[], datetime] = _utc_now

    def ask(self, integration: str, user: str) -> bool:
        """``sync_now`` for the user unless a waiting request covers it or the integration or mailbox waits;
        False when nothing was recorded."""
        if self._held_back(integration, user):
            return False
        waiting = [
            r.requested_at
            for r in self.schedule.requests()
            if r.integration == integration and r.business_user in (user, None)
        ]
        if waiting:
            newest = self.jobs.history(integration, limit=1)
            if not newest or max(waiting) > newest[0].started_at + CLOCK_SKEW:
                return False
        try:
            self.jobs.sync_now(integration, user)
        except ConfigError as exc:  # the user or integration was removed since the subscription was made
            logger.info("change of %s/%s not synced: %s", integration, user, exc)
            return False
        return True

    def _held_back(self, integration: str, user: str) -> bool:
        now, entry = self.clock(), self.schedule.entry(integration)
        backoff = self.schedule.backoffs(integration).get(user)
        waits = [entry.backoff_until, backoff.until if backoff is not None else None]
        return not entry.online or any(until is not None and until > now for until in waits)


def stored_users(settings: Settings, connection_type: str = "graph") -> list[Wanted]:
    """Every user who syncs appointments, of the integrations of ``connection_type`` that are neither offline nor
    backing off. Why leave those out: a subscription or a pull opens the mailbox with the service account, and an
    offline integration's credentials are refused; asking again every minute locks an Active Directory account."""
    from calsync.services.integrations import open_integrations
    from calsync.services.jobs import open_schedule

    now = datetime.now(UTC)
    schedule = open_schedule(settings)
    try:
        with open_integrations(settings) as service:
            views = [view for view in service.integrations() if view.connection_type == connection_type]
            resting = {v.name for v in views if _resting(schedule.entry(v.name), now)}
            return [
                Wanted(v.name, u.business_user, u.mailbox)
                for v in views
                if v.name not in resting
                for u in service.users(v.name)
                if u.flags.appointments
            ]
    finally:
        schedule.close()


def _resting(entry: ScheduleEntry, now: datetime) -> bool:
    """Whether an integration is offline (credentials refused) or backing off after failed runs."""
    return bool(entry.offline_reason) or (entry.backoff_until is not None and entry.backoff_until > now)
