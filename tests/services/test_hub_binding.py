"""A hub pair keeps to the user's collection it synced, on a real Radicale with a service account and users
(``tests.services.test_connections``): a calendar the user adds later that ranks higher never takes over, so no
appointment is created twice; when the synced one is gone, the pair goes back to one it synced before that is
still there, and only when none is does it choose again and start afresh.

Also ``HubPair.synced``, read back from the bindings a run wrote, on a real state database, and what presence and
a dry run read: the calendar the sync keeps to, also when the pair comes back from another server or mailbox.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from calsync.config import Settings, StateSettings
from calsync.connectors.base import Fetched
from calsync.connectors.caldav import CalDavConnector
from calsync.crypto import Secret
from calsync.services.connections import CollectionKind, existing_user_collection, integration_connectors
from calsync.services.hub import BusinessItem, open_hub
from calsync.services.hub_binding import HubPair, synced_calendars
from calsync.services.hub_sync import sync_integration
from calsync.services.integrations import IntegrationInput, IntegrationPatch, UserPatch, open_integrations
from calsync.services.presence import PresenceStatus, presence
from calsync.services.syncing import PairOutcome, open_state_store
from calsync.state.store import JobKind, JobOutcome, Link, SideStatus, StateStore
from calsync.sync.report import Report
from tests.services.hubworld import TOMORROW, event
from tests.services.test_connections import PASSWORDS, Dav, add, caldav_input, own_view, users_radicale
from tests.services.test_presence import statements

EVENTS = CollectionKind.EVENTS


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dav]:
    with users_radicale(tmp_path_factory.mktemp("radicale-kept")) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(source=None, state=StateSettings(url=str(tmp_path / "state.db")))


def _appointments_of(settings: Settings, dav: Dav, mailbox: str) -> None:
    """The integration ``acme`` with the user ``U1`` on ``mailbox``, syncing appointments only."""
    add(settings, caldav_input(dav, "acme"), mailbox)
    with open_integrations(settings) as service:
        service.update_user("acme", "U1", UserPatch(tasks=False, contacts=False))


def _push(settings: Settings, business_id: str, title: str) -> None:
    with open_hub(settings) as hub:
        hub.put_items("acme", [BusinessItem(business_id, "U1", event(title))])


def _run(settings: Settings, *, dry_run: bool = False) -> Report:
    kind = JobKind.DRY_RUN if dry_run else JobKind.MANUAL
    run = sync_integration(settings, "acme", kind=kind, full=True, dry_run=dry_run)
    (outcome,) = run.outcomes
    assert isinstance(outcome, PairOutcome) and outcome.report is not None, outcome.message
    return outcome.report


def _titles(dav: Dav, mailbox: str, calendar: str) -> list[str]:
    """The titles in one of the user's calendars, read as the user."""
    own, _ = own_view(dav, mailbox)
    refs = own.list_all(calendar)
    fetched = own.get(calendar, [ref.href for ref in refs]) if refs else []
    return sorted(got.content.item.title for got in fetched if isinstance(got, Fetched))


def _last(settings: Settings) -> dict[str, str | None]:
    """The calendar presence reads for each of ``acme``'s users, as it finds them for every user: the one the
    sync keeps to."""
    with open_integrations(settings) as service:
        view, users = service.get("acme"), service.users("acme")
    built = integration_connectors(settings, "acme")
    assert built.events is not None
    try:
        with synced_calendars(settings, view, [user.business_user for user in users], EVENTS) as synced:
            return {
                user.business_user: existing_user_collection(
                    built.events, user.mailbox, EVENTS, last=synced.get(user.business_user, ())
                )
                for user in users
            }
    finally:
        built.close()


def _latest_outcome(settings: Settings) -> JobOutcome:
    state = open_state_store(settings)
    try:
        return state.jobs("acme/U1/events", limit=1)[0].outcome
    finally:
        state.close()


