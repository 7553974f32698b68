"""Which of a DAV user's collections calsync syncs (``connections.choose_collection``): the latest the user's
pair synced that is still listed and fit, else the best ranked. As a function of what discovery found, then through
``user_collection`` on a real Radicale with a service account and users (``tests.services.test_connections``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from calsync.config import Settings, StateSettings
from calsync.model.refs import CollectionInfo
from calsync.services.connections import (
    CollectionKind,
    choose_collection,
    existing_user_collection,
    integration_connectors,
    made_collection,
    user_collection,
)
from tests.services.test_connections import Dav, add, caldav_input, own_view, users_radicale

EVENTS, TASKS = CollectionKind.EVENTS, CollectionKind.TASKS
MIXED = frozenset({"VEVENT", "VTODO"})
WORK = CollectionInfo("/bob/work/", "Work", components=MIXED)
APPOINTMENTS = CollectionInfo("/bob/appointments/", "Appointments")
OWN = CollectionInfo("/bob/calsync-events/", "Appointments")
TODO = CollectionInfo("/bob/todo/", "To do", components=frozenset({"VTODO"}))


def test_without_a_collection_synced_last_the_best_ranked_is_chosen() -> None:
    assert choose_collection([WORK, APPOINTMENTS, TODO], EVENTS) == "/bob/appointments/"
    assert choose_collection([WORK, APPOINTMENTS, OWN], EVENTS) == "/bob/calsync-events/"
    assert choose_collection([WORK, TODO], TASKS) == "/bob/todo/"
    assert choose_collection([WORK], TASKS) is None  # a mixed calendar is the events'


def test_the_collection_synced_last_is_kept_while_it_is_fit() -> None:
    found = [OWN, APPOINTMENTS, WORK, TODO]
    assert choose_collection(found, EVENTS, ("/bob/work/",)) == "/bob/work/"
    assert choose_collection(found, TASKS, ("/bob/todo/",)) == "/bob/todo/"
    assert choose_collection(found, EVENTS, ("",)) == "/bob/calsync-events/"


def test_only_a_trailing_slash_may_differ_and_the_spelling_synced_last_stays() -> None:
    found = [APPOINTMENTS, WORK]
    assert choose_collection(found, EVENTS, ("/bob/work",)) == "/bob/work"
    unslashed = CollectionInfo("/bob/work", "Work", components=MIXED)
    assert choose_collection([APPOINTMENTS, unslashed], EVENTS, ("/bob/work/",)) == "/bob/work/"
    assert choose_collection(found, EVENTS, ("/bob/Work/",)) == "/bob/appointments/"  # paths are case-sensitive
    assert choose_collection(found, EVENTS, ("/carol/work/",)) == "/bob/appointments/"


def test_the_latest_synced_that_is_listed_and_fit_is_kept_and_the_rest_not_read() -> None:
    """The pair's binding names another home's calendar (its user moved to another mailbox and back) or a gone
    one; one it synced before is still here, with its copies: it goes back to that one, not the best ranked."""
    found = [OWN, APPOINTMENTS, WORK, TODO]
    assert choose_collection(found, EVENTS, ("/carol/calsync-events/", "/bob/work/", "/bob/todo/")) == "/bob/work/"
    assert choose_collection(found, EVENTS, ("/bob/gone/", "/bob/todo/", "/bob/work")) == "/bob/work"  # tasks only
    assert choose_collection(found, EVENTS, ("/carol/work/", "/bob/old/")) == "/bob/calsync-events/"
    read: list[str] = []

    def synced() -> Iterator[str]:
        for calendar in ("/bob/work/", "/bob/appointments/"):
            read.append(calendar)
            yield calendar

    assert choose_collection(found, EVENTS, synced()) == "/bob/work/"
    assert read == ["/bob/work/"]  # the shelved ones are read only when the first is not taken


def test_a_collection_synced_last_that_is_gone_or_no_longer_fit_is_chosen_anew() -> None:
    assert choose_collection([APPOINTMENTS], EVENTS, ("/bob/work/",)) == "/bob/appointments/"
    read_only = CollectionInfo("/bob/work/", "Work", components=MIXED, writable=False)
    assert choose_collection([read_only, APPOINTMENTS], EVENTS, ("/bob/work/",)) == "/bob/appointments/"
    tasks_now = CollectionInfo("/bob/work/", "Work", components=frozenset({"VTODO"}))
    assert choose_collection([tasks_now, APPOINTMENTS], EVENTS, ("/bob/work/",)) == "/bob/appointments/"
    assert choose_collection([WORK, TODO], TASKS, ("/bob/work/",)) == "/bob/todo/"  # mixed: not a task list
    assert choose_collection([], EVENTS, ("/bob/work/",)) is None


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dav]:
    with users_radicale(tmp_path_factory.mktemp("radicale-choice")) as server:
        yield server


def test_a_user_collection_is_the_one_synced_last_on_a_real_server(dav: Dav, tmp_path: Path) -> None:
    settings = Settings(source=None, state=StateSettings(url=str(tmp_path / "state.db")))
    add(settings, caldav_input(dav), "bob")
    bob, _ = own_view(dav, "bob")
    bob.create_calendar("work", "Work")
    bob.create_calendar("appointments", "Appointments", components=("VEVENT",))
    built = integration_connectors(settings, "dav")
    calendars = built.events
    assert calendars is not None
    assert user_collection(calendars, "bob", EVENTS) == "/bob/appointments"
    assert user_collection(calendars, "bob", EVENTS, last=("/bob/work",)) == "/bob/work"
    assert user_collection(calendars, "bob", EVENTS, last=("/bob/work/",)) == "/bob/work/"
    assert existing_user_collection(calendars, "bob", EVENTS, last=("/bob/work",)) == "/bob/work"
    assert existing_user_collection(calendars, "bob", EVENTS, last=("/bob/WORK",)) == "/bob/appointments"
    assert existing_user_collection(calendars, "bob", TASKS, last=("/bob/work",)) is None  # mixed: never the tasks'
    assert user_collection(calendars, "bob", TASKS, last=("/bob/work",)) == "/bob/calsync-tasks"
    made = made_collection(calendars, "carol", EVENTS)  # a dry run's stand-in: nothing made
    spelled = f"{dav.url}carol/calsync-events/"  # as a binding of the pair may name it
    assert made.endswith("/carol/calsync-events") and made != spelled
    assert made_collection(calendars, "carol", EVENTS, last=("/bob/work", spelled)) == spelled
    assert existing_user_collection(calendars, "carol", EVENTS) is None
    built.close()
