"""A hub pair by name and binding: one user's collection of one kind beside the business store, the collections
its state is bound to (``PairState.bind``), and the user's collection it synced last.

Why it stands apart from ``hub_pairs``: the binding is written there, at each run, and read back here by every
caller that must name the user's collection the sync uses, in a run or outside one (a dry run, presence). How the
hub spells its binding is known in this module alone, so writing it and reading it back stay side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

from calsync.config import Settings
from calsync.connectors.business import collection_id
from calsync.services.connections import CollectionKind
from calsync.services.integration_rules import ADDRESSED
from calsync.services.integrations import IntegrationView, open_integrations, whereabouts
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
        admin's change of either, even during a run, makes the next run start afresh), without case where it is
        named by an e-mail address (EWS, Graph: ``Anna@`` and ``anna@`` are one mailbox)."""
        if self.view.connection_type in ADDRESSED:
            calendar = calendar.casefold()
        return f"A: business:{self.business_collection}\nB: {whereabouts(self.view)} {calendar}"

    def last_calendar(self, state: StateStore) -> str | None:
        """The user's collection the pair's state is bound to, as the server named it: the one a run keeps to
        while discovery still finds it fit (``connections.user_collection``'s ``last``).

        ``None`` when the pair never ran, ran on another server or account (its binding names other whereabouts),
        or binds its collection without case (EWS, Graph: there the mailbox names the collection anyway).
        """
        if self.view.connection_type in ADDRESSED:
            return None
        bound = state.bound_to(self.name)
        head = self.binding("")
        if bound is None or not bound.startswith(head):
            return None
        return bound.removeprefix(head) or None


def last_calendars(settings: Settings, integration: str, kind: CollectionKind) -> dict[str, str]:
    """The collection of ``kind`` each user's pair synced last, by business user (users whose pair never ran are
    left out), for callers that find users' collections outside a run. Opens no state store for EWS and Graph."""
    with open_integrations(settings) as service:
        view = service.get(integration)
        users = [user.business_user for user in service.users(integration)]
    if view.connection_type in ADDRESSED:
        return {}
    state = open_state_store(settings)
    try:
        found = {user: HubPair(view, user, kind).last_calendar(state) for user in users}
    finally:
        state.close()
    return {user: calendar for user, calendar in found.items() if calendar}