def test_a_higher_ranking_calendar_added_later_never_takes_over(dav: Dav, settings: Settings) -> None:
    _appointments_of(settings, dav, "bob")
    bob, _ = own_view(dav, "bob")
    bob.create_calendar("work", "Work")  # events and tasks, as phones make them
    _push(settings, "B1", "Boiler service")
    first = _run(settings)
    assert first.warnings == [] and _titles(dav, "bob", "work") == ["Boiler service"]

    bob.create_calendar("appointments", "Appointments", components=("VEVENT",))  # events only: ranks higher
    built = integration_connectors(settings, "acme")
    assert built.events is not None
    assert existing_user_collection(built.events, "bob", CollectionKind.EVENTS) == "/bob/appointments"
    built.close()
    assert _last(settings) == {"U1": "/bob/work"}

    dry = _run(settings, dry_run=True)  # a dry run looks at the calendar the sync uses
    assert (dry.planned, dry.warnings) == ([], [])
    at = TOMORROW + timedelta(minutes=30)  # presence reads it too
    seen = presence(settings, "acme", "U1", at)
    assert (seen.status, seen.subject) == (PresenceStatus.MEETING, "Boiler service")

    _push(settings, "B2", "Pump repair")
    second = _run(settings)
    assert second.warnings == [] and _latest_outcome(settings) is JobOutcome.COMPLETED
    assert _titles(dav, "bob", "work") == ["Boiler service", "Pump repair"]
    assert _titles(dav, "bob", "appointments") == []


def test_when_the_synced_calendar_is_gone_the_pair_chooses_anew_and_starts_afresh(dav: Dav, settings: Settings) -> None:
    _appointments_of(settings, dav, "carol")
    carol, _ = own_view(dav, "carol")
    carol.create_calendar("work", "Work")
    _push(settings, "C1", "Boiler service")
    _run(settings)
    carol.create_calendar("appointments", "Appointments", components=("VEVENT",))
    assert _run(settings).warnings == [] and _titles(dav, "carol", "appointments") == []

    gone = httpx.request("DELETE", f"{dav.url}carol/work/", auth=("carol", PASSWORDS["carol"]))
    assert gone.status_code in (200, 204)
    dry = _run(settings, dry_run=True)
    assert len(dry.warnings) == 1 and "would start afresh" in dry.warnings[0]
    assert "/carol/work" in dry.warnings[0] and "/carol/appointments" in dry.warnings[0]
    moved = _run(settings)
    assert len(moved.warnings) == 1 and "started afresh" in moved.warnings[0]
    assert _latest_outcome(settings) is JobOutcome.WARNINGS
    assert _titles(dav, "carol", "appointments") == ["Boiler service"]
    assert _last(settings) == {"U1": "/carol/appointments"}
    assert _run(settings).warnings == []


def test_when_the_synced_calendar_is_gone_one_synced_before_in_the_home_wins_over_the_ranking(
    settings: Settings, tmp_path: Path
) -> None:
    """Dave's work calendar deleted, the pair started afresh in the one ranking first (appointments); work restored
    from a backup with its copies. Appointments deleted in turn, the pair goes back to work, the latest it synced
    that is still in the home, over visits, which ranks higher (events only), and takes up its links there: the
    restored copies are known, nothing is made twice."""
    (tmp_path / "radicale").mkdir()
    with users_radicale(tmp_path / "radicale") as dav:
        _appointments_of(settings, dav, "dave")
        own, _ = own_view(dav, "dave")
        own.create_calendar("work", "Work")  # events and tasks
        _push(settings, "D1", "Boiler service")
        _run(settings)
        work = tmp_path / "radicale" / "collections" / "collection-root" / "dave" / "work"
        shutil.copytree(work, tmp_path / "backup")
        own.create_calendar("appointments", "Appointments", components=("VEVENT",))  # events only: ranks higher
        _delete(dav, "dave", "work")
        assert "started afresh" in " ".join(_run(settings).warnings)
        shutil.copytree(tmp_path / "backup", work)
        own.create_calendar("b-visits", "Visits", components=("VEVENT",))  # events only, first by path
        _delete(dav, "dave", "appointments")
        assert _last(settings) == {"U1": "/dave/work"}
        back = _run(settings)
        assert len(back.warnings) == 1 and "took up the 1 links" in back.warnings[0], back.warnings
        assert (back.a.created, back.a.deleted, back.b.created, back.b.deleted) == (0, 0, 0, 0)
        assert _titles(dav, "dave", "work") == ["Boiler service"]
        assert _titles(dav, "dave", "b-visits") == []
        assert _run(settings).warnings == []


