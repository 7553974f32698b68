"""Carrying out a plan: one guarded write per action, its result recorded in the state right after.

Each action either succeeds and its link is recorded, or fails alone and becomes a line in the report; the run
goes on (invariant 4). A lost race (``PreconditionFailed``) is a conflict left for the next run, which sees the
new version, never an overwrite (invariant 3). Links are recorded after each write and committed in small
batches; each write's intent is committed before it is made, so the next run settles a write whose link was
never recorded, whether the run crashed after it or the write failed in a way that may have made it
(``calsync.sync.intents``; invariant 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from calsync.connectors.base import Fetched
from calsync.errors import AlreadyExists, ConnectorError, InvalidItem, NotFound, PreconditionFailed, ReadOnly
from calsync.model.content import Content
from calsync.model.refs import ItemRef, Side
from calsync.state.store import NO_STATUS, Link, PairState, SideStatus
from calsync.sync.intents import intent
from calsync.sync.observe import Endpoint, Observation, Progress, get_in_batches, link_ref, retry_item
from calsync.sync.plan import WINDOW, Action, ActionKind, Seen, decide_again, kind_of
from calsync.sync.report import Report
from calsync.sync.rules import PairPolicy

_COPIES = (ActionKind.CREATE, ActionKind.UPDATE)
_PROGRESS_EVERY = 50
"""Writes between two progress reports: a batch (one checkpoint) of slow remote writes can take a minute."""


@dataclass(frozen=True, slots=True)
class Written:
    """One remote write as ``AfterWrite`` sees it: the action, the item's href on each side as this run knows it
    ("" where it has none) and what the target held before the write (``None`` when it held nothing or was not
    read because it had not changed since the last sync), so a journal can keep the version it replaced."""

    action: Action
    hrefs: Mapping[Side, str]
    replaced: Content | None = None


AfterWrite = Callable[[Written], None]
"""Called after each remote write and before its link is recorded; tests raise from it to simulate a crash."""


class Executor:
    """Carries out one run's actions against the two endpoints and records links in the pair's state."""

    def __init__(
        self,
        endpoints: Mapping[Side, Endpoint],
        observations: Mapping[Side, Observation],
        links: Mapping[str, Link],
        state: PairState,
        report: Report,
        policy: PairPolicy,
        *,
        batch: int = 500,
        after_write: AfterWrite | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.observations = observations
        self.links = links
        self.state = state
        self.report = report
        self.policy = policy
        self.batch = max(1, batch)
        self.after_write = after_write
        self.progress = progress
        self.written: dict[Side, list[ItemRef]] = {Side.A: [], Side.B: []}
        self._kinds: dict[str, str] = {}

    def run(self, actions: list[Action]) -> None:
        """Carry out every action in batches: intents committed, writes made, links committed.

        One transaction per batch: it commits the batch's intents together with the links of the batch before,
        whose writes are all made by then. Committing those links a batch later changes nothing for a crash:
        their intents were committed before their writes, so a rerun settles them either way.
        """
        self._prefetch_sources(actions)
        for start in range(0, len(actions), self.batch):
            chunk = actions[start : start + self.batch]
            self._record_intents(chunk)
            self.state.checkpoint()
            for done, action in enumerate(chunk, start=start + 1):
                self._one(action)
                if self.progress is not None and (done % _PROGRESS_EVERY == 0 or done == len(actions)):
                    self.progress("writing", done, len(actions))
        self.state.checkpoint()

    def _record_intents(self, chunk: list[Action]) -> None:
        """Record, before writing, what each copy in ``chunk`` is meant to write (see ``calsync.sync.intents``)."""
        for action in chunk:
            source, ident = action.source, action.ident
            if source is None or action.kind not in _COPIES:
                continue
            seen = self._seen(ident, source)
            if seen is None or seen.content is None:
                continue
            status = SideStatus(seen.ref.href, seen.ref.version, seen.digest)
            self.state.put_link(
                intent(ident, self.links.get(ident), source.other, status, seen.content.digest, self._kind(ident))
            )

    def _one(self, action: Action) -> None:
        try:
            self._carry_out(action)
        except AlreadyExists as exc:
            self._matched_on_create(action, exc)
        except PreconditionFailed as exc:
            self._failed(
                action,
                f"changed on {_name(action.target)} while syncing; retried next run ({exc})",
                conflict=True,
            )
        except ReadOnly as exc:  # the whole side read-only here is a planning mistake, never a quiet skip
            whole = self.endpoints[action.target].connector.capabilities.read_only if action.target else True
            self._failed(action, str(exc), conflict=action.conflict, refused=not (whole or action.conflict))
        except ConnectorError as exc:
            self._failed(action, str(exc))

    def _carry_out(self, action: Action) -> None:
        kind = action.kind
        if kind is ActionKind.CREATE or kind is ActionKind.UPDATE:
            self._copy(action)
        elif kind is ActionKind.DELETE:
            self._delete(action)
        elif kind is ActionKind.LINK:
            self._record(
                action,
                Link(
                    action.ident,
                    self._status(action.ident, Side.A),
                    self._status(action.ident, Side.B),
                    kind=self._kind(action.ident),
                ),
            )
        elif kind is ActionKind.UNLINK:
            self._drop(action)
        elif kind is ActionKind.PARK:
            self._park(action, action.park)
        else:
            if kind is ActionKind.HOLD:
                retry_item(action.ident, self.links, self.observations)  # held until allowed or undone
            self.report.done(action)

    def _copy(self, action: Action) -> None:
        assert action.target is not None and action.source is not None
        target, source = action.target, action.source
        content = self._source_content(action.ident, source)
        endpoint = self.endpoints[target]
        if action.kind is ActionKind.CREATE:
            ref = endpoint.connector.create(endpoint.collection, content, action.ident)
        else:
            ref = endpoint.connector.update(endpoint.collection, self._target_ref(action.ident, target), content)
        self.written[target].append(ref)
        self._wrote(action, ref.href)
        stored = ref.digest or content.digest  # what the target serves from now on, if it stored another form
        copied, written = self._status(action.ident, source), SideStatus(ref.href, ref.version, stored)
        a, b = (copied, written) if target is Side.B else (written, copied)
        parked = WINDOW if action.park_after else ""
        self._record(action, Link(action.ident, a, b, kind=self._kind(action.ident), parked=parked), href=ref.href)

    def _delete(self, action: Action) -> None:
        assert action.target is not None
        endpoint = self.endpoints[action.target]
        ref = self._target_ref(action.ident, action.target)
        endpoint.connector.delete(endpoint.collection, ref)
        self._wrote(action, ref.href)
        self._drop(action, href=ref.href)

    def _wrote(self, action: Action, href: str) -> None:
        """Tell ``after_write`` of a write to ``href`` on the action's target (only built when someone listens:
        this runs for every write of a run)."""
        if self.after_write is not None:
            target = action.target
            assert target is not None
            seen = self._seen(action.ident, target)
            replaced = None if seen is None or action.kind is ActionKind.CREATE else seen.content
            hrefs = {target: href, target.other: self._status(action.ident, target.other).href}
            self.after_write(Written(action, hrefs, replaced))

    def _record(self, action: Action, link: Link, *, href: str = "") -> None:
        self.state.put_link(link)
        self.report.done(action, href=href)

    def _park(self, action: Action, parked: str) -> None:
        """Keep the link, marked as not syncing (see ``Link.parked``), with what each side shows now."""
        link = Link(
            action.ident,
            self._status(action.ident, Side.A),
            self._status(action.ident, Side.B),
            kind=self._kind(action.ident),
            parked=parked,
        )
        self._record(action, link)

    def _drop(self, action: Action, *, href: str = "") -> None:
        self.state.drop_link(action.ident)
        self.report.done(action, href=href)

    # -- where content and refs come from ---------------------------------------------------------------------

    def _seen(self, ident: str, side: Side) -> Seen | None:
        return self.observations[side].view.seen.get(ident)

    def _kind(self, ident: str) -> str:
        """``kind_of`` the item, remembered: the intent, the link and the report each ask for it."""
        kind = self._kinds.get(ident)
        if kind is None:
            views = self.observations
            kind = self._kinds[ident] = kind_of(ident, self.links.get(ident), views[Side.A].view, views[Side.B].view)
        return kind

    def _status(self, ident: str, side: Side) -> SideStatus:
        """What ``side`` holds of the item: as seen in this run, else as linked, else nothing (``NO_STATUS``:
        an item parked on the one side that ever had it)."""
        seen = self._seen(ident, side)
        if seen is not None:
            return SideStatus(seen.ref.href, seen.ref.version, seen.digest)
        link = self.links.get(ident)
        return link.side(side) if link is not None else NO_STATUS

    def _target_ref(self, ident: str, side: Side) -> ItemRef:
        seen = self._seen(ident, side)
        return seen.ref if seen is not None else link_ref(self.links[ident], side)

    def _source_content(self, ident: str, side: Side) -> Content:
        seen = self._seen(ident, side)
        if seen is None or seen.content is None:
            raise NotFound(f"the {_name(side)} copy could not be read again; retried next run")
        return seen.content

    def _prefetch_sources(self, actions: Iterable[Action]) -> None:
        """Read, in bulk, the unchanged sources that must be copied (a one-way revert, a re-create)."""
        wanted: dict[Side, dict[str, str]] = {Side.A: {}, Side.B: {}}
        for action in actions:
            if action.kind in (ActionKind.CREATE, ActionKind.UPDATE) and action.source is not None:
                seen = self._seen(action.ident, action.source)
                if seen is None and action.ident in self.links:
                    wanted[action.source][self.links[action.ident].side(action.source).href] = action.ident
        for side, by_href in wanted.items():
            if by_href:
                self._prefetch(side, by_href)

    def _prefetch(self, side: Side, by_href: dict[str, str]) -> None:
        for result in get_in_batches(self.endpoints[side], list(by_href)):
            if not isinstance(result, Fetched):
                continue  # _source_content reports it when the action runs
            ident = by_href[result.ref.href]
            link = self.links[ident].side(side)
            if result.ref.version != link.version and result.content.digest != link.digest:
                continue  # changed since it was listed: the next run sees the change
            self.observations[side].view.seen[ident] = Seen(result.ref, link.digest, None, result.content)

    # -- failures -------------------------------------------------------------------------------------------

    def _matched_on_create(self, action: Action, exc: AlreadyExists) -> None:
        """A create met an item of the same identity the listing did not show: decide again, as both new."""
        assert action.target is not None
        endpoint = self.endpoints[action.target]
        found = next(iter(endpoint.connector.get(endpoint.collection, [exc.href or ""])), None)
        if not isinstance(found, Fetched):
            self._failed(action, f"an item with this identity exists on {_name(action.target)}: {exc}")
            return
        try:
            scan = found.content.scanned()
        except InvalidItem as bad:
            self._failed(action, f"{exc.href} on {_name(action.target)} holds an unreadable item: {bad}")
            return
        if scan.facts.ident != action.ident:
            self._failed(action, f"{exc.href} on {_name(action.target)} holds another item: {exc}")
            return
        view = self.observations[action.target].view
        view.seen[action.ident] = Seen(found.ref, scan.digest, None, found.content)
        self._kinds.pop(action.ident, None)  # what the target holds may say what the item is
        a, b = self.observations[Side.A].view, self.observations[Side.B].view
        again = decide_again(action.ident, self.links.get(action.ident), a, b, self.policy)
        if again is None or again.kind is ActionKind.CREATE:
            self._failed(action, f"an item with this identity exists on {_name(action.target)}: {exc}")
            return
        self._one(again)

    def _failed(self, action: Action, message: str, *, conflict: bool = False, refused: bool = False) -> None:
        """Report a failed action and read the item again next run.

        ``refused``: the target will not take this item's write (``ReadOnly``: a meeting someone else organises,
        say), which no rerun of calsync changes; it is reported as skipped, with the reason, not as an error that
        would mark every later job of the pair as failing. A conflict whose settling write is refused stays a
        conflict: the two copies differ until someone changes one.

        The write's intent, if one was recorded, stays: a failure does not prove that nothing was written (a
        timeout after the server applied the write, a second request of a write that fails after the first),
        and only the next run, reading what the target holds, can tell (``calsync.sync.intents.settle``).
        Dropping it here would turn a lost answer into a copy with no link: a later deletion on the source
        would then bring the item back, a later edit would meet it as a conflict.
        """
        retry_item(action.ident, self.links, self.observations)
        self.report.failed(
            action.target,
            action.ident,
            action.kind.value,
            message,
            rule=action.rule,
            conflict=conflict,
            refused=refused,
        )


def _name(side: Side | None) -> str:
    return "?" if side is None else side.value.upper()
