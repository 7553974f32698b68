"""Syncing an integration: one pair per user and collection, business store (A) with the user's calendar (B).

The unit the scheduler runs. Each pair (``"<integration>/<business user>/<events|tasks|contacts>"``) takes its
own lock and records its own job, so one user's unreachable mailbox fails that user's pairs only. The user's
options decide which pairs exist and what they may delete; the integration's rules decide the rest:

- two-way, or business -> calendar only (leaving the calendar's own items alone) when "sync both ways" is off;
- order lines always business -> calendar; contacts business -> calendar, leaving the user's own contacts alone;
- private items, calendar meetings, assignments and selection as ``calsync.sync.itemrules`` applies them.

Every write is journaled with its rule (the business store journals its own side; the calendar side here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial

from calsync.config import Settings
from calsync.connectors.base import Connector
from calsync.connectors.business import BusinessConnector, ImportOptions, collection_id
from calsync.connectors.memory import MemoryConnector
from calsync.errors import AuthError, CalsyncError, ConfigError, InvalidItem
from calsync.model.content import Content
from calsync.model.item import ItemKind
from calsync.model.mapping import MappingRules, category_colours
from calsync.model.refs import Side
from calsync.services.connections import (
    CollectionKind,
    IntegrationConnectors,
    existing_user_collection,
    integration_connectors,
    user_collection,
)
from calsync.services.hub import state_url
from calsync.services.hub_rules import HubRules
from calsync.services.integrations import IntegrationView, UserView, open_integrations
from calsync.services.syncing import PairOutcome, open_state_store
from calsync.state.business_port import BusinessRow, BusinessStore, Change, NewJournal
from calsync.state.store import JobKind, JobOutcome, StateStore
from calsync.sync.actions import Written
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from calsync.sync.plan import ActionKind
from calsync.sync.rules import ItemRules, Mode, PairPolicy

__all__ = ["HeldDeletion", "IntegrationRun", "JobKind", "held_deletions", "sync_integration"]

logger = logging.getLogger(__name__)

PLANNED = (JobOutcome.COMPLETED, JobOutcome.WARNINGS)
"""The outcomes of runs that planned every item: where held deletions are read from. A failed or skipped run
holds nothing (it has no lines) and must not make earlier holds lapse."""

_NOUN = {CollectionKind.EVENTS: "calendar", CollectionKind.TASKS: "task list", CollectionKind.CONTACTS: "address book"}
_KINDS_OF = {
    CollectionKind.EVENTS: frozenset({ItemKind.EVENT, ItemKind.ASSIGNMENT, ItemKind.ORDER_LINE}),
    CollectionKind.TASKS: frozenset({ItemKind.TASK}),
    CollectionKind.CONTACTS: frozenset({ItemKind.CONTACT}),
}


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
        run = _IntegrationRunner(view, business, state, built, rules, decision=decision)
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
class _IntegrationRunner:
    view: IntegrationView
    business: BusinessStore
    state: StateStore
    connectors: IntegrationConnectors
    rules: HubRules
    decision: str = ""  # what an admin decided on the held deletions: "approve", "reject" or nothing yet

    def user(self, user: UserView, options: RunOptions) -> list[PairOutcome]:
        """The pairs of one user, each run on its own."""
        if options.full and not options.dry_run:
            self._categories(user)
        return [self._pair(user, kind, options) for kind in _kinds(user, self.connectors)]

    def _pair(self, user: UserView, kind: CollectionKind, options: RunOptions) -> PairOutcome:
        """One pair's run; an error ends only this pair, as its outcome."""
        name = f"{self.view.name}/{user.business_user}/{kind.value}"
        label = f"{self.view.connection_type}:{user.mailbox}"
        outcome = partial(PairOutcome, name, a=f"business:{collection_id(_owner(user, kind), kind.value)}", b=label)
        try:
            real = _connector(self.connectors, kind)
            calendar = _calendar_side(real, user.mailbox, kind, dry_run=options.dry_run)
            if calendar.connector is not real:  # a dry run's stand-in for the collection a sync would make
                outcome = partial(outcome, b=f"{label} (would create the {_NOUN[kind]})")
            business = self._business()
            journal = _Journal(self.business, self.view.name, name, kind, business.business_form)
            held = self._held(name)
            pair_options = replace(
                options,
                after_write=journal.after_write,
                rejected=held if self.decision == "reject" else frozenset(),
                approved=held if self.decision == "approve" else frozenset(),
                held=held if not self.decision else frozenset(),
            )
            try:
                report = sync_pair(self._spec(name, user, kind, business, calendar), self.state, pair_options)
            finally:
                journal.flush()
            return outcome(report=report)
        except CalsyncError as exc:
            logger.info("pair %s failed: %s", name, exc)
            return outcome(error=exc)
        except Exception as exc:  # a bug must not stop the other users' pairs
            logger.exception("pair %s failed unexpectedly", name)
            return outcome(error=exc)

    def _held(self, pair: str) -> frozenset[str]:
        """The items whose deletion the pair's latest run held (waiting for an admin's decision)."""
        latest = self.state.jobs(pair, limit=1, outcomes=PLANNED)
        lines = self.state.job_lines(latest[0].id) if latest else iter(())
        return frozenset(line.ident for line in lines if line.outcome == "held")

    def _categories(self, user: UserView) -> None:
        """Give the user's mailbox a category, in its colour, for each activity type that has one (servers with
        a category list: Microsoft 365). Never recolours what the user changed; a failure is a warning only."""
        wanted = category_colours(self._mapping())
        provision = getattr(self.connectors.events, "provision_categories", None)
        if not wanted or provision is None:
            return
        try:
            provision(user.mailbox, wanted)
        except CalsyncError as exc:
            logger.warning("categories of %s not provisioned: %s", user.mailbox, exc)

    def _business(self) -> BusinessConnector:
        imports = ImportOptions(needs_review=self.rules.imports_need_review)
        return BusinessConnector(self.business, self.view.name, mapping=self._mapping(), imports=imports)

    def _spec(
        self, name: str, user: UserView, kind: CollectionKind, business: BusinessConnector, calendar: Endpoint
    ) -> PairSpec:
        owner = _owner(user, kind)
        policy = self._policy(user, kind, business, owner, calendar.connector)
        return PairSpec(name, Endpoint(business, collection_id(owner, kind.value)), calendar, policy, self._window())

    def _mapping(self) -> MappingRules:
        return replace(
            self.rules.mapping,
            default_appointment_activity=self.rules.mapping.default_appointment_activity
            or self.view.appointment_activity,
            default_task_activity=self.rules.mapping.default_task_activity or self.view.task_activity,
        )

    def _policy(
        self, user: UserView, kind: CollectionKind, business: BusinessConnector, owner: str, calendar: Connector
    ) -> PairPolicy:
        flags = user.flags
        tasks = kind is CollectionKind.TASKS
        contacts = kind is CollectionKind.CONTACTS
        two_way = self.view.two_way and not contacts
        items = ItemRules(
            skip_private=flags.no_private_tasks if tasks else flags.no_private_appointments,
            calendar_owned=frozenset(business.calendar_meetings(collection_id(owner, kind.value))),
            selection=self.rules.selection,
            now=datetime.now(UTC).timestamp(),
            kinds=_KINDS_OF[kind],
            moved=frozenset(business.moved_away(collection_id(owner, kind.value))),
        )
        return PairPolicy(
            mode=Mode.TWO_WAY if two_way else Mode.A_TO_B_MERGE,
            conflict=self.rules.conflict,
            delete_on_a=two_way and (flags.delete_tasks_in_business if tasks else flags.delete_in_business),
            delete_on_b=True if contacts else (flags.delete_tasks_in_calendar if tasks else flags.delete_in_calendar),
            read_only_a=not two_way,
            read_only_b=calendar.capabilities.read_only,
            guard=self.rules.guard,
            kind_modes={ItemKind.ORDER_LINE: Mode.A_TO_B},
            items=items,
        )

    def _window(self) -> tuple[int, int]:
        back = self.view.days_back
        start = self.view.start_of_sync
        if start is not None:
            back = min(back, max(0, (datetime.now(UTC) - start).days + 1))
        return back, self.view.days_forward