def _delete(dav: Dav, user: str, calendar: str) -> None:
    """Delete one of the user's calendars, as the user."""
    gone = httpx.request("DELETE", f"{dav.url}{user}/{calendar}/", auth=(user, PASSWORDS[user]))
    assert gone.status_code in (200, 204)


def _view(settings: Settings, name: str, given: IntegrationInput) -> HubPair:
    with open_integrations(settings) as service:
        service.add(given)
        return HubPair(service.get(name), "U1", CollectionKind.EVENTS)


def test_the_collections_synced_are_read_back_from_the_bindings_latest_first(settings: Settings) -> None:
    dav = _view(settings, "dav", caldav_input(Dav("http://dav.example.test/")))
    other = _view(settings, "other", caldav_input(Dav("http://other.example.test/"), "other"))
    graph = _view(settings, "m365", IntegrationInput(
        "m365", "ACME", "graph", "oauth", client_id="11111111-2222-3333-4444-555555555555", tenant_id="acme.test",
        client_secret=Secret("s-4711"),
    ))  # fmt: skip
    moved = HubPair(replace(dav.view, url="http://moved.example.test/"), "U1", CollectionKind.EVENTS)
    state = open_state_store(settings)
    try:
        assert list(dav.synced(state)) == []  # never ran
        for pair, calendar in ((dav, "/bob/my work cal"), (graph, "Anna@example.com")):
            _bound(state, pair.name, pair.binding(calendar))
        assert list(dav.synced(state)) == ["/bob/my work cal"]
        _bound(state, dav.name, moved.binding("/bob/elsewhere"))  # the integration re-pointed, and its pair run there
        assert list(moved.synced(state)) == ["/bob/elsewhere"]
        assert list(dav.synced(state)) == ["/bob/my work cal"]  # pointed back: the one whose links it shelved
        _bound(state, dav.name, dav.binding("/carol/work"))  # back, on a mistyped mailbox
        assert list(dav.synced(state)) == ["/carol/work", "/bob/my work cal"]  # not the other server's
        assert list(graph.synced(state)) == []  # the mailbox names it; the binding keeps no case
        _bound(state, other.name, dav.binding("/bob/work"))  # bound on another server: nothing to keep to
        assert list(other.synced(state)) == []
    finally:
        state.close()


def _bound(state: StateStore, pair: str, binding: str) -> None:
    """Pair ``pair`` bound to ``binding`` (its links before shelved), with a link made there."""
    with state.open_pair(pair) as bound:
        bound.bind(binding)
        bound.put_link(Link(binding, SideStatus("a", "1", "d"), SideStatus("b", "1", "d")))


def _reads(seen: list[str]) -> int:
    return len([statement for statement in seen if "pairs" in statement])


