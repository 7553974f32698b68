"""The AdminStore on SQLite and PostgreSQL: integrations and users round trip, cascade, re-encryption."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from calsync.errors import StateError
from calsync.model.refs import Side
from calsync.model.users import UserOptions
from calsync.state.admin import SQLAdminStore, _forget_unbound, open_admin_store
from calsync.state.admin_port import IntegrationRecord, UserRecord
from calsync.state.db import Database
from calsync.state.sql import SQLStore, database_url, open_store
from calsync.state.store import ItemLine, JobKind, JobOutcome, PairState
from tests.state.conftest import Backend, make_link

ACME = IntegrationRecord(
    "acme", "ACME", "ews", "impersonation", url="https://ews.example.com/", username="svc", password_enc="tok-1",
    ca_bundle="/etc/calsync/company-ca.pem",
    start_of_sync=datetime(2026, 11, 1, 8, 0, tzinfo=UTC), two_way=False, days_back=12,
)  # fmt: skip


@pytest.fixture
def admin(backend: Backend) -> Iterator[SQLAdminStore]:
    opened = open_admin_store(backend.url)
    yield opened
    opened.close()


def test_an_integration_round_trips_with_every_field(admin: SQLAdminStore) -> None:
    admin.add_integration(ACME)
    assert admin.integration("acme") == ACME
    assert admin.integration("other") is None
    admin.add_integration(replace(ACME, name="beta", password_enc=None))
    assert [r.name for r in admin.integrations()] == ["acme", "beta"]


def test_a_taken_name_is_a_state_error(admin: SQLAdminStore) -> None:
    admin.add_integration(ACME)
    with pytest.raises(StateError):
        admin.add_integration(ACME)


def test_replace_overwrites_and_reports_an_unknown_name(admin: SQLAdminStore) -> None:
    admin.add_integration(ACME)
    assert admin.replace_integration(replace(ACME, company="ACME Ltd", days_back=60))
    assert admin.integration("acme") == replace(ACME, company="ACME Ltd", days_back=60)
    assert not admin.replace_integration(replace(ACME, name="nobody"))


def test_an_integration_re_pointed_keeps_its_pairs_state_and_history(admin: SQLAdminStore, backend: Backend) -> None:
    """Another server or account: each pair is bound to the whereabouts its links were made on, so its next run
    shelves them and takes them up if the integration is pointed back (``PairState.bind``); deleted here, the
    copies left on the first server were unlinked on the way back, and a deleted item's copy came back."""
    admin.add_integration(ACME)
    store = _pairs_with_history(backend, ("acme/anna/events",))
    try:
        for where in ("first", "second"):  # links shelved under the first server's binding
            with store.open_pair("acme/anna/events") as state:
                state.bind(f"A: x\nB: {where}")
        with store.open_pair("acme/anna/events") as state:
            state.put_link(make_link("two"))
            state.set_token(Side.B, "token-2")
        assert admin.replace_integration(replace(ACME, url="https://ews.example.net/", username="svc2"))
        assert _state(store, "acme/anna/events") == (["two"], "token-2")
        assert backend.scalar("SELECT COUNT(*) FROM shelved_links") == 1
        assert [j.pair for j in store.jobs()] == ["acme/anna/events"]
        with store.open_pair("acme/anna/events") as state:
            assert state.bind("A: x\nB: first") is not None
            assert list(state.links()) == ["one"]
    finally:
        store.close()


def test_an_integration_re_pointed_forgets_only_its_pairs_no_run_has_bound(
    admin: SQLAdminStore, backend: Backend
) -> None:
    """A pair made before pairs were bound (migration 0011) is bound by its next run trusting its links: they name
    the first server's items, so on the new one each linked item was taken as deleted there and the deletion passed
    on to the business system. It starts afresh instead; bound pairs keep their state, and the history stays."""
    admin.add_integration(ACME)
    admin.add_integration(replace(ACME, name="acme2"))
    pairs = ("acme/anna/events", "acme/bob/events", "acme2/bob/events")
    store = _pairs_with_history(backend, pairs)
    try:
        with store.open_pair("acme/anna/events") as state:
            state.bind("A: x\nB: first")
        assert admin.replace_integration(replace(ACME, days_back=60))  # the same server: its links hold
        assert _state(store, "acme/bob/events") == (["one"], "token-1")
        assert admin.replace_integration(replace(ACME, url="https://ews.example.net/"), moved=True)
        assert _state(store, "acme/bob/events") == ([], None)
        assert _state(store, "acme/anna/events") == (["one"], "token-1")
        assert _state(store, "acme2/bob/events") == (["one"], "token-1")  # a name starting alike: another's
        assert sorted(j.pair for j in store.jobs()) == sorted(pairs)
    finally:
        store.close()