def _calendar_side(calendar: Connector, mailbox: str, kind: CollectionKind, *, dry_run: bool) -> Endpoint:
    """The user's collection of ``kind``, made when missing (idempotent). A dry run makes nothing: it plans a
    missing one as the empty collection a sync would make, an in-memory stand-in as read-only as the real side."""
    if not dry_run:
        return Endpoint(calendar, user_collection(calendar, mailbox, kind))
    found = existing_user_collection(calendar, mailbox, kind)
    if found is not None:
        return Endpoint(calendar, found)
    empty = MemoryConnector(calendar.name, read_only=calendar.capabilities.read_only)
    empty.make_collection(mailbox)
    return Endpoint(empty, mailbox)


def _kinds(user: UserView, connectors: IntegrationConnectors) -> list[CollectionKind]:
    """The user's collections: appointments, tasks, contacts as the user's options and the server allow."""
    wanted = [
        (user.flags.appointments, CollectionKind.EVENTS, connectors.events),
        (user.flags.tasks, CollectionKind.TASKS, connectors.tasks),
        (user.flags.contacts, CollectionKind.CONTACTS, connectors.contacts),
    ]
    return [kind for on, kind, connector in wanted if on and connector is not None]


def _owner(user: UserView, kind: CollectionKind) -> str:
    return "" if kind is CollectionKind.CONTACTS else user.business_user