def test_the_calendars_synced_cost_one_read_however_many_users(settings: Settings) -> None:
    """Presence of one user reads that user's binding; of every user, all the integration's bindings in one read,
    whatever their number (it once ran a read per user for each lookup, even of one user), and the shelved ones of
    the pairs bound to another server (their integration re-pointed) in one more. Any other pair's shelved ones are
    read alone, only when its first calendar is not taken: once read for every pair whenever one was bound
    elsewhere, they cost a scan of every shelved link of the integration."""
    with open_integrations(settings) as service:
        service.add(caldav_input(Dav("http://dav.example.test/"), "acme"))
        service.add(caldav_input(Dav("http://other.example.test/"), "acme-2"))
        users = [f"U{number}" for number in range(50)]
        for user in users:
            service.add_user("acme", user, user.lower())
        view, other = service.get("acme"), service.get("acme-2")
    state = open_state_store(settings)
    try:
        for user in ("U1", "U2"):
            pair = HubPair(view, user, CollectionKind.EVENTS)
            for calendar in (f"/{user.lower()}/old", f"/{user.lower()}/work"):
                _bound(state, pair.name, pair.binding(calendar))
        tasks = HubPair(view, "U3", CollectionKind.TASKS)  # another kind: not an events calendar
        elsewhere = HubPair(other, "U4", CollectionKind.EVENTS)
        _bound(state, tasks.name, tasks.binding("/u3/tasks"))
        _bound(state, "acme/U4/events", HubPair(view, "U4", CollectionKind.EVENTS).binding("/u4/work"))
        _bound(state, "acme/U4/events", elsewhere.binding("/u4/work"))  # bound on another server now
    finally:
        state.close()
    for many, reads in ((users[:4], 1), (users[:10], 2), (users, 2)):  # U4's shelves at once: bound elsewhere
        with statements() as seen, synced_calendars(settings, view, many, EVENTS) as synced:
            firsts = {user: next(iter(calendars), None) for user, calendars in synced.items()}
        assert firsts == {"U1": "/u1/work", "U2": "/u2/work", **({"U4": "/u4/work"} if "U4" in many else {})}
        assert _reads(seen) == reads
    with statements() as seen, synced_calendars(settings, view, users, EVENTS) as synced:
        assert list(synced["U1"]) == ["/u1/work", "/u1/old"]  # its first not taken: its own shelves, alone
        assert list(synced["U1"]) == ["/u1/work", "/u1/old"]  # read once
    assert _reads(seen) == 3
    with statements() as seen:
        with synced_calendars(settings, view, ["U2"], EVENTS) as synced:
            assert next(iter(synced["U2"])) == "/u2/work"
        with synced_calendars(settings, view, ["U4"], EVENTS) as synced:
            assert list(synced["U4"]) == ["/u4/work"]
    assert _reads(seen) == 3


def _re_point(settings: Settings, url: str) -> None:
    with open_integrations(settings) as service:
        service.update("acme", IntegrationPatch(url=url))


@pytest.mark.parametrize("user", ["dave", "erin"])
def test_an_integration_pointed_back_takes_up_its_links_in_the_calendar_it_synced_there(
    dav: Dav, settings: Settings, tmp_path: Path, user: str
) -> None:
    """Re-pointed to another server, then back (a migration rolled back); the business system deleted D1
    meanwhile. The pair goes back to the calendar it synced there, even though one ranking higher was added
    since (dave), and takes up its links: D1's copy is deleted there, and nothing is made twice."""
    _appointments_of(settings, dav, user)
    own, _ = own_view(dav, user)
    own.create_calendar("work", "Work")
    _push(settings, "D1", "Boiler service")
    _push(settings, "D2", "Pump repair")
    _run(settings)
    if user == "dave":
        own.create_calendar("appointments", "Appointments", components=("VEVENT",))  # events only: ranks higher
    (tmp_path / "second").mkdir()
    with users_radicale(tmp_path / "second") as second:
        # spelled localhost: 127.0.0.1 on another port is taken for the demo's server started again
        _re_point(settings, second.url.replace("127.0.0.1", "localhost"))
        away = _run(settings)
        assert len(away.warnings) == 1 and "started afresh" in away.warnings[0], away.warnings
        with open_hub(settings) as hub:
            hub.delete_items("acme", ["D1"])
        _run(settings)
        _re_point(settings, dav.url)
        back = _run(settings)
    assert len(back.warnings) == 1 and "took up the 2 links" in back.warnings[0], back.warnings
    assert _titles(dav, user, "work") == ["Pump repair"]
    assert user == "erin" or _titles(dav, user, "appointments") == []
    assert _last(settings) == {"U1": f"/{user}/work"}


