"""A hub pair by name and binding: one user's collection of one kind beside the business store, the collections
its state is bound to (``PairState.bind``), and the user's collection it synced last.

Why it stands apart from ``hub_pairs``: the binding is written there, at each run, and read back here by every
caller that must name the user's collection the sync uses, in a run or outside one (a dry run, presence). How the
hub spells its binding is known in this module alone, so writing it and reading it back stay side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from calsync.config import Settings
from calsync.connectors.business import collection_id
from calsync.services.connections import CollectionKind
from calsync.services.integration_rules import ADDRESSED, CalendarType
from calsync.services.integrations import IntegrationView, whereabouts
from calsync.services.syncing import open_state_store
from calsync.state.store import StateStore


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

    def last_calendar(self, state: StateStore) -> str | None:
        """The user's collection the pair's state is bound to, as the server named it: the one a run keeps to
        while discovery still finds it fit (``connections.user_collection``'s ``last``). Bound to other
        whereabouts (its integration re-pointed, and pointed back now), the one whose links it shelved here,
        so that it takes them up instead of choosing anew and making every item again beside its copies.

        ``None`` when the pair never ran, never ran on this server and account, or its collection is not chosen
        by discovery (``DISCOVERED``): then the state is not read at all.
        """
        if self.view.connection_type not in DISCOVERED:
            return None
        where = whereabouts(self.view)
        bound = state.bound_to(self.name)
        found = self.calendar_in(bound, where)
        if found is not None or bound is None:  # a pair never bound has nothing shelved
            return found
        return self.calendar_in_any(state.shelved_bindings(self.name).get(self.name, ()), where)

    def calendar_in(self, bound: str | None, where: str) -> str | None:
        """The user's collection named in ``bound``, the pair's binding, if it was made on ``where`` (the
        integration's ``whereabouts``, given so that many users' pairs need it once)."""
        head = self._binding(where, "")
        if bound is None or not bound.startswith(head):
            return None
        return bound.removeprefix(head) or None

    def calendar_in_any(self, shelved: Iterable[str], where: str) -> str | None:
        """``calendar_in`` the first of ``shelved`` (the pair's earlier bindings, latest first) made on ``where``."""
        return next((found for bound in shelved if (found := self.calendar_in(bound, where))), None)

    def _binding(self, where: str, calendar: str) -> str:
        return f"A: business:{self.business_collection}\nB: {where} {calendar}"


DISCOVERED = frozenset({CalendarType.CALDAV, CalendarType.CARDDAV})
"""Connection types whose users' collections are chosen by discovery among several (``connections._DavHomes``), so
a pair keeps to the one it synced last; elsewhere the mailbox names the collection, and no binding is read back."""


def last_calendar(settings: Settings, view: IntegrationView, business_user: str, kind: CollectionKind) -> str | None:
    """The collection of ``kind`` that ``business_user``'s pair synced last (``None``: never, or not chosen by
    discovery), for a caller that finds the user's collection outside a run. Reads that pair's binding alone, and
    opens no state store unless the connection type is in ``DISCOVERED``."""
    if view.connection_type not in DISCOVERED:
        return None
    state = open_state_store(settings)
    try:
        return HubPair(view, business_user, kind).last_calendar(state)
    finally:
        state.close()


def last_calendars(
    settings: Settings, view: IntegrationView, business_users: Iterable[str], kind: CollectionKind
) -> dict[str, str]:
    """``last_calendar`` of each of ``business_users``, by business user (users whose pair never ran are left out):
    every binding of the integration read in one query, its ``whereabouts`` found once; the shelved ones in one
    more, only when a pair is bound to other whereabouts (its integration re-pointed)."""
    if view.connection_type not in DISCOVERED:
        return {}
    where = whereabouts(view)
    pairs = [HubPair(view, user, kind) for user in business_users]
    state = open_state_store(settings)
    try:
        bound = state.bindings(f"{view.name}/")
        found = {pair.business_user: pair.calendar_in(bound.get(pair.name), where) for pair in pairs}
        elsewhere = [pair for pair in pairs if pair.name in bound and found[pair.business_user] is None]
        shelved = state.shelved_bindings(f"{view.name}/") if elsewhere else {}
    finally:
        state.close()
    for pair in elsewhere:
        found[pair.business_user] = pair.calendar_in_any(shelved.get(pair.name, ()), where)
    return {user: calendar for user, calendar in found.items() if calendar}
