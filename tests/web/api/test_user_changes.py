"""A user's mailbox changed or the user removed, also while a run of their integration is going: no business
item is lost, no deletion undone, no calendar edit overwritten, and nothing of the user is left behind."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calsync.services.hub_pairs import PairRunner
from calsync.services.integrations import IntegrationPatch, UserPatch, open_integrations
from calsync.state.pair_state import SQLPairState
from tests.web.api.test_items import Api, _item


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    made = Api(tmp_path, str(tmp_path / "state.db"))
    yield made
    made.close()


def _during_the_run(monkeypatch: pytest.MonkeyPatch, user: str, change: Any) -> None:
    """Make ``change`` happen after the run read its users and before it runs ``user``'s pairs (an admin's
    edit while the scheduler works through the integration's users one by one)."""
    original = PairRunner.user

    def run_user(self: PairRunner, view: Any, options: Any) -> Any:
        if view.business_user == user:
            change()
        return original(self, view, options)

    monkeypatch.setattr(PairRunner, "user", run_user)


def _deleted(api: Api, business_id: str) -> bool:
    found: bool = api.call("GET", f"/api/v1/items/{business_id}").json()["deleted"]
    return found


def test_a_mailbox_changed_while_the_integration_runs_loses_no_business_item(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1")]})
    api.sync()

    def move() -> None:
        with open_integrations(api.settings) as service:
            service.update_user("acme", "tech1", UserPatch(mailbox="tech1-new"))

    _during_the_run(monkeypatch, "tech1", move)
    api.sync()  # read the users before the move: syncs the old mailbox, bound to it still
    monkeypatch.undo()
    second = api.sync()
    assert not _deleted(api, "M1"), second
    assert set(api.calendar("tech1-new")) == {"Visit M1"}


def test_a_user_removed_while_the_integration_runs_and_added_again_elsewhere_loses_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run that read the user before the removal records their pair again, bound to the old mailbox: the
    same user added again on another mailbox starts afresh instead of taking the old links' items as deleted."""
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1")]})
    api.sync()

    def remove() -> None:
        with open_integrations(api.settings) as service:
            service.remove_user("acme", "tech1")

    _during_the_run(monkeypatch, "tech1", remove)
    api.sync()
    monkeypatch.undo()
    with open_integrations(api.settings) as service:
        service.add_user("acme", "tech1", "tech1-other")
    body = api.sync()
    assert not _deleted(api, "M1"), body
    assert set(api.calendar("tech1-other")) == {"Visit M1"}


def test_a_mailbox_changed_while_the_users_pair_is_writing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pair's run, started on the old mailbox, goes on writing there while the admin changes it; its links
    stay bound to the old mailbox, so the next run, on the new one, keeps them apart and starts afresh."""
    from calsync.sync.actions import Executor

    api.call("PUT", "/api/v1/items", json={"items": [_item("M1")]})
    api.sync()
    api.call("PUT", "/api/v1/items", json={"items": [_item("M2")]})
    original = Executor.run

    def run(self: Executor, actions: Any) -> None:
        with open_integrations(api.settings) as service:
            service.update_user("acme", "tech1", UserPatch(mailbox="tech1-new"))
        original(self, actions)

    monkeypatch.setattr(Executor, "run", run)
    api.call("POST", "/api/v1/sync", json={})
    monkeypatch.undo()
    api.sync()
    assert not _deleted(api, "M1") and not _deleted(api, "M2")
    assert set(api.calendar("tech1-new")) == {"Visit M1", "Visit M2"}


def test_an_integration_re_pointed_at_another_calendar_store_starts_afresh_and_deletes_nothing(api: Api) -> None:
    """Its users' links name the first store's items: read in the new store, each would be taken as deleted there
    (which holds an item of its own, so it is not found empty) and deleted in the business system. The pairs'
    binding names the store, so their next run shelves those links and starts afresh."""
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1"), _item("M2"), _item("M3")]})
    api.sync()
    other = api.root.parent / "other-store"
    (other / "tech1").mkdir(parents=True)
    (other / "tech1" / "own.ics").write_text((api.root / "tech1" / "M1@acme.ics").read_text().replace("M1@", "X1@"))
    with open_integrations(api.settings) as service:
        service.update("acme", IntegrationPatch(url=str(other)))
    api.sync()
    assert [_deleted(api, i) for i in ("M1", "M2", "M3")] == [False, False, False]
    assert {p.name for p in (other / "tech1").iterdir()} >= {"M1@acme.ics", "M2@acme.ics", "M3@acme.ics"}


def _as_made_before_pairs_were_bound(api: Api) -> None:
    """The pairs as migration 0011 leaves those made before it: unbound, so their next run binds them trusting
    their links (``PairState.bind``)."""
    with sqlite3.connect(api.settings.state.url) as db:
        db.execute("UPDATE pairs SET bound_to = NULL")


def test_an_unbound_pair_re_pointed_before_its_next_run_deletes_nothing(api: Api) -> None:
    """Upgraded (the pairs unbound), then the integration re-pointed before the worker ran: the pairs' links
    name the first store's items, and trusted on the new one each would be taken as deleted there. Forgotten with
    the move, the pairs start afresh there, matching items by identity."""
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1"), _item("M2"), _item("M3")]})
    api.sync()
    _as_made_before_pairs_were_bound(api)
    other = api.root.parent / "other-store"
    (other / "tech1").mkdir(parents=True)
    (other / "tech1" / "own.ics").write_text((api.root / "tech1" / "M1@acme.ics").read_text().replace("M1@", "X1@"))
    with open_integrations(api.settings) as service:
        service.update("acme", IntegrationPatch(url=str(other)))
    body = api.sync()
    assert [_deleted(api, i) for i in ("M1", "M2", "M3")] == [False, False, False], body
    assert {p.name for p in (other / "tech1").iterdir()} >= {"M1@acme.ics", "M2@acme.ics", "M3@acme.ics"}


def test_an_unbound_pair_moved_to_another_mailbox_before_its_next_run_deletes_nothing(api: Api) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1"), _item("M2"), _item("M3")]})
    api.sync()
    _as_made_before_pairs_were_bound(api)
    (api.root / "tech1-new").mkdir()
    own = (api.root / "tech1" / "M1@acme.ics").read_text().replace("M1@", "X1@").replace("Visit M1", "Own")
    (api.root / "tech1-new" / "own.ics").write_text(own)  # not empty: the guard would not stop it
    _move(api, "tech1-new")
    body = api.sync()
    assert [_deleted(api, i) for i in ("M1", "M2", "M3")] == [False, False, False], body
    assert set(api.calendar("tech1-new")) == {"Own", "Visit M1", "Visit M2", "Visit M3"}, body


def test_an_unbound_pair_forgotten_by_a_move_while_its_run_binds_it_fails_that_run_and_deletes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The move forgets the unbound pair whichever run holds it. That run, which had read the old mailbox, fails
    saying so (it failed with "No row was found when one was required"); the next run starts afresh in the new
    mailbox, matching items by identity."""
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1"), _item("M2")]})
    api.sync()
    _as_made_before_pairs_were_bound(api)
    (api.root / "tech1-new").mkdir()
    original = SQLPairState.bind

    def bind(self: SQLPairState, collections: str, *, dry_run: bool = False) -> Any:
        if "tech1" in collections:  # once: the move lands between the run's opening the pair and binding it
            monkeypatch.setattr(SQLPairState, "bind", original)
            _move(api, "tech1-new")
        return original(self, collections, dry_run=dry_run)

    monkeypatch.setattr(SQLPairState, "bind", bind)
    first = api.call("POST", "/api/v1/sync", json={}).json()
    errors = {p["pair"]: p["error"] for p in first["pairs"]}
    assert errors["acme/tech2/events"] is None, first
    assert "acme/tech1/events was removed while this run held it" in errors["acme/tech1/events"], first
    assert "next run starts afresh" in errors["acme/tech1/events"], first
    second = api.sync()
    assert [_deleted(api, i) for i in ("M1", "M2")] == [False, False], second
    assert set(api.calendar("tech1-new")) == {"Visit M1", "Visit M2"}, second


def test_an_integration_re_pointed_while_it_runs_loses_no_business_item(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run that read the integration before the change syncs the old store for the users it has not reached
    yet, bound to it still: the binding names the store, so the next run, on the new one, shelves those links and
    starts afresh instead of taking every item as deleted there."""
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1"), _item("M2"), _item("M3")]})
    api.sync()
    other = api.root.parent / "other-store"
    (other / "tech1").mkdir(parents=True)
    (other / "tech1" / "own.ics").write_text((api.root / "tech1" / "M1@acme.ics").read_text().replace("M1@", "X1@"))

    def re_point() -> None:
        with open_integrations(api.settings) as service:
            service.update("acme", IntegrationPatch(url=str(other)))

    _during_the_run(monkeypatch, "tech1", re_point)
    api.sync()
    monkeypatch.undo()
    api.sync()
    assert [_deleted(api, i) for i in ("M1", "M2", "M3")] == [False, False, False]


def test_a_user_moved_back_to_an_earlier_mailbox_gets_no_deleted_item_back(api: Api) -> None:
    """The earlier mailbox still holds calsync's copies from before the move. One of them the business system
    deleted meanwhile: the fresh start there finds it unlinked, and it is a copy of a deleted item, not a new
    calendar item to import (which would bring the deleted appointment back into the business system)."""
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1"), _item("M2")]})
    api.sync()
    with open_integrations(api.settings) as service:
        service.update_user("acme", "tech1", UserPatch(mailbox="tech1-new"))
    api.sync()
    assert api.call("DELETE", "/api/v1/items/M1").json()["status"] == "deleted"
    api.sync()
    assert set(api.calendar("tech1-new")) == {"Visit M2"}
    with open_integrations(api.settings) as service:
        service.update_user("acme", "tech1", UserPatch(mailbox="tech1"))
    body = api.sync()
    assert _deleted(api, "M1"), body
    assert set(api.calendar("tech1")) == {"Visit M2"}, body
    again = api.sync()
    writes = [
        n for pair in again["pairs"] for k, n in pair["counts"].items() if k.endswith(("created", "updated", "deleted"))
    ]
    assert writes and not any(writes), again  # the second run there writes nothing
    assert _deleted(api, "M1") and set(api.calendar("tech1")) == {"Visit M2"}


def test_an_item_the_user_deleted_in_the_calendar_and_put_back_is_imported_not_deleted_again(api: Api) -> None:
    """Two-way, deletions in the business system on (the defaults): the user's deletion reached the business
    system, then the user undid it (a client's undo, the trash, a move to another calendar and back: same UID).
    That deletion was the calendar's, so the copy put back is the user's item again, not a copy of a deleted one."""
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1")]})
    api.sync()
    path = api.calendar("tech1")["Visit M1"]
    text = path.read_text()
    path.unlink()
    api.sync()
    assert _deleted(api, "M1")
    path.write_text(text)
    body = api.sync()
    assert set(api.calendar("tech1")) == {"Visit M1"}, body
    assert not _deleted(api, "M1"), body


def test_an_item_made_in_the_calendar_deleted_and_put_back_there_is_not_deleted_again(api: Api) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1")]})
    api.sync()
    own = api.root / "tech1" / "own.ics"
    own.write_text((api.root / "tech1" / "M1@acme.ics").read_text().replace("M1@", "X1@").replace("Visit M1", "Mine"))
    api.sync()
    text = own.read_text()
    own.unlink()
    api.sync()
    own.write_text(text)
    body = api.sync()
    assert "Mine" in api.calendar("tech1"), body


def _move(api: Api, mailbox: str) -> None:
    with open_integrations(api.settings) as service:
        service.update_user("acme", "tech1", UserPatch(mailbox=mailbox))


def _six_of_seven_deleted_while_away(api: Api) -> None:
    """M0 to M6 synced into tech1's mailbox; tech1 moved to ``tech1-new``, where the business system deletes M0
    to M5, three per run (each run too few for the guard there)."""
    api.call("PUT", "/api/v1/items", json={"items": [_item(f"M{n}") for n in range(7)]})
    api.sync()
    _move(api, "tech1-new")
    api.sync()
    for step in (range(3), range(3, 6)):
        for n in step:
            api.call("DELETE", f"/api/v1/items/M{n}")
        api.sync()


def _synced_then_moved(api: Api) -> None:
    """M1 and M2 synced into tech1's mailbox, then tech1 moved to ``tech1-new`` and synced there."""
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1"), _item("M2")]})
    api.sync()
    _move(api, "tech1-new")
    api.sync()


def test_a_copy_edited_in_the_earlier_mailbox_is_kept_when_the_user_moves_back(api: Api) -> None:
    """An admin points the user at a wrong mailbox; the user keeps working in the old one and edits an
    appointment there, which the business system deletes meanwhile; the admin points the user back. The pair
    takes up its links there: a linked copy edited after a deletion on A, whose edit is kept (row G-C)."""
    _synced_then_moved(api)
    api.edit("tech1", "Visit M1", title="Visit M1: bring the ladder")
    api.call("DELETE", "/api/v1/items/M1")
    api.sync()
    _move(api, "tech1")
    body = api.sync()
    assert set(api.calendar("tech1")) == {"Visit M1: bring the ladder", "Visit M2"}, body
    assert not _deleted(api, "M1"), body
    assert api.call("GET", "/api/v1/items/M1").json()["title"] == "Visit M1: bring the ladder"


def test_rejecting_held_deletions_of_copies_left_in_an_earlier_mailbox_creates_the_items_again(api: Api) -> None:
    """The README: Reject "creates each item again where it was deleted". The copies of items the business
    system deleted while the user was away are deleted like linked copies, so rejecting the guard's hold brings
    the business items back, as for linked ones."""
    _six_of_seven_deleted_while_away(api)
    assert set(api.calendar("tech1-new")) == {"Visit M6"}
    _move(api, "tech1")
    held_run = api.sync()
    held = api.call("GET", "/api/v1/held").json()["held"]
    assert len(held) == 6 and "held by the mass-deletion guard" in str(held_run), held_run
    rejected = api.call("POST", "/api/v1/held/reject", json={"users": ["tech1"]}).json()
    assert len(api.calendar("tech1")) == 7, rejected
    assert [_deleted(api, f"M{n}") for n in range(6)] == [False] * 6, rejected


def test_an_older_copy_left_in_the_earlier_mailbox_of_an_item_deleted_meanwhile_is_deleted(api: Api) -> None:
    """The business system moved the visit (a new version) while the user was on another mailbox, then cancelled
    it. The earlier mailbox holds what calsync wrote there before: a linked copy, unchanged since, of an item
    deleted on A (row G-S), deleted in turn; it must not stay in the technician's calendar for good."""
    _synced_then_moved(api)
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1", location="Depot")]})
    api.sync()
    api.call("DELETE", "/api/v1/items/M1")
    api.sync()
    assert set(api.calendar("tech1-new")) == {"Visit M2"}
    _move(api, "tech1")
    body = api.sync()
    assert _deleted(api, "M1"), body
    assert set(api.calendar("tech1")) == {"Visit M2"}, body


def test_an_item_the_user_deleted_in_the_later_mailbox_does_not_come_back_from_the_earlier_one(api: Api) -> None:
    """The user deletes M1 in the mailbox they use now and the business system takes the deletion in. Moved
    back, the earlier mailbox's copy is a linked copy of an item deleted on A, not a new item to import."""
    _synced_then_moved(api)
    api.calendar("tech1-new")["Visit M1"].unlink()
    api.sync()
    assert _deleted(api, "M1")
    _move(api, "tech1")
    body = api.sync()
    assert _deleted(api, "M1"), body
    assert set(api.calendar("tech1")) == {"Visit M2"}, body


def test_restoring_the_journaled_deletion_of_a_copy_left_in_the_earlier_mailbox_brings_it_back(api: Api) -> None:
    _synced_then_moved(api)
    api.call("DELETE", "/api/v1/items/M1")
    api.sync()
    _move(api, "tech1")
    api.sync()
    assert set(api.calendar("tech1")) == {"Visit M2"}
    entries = api.call("GET", "/api/v1/journal?item=M1").json()["entries"]
    (last,) = [e for e in entries if e["action"] == "deleted"][-1:]
    restored = api.call("POST", f"/api/v1/journal/{last['id']}/restore")
    assert restored.status_code == 200, restored.text
    body = api.sync()
    assert not _deleted(api, "M1") and set(api.calendar("tech1")) == {"Visit M1", "Visit M2"}, body
    again = api.sync()
    assert set(api.calendar("tech1")) == {"Visit M1", "Visit M2"}, again


def test_a_rejected_hold_in_a_one_way_integration_is_not_held_again(api: Api) -> None:
    """One-way integration (the business side is read-only): rejecting the guard's hold cannot create the items
    again there, so the copies are kept and left alone, not planned for deletion and held at every run."""
    with open_integrations(api.settings) as service:
        service.update("acme", IntegrationPatch(two_way=False))
    _six_of_seven_deleted_while_away(api)
    _move(api, "tech1")
    api.sync()
    assert len(api.call("GET", "/api/v1/held").json()["held"]) == 6
    rejected = api.call("POST", "/api/v1/held/reject", json={"users": ["tech1"]}).json()
    assert len(api.calendar("tech1")) == 7, rejected
    after = api.sync()
    assert api.call("GET", "/api/v1/held").json()["held"] == [], (rejected, after)
    assert len(api.calendar("tech1")) == 7, after
    assert [_deleted(api, f"M{n}") for n in range(6)] == [True] * 6, after


def test_a_copy_deleted_in_the_earlier_mailbox_while_the_user_was_away_is_put_back_not_passed_on(api: Api) -> None:
    """The user tidied the earlier mailbox while calsync synced the later one. Moved back, the pair takes up its
    links there and finds the copy gone: a deletion made while it was away, which says nothing of the
    appointment; passing it on would delete a live business item. The copy is created there again."""
    _synced_then_moved(api)
    api.calendar("tech1")["Visit M1"].unlink()
    _move(api, "tech1")
    body = api.sync()
    assert not _deleted(api, "M1"), body
    assert set(api.calendar("tech1")) == {"Visit M1", "Visit M2"}, body
    again = api.sync()
    assert not _deleted(api, "M1") and set(api.calendar("tech1")) == {"Visit M1", "Visit M2"}, again


def test_a_first_run_back_that_fails_leaves_the_next_one_on_the_way_back(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run that took up the earlier mailbox's links stopped before it put back a copy deleted there while
    the user was away: the next run, bound already, must still not pass that deletion on."""
    from calsync.errors import ConnectorError
    from calsync.sync.actions import Executor

    _synced_then_moved(api)
    api.calendar("tech1")["Visit M1"].unlink()
    _move(api, "tech1")

    def fails(self: Executor, actions: Any) -> None:
        raise ConnectorError("the calendar server went away")

    monkeypatch.setattr(Executor, "run", fails)
    api.call("POST", "/api/v1/sync", json={})
    monkeypatch.undo()
    body = api.sync()
    assert not _deleted(api, "M1"), body
    assert set(api.calendar("tech1")) == {"Visit M1", "Visit M2"}, body


def _lines(body: dict[str, Any], pair: str = "acme/tech1/events") -> set[tuple[str, str]]:
    return {(line["action"], line["rule"]) for p in body["pairs"] if p["pair"] == pair for line in p["lines"]}


def test_a_preview_after_a_move_to_a_mailbox_not_made_yet_plans_what_the_sync_does(api: Api) -> None:
    """The preview plans on a stand-in for the calendar the sync would make: it reads the links the binding
    would give there (none), not the old mailbox's, which it would plan as deleted in the calendar."""
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1")]})
    api.sync()
    _move(api, "tech1-new")
    preview = api.call("POST", "/api/v1/preview", json={"users": ["tech1"]}).json()
    body = api.sync()
    assert _lines(body) == {("create", "new on A")}, body
    assert not _deleted(api, "M1")
    assert _lines(preview) == {("create", "new on A")}, preview


def test_an_earlier_mailbox_emptied_while_the_user_was_away_deletes_nothing_on_the_way_back(api: Api) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item(f"M{n}") for n in range(3)]})
    api.sync()
    _move(api, "tech1-new")
    api.sync()
    for path in api.calendar("tech1").values():
        path.unlink()
    _move(api, "tech1")
    body = api.sync()
    assert [_deleted(api, f"M{n}") for n in range(3)] == [False] * 3, body
    assert len(api.calendar("tech1")) == 3, body


def _item_lines(body: dict[str, Any], pair: str = "acme/tech1/events") -> list[tuple[str, str, str]]:
    return [
        (line["ident"], line["action"], line["rule"]) for p in body["pairs"] if p["pair"] == pair for line in p["lines"]
    ]


@pytest.mark.parametrize("moved", [False, True])
def test_a_calendar_deletion_made_after_the_way_back_is_passed_on_despite_an_unreadable_item(
    api: Api, moved: bool
) -> None:
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1"), _item("M2")]})
    api.sync()
    if moved:
        _move(api, "tech1-new")
        api.sync()
        _move(api, "tech1")
    (api.root / "tech1" / "broken.ics").write_text("BEGIN:VCALENDAR\nnot an event\n", encoding="utf-8")
    back = api.sync()  # the run back: every item still there, one file unreadable (an error, every run)
    assert not _deleted(api, "M1") and not _deleted(api, "M2"), back
    api.sync()
    api.sync()
    (api.root / "tech1" / "M2@acme.ics").unlink()  # days later, back on it, the user deletes an appointment
    body = api.sync()
    assert _deleted(api, "M2"), _item_lines(body)


@pytest.mark.parametrize("delete_in_business", [True, False])
def test_a_copy_deleted_while_away_is_put_back_whether_or_not_calendar_deletions_reach_the_business(
    api: Api, delete_in_business: bool
) -> None:
    with open_integrations(api.settings) as service:
        service.update_user("acme", "tech1", UserPatch(delete_in_business=delete_in_business))
    _synced_then_moved(api)
    api.calendar("tech1")["Visit M1"].unlink()  # tidying a calendar no longer synced
    _move(api, "tech1")
    body = api.sync()
    assert not _deleted(api, "M1"), body
    assert set(api.calendar("tech1")) == {"Visit M1", "Visit M2"}, _item_lines(body)
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1", title="Visit M1 moved")]})
    api.sync()
    assert set(api.calendar("tech1")) == {"Visit M1 moved", "Visit M2"}


def _refuse_m1(monkeypatch: pytest.MonkeyPatch) -> None:
    """The calendar's server refuses the copy of M1 for good (``ReadOnly``: counted as skipped, not an error)."""
    from calsync.connectors.folder.connector import FolderConnector
    from calsync.errors import ReadOnly

    original = FolderConnector.create

    def refuses(self: FolderConnector, collection: str, content: Any, key: str) -> Any:
        if key.startswith("M1"):
            raise ReadOnly("the server refuses this item", connector=self.name)
        return original(self, collection, content, key)

    monkeypatch.setattr(FolderConnector, "create", refuses)


def test_a_copy_the_calendar_refuses_to_take_back_is_never_passed_on_as_a_deletion(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server refuses the re-created copy (``ReadOnly``: counted as skipped, not as an error): the run back
    ends without errors, yet the link stays marked away from the calendar, so the next run puts the copy back
    instead of reading the deletion made while the user was away as an ordinary one."""
    _synced_then_moved(api)
    api.calendar("tech1")["Visit M1"].unlink()
    _move(api, "tech1")
    _refuse_m1(monkeypatch)
    back = api.sync()
    assert not _deleted(api, "M1"), back
    monkeypatch.undo()
    again = api.sync()
    assert not _deleted(api, "M1"), _item_lines(again)


def _re_point(api: Api, folder: Path) -> None:
    with open_integrations(api.settings) as service:
        service.update("acme", IntegrationPatch(url=str(folder)))


def _synced_then_re_pointed(api: Api) -> Path:
    """M1 and M2 synced into the integration's first store; the integration re-pointed to another one, which holds
    an appointment of tech1's own (so it is not found empty), and synced there. Returns the first store."""
    api.call("PUT", "/api/v1/items", json={"items": [_item("M1"), _item("M2")]})
    api.sync()
    first, other = api.root, api.root.parent / "other-store"
    (other / "tech1").mkdir(parents=True)
    own = (first / "tech1" / "M1@acme.ics").read_text().replace("M1@", "X1@").replace("Visit M1", "Own")
    (other / "tech1" / "own.ics").write_text(own)
    _re_point(api, other)
    api.sync()
    return first


def _writes(body: dict[str, Any], pair: str = "acme/tech1/events") -> dict[str, int]:
    (found,) = [p for p in body["pairs"] if p["pair"] == pair]
    counts: dict[str, int] = found["counts"]
    return {k: n for k, n in counts.items() if n and k.endswith(("created", "updated", "deleted", "conflicts"))}


def test_an_integration_pointed_back_takes_up_its_links_and_gets_no_deleted_item_back(api: Api) -> None:
    """A migration rolled back: the admin re-points the integration to another store and, later, back. The
    business system deleted M1 meanwhile. The first store still holds calsync's copies; the pair takes up its
    links with them, so the copy of M1 is a linked copy of a deleted item (deleted there too), M2's is M2's, and
    nothing is imported or made twice."""
    first = _synced_then_re_pointed(api)
    api.call("DELETE", "/api/v1/items/M1")
    api.sync()
    _re_point(api, first)
    body = api.sync()
    (back,) = [p for p in body["pairs"] if p["pair"] == "acme/tech1/events"]
    assert any("took up the 2 links" in warning for warning in back["warnings"]), back
    assert _deleted(api, "M1"), body
    assert sorted(api.calendar("tech1")) == ["Own", "Visit M2"], body  # Own: imported from the other store
    assert len(list((first / "tech1").glob("*.ics"))) == 2, body
    assert [entry["item"]["title"] for entry in api.feed()] == ["Own"], body  # nothing imported from the first
    again = api.sync()
    assert _writes(again) == {}, again


def _edited_in_the_first_store_then_pointed_back(api: Api) -> dict[str, Any]:
    """Synced, then the integration pointed at another store; meanwhile M1 and M2 are edited in the first store
    and the business system deletes M1; pointed back: the answer of the sync that follows."""
    first = _synced_then_re_pointed(api)
    api.edit("tech1", "Visit M1", title="Visit M1: bring the ladder")
    api.edit("tech1", "Visit M2", title="Visit M2: ring twice")
    api.call("DELETE", "/api/v1/items/M1")
    api.sync()
    _re_point(api, first)
    return api.sync()


def test_a_calendar_edit_made_while_the_integration_pointed_elsewhere_reaches_the_business_system(api: Api) -> None:
    """The technician kept working in the first store while the integration synced another one, and edited two
    appointments there: M2, and M1, which the business system deleted meanwhile. Pointed back, the links tell
    that only the calendar changed M2 (its edit is passed on, not met as a conflict the business side wins) and
    that M1 was edited after its deletion on A (row G-C: the edit is kept)."""
    body = _edited_in_the_first_store_then_pointed_back(api)
    assert set(api.calendar("tech1")) == {"Own", "Visit M1: bring the ladder", "Visit M2: ring twice"}, body
    assert api.call("GET", "/api/v1/items/M2").json()["title"] == "Visit M2: ring twice", body
    assert not _deleted(api, "M1"), body
    assert api.call("GET", "/api/v1/items/M1").json()["title"] == "Visit M1: bring the ladder", body
    assert "b.conflicts" not in _writes(body), body


def test_a_copy_the_calendar_refuses_for_good_holds_back_none_of_the_users_later_deletions(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the copy of M1, deleted in the earlier mailbox while the user was away, cannot be put back (the
    server refuses it at every run), the user, back on that mailbox, deletes M2 there: that deletion reaches the
    business system as any other; M1's is still never passed on, and each job says it is still being brought
    back."""
    api.call("PUT", "/api/v1/items", json={"items": [_item("M3")]})
    _synced_then_moved(api)
    api.calendar("tech1")["Visit M1"].unlink()
    _move(api, "tech1")
    _refuse_m1(monkeypatch)
    back = api.sync()
    api.sync()
    api.calendar("tech1")["Visit M2"].unlink()
    later = api.sync()
    assert _deleted(api, "M2") and not _deleted(api, "M1"), (_item_lines(back), _item_lines(later))
    assert set(api.calendar("tech1")) == {"Visit M3"}, _item_lines(later)
    (m1,) = [rule for ident, _action, rule in _item_lines(later) if ident.startswith("M1")]
    assert "deleted there while this pair was away from it, not passed on" in m1


def test_pointed_back_with_calendar_deletions_off_a_copy_of_an_item_deleted_meanwhile_is_kept_not_imported(
    api: Api,
) -> None:
    """The README: where deletions in the user's calendar are off, the copy left in the first store of an item the
    business system deleted meanwhile is kept there, no longer synced, and never imported as a new item."""
    with open_integrations(api.settings) as service:
        service.update_user("acme", "tech1", UserPatch(delete_in_calendar=False))
    first = _synced_then_re_pointed(api)
    api.call("DELETE", "/api/v1/items/M1")
    api.sync()
    _re_point(api, first)
    body = api.sync()
    assert _deleted(api, "M1"), body
    assert sorted(api.calendar("tech1")) == ["Own", "Visit M1", "Visit M2"], body
    assert [entry["item"]["title"] for entry in api.feed()] == ["Own"], body  # nothing imported from the first
    again = api.sync()
    assert _writes(again) == {} and _deleted(api, "M1"), again


def test_pointed_back_in_a_one_way_integration_the_business_versions_stand(api: Api) -> None:
    """The README: one-way, an edit made in the first store while the integration pointed elsewhere is overwritten
    by the business system's version, and a copy of an item deleted meanwhile is deleted there, edited or not."""
    with open_integrations(api.settings) as service:
        service.update("acme", IntegrationPatch(two_way=False))
    body = _edited_in_the_first_store_then_pointed_back(api)
    assert sorted(api.calendar("tech1")) == ["Visit M2"], body
    assert _deleted(api, "M1") and api.call("GET", "/api/v1/items/M2").json()["title"] == "Visit M2", body
    assert _writes(api.sync()) == {}
