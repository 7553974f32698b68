"""Reading one side of a pair: list or ask for changes, fetch what is new, and sort it into a ``SideView``.

Why it is careful about what it fetches: fetching and scanning are most of a run's cost. An item whose version
equals its link's is not fetched (it is SAME); an unlinked item outside the window is dropped as soon as it is
known to be; a full sync of a store that cannot filter by window fetches everything, because only the content
says whether a linked item has aged out of the window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from operator import attrgetter

from calsync.connectors.base import ChangeSet, Connector, Fetched, FetchFailed
from calsync.errors import ConnectorError, InvalidItem, NotFound
from calsync.model.refs import ItemRef, Side
from calsync.model.window import Window
from calsync.state.store import Link
from calsync.sync.intents import hrefs_of
from calsync.sync.plan import WINDOW, Seen, SideView
from calsync.sync.prescan import Prescanner
from calsync.sync.report import Report
from calsync.sync.tokens import TokenEnvelope, edge_after, sweep_due

logger = logging.getLogger(__name__)

_GROUP = 10_000
"""Fetched items held before they are scanned and sorted: scan workers idle while a group is sorted, so groups
are large, yet few enough (tens of megabytes of text at worst) that a store of years of history, most of it
outside the window, is never held in memory at once."""

Progress = Callable[[str, int, int], None]
"""Called with a phase name, items done and items in all (0 when unknown)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of a pair: a connector and one of its collections."""

    connector: Connector
    collection: str


@dataclass(slots=True)
class Observation:
    """One side as read in this run; ``edge`` is the envelope's edge to store after it."""

    view: SideView
    changes: ChangeSet
    retry: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)
    edge: int | None = None
    located_gone: set[str] = field(default_factory=set)
    """Items gone from a listing blind outside the window (``blind``) that the store, asked by identity
    (``Locating``), holds nowhere: deleted, not moved out of the window under another name."""


def read_changes(endpoint: Endpoint, token: str | None, *, full: bool, window: Window | None) -> ChangeSet:
    """What changed on ``endpoint`` since ``token``: the store's changes, or, for a store without tokens (or a
    full sync), its complete listing."""
    connector, collection = endpoint.connector, endpoint.collection
    if connector.capabilities.has_sync_token:
        return connector.changes(collection, None if full else token)
    return ChangeSet(connector.list(collection, window), (), None, complete=True)


def blind(changes: ChangeSet, window: Window | None, connector: Connector) -> bool:
    """Whether ``changes`` is a complete listing that reads nothing outside the window (a full sync, an expired
    token, a store without tokens): an item moved out of the window under another name is then missing from
    what it read, as a deleted one is."""
    return window is not None and changes.complete and connector.capabilities.filters_window


