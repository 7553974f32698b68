"""The pairs of one integration's run: which pairs a user has, the policy each runs under, the journal of its writes.

Why it stands apart from ``hub_sync``: that module is the use case (which integration and users, the run's
webhooks, the deletions held for an admin); this one is what a single pair is made of and how it is run. A pair
is the business store (A) with one of the user's collections (B); ``PairRunner._policy`` turns the user's options
and the integration's rules into the pair's policy, as ``hub_sync`` describes them. An error ends only its own
pair, as that pair's outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial

from calsync.connectors.base import Connector
from calsync.connectors.business import BusinessConnector, ImportOptions, collection_id
from calsync.connectors.memory import MemoryConnector
from calsync.errors import CalsyncError, ConfigError, InvalidItem
from calsync.model.content import Content
from calsync.model.item import ItemKind
from calsync.model.mapping import MappingRules, category_colours
from calsync.model.refs import Side
from calsync.services.connections import (
    CollectionKind,
    IntegrationConnectors,
    existing_user_collection,
    made_collection,
    user_collection,
)
from calsync.services.hub_binding import HubPair
from calsync.services.hub_rules import HubRules
from calsync.services.integrations import IntegrationView, UserView
from calsync.services.syncing import PairOutcome
from calsync.state.business_port import BusinessRow, BusinessStore, Change, NewJournal
from calsync.state.store import JobOutcome, StateStore
from calsync.sync.actions import Written
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from calsync.sync.plan import ActionKind
from calsync.sync.rules import ItemRules, Mode, PairPolicy

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
class PairRunner:
    """Runs the pairs of one integration, a user at a time, against one business store, state store and set of
    connectors."""

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
        pair = HubPair(self.view, user.business_user, kind)
        name = pair.name
        label = f"{self.view.connection_type}:{user.mailbox}"
        outcome = partial(PairOutcome, name, a=f"business:{pair.business_collection}", b=label)
        try:
            real = _connector(self.connectors, kind)
            last = pair.synced(self.state)
            calendar = _calendar_side(real, user.mailbox, kind, dry_run=options.dry_run, last=last)
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
                spec = self._spec(pair, user, business, calendar)
                report = sync_pair(spec, self.state, pair_options)
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

    def _spec(self, pair: HubPair, user: UserView, business: BusinessConnector, calendar: Endpoint) -> PairSpec:
        """The pair's run, its state bound as ``HubPair.binding`` says, a dry run's stand-in too: a dry run binds
        nothing, it reads the links the binding would give (those kept from when the pair synced that collection,
        or none), where the pair's present links would name another mailbox's items."""
        owner = _owner(user, pair.kind)
        policy = self._policy(user, pair.kind, business, owner, calendar.connector)
        collection = pair.business_collection
        bound_to = pair.binding(calendar.collection)
        return PairSpec(
            pair.name,
            Endpoint(business, collection),
            calendar,
            policy,
            self._window(),
            bound_to,
            deleted_on_a=partial(business.deleted, collection),
        )

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


def _calendar_side(
    calendar: Connector, mailbox: str, kind: CollectionKind, *, dry_run: bool, last: Iterable[str]
) -> Endpoint:
    """The user's collection of ``kind``: the latest the pair synced (``last``) that is still fit, else found or
    made when missing (idempotent). A dry run makes nothing: it plans a missing one as the empty collection a
    sync would make, an in-memory stand-in as read-only as the real side."""
    if not dry_run:
        return Endpoint(calendar, user_collection(calendar, mailbox, kind, last=last))
    found = existing_user_collection(calendar, mailbox, kind, last=last)
    if found is not None:
        return Endpoint(calendar, found)
    empty = MemoryConnector(calendar.name, read_only=calendar.capabilities.read_only)
    made = made_collection(calendar, mailbox, kind, last=last)
    empty.make_collection(made)
    return Endpoint(empty, made)


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