def test_users_round_trip_and_go_with_their_integration(admin: SQLAdminStore) -> None:
    admin.add_integration(ACME)
    anna = UserRecord("anna", "anna@acme.com", UserOptions(tasks=False))
    assert admin.put_user("acme", anna)
    assert admin.put_user("acme", UserRecord("bob", "bob@acme.com"))
    assert not admin.put_user("nobody", anna)
    assert admin.users("acme")[0] == anna
    assert admin.put_user("acme", replace(anna, flags=UserOptions()))  # replaces
    assert admin.users("acme")[0].flags == UserOptions()
    assert admin.remove_user("acme", "bob")
    assert not admin.remove_user("acme", "bob")
    assert admin.remove_integration("acme")
    assert not admin.remove_integration("acme")
    assert admin.users("acme") == []


def test_removing_an_integration_takes_its_pairs_state_and_jobs(admin: SQLAdminStore, backend: Backend) -> None:
    """Pairs and jobs are keyed by name: left behind, a new integration of the same name read the old one's job
    history (item titles included) and its first sync planned the old links' items as deletions."""
    admin.add_integration(ACME)
    admin.add_integration(replace(ACME, name="acme2"))
    store = _pairs_with_history(backend, ("acme/anna/events", "acme2/anna/events"))
    try:
        skipped = store.start_job("acme", JobKind.INTERVAL)
        store.finish_job(skipped, JobOutcome.SKIPPED, {})
        assert admin.remove_integration("acme")
        assert [j.pair for j in store.jobs()] == ["acme2/anna/events"]
        assert _state(store, "acme/anna/events") == ([], None)
        assert _state(store, "acme2/anna/events") == (["one"], "token-1")  # a name starting alike: another's
    finally:
        store.close()


def _pairs_with_history(backend: Backend, pairs: tuple[str, ...]) -> SQLStore:
    store = open_store(backend.url)
    for pair in pairs:
        with store.open_pair(pair) as state:
            state.put_link(make_link("one"))
            state.set_token(Side.B, "token-1")
        job = store.start_job(pair, JobKind.MANUAL)
        store.add_job_lines(job, [ItemLine("one", "b", "create", "ok", title="Secret customer visit")])
        store.finish_job(job, JobOutcome.COMPLETED, {})
    return store


def _state(store: SQLStore, pair: str) -> tuple[list[str], str | None]:
    with store.open_pair(pair) as state:
        return list(state.links()), state.token(Side.B)


def test_removing_a_user_takes_their_pairs_state_and_jobs(admin: SQLAdminStore, backend: Backend) -> None:
    """Left behind, the same user added again read the old job history, and their first sync planned the old
    links' items as deletions."""
    admin.add_integration(ACME)
    for number, user in enumerate(("anna", "anna2", "ANNA")):
        admin.put_user("acme", UserRecord(user, f"user{number}@acme.com"))
    pairs = ("acme/anna/events", "acme/anna/tasks", "acme/anna2/events", "acme/ANNA/events")
    store = _pairs_with_history(backend, pairs)
    try:
        for mailbox in ("old", "new"):  # the links of an earlier mailbox, kept apart (``PairState.bind``)
            with store.open_pair("acme/anna/events") as state:
                state.bind(f"A: x\nB: {mailbox}")
        assert backend.scalar("SELECT COUNT(*) FROM shelved_links") == 1
        assert admin.remove_user("acme", "anna")
        assert backend.scalar("SELECT COUNT(*) FROM shelved_links") == 0
        assert sorted(j.pair for j in store.jobs()) == ["acme/ANNA/events", "acme/anna2/events"]
        assert _state(store, "acme/anna/events") == _state(store, "acme/anna/tasks") == ([], None)
        for other in ("acme/anna2/events", "acme/ANNA/events"):  # a name starting alike, or in another case
            assert _state(store, other) == (["one"], "token-1")
    finally:
        store.close()


def test_a_new_mailbox_keeps_the_users_sync_state_for_the_pairs_binding_and_their_history(
    admin: SQLAdminStore, backend: Backend
) -> None:
    """The links name the old mailbox's items. Each pair is bound to the mailbox its links were made with, so
    its next run keeps them apart (``PairState.bind``) for when the user comes back; forgetting them here lost
    what the earlier mailbox holds: a copy of an item deleted meanwhile was imported again on the way back."""
    admin.add_integration(ACME)
    admin.put_user("acme", UserRecord("anna", "anna@acme.com"))
    store = _pairs_with_history(backend, ("acme/anna/events",))
    try:
        with store.open_pair("acme/anna/events") as state:
            state.bind("A: x\nB: anna@acme.com")
        for mailbox in ("anna@acme.com ", "ANNA@acme.com", "anna.new@acme.com"):
            admin.put_user("acme", UserRecord("anna", mailbox))
            assert _state(store, "acme/anna/events") == (["one"], "token-1")
        assert [j.pair for j in store.jobs()] == ["acme/anna/events"]  # the history stays
    finally:
        store.close()