class Observer:
    """Reads one side of one pair for one run."""

    def __init__(
        self,
        side: Side,
        endpoint: Endpoint,
        links: Mapping[str, Link],
        report: Report,
        *,
        window: Window | None,
        full: bool,
        progress: Progress | None = None,
        prescanner: Prescanner | None = None,
    ) -> None:
        self.side = side
        self.endpoint = endpoint
        self.links = links
        self.report = report
        self.window = window
        self.full = full
        self.progress = progress
        self.prescanner = prescanner
        status = attrgetter("a" if side is Side.A else "b")  # every link, every run: no method call per link
        self.by_href = {status(link).href: ident for ident, link in links.items()}
        self.pending = {ident: link for ident, link in links.items() if link.pending is not None}
        for ident, link in self.pending.items():
            self.by_href.update(dict.fromkeys(hrefs_of(link, side), ident))
        self.by_href.pop("", None)
        self.vanished: set[str] = set()
        self.fetched: dict[str, str | None] = {}
        self.elsewhere: dict[str, str] = {}

    def observe(self, stored_token: str | None, changes: ChangeSet | None = None) -> Observation:
        """List or ask for changes (unless the caller asked already: ``changes``), fetch what must be read, and
        sort it all into a view."""
        envelope = TokenEnvelope.decode(stored_token)
        if changes is None:
            relist = not self.endpoint.connector.capabilities.filters_window and self._sweeping(envelope)
            token = None if relist else envelope.token  # a complete listing sees what entered the window
            changes = read_changes(self.endpoint, token, full=self.full, window=self.window)
        obs = Observation(SideView(), changes, edge=self._edge_after(envelope, changes))
        listed: set[str] = set()
        to_fetch: list[str] = []
        in_window = self._in_window(changes)
        caps = self.endpoint.connector.capabilities
        fetch_all = self.full and self.window is not None and not caps.filters_window
        for ref in changes.changed:
            listed.add(ref.href)
            ident = self.by_href.get(ref.href)
            stale = ident is None or self._stale(self.links[ident], ref)
            if in_window is not None and ref.href not in in_window:
                if ident is not None and not stale:
                    obs.view.outside.add(ident)  # aged out of the window unchanged: unlink, never delete
                if ident is None or not stale:
                    continue  # unlinked and outside: not ours to read
            if fetch_all or stale:
                to_fetch.append(ref.href)
        to_fetch.extend(href for href in envelope.retry if href not in listed)
        to_fetch.extend(self._entering(envelope, changes, listed))
        to_fetch.extend(self._intent_targets(set(to_fetch)))
        missing = self._missing(changes, listed)
        self.vanished.update(missing)
        if self._windowed_listing():
            to_fetch.extend(missing)  # absent from a windowed listing: deleted, or aged out of the window?
        else:
            obs.view.gone.update(self.by_href[href] for href in missing)
        self._fetch(list(dict.fromkeys(to_fetch)), obs)
        self._fetch([href for href in self._left_hrefs() if href not in self.fetched], obs)
        self._check_copies(obs)
        self._locate_gone(obs)
        return obs

    def _locate_gone(self, obs: Observation) -> None:
        """Ask a ``Locating`` store where the items a blind listing found gone are now: one it holds elsewhere
        moved and is read there as any move; one it holds nowhere is deleted (``Observation.located_gone``).

        Every other outcome blocks the item for this run, reported and asked again next run, never passed on as
        a deletion: found but not read there (unreadable, gone again, another item at that name), or an answer
        that cannot be trusted (the store failed, or missed an item this run read: a ``canary``)."""
        locate = getattr(self.endpoint.connector, "locate", None)  # callable: a subclass may opt out with None
        if not callable(locate) or not blind(obs.changes, self.window, self.endpoint.connector):
            return
        idents = sorted(
            ident
            for ident in obs.view.gone
            if ident in self.links and ident not in obs.view.seen and self.links[ident].parked != self.side.value
        )
        if not idents:
            return
        canary = next((ident for ident in sorted(obs.view.seen) if ident not in obs.blocked), None)
        try:
            found: dict[str, str] = locate(self.endpoint.collection, [*idents, *([canary] if canary else [])])
        except ConnectorError as exc:
            self._unlocated(idents, f"the store could not say where it is now ({exc})", obs)
            return
        if canary is not None and canary not in found:
            self._unlocated(idents, f"the store's answer by identity missed {canary!r}, which it holds", obs)
            return
        found = {ident: found[ident] for ident in idents if ident in found}
        hrefs = dict.fromkeys(href for href in found.values() if href not in self.fetched and href not in obs.retry)
        self._fetch(list(hrefs), obs)
        for ident, href in found.items():
            if ident not in obs.view.seen:
                held = self.fetched.get(href)
                what = "could not be read there" if held is None else f"{href} holds {held!r}"
                self._block(ident, href, f"the store names {href} as where it is now, but {what}", obs)
        obs.located_gone.update(ident for ident in idents if ident not in found)

    def _unlocated(self, idents: Sequence[str], why: str, obs: Observation) -> None:
        for ident in idents:
            self._block(ident, self.links[ident].side(self.side).href, why, obs)

    def _block(self, ident: str, href: str, why: str, obs: Observation) -> None:
        """Leave ``ident``, missing from a blind listing, out of this run, saying why; it is asked about again."""
        obs.blocked.add(ident)
        obs.retry.add(href)
        self.report.failed(
            self.side, ident, "read", f"missing from the complete listing, and {why}: not synced this run", href=href
        )

    def _in_window(self, changes: ChangeSet) -> set[str] | None:
        """For a complete listing that ignored the window, the hrefs the store says overlap it.

        Why: a store with sync tokens lists everything it holds, years of history included; asking it which of
        those overlap the window (one range query) spares reading every item just to learn its dates.
        """
        connector = self.endpoint.connector
        caps = connector.capabilities
        if not changes.complete or self.window is None or not caps.filters_window or not caps.has_sync_token:
            return None
        return {ref.href for ref in connector.list(self.endpoint.collection, self.window)}

    def _entering(self, envelope: TokenEnvelope, changes: ChangeSet, listed: set[str]) -> list[str]:
        """The items of the slice of the window gained since the edge (one range query) that no change set names:
        unlinked ones (an item booked months ahead that now falls within the window, unchanged), and those whose
        link is parked outside the window at another version (``_unsynced``)."""
        if changes.complete or self.window is None or envelope.edge is None or not self._sweeping(envelope):
            return []
        start = max(datetime.fromtimestamp(envelope.edge, UTC), self.window.start)
        gained = Window(start, self.window.end)
        refs = self.endpoint.connector.list(self.endpoint.collection, gained)
        return [ref.href for ref in refs if ref.href not in listed and self._unsynced(ref)]

    def _unsynced(self, ref: ItemRef) -> bool:
        """Whether an item entering the window must be read: unlinked, or edited while its link was parked
        outside the window.

        Why the second: the run that read such an edit left the link as it was (an edit outside the window is
        not synced), and its token moved past the edit; once time brings the item into the window no change set
        names it again, and it would stay unsynced until a full sync. Its version, listed by the range query
        anyway, tells it from an unchanged one, so the sweep reads only those (none when nothing is parked)."""
        ident = self.by_href.get(ref.href)
        if ident is None:
            return True
        link = self.links[ident]
        return link.parked == WINDOW and link.side(self.side).version != ref.version

    def _sweeping(self, envelope: TokenEnvelope) -> bool:
        return not self.full and sweep_due(envelope, self.endpoint.connector, self.window)

    def _edge_after(self, envelope: TokenEnvelope, changes: ChangeSet) -> int | None:
        return edge_after(envelope, self.endpoint.connector, self.window, changes)

    def _stale(self, link: Link, ref: ItemRef) -> bool:
        """Whether ``ref`` must be read: its version is not the link's, or a write to it is unconfirmed."""
        return link.side(self.side).version != ref.version or link.pending is not None

    def _intent_targets(self, already: set[str]) -> list[str]:
        """The hrefs of this side's unconfirmed writes: only their content says whether the write happened."""
        hrefs = []
        for link in self.pending.values():
            href = link.side(self.side).href
            if link.pending is not None and link.pending.target is self.side and href and href not in already:
                hrefs.append(href)
        return hrefs

    def _windowed_listing(self) -> bool:
        caps = self.endpoint.connector.capabilities
        return self.window is not None and caps.filters_window and not caps.has_sync_token

    def _missing(self, changes: ChangeSet, listed: set[str]) -> list[str]:
        if changes.complete:
            return [href for href in self.by_href if href not in listed]
        return [href for href in changes.deleted if href in self.by_href and href not in listed]

    def _fetch(self, hrefs: list[str], obs: Observation) -> None:
        """Get ``hrefs`` in the connector's batches and sort what comes back, in groups: each group's texts are
        scanned together first, on several cores when the prescanner has workers (see ``calsync.sync.prescan``)."""
        connector, collection = self.endpoint.connector, self.endpoint.collection
        batch = max(1, connector.capabilities.max_batch)
        phase = f"reading {self.side.value.upper()}"
        if self.prescanner is not None:
            self.prescanner.expect(len(hrefs))
        group: list[Fetched | FetchFailed] = []
        for start in range(0, len(hrefs), batch):
            group.extend(connector.get(collection, hrefs[start : start + batch]))
            if len(group) >= _GROUP:
                self._sort_group(group, obs)
                group = []
            if self.progress is not None:
                self.progress(phase, min(start + batch, len(hrefs)), len(hrefs))
        self._sort_group(group, obs)

    def _sort_group(self, group: list[Fetched | FetchFailed], obs: Observation) -> None:
        if self.prescanner is not None:
            self.prescanner.scan([result.content for result in group if isinstance(result, Fetched)])
        for result in group:
            if isinstance(result, Fetched):
                self._sort(result, obs)
            elif isinstance(result.error, NotFound):
                self._gone(result.href, obs)
            else:
                self._unreadable(result.href, str(result.error), obs)

    def _sort(self, fetched: Fetched, obs: Observation) -> None:
        href = fetched.ref.href
        try:
            scan = fetched.content.scanned()
        except InvalidItem as exc:
            self._unreadable(href, str(exc), obs)
            return
        ident = scan.facts.ident
        previous = self.by_href.get(href)
        if previous is not None and previous != ident and previous not in obs.view.seen:
            obs.view.gone.add(previous)  # the file now holds another item: the old one is gone from here
        lo, hi = scan.facts.span
        outside = self.window is not None and not self.window.overlaps(lo, hi)
        self.fetched[href] = ident
        if outside and ident not in self.links:
            return
        if ident in obs.view.seen:
            self._duplicate(ident, href, obs)
            return
        if self._linked_elsewhere(ident, href):
            self.elsewhere[ident] = href
        obs.view.gone.discard(ident)
        obs.view.seen[ident] = Seen(fetched.ref, scan.digest, None, fetched.content, outside)

    def _linked_elsewhere(self, ident: str, href: str) -> bool:
        """Whether ``ident`` is linked to another href on this side that still exists (a copied item).

        A link parked because the item was deleted on this side names a file known to be gone (its deletion was
        reported by an earlier run, so no listing names it again): the item back at a new href is no copy.
        """
        link = self.links.get(ident)
        if link is None or link.parked == self.side.value:
            return False
        linked_href = link.side(self.side).href
        return (
            bool(linked_href)
            and linked_href != href
            and linked_href not in self.vanished
            and (self.by_href.get(linked_href) == ident and link.pending is None)
        )

    def _left_hrefs(self) -> list[str]:
        """The linked hrefs of the items found at a new href (``elsewhere``).

        Why read them: whether the item moved or was copied depends on whether its linked href still holds it,
        and no change set of this run may say so (a move whose deletion an earlier run read, while the link
        was left as it was: an edit outside the window is synced when it enters it)."""
        return [self.links[ident].side(self.side).href for ident in self.elsewhere]

    def _check_copies(self, obs: Observation) -> None:
        """An item found at a new href while its linked href still holds it is a copy, not a move."""
        for ident, href in self.elsewhere.items():
            linked_href = self.links[ident].side(self.side).href
            if linked_href in self.fetched and self.fetched[linked_href] != ident:
                continue  # the old href is gone or holds another item now: the item moved
            if ident in obs.view.seen and obs.view.seen[ident].ref.href == href:
                del obs.view.seen[ident]
            self._duplicate(ident, href, obs)

    def _gone(self, href: str, obs: Observation) -> None:
        self.fetched[href] = None
        ident = self.by_href.get(href)
        if ident is not None and ident not in obs.view.seen:
            obs.view.gone.add(ident)

    def _unreadable(self, href: str, message: str, obs: Observation) -> None:
        ident = self.by_href.get(href, "")
        if ident:
            obs.blocked.add(ident)
        obs.retry.add(href)
        self.report.failed(self.side, ident, "read", message, href=href)

    def _duplicate(self, ident: str, href: str, obs: Observation) -> None:
        seen = obs.view.seen.get(ident)
        first = seen.ref.href if seen is not None else self.links[ident].side(self.side).href
        if ident in obs.blocked and href in obs.retry:
            return
        obs.blocked.add(ident)
        obs.retry.update((href, first))
        self.report.failed(
            self.side,
            ident,
            "read",
            f"two items carry the identity {ident!r} ({first} and {href}); neither is synced "
            "until one is removed or given another UID",
            href=href,
        )