def _connector(connectors: IntegrationConnectors, kind: CollectionKind) -> Connector:
    found = {"events": connectors.events, "tasks": connectors.tasks, "contacts": connectors.contacts}[kind.value]
    if found is None:
        raise ConfigError(f"this server keeps no {kind.value}", where="connection_type")
    return found


@dataclass(slots=True)
class _Journal:
    """Records each write of a run with its rule: on A (the store journaled it already) by naming the rule, on
    B by adding an entry with the business content that was written and, when calsync replaced or deleted a
    calendar copy it had read, that copy in business form as "before" (restoring the entry brings the calendar's
    version back). Writes are gathered and recorded in batches (one transaction each), since a transaction per
    write costs more than the write itself."""

    business: BusinessStore
    integration: str
    pair: str
    kind: CollectionKind
    business_form: Callable[[Content, BusinessRow], str]
    pending: list[Written] = field(default_factory=list)
    batch: int = 200

    def after_write(self, written: Written) -> None:
        self.pending.append(written)
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Record what was gathered."""
        if not self.pending:
            return
        owner, _, collection = self.pair.removeprefix(f"{self.integration}/").rpartition("/")
        owner = "" if collection == "contacts" else owner
        rows = self.business.by_uid(self.integration, owner, collection, [w.action.ident for w in self.pending])
        elsewhere = [w.hrefs.get(Side.A, "") for w in self.pending if w.action.ident not in rows]
        moved = self.business.rows(self.integration, [href for href in elsewhere if href]) if any(elsewhere) else {}
        named: list[tuple[str, str]] = []
        entries: list[NewJournal] = []
        for written in self.pending:
            action = written.action
            row = rows.get(action.ident) or moved.get(written.hrefs.get(Side.A, ""))  # moved: reassigned
            if row is None:
                continue
            if action.target is Side.A:
                named.append((row.business_id, action.rule))
            else:
                entries.append(self._entry(written, row))
        self.pending.clear()
        self.business.annotate(self.integration, named)
        self.business.record(self.integration, entries)

    def _entry(self, written: Written, row: BusinessRow) -> NewJournal:
        action = written.action
        change = {ActionKind.CREATE: Change.CREATED, ActionKind.UPDATE: Change.UPDATED}.get(action.kind, Change.DELETED)
        deleted = change is Change.DELETED
        return NewJournal(
            row.business_id,
            row.owner,
            "calendar",
            change,
            action.rule,
            self.pair,
            row.media_type,
            self._before(written, row) or (row.content if deleted else None),
            None if deleted else row.content,
        )

    def _before(self, written: Written, row: BusinessRow) -> str | None:
        """The calendar copy the write replaced, in business form; ``None`` when it was not read or is unreadable."""
        if written.replaced is None:
            return None
        try:
            return self.business_form(written.replaced, row)
        except InvalidItem as exc:
            logger.info("the replaced calendar copy of %s is not journaled: %s", row.business_id, exc)
            return None


@dataclass(frozen=True, slots=True)
class HeldDeletion:
    """A deletion the mass-deletion guard held in a pair's latest run, waiting for approval or rejection."""

    pair: str
    job_id: int
    ident: str
    title: str
    side: str
    rule: str
    user: str = ""


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
                    HeldDeletion(pair, job.id, line.ident, line.title, line.side, line.rule, user.business_user)
                    for line in state.job_lines(job.id)
                    if line.outcome == "held"
                ]
        return held
    finally:
        state.close()
