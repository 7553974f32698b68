"""The sync engine: list -> fetch -> plan -> execute, for one pair at a time.

The engine knows no protocol: it talks to two ``Connector`` values and a ``StateStore``, and it decides nothing
itself (``plan()`` does). What it adds is the order of things and their safety: the pair's lock is held for the
whole run (invariant 5), the mass-deletion guard looks at the whole plan before anything is written, tokens are
stored only after the changes they report have been applied (a crash replays them), and a dry run stops after
planning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from calsync.connectors.base import ChangeSet
from calsync.errors import CalsyncError
from calsync.model.refs import Side
from calsync.model.window import Window
from calsync.state.store import JobKind, JobOutcome, Link, LinkCensus, PairState, Rebound, StateStore, run_owner
from calsync.sync.actions import AfterWrite, Executor
from calsync.sync.collector import relaxed_collector
from calsync.sync.guard import Decisions, DeletionGuard
from calsync.sync.intents import settle
from calsync.sync.observe import (
    Endpoint,
    Observation,
    Observer,
    Progress,
    blind,
    read_changes,
    read_kept_copies,
    retry_item,
)
from calsync.sync.plan import WINDOW, Seen, SideView, plan
from calsync.sync.prescan import Prescanner
from calsync.sync.report import Report
from calsync.sync.rules import PairPolicy
from calsync.sync.tokens import TokenEnvelope, edge_after, sweep_due

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PairSpec:
    """One pair to sync: its name (the unit of locking and state), its two endpoints, policy and window.

    ``window`` is (days back, days forward) around the run's time, or ``None`` to sync everything.
    """

    name: str
    a: Endpoint
    b: Endpoint
    policy: PairPolicy = field(default_factory=PairPolicy)
    window: tuple[int, int] | None = (30, 30)
    bound_to: str | None = ""
    """What the pair's state is bound to (``PairState.bind``): ``""`` for ``collections``, a caller's own key
    (one whose mailbox ids ignore case, say), or ``None`` to bind nothing (the links are trusted as they are)."""
    deleted_on_a: Callable[[Sequence[str]], Mapping[str, str]] | None = None
    """Asked, with the idents found on B only and with no link, which of them A's system deleted itself, and the
    digest of the content it served last (the business store keeps deleted items): see ``ItemRules.deleted``.
    Only for a pair with item rules; only asked when there are such idents."""

    @property
    def collections(self) -> str:
        """Each side's store and collection, as the pair's state is bound to them by default."""
        return f"A: {self.a.connector.name}:{self.a.collection}\nB: {self.b.connector.name}:{self.b.collection}"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run: full or incremental, dry or for real, and the hooks a caller may attach.

    ``rejected``: items whose held deletion an admin rejected (created again where they were deleted);
    ``held``: items whose deletion an earlier run held and no admin has decided on yet (held again, whatever the
    guard says now: a hold waits for a decision, it does not lapse when other changes dilute the ratio);
    ``approved``: items whose held deletion an admin approved (deleted; the guard still weighs the others).
    """

    kind: JobKind = JobKind.INTERVAL
    full: bool = False
    dry_run: bool = False
    allow_mass_delete: bool = False
    rejected: frozenset[str] = frozenset()
    held: frozenset[str] = frozenset()
    approved: frozenset[str] = frozenset()
    now: datetime | None = None
    owner: str = field(default_factory=run_owner)
    checkpoint_every: int = 500
    progress: Progress | None = None
    after_write: AfterWrite | None = None


def sync_pair(spec: PairSpec, store: StateStore, options: RunOptions | None = None) -> Report:
    """Run one pair once and return its report; the job and its lines are stored unless it is a dry run.

    Raises ``PairLocked`` when another run holds the pair, and any ``CalsyncError`` that made going on unsafe
    (a side unreachable, the state store failing); the job is then stored as Failed with the error's message and
    the warnings the run had given before (that it started afresh, say: its links are gone all the same), as when
    the run is stopped (SIGTERM, Ctrl-C).
    """
    options = options or RunOptions()
    with relaxed_collector(), store.lock_pair(spec.name, options.owner):
        if options.dry_run:
            with store.open_pair(spec.name) as state:
                return _Run(spec, state, options).run()
        job = store.start_job(spec.name, JobKind.FULL if options.full else options.kind)
        finished = False
        warnings: list[str] = []
        try:
            with store.open_pair(spec.name) as state:
                run = _Run(spec, state, options)
                warnings = run.report.warnings
                report = run.run()
            # inside the try: a failure or a stop (SIGTERM) while recording the end must not leave the job running
            store.add_job_lines(job, report.lines)
            store.finish_job(job, report.outcome, report.counts(), "; ".join(report.warnings))
            finished = True
        except BaseException as exc:
            if not finished:
                why = str(exc) if isinstance(exc, CalsyncError) else "the run was interrupted"
                before = f" (before that: {'; '.join(warnings)})" if warnings else ""
                store.finish_job(job, JobOutcome.FAILED, {}, f"{why}{before}")
            raise
        return report