def read_kept_copies(
    endpoint: Endpoint,
    side: Side,
    idents: Iterable[str],
    links: Mapping[str, Link],
    view: SideView,
    window: Window | None,
    now: datetime,
) -> None:
    """Read into ``view`` ``side``'s linked copies of ``idents``, items deleted on the other side whose copy here
    may lie outside the window, placed against it (``Seen.leaves_window``) and against ``now`` (``Seen.ahead``:
    still to come); one already read is only placed. The plan then decides the deletion as in the window for a
    copy in the window or ahead of it, and never for one behind it (``plan._deleted_outside``).

    Why read: a run with sync tokens learns that an unchanged item aged out only from a full listing, and a
    complete listing places a copy outside the window without reading it (one range query); either way, the
    copy's dates alone tell an old appointment the calendar's user keeps (never deleted) from one booked months
    ahead (deleted where the pair deletes: else it would come back when it entered the window). A copy that
    cannot be read is left unread, to the plan as before.
    """
    by_href: dict[str, str] = {}
    for ident in idents:
        seen = view.seen.get(ident)
        if seen is None:
            by_href[links[ident].side(side).href] = ident
        elif seen.content is not None:
            view.seen[ident] = replace(seen, ahead=_to_come(seen.content.scanned().facts.span, now))
    by_href.pop("", None)
    for result in get_in_batches(endpoint, list(by_href)):
        if not isinstance(result, Fetched) or result.ref.href not in by_href:
            continue
        try:
            scan = result.content.scanned()
        except InvalidItem:
            continue
        ident = by_href[result.ref.href]
        if scan.facts.ident == ident:
            span = scan.facts.span
            outside = window is not None and not window.overlaps(*span)
            view.seen[ident] = Seen(result.ref, scan.digest, None, result.content, outside, _to_come(span, now))


