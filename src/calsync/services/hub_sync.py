"""Syncing an integration: one pair per user and collection, business store (A) with the user's calendar (B).

The unit the scheduler runs. Each pair (``"<integration>/<business user>/<events|tasks|contacts>"``) takes its
own lock and records its own job, so one user's unreachable mailbox fails that user's pairs only. The user's
options decide which pairs exist and what they may delete; the integration's rules decide the rest:

- two-way, or business -> calendar only (leaving the calendar's own items alone) when "sync both ways" is off;
- order lines always business -> calendar; contacts business -> calendar, leaving the user's own contacts alone;
- private items, calendar meetings, assignments and selection as ``calsync.sync.itemrules`` applies them.

Every write is journaled with its rule (the business store journals its own side; ``hub_pairs`` the calendar side).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from calsync.config import Settings
from calsync.errors import AuthError, CalsyncError, ConfigError
from calsync.services.connections import CollectionKind, IntegrationConnectors, integration_connectors
from calsync.services.hub import state_url
from calsync.services.hub_pairs import PLANNED, PairRunner
from calsync.services.hub_rules import HubRules
from calsync.services.integrations import UserView, open_integrations
from calsync.services.syncing import PairOutcome, open_state_store
from calsync.state.store import JobKind
from calsync.sync.engine import RunOptions

__all__ = ["HeldDeletion", "IntegrationRun", "JobKind", "held_deletions", "sync_integration"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IntegrationRun:
    """The outcomes of one integration's pairs, in order."""

    integration: str
    outcomes: list[PairOutcome]

    @property
    def failed(self) -> bool:
        """Whether any pair did not run to its end."""
        return any(o.failed for o in self.outcomes)

    @property
    def auth_failed(self) -> bool:
        """Whether a pair failed because the server refused the credentials (the integration is then offline)."""
        return any(isinstance(o.error, AuthError) for o in self.outcomes)


def sync_integration(
    settings: Settings,
    integration: str,
    *,
    kind: JobKind,
    full: bool,
    users: Sequence[str] | None = None,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
    reject_mass_delete: bool = False,
    connectors: IntegrationConnectors | None = None,
) -> IntegrationRun:
    """Sync every pair of an integration (or of ``users``) once; one outcome per pair.

    Raises ``ConfigError`` for an unknown integration or user, before anything runs. ``connectors`` are used
    instead of building the integration's own (tests, and callers that keep them open).
    ``allow_mass_delete`` approves the deletions each pair's latest run held: they are made, and the guard still
    weighs any other deletion; ``reject_mass_delete`` undoes them instead, creating each held item again where it
    was deleted. Without either, held deletions stay held.
    """
    from calsync.state.business import open_business_store

    with open_integrations(settings) as service:
        view = service.get(integration)
        scheduled = kind in (JobKind.INTERVAL, JobKind.FULL)
        chosen = _chosen(service.users(integration), users, integration, skip_missing=scheduled)
    built = connectors or integration_connectors(settings, integration)
    business = open_business_store(state_url(settings))
    state = open_state_store(settings)
    try:
        head = business.feed_head(integration)
        rules = HubRules.from_json(business.rules(integration))
        decision = "reject" if reject_mass_delete else "approve" if allow_mass_delete else ""
        run = PairRunner(view, business, state, built, rules, decision=decision)
        options = RunOptions(kind=kind, full=full, dry_run=dry_run)
        result = IntegrationRun(integration, [o for user in chosen for o in run.user(user, options)])
        if not dry_run:
            _announce(settings, integration, head, business.feed_head(integration), result)
        return result
    finally:
        state.close()
        business.close()
        if connectors is None:
            built.close()


def _announce(settings: Settings, integration: str, before: int, after: int, run: IntegrationRun) -> None:
    """Queue the webhooks of the run: new feed entries, and each failed pair. Queueing is idempotent by event
    id, and a failure to queue is logged, never the run's failure (the feed itself holds the changes)."""
    from calsync.services.access import EventType, open_access

    try:
        with open_access(settings) as access:
            if after > before:
                payload: dict[str, object] = {"since": before, "next": after}
                access.webhooks.enqueue(integration, EventType.CHANGES, payload, f"changes-{integration}-{after}")
            for outcome in run.outcomes:
                if outcome.failed:
                    event_id = f"failed-{outcome.name}-{datetime.now(UTC).timestamp():.0f}"
                    failure: dict[str, object] = {"pair": outcome.name, "error": outcome.message}
                    access.webhooks.enqueue(integration, EventType.JOB_FAILED, failure, event_id)
    except CalsyncError as exc:
        logger.warning("webhooks of %s not queued: %s", integration, exc)


def _chosen(
    all_users: list[UserView], names: Sequence[str] | None, integration: str, *, skip_missing: bool
) -> list[UserView]:
    """The users to sync. A name that is no user is an error for a person who asked (a typo), and skipped for the
    scheduler (the user was removed between its plan and the run)."""
    if not names:
        return all_users
    by_name = {u.business_user: u for u in all_users}
    missing = [n for n in names if n not in by_name]
    if missing and not skip_missing:
        raise ConfigError(f"{missing[0]!r} is not a user of integration {integration!r}", where="users")
    if missing:
        logger.info("users %s of %s are gone: not synced", ", ".join(missing), integration)
    return [by_name[n] for n in dict.fromkeys(names) if n in by_name]


@dataclass(frozen=True, slots=True)
class HeldDeletion:
    """A deletion the mass-deletion guard held in a pair's latest run, waiting for approval or rejection.

    ``effect`` says what approving it does on ``side``: ``"delete"`` the copy there, or ``"unlink"`` it (deletions
    there are off, or the copy is the calendar's own: it is kept, no longer synced)."""

    pair: str
    job_id: int
    ident: str
    title: str
    side: str
    rule: str
    user: str = ""
    effect: str = "delete"


def held_deletions(settings: Settings, integration: str) -> list[HeldDeletion]:
    """The deletions held in the latest run of each of the integration's pairs."""
    with open_integrations(settings) as service:
        service.get(integration)
        users = service.users(integration)
    state = open_state_store(settings)
    try:
        held = []
        for user in users:
            for kind in CollectionKind:
                pair = f"{integration}/{user.business_user}/{kind.value}"
                latest = state.jobs(pair, limit=1, outcomes=PLANNED)
                if not latest:
                    continue
                job = latest[0]
                held += [
                    HeldDeletion(
                        pair,
                        job.id,
                        line.ident,
                        line.title,
                        line.side,
                        line.rule,
                        user.business_user,
                        "unlink" if line.action == "park" else "delete",
                    )
                    for line in state.job_lines(job.id)
                    if line.outcome == "held"
                ]
        return held
    finally:
        state.close()