def test_a_new_mailbox_forgets_only_the_users_pairs_no_run_has_bound(admin: SQLAdminStore, backend: Backend) -> None:
    """An unbound pair's next run trusts its links (made before pairs were bound): they name the old mailbox's
    items, so in the new one each linked item was taken as deleted there and the deletion passed on. It starts
    afresh instead, at a change of mailbox only; the user's bound pairs and other users' keep their state."""
    admin.add_integration(ACME)
    for user in ("anna", "anna2"):
        admin.put_user("acme", UserRecord(user, f"{user}@acme.com"))
    pairs = ("acme/anna/events", "acme/anna/tasks", "acme/anna2/events")
    store = _pairs_with_history(backend, pairs)
    try:
        with store.open_pair("acme/anna/tasks") as state:
            state.bind("A: x\nB: anna@acme.com")
        for same in ("anna@acme.com ", "ANNA@acme.com"):  # spaces, and the case of an e-mail address
            admin.put_user("acme", UserRecord("anna", same, UserOptions(contacts=False)), case_blind=True)
            assert _state(store, "acme/anna/events") == (["one"], "token-1")
        admin.put_user("acme", UserRecord("anna", "anna.new@acme.com"), case_blind=True)
        assert _state(store, "acme/anna/events") == ([], None)
        assert _state(store, "acme/anna/tasks") == (["one"], "token-1")
        assert _state(store, "acme/anna2/events") == (["one"], "token-1")  # a name starting alike: another's
        assert sorted(j.pair for j in store.jobs()) == sorted(pairs)
    finally:
        store.close()


def test_a_pair_forgotten_by_a_move_while_its_run_binds_it_fails_that_run_saying_so(backend: Backend) -> None:
    """A move forgets the pairs no run has bound yet in the transaction of the change, whichever run holds one.
    A run binding such a pair meanwhile waits for that transaction, then fails saying the pair's state was
    removed. It once failed on SQLite with "No row was found when one was required"; on PostgreSQL its binding
    changed no row without a word, as if bound, and the run failed at its next checkpoint on a foreign key."""
    store = _pairs_with_history(backend, ("acme/anna/events",))
    moving = Database(database_url(backend.url))
    failed: list[StateError] = []
    try:
        with store.open_pair("acme/anna/events") as state:  # the run has opened its pair
            binding = threading.Thread(target=_binding, args=(state, failed))
            with moving.write() as conn:
                _forget_unbound(conn, "acme/anna/")  # the admin's move, not committed yet
                binding.start()
                binding.join(0.5)
                assert binding.is_alive()  # it waits for the move
            binding.join(30)
            assert [str(exc) for exc in failed] == [
                "the sync state of pair acme/anna/events was removed while this run held it (an admin moved or "
                "removed its integration or user meanwhile): stopped before recording more; the pair's next run "
                "starts afresh"
            ]
            state.put_link(make_link("two"))
            with pytest.raises(StateError, match="was removed while this run held it"):
                state.checkpoint()
            state.discard()
        assert backend.scalar("SELECT COUNT(*) FROM pairs") == 0
        assert [j.pair for j in store.jobs()] == ["acme/anna/events"]  # its history stays
    finally:
        moving.close()
        store.close()


def _binding(state: PairState, failed: list[StateError]) -> None:
    try:
        state.bind("A: x\nB: old")
    except StateError as exc:
        failed.append(exc)


def test_a_mailbox_is_mapped_once_per_integration(admin: SQLAdminStore) -> None:
    admin.add_integration(ACME)
    admin.put_user("acme", UserRecord("anna", "anna@acme.com"))
    with pytest.raises(StateError):
        admin.put_user("acme", UserRecord("bob", "anna@acme.com"))


def test_reencrypt_replaces_every_ciphertext_in_one_transaction(admin: SQLAdminStore) -> None:
    admin.add_integration(replace(ACME, client_secret_enc="tok-2"))
    admin.add_integration(replace(ACME, name="beta", password_enc=None))
    assert admin.reencrypt(lambda token: token + "!") == 2
    assert admin.integration("acme") == replace(ACME, password_enc="tok-1!", client_secret_enc="tok-2!")

    def fail_on_second(token: str) -> str:
        if token.startswith("tok-2"):
            raise StateError("key does not fit")
        return "changed"

    with pytest.raises(StateError):
        admin.reencrypt(fail_on_second)
    assert admin.integration("acme") == replace(ACME, password_enc="tok-1!", client_secret_enc="tok-2!")