def _move(settings: Settings, mailbox: str) -> None:
    with open_integrations(settings) as service:
        service.update_user("acme", "U1", UserPatch(mailbox=mailbox))


def _synced_then_mistyped(settings: Settings, dav: Dav) -> CalDavConnector:
    """Two business items synced into dave's work calendar, then U1's mailbox mistyped (erin) for a run; returns
    dave's own view of his calendar home."""
    _appointments_of(settings, dav, "dave")
    own, _ = own_view(dav, "dave")
    own.create_calendar("work", "Work")
    _push(settings, "D1", "Boiler service")
    _push(settings, "D2", "Pump repair")
    _run(settings)
    _move(settings, "erin")
    _run(settings)
    return own


def test_a_user_moved_to_another_mailbox_and_back_goes_back_to_the_calendar_synced_there(
    settings: Settings, tmp_path: Path
) -> None:
    """U1's mailbox mistyped (erin) for a run, then fixed; dave added a calendar that ranks higher meanwhile. The
    pair's binding names erin's calendar, not in dave's home, and the pair once chose anew among dave's: it
    started afresh in the new calendar, beside its copies. It goes back to the one whose links it shelved, and
    takes them up; presence and a dry run read that one too."""
    (tmp_path / "radicale").mkdir()
    with users_radicale(tmp_path / "radicale") as dav:
        own = _synced_then_mistyped(settings, dav)
        own.create_calendar("appointments", "Appointments", components=("VEVENT",))  # events only: ranks higher
        _move(settings, "dave")
        assert _last(settings) == {"U1": "/dave/work"}
        seen = presence(settings, "acme", "U1", TOMORROW + timedelta(minutes=30))  # not the empty new calendar
        assert seen.status is PresenceStatus.MEETING and seen.subject in ("Boiler service", "Pump repair"), seen
        dry = _run(settings, dry_run=True)
        assert dry.planned == [] and len(dry.warnings) == 1, dry.warnings
        assert "would take up the 2 links" in dry.warnings[0], dry.warnings
        back = _run(settings)
        assert len(back.warnings) == 1 and "took up the 2 links" in back.warnings[0], back.warnings
        assert _titles(dav, "dave", "work") == ["Boiler service", "Pump repair"]
        assert _titles(dav, "dave", "appointments") == []
        assert _last(settings) == {"U1": "/dave/work"}


def test_pointed_back_after_a_mailbox_fixed_the_pair_goes_back_to_the_calendar_it_synced_there(
    settings: Settings, tmp_path: Path
) -> None:
    """U1's mailbox mistyped (erin) for a run, then fixed, and the integration re-pointed before the pair ran
    again: its links of the first server were shelved under dave's work calendar, then, at its first run on the
    second server, under erin's. Pointed back, the newest shelf there is erin's, not in dave's home: the pair once
    tried that one alone and started afresh in the calendar ranking first. It goes back to dave's work calendar,
    the latest it synced there that is in dave's home, and takes up its links."""
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with users_radicale(tmp_path / "first") as dav:
        own = _synced_then_mistyped(settings, dav)
        _move(settings, "dave")  # fixed, and no run before the re-point
        own.create_calendar("appointments", "Appointments", components=("VEVENT",))  # events only: ranks higher
        with users_radicale(tmp_path / "second") as second:
            _re_point(settings, second.url.replace("127.0.0.1", "localhost"))
            _run(settings)
            _re_point(settings, dav.url)
            assert _last(settings) == {"U1": "/dave/work"}
            back = _run(settings)
        assert len(back.warnings) == 1 and "took up the 2 links" in back.warnings[0], back.warnings
        assert _titles(dav, "dave", "work") == ["Boiler service", "Pump repair"]
        assert _titles(dav, "dave", "appointments") == []
        assert _last(settings) == {"U1": "/dave/work"}