class _Run:
    """One run of one pair."""

    def __init__(self, spec: PairSpec, state: PairState, options: RunOptions) -> None:
        self.spec = spec
        self.state = state
        self.options = options
        self.report = Report(spec.name, dry_run=options.dry_run)
        now = self.now = options.now or datetime.now(UTC)
        self.window = Window.around(now, *spec.window) if spec.window is not None else None
        self.stored_tokens: dict[Side, str | None] = {}
        self.census = LinkCensus(0, 0)
        self.rebound: Rebound | None = None
        """What ``_bind`` found: what the pair was bound to before, when it was bound to other collections, and
        how many links it took up (``None``: bound as before)."""

    def run(self) -> Report:
        self._bind()
        return self._run()

    def _run(self) -> Report:
        changes = self._early_changes()
        if changes is not None and self._quiet(changes):
            return self._nothing_changed(changes)
        stored = self.state.links()
        with Prescanner() as prescanner:
            observations = {side: self._observe(side, stored, changes, prescanner) for side in (Side.A, Side.B)}
        links = self._settle(stored, observations)
        self._look_behind_deletions(links, observations)
        for obs in observations.values():
            self.report.note_titles(
                (ident, seen.content.facts.title) for ident, seen in obs.view.seen.items() if seen.content is not None
            )
        blocked = observations[Side.A].blocked | observations[Side.B].blocked
        for ident in blocked:
            retry_item(ident, links, observations)
        self._found_back(links, observations, blocked)
        policy = self._policy(links, observations)
        actions = [
            a
            for a in plan(links, observations[Side.A].view, observations[Side.B].view, policy)
            if a.ident not in blocked
        ]
        guard = self._guard(policy)
        actions = guard.apply(actions, links, observations)
        self._still_back(guard.undone_away)
        self.report.planned = actions
        touched = {a.ident for a in actions} | blocked
        self.report.unchanged = sum(1 for ident in links if ident not in touched)
        if self.options.dry_run:
            for action in actions:
                self.report.done(action)
            return self.report
        executor = Executor(
            self._endpoints(),
            observations,
            links,
            self.state,
            self.report,
            policy,
            batch=self.options.checkpoint_every,
            after_write=self.options.after_write,
            progress=self.options.progress,
        )
        executor.run(actions)
        self.state.checkpoint()
        self._store_tokens(observations, executor)
        return self.report

    def _policy(self, links: Mapping[str, Link], observations: Mapping[Side, Observation]) -> PairPolicy:
        """The pair's policy, with what A says of the copies found on B only with no link (``deleted_on_a``)."""
        policy, look_up = self.spec.policy, self.spec.deleted_on_a
        if look_up is None or policy.items is None:
            return policy
        a, b = observations[Side.A].view, observations[Side.B].view
        unlinked = [ident for ident in b.seen if ident not in links and ident not in a.seen]
        if not unlinked:
            return policy
        return replace(policy, items=replace(policy.items, deleted=dict(look_up(unlinked))))

    def _guard(self, policy: PairPolicy) -> DeletionGuard:
        options, endpoints = self.options, self._endpoints()
        decisions = Decisions(options.allow_mass_delete, options.held, options.approved, options.rejected)
        logged = {side: endpoints[side].connector.capabilities.logs_deletions for side in Side}
        return DeletionGuard(policy, decisions, self.report, logged)

    def _still_back(self, undone: Collection[str]) -> None:
        """Log that deletions made while the pair was away are still being undone, in a run after the one that
        came back (which says it took up links): each such item is tried again at every run until it is back.

        Why a log line and not a warning of the job: each item's own line already says so, with its outcome (an
        error while the write fails, skipped while the server refuses it for good); a warning would mark every job
        of the pair as completed with warnings for as long as one copy is refused, which may be for good."""
        if not undone or self.rebound is not None:
            return
        items = f"{len(undone)} item{'' if len(undone) == 1 else 's'}"
        logger.info(
            "%s: still bringing back %s deleted while it synced other collections (each is created again where it "
            "was deleted, not passed on as a deletion)",
            self.spec.name,
            items,
        )

    def _found_back(
        self, links: dict[str, Link], observations: Mapping[Side, Observation], blocked: Collection[str]
    ) -> None:
        """Take off each link's mark (``Link.away``) for the sides where this run found its item (``_found``), in
        ``links`` and, unless the run is dry, in the state: a later deletion there is the user's, and passes on
        as any other.

        Why before planning, whatever the run then does with the item: the mark says only that an absence may
        date from while the pair was away; once the item is found there after coming back, none can. A write
        that then fails keeps the link as recorded here (its intent is made from it), so the next run still
        undoes a deletion made while the pair was away, and only that. An item that could not be read keeps
        its mark.
        """
        marked = [link for ident, link in links.items() if link.away and ident not in blocked]
        if not marked:
            return
        read = {side: (obs.view, {ref.href for ref in obs.changes.changed}) for side, obs in observations.items()}
        found: dict[str, Link] = {}
        for link in marked:
            away = "".join(value for value in link.away if not _found(link, Side(value), *read[Side(value)]))
            if away != link.away:
                found[link.ident] = replace(link, away=away)
        links.update(found)
        if not self.options.dry_run:
            for link in found.values():
                self.state.put_link(link)

    def _bind(self) -> None:
        """Keep the links of other collections apart when the pair syncs other collections than its links were
        made with (a user's new mailbox), saying so once; see ``PairState.bind``."""
        key = self.spec.collections if self.spec.bound_to == "" else self.spec.bound_to
        if key is None:
            return
        rebound = self.rebound = self.state.bind(key, dry_run=self.options.dry_run)
        if rebound is None:
            return
        dry = self.options.dry_run
        before, now = ", ".join(rebound.before.splitlines()), ", ".join(key.splitlines())
        if rebound.resumed:
            then = f"{'would take' if dry else 'took'} up the {rebound.resumed} links it had there when it synced them"
        else:
            then = f"{'would start' if dry else 'started'} afresh there, matching the items of both sides by identity"
        message = (
            f"this pair synced {before} before, not {now}: it {then} (its links with the former are kept, for when "
            "it syncs them again)"
        )
        logger.warning("%s: %s", self.spec.name, message)
        self.report.warnings.append(message)

    def _settle(self, stored: dict[str, Link], observations: Mapping[Side, Observation]) -> dict[str, Link]:
        """Settle the intents a crashed run left (see ``calsync.sync.intents``); recorded unless dry."""
        endpoints = self._endpoints()
        recreate = frozenset(side for side in Side if endpoints[side].connector.capabilities.creates_by_identity)
        settled = settle(stored, {side: obs.view for side, obs in observations.items()}, recreate)
        if not self.options.dry_run and (settled.record or settled.drop):
            for link in settled.record:
                self.state.put_link(link)
            for ident in settled.drop:
                self.state.drop_link(ident)
            self.state.checkpoint()
        for ident, target in settled.again.items():
            observations[target].view.seen.pop(ident, None)  # planned as new on the source: created again
        return settled.links

    def _look_behind_deletions(self, links: Mapping[str, Link], observations: Mapping[Side, Observation]) -> None:
        """Before a deletion is passed on, read the copy it would delete where that copy may lie outside the
        window (``read_kept_copies``): one behind it is unlinked, never deleted; one ahead of it is decided as in
        the window (``plan._deleted_outside``), else it would come back when it entered the window."""
        for side in (Side.A, Side.B):
            other = observations[side.other].view
            idents = [
                ident
                for ident in observations[side].view.gone
                if (link := links.get(ident)) is not None
                and ident not in other.gone
                and self._maybe_outside(link, other.seen.get(ident))
            ]
            if idents:
                read_kept_copies(self._endpoints()[side.other], side.other, idents, links, other, self.window, self.now)
                self._blind_to_moves(side, idents, observations)

    def _blind_to_moves(self, side: Side, idents: Collection[str], observations: Mapping[Side, Observation]) -> None:
        """Take the other copy of each item gone from ``side`` in a complete listing that reads nothing outside the
        window (a range query: a full sync, an expired token, the first run back) as not known to be ahead of
        the window: the link is forgotten and that copy kept, as before, never the deletion passed on.

        Why: such a listing never reads an unlinked href outside the window, so an item saved there under another
        name (a client's re-save, a calendar moved and back) looks deleted, and passing that on would delete the
        other copy though no one deleted anything. An incremental run names the new href too, and decides; a
        store that finds items by identity (``Locating``) says which it was, and a deletion it confirms is
        decided as in the window. What is left, on the other stores: a far-ahead item deleted just before a full
        sync comes back when it enters the window."""
        obs = observations[side]
        if not blind(obs.changes, self.window, self._endpoints()[side].connector):
            return
        other = observations[side.other].view
        for ident in idents:
            if ident in obs.located_gone:
                continue  # the store holds it nowhere: deleted, not moved (``Observer._locate_gone``)
            seen = other.seen.get(ident)
            if seen is not None and seen.leaves_window and seen.ahead:
                other.seen[ident] = replace(seen, ahead=False)

    def _maybe_outside(self, link: Link, seen: Seen | None) -> bool:
        """Whether the other copy of an item deleted on one side may lie outside the window: its link is parked
        there, or (within a window) the run did not read it, or read it outside."""
        if link.parked:
            return link.parked == WINDOW
        return self.window is not None and (seen is None or seen.leaves_window)

    def _endpoints(self) -> dict[Side, Endpoint]:
        return {Side.A: self.spec.a, Side.B: self.spec.b}

    def _observe(
        self,
        side: Side,
        links: Mapping[str, Link],
        changes: Mapping[Side, ChangeSet] | None,
        prescanner: Prescanner,
    ) -> Observation:
        observer = Observer(
            side,
            self._endpoints()[side],
            links,
            self.report,
            window=self.window,
            full=self.options.full,
            progress=self.options.progress,
            prescanner=prescanner,
        )
        if side not in self.stored_tokens:
            self.stored_tokens[side] = self.state.token(side)
        return observer.observe(self.stored_tokens[side], changes[side] if changes is not None else None)

    # -- a run with nothing to do -------------------------------------------------------------------------------

    def _early_changes(self) -> dict[Side, ChangeSet] | None:
        """Both sides' changes since their tokens, asked before the links are loaded; ``None`` when this run
        cannot be a quiet one (a full sync, a decision on held items, a side without a token or with items to
        read again), and the observers ask as usual.

        Why: most interval runs find nothing changed, and loading every link (10,000 of them take longer than
        asking two stores for their changes) is then the largest part of the run.
        """
        opts = self.options
        if opts.full or opts.held or opts.approved or opts.rejected:
            return None
        tokens: dict[Side, str] = {}
        for side, endpoint in self._endpoints().items():
            self.stored_tokens[side] = stored = self.state.token(side)
            envelope = TokenEnvelope.decode(stored)
            if not endpoint.connector.capabilities.has_sync_token or envelope.token is None or envelope.retry:
                return None
            if sweep_due(envelope, endpoint.connector, self.window):
                return None  # the window gained a slice to ask for (``Observer._entering``)
            tokens[side] = envelope.token
        return {
            side: read_changes(endpoint, tokens[side], full=False, window=self.window)
            for side, endpoint in self._endpoints().items()
        }

    def _quiet(self, changes: Mapping[Side, ChangeSet]) -> bool:
        """Whether neither side changed and no write of an earlier run waits to be confirmed."""
        if any(c.changed or c.deleted or c.complete for c in changes.values()):
            return False
        self.census = self.state.census()
        return self.census.pending == 0

    def _nothing_changed(self, changes: Mapping[Side, ChangeSet]) -> Report:
        """The report of a quiet run: every link unchanged; a token the store moved on is stored."""
        self.report.unchanged = self.census.links
        if not self.options.dry_run:
            endpoints = self._endpoints()
            for side, change in changes.items():
                envelope = TokenEnvelope.decode(self.stored_tokens.get(side))
                edge = edge_after(envelope, endpoints[side].connector, self.window, change)
                encoded = TokenEnvelope(change.token, edge=edge).encode()
                if encoded != self.stored_tokens.get(side):
                    self.state.set_token(side, encoded)
            self.state.checkpoint()
        return self.report

    def _store_tokens(self, observations: Mapping[Side, Observation], executor: Executor) -> None:
        for side, endpoint in self._endpoints().items():
            obs = observations[side]
            token = endpoint.connector.absorb_writes(endpoint.collection, obs.changes.token, executor.written[side])
            encoded = TokenEnvelope(token, obs.retry, obs.edge).encode()
            if encoded != self.stored_tokens.get(side):  # a large unchanged token is not written again
                self.state.set_token(side, encoded)
        self.state.checkpoint()


def _found(link: Link, side: Side, view: SideView, listed: Collection[str]) -> bool:
    """Whether a run found ``link``'s item on ``side``: read there, or named by the side's listing or changes
    (``listed``) at the href it is linked to, and neither gone nor out of the window (unless its link is parked
    outside the window: then it is always out, and being listed is all a run learns of it until it is edited).

    Why the listing: an unchanged item is not read, only listed, and a complete listing (as the first run back
    always asks for: ``bind`` drops the tokens) lists every item there. An item an incremental run does not
    name is not found: nothing says it is still there.
    """
    ident = link.ident
    if ident in view.seen:
        return True
    outside = ident in view.outside and link.parked != WINDOW
    return link.side(side).href in listed and ident not in view.gone and not outside