def _to_come(span: tuple[float | None, float | None], now: datetime) -> bool:
    return span[0] is not None and span[0] >= now.timestamp()


def get_in_batches(endpoint: Endpoint, hrefs: Sequence[str]) -> Iterator[Fetched | FetchFailed]:
    """``get`` of ``hrefs`` in the batches the connector takes (``Capabilities.max_batch``)."""
    batch = max(1, endpoint.connector.capabilities.max_batch)
    for start in range(0, len(hrefs), batch):
        yield from endpoint.connector.get(endpoint.collection, hrefs[start : start + batch])


def retry_item(ident: str, links: Mapping[str, Link], observations: Mapping[Side, Observation]) -> None:
    """Read every href known for ``ident`` again next run, on both sides.

    Why both sides and every href: a token moves past what it reported, so an item that was not synced this
    run (its write failed, it was blocked, its deletion was held) would otherwise be forgotten on the side that
    did change, and an href it left (a move) would look like a second copy.
    """
    link = links.get(ident)
    for side, obs in observations.items():
        seen = obs.view.seen.get(ident)
        hrefs = [seen.ref.href] if seen is not None else []
        if link is not None:
            hrefs += hrefs_of(link, side)
        obs.retry.update(href for href in hrefs if href)


def link_ref(link: Link, side: Side) -> ItemRef:
    """The ref a link remembers for ``side``."""
    status = link.side(side)
    return ItemRef(status.href, status.version)
