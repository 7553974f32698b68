"""A hub pair by name and binding: one user's collection of one kind beside the business store, the collections
its state is bound to (``PairState.bind``), and the user's collections it synced, latest first.

Why it stands apart from ``hub_pairs``: the binding is written there, at each run, and read back here by every
caller that must name the user's collection the sync uses, in a run or outside one (a dry run, presence). How the
hub spells its binding is known in this module alone, so writing it and reading it back stay side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from calsync.config import Settings
from calsync.connectors.business import collection_id
from calsync.services.connections import CollectionKind
from calsync.services.integration_rules import ADDRESSED, CalendarType
from calsync.services.integrations import IntegrationView, whereabouts
from calsync.services.syncing import open_state_store
from calsync.state.store import StateStore


class SyncedCalendars:
    """The user's collections a pair synced on its integration's whereabouts, latest first, as the server named
    them (``connections.choose_collection``'s ``last``): the one its state is bound to, then those whose links it
    keeps shelved (``PairState.bind``), newest first. Those are read only when iterated past the first (it is not
    listed in the user's home, or no longer fit), and once however often iterated (a dry run's
    ``made_collection`` reads them again)."""

    __slots__ = ("_bound", "_read", "_shelved")

    def __init__(self, bound: str | None, shelved: Callable[[], list[str]]) -> None:
        self._bound = bound
        self._shelved = shelved
        self._read: list[str] | None = None

    def __iter__(self) -> Iterator[str]:
        if self._bound is not None:
            yield self._bound
        if self._read is None:
            self._read = self._shelved()
        yield from self._read


NONE_SYNCED = SyncedCalendars(None, list)
"""A pair that never ran, or whose collection discovery does not choose: nothing to keep to."""


@dataclass(frozen=True, slots=True)
class HubPair:
    """The pair of ``business_user``'s collection of ``kind`` on ``view``'s server with the business store."""

    view: IntegrationView
    business_user: str
    kind: CollectionKind

    @property
    def name(self) -> str:
        """``<integration>/<business user>/<kind>``: the unit of locking, state and jobs."""
        return f"{self.view.name}/{self.business_user}/{self.kind.value}"

    @property
    def business_collection(self) -> str:
        """The business store's collection; contacts are the company's, not one user's."""
        owner = "" if self.kind is CollectionKind.CONTACTS else self.business_user
        return collection_id(owner, self.kind.value)

    def binding(self, calendar: str) -> str:
        """What the pair's state is bound to when it syncs the user's collection ``calendar``: the business
        collection, and ``calendar`` on the server and account the integration reaches (``whereabouts``: an
        admin's change of either, even during a run, makes the next run start afresh, or take up the links it had
        there when it is pointed back), without case where it is named by an e-mail address (EWS, Graph:
        ``Anna@`` and ``anna@`` are one mailbox)."""
        if self.view.connection_type in ADDRESSED:
            calendar = calendar.casefold()
        return self._binding(whereabouts(self.view), calendar)

    def synced(self, state: StateStore) -> SyncedCalendars:
        """The user's collections the pair synced on this server and account, latest first, as the server named
        them: what a run keeps to, the first of them discovery still finds fit (``connections.user_collection``'s
        ``last``). So a pair bound to another mailbox's collection or another server's (its user moved and back,
        its integration re-pointed and back) goes back to the one whose links it shelved here, and takes them up,
        instead of choosing anew and making every item again beside its copies.

        Nothing (``NONE_SYNCED``) when the pair never ran, or its collection is not chosen by discovery
        (``DISCOVERED``: then the state is not read at all). Its shelved ones are read from ``state`` only when
        iterated that far, so it must be open then.
        """
        if self.view.connection_type not in DISCOVERED:
            return NONE_SYNCED
        return self.synced_from(state.bound_to(self.name), whereabouts(self.view), state.shelved_bindings)

    def synced_from(
        self, bound: str | None, where: str, shelved: Callable[[list[str]], Mapping[str, Iterable[str]]]
    ) -> SyncedCalendars:
        """``synced`` from ``bound``, the pair's binding, on ``where`` (the integration's ``whereabouts``, given so
        that many users' pairs need it once), its shelved bindings read through ``shelved`` (as
        ``StateStore.shelved_bindings``) when needed."""
        if bound is None:  # a pair never bound has nothing shelved
            return NONE_SYNCED

        def shelves() -> list[str]:
            bindings = shelved([self.name]).get(self.name, ())
            return [found for binding in bindings if (found := self.calendar_in(binding, where))]

        return SyncedCalendars(self.calendar_in(bound, where), shelves)

    def calendar_in(self, bound: str | None, where: str) -> str | None:
        """The user's collection named in ``bound``, one of the pair's bindings, if it was made on ``where``."""
        head = self._binding(where, "")
        if bound is None or not bound.startswith(head):
            return None
        return bound.removeprefix(head) or None

    def _binding(self, where: str, calendar: str) -> str:
        return f"A: business:{self.business_collection}\nB: {where} {calendar}"


DISCOVERED = frozenset({CalendarType.CALDAV, CalendarType.CARDDAV})
"""Connection types whose users' collections are chosen by discovery among several (``connections._DavHomes``), so
a pair keeps to the latest it synced that is still listed and fit (``HubPair.synced``); elsewhere the mailbox
names the collection, and no binding is read back."""


@contextmanager
def synced_calendars(
    settings: Settings, view: IntegrationView, business_users: Iterable[str], kind: CollectionKind
) -> Iterator[dict[str, SyncedCalendars]]:
    """``HubPair.synced`` of each of ``business_users``, by business user (users whose pair never ran are left
    out), for a caller that finds the users' collections outside a run (presence, of one user or all), with the
    state store open for the block; none is opened unless the connection type is in ``DISCOVERED``.

    Reads one user's binding alone, or all the integration's in one read; then the shelved ones of the pairs
    bound to other whereabouts (their integration re-pointed), whose only candidates they are, in one more; any
    other pair's alone, only when its first is not listed in the user's home (its user moved to another mailbox
    since it ran). Never every shelved link of the integration: they pile up with each move, and a pair that no
    longer runs stays bound elsewhere for good.
    """
    if view.connection_type not in DISCOVERED:
        yield {}
        return
    where = whereabouts(view)
    pairs = [HubPair(view, user, kind) for user in business_users]
    state = open_state_store(settings)
    try:
        bound = _bindings(state, view.name, pairs)
        elsewhere = [
            pair.name for pair in pairs if pair.name in bound and not pair.calendar_in(bound[pair.name], where)
        ]
        shelves = _Shelves(state, elsewhere)
        yield {
            pair.business_user: pair.synced_from(bound[pair.name], where, shelves.of)
            for pair in pairs
            if pair.name in bound
        }
    finally:
        state.close()


def _bindings(state: StateStore, integration: str, pairs: list[HubPair]) -> dict[str, str]:
    """The pairs' bindings by name (never bound: left out): one pair's alone, many pairs' with all the
    integration's in one read, whatever their number."""
    if len(pairs) != 1:
        return state.bindings(f"{integration}/")
    found = state.bound_to(pairs[0].name)
    return {} if found is None else {pairs[0].name: found}


class _Shelves:
    """Pairs' shelved bindings (``StateStore.shelved_bindings``) read from an open state store: those of ``first``
    at once, in one read; any other pair's alone, when asked."""

    def __init__(self, state: StateStore, first: list[str]) -> None:
        self._state = state
        self._read = state.shelved_bindings(first)
        self._asked = set(first)

    def of(self, names: list[str]) -> dict[str, list[str]]:
        """``StateStore.shelved_bindings`` of ``names``, reading only those not read yet."""
        unread = [name for name in names if name not in self._asked]
        if unread:
            self._read |= self._state.shelved_bindings(unread)
            self._asked.update(unread)
        return {name: self._read[name] for name in names if name in self._read}
