"""The AccountStore on SQLite and PostgreSQL: accounts, sessions that go with their account, failure counting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from calsync.state.accounts import SQLAccountStore, open_account_store
from calsync.state.accounts_port import AccountRecord, SessionRecord, SignInFailures
from tests.state.conftest import Backend

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def accounts(backend: Backend) -> Iterator[SQLAccountStore]:
    opened = open_account_store(backend.url)
    yield opened
    opened.close()


def session(token_hash: str, username: str = "ann", *, expires: timedelta = timedelta(minutes=30)) -> SessionRecord:
    return SessionRecord(token_hash, username, f"csrf-{token_hash}", NOW, NOW + expires)


def test_accounts_round_trip_and_a_name_is_taken_once(accounts: SQLAccountStore) -> None:
    assert accounts.add_account("ann", "scrypt$hash-1", NOW)
    assert not accounts.add_account("ann", "scrypt$hash-2", NOW)
    assert accounts.add_account("bob", "scrypt$hash-3", NOW)
    assert accounts.account("ann") == AccountRecord("ann", "scrypt$hash-1", NOW)
    assert accounts.account("nobody") is None
    assert [a.username for a in accounts.accounts()] == ["ann", "bob"]


def test_sessions_are_found_by_digest_extended_and_removed(accounts: SQLAccountStore) -> None:
    accounts.add_account("ann", "h", NOW)
    assert accounts.add_session(session("d1"))
    assert not accounts.add_session(session("d2", "nobody"))
    assert accounts.session("d1") == session("d1")
    assert accounts.session("d2") is None
    accounts.extend_session("d1", NOW + timedelta(hours=1))
    found = accounts.session("d1")
    assert found is not None
    assert found.expires_at == NOW + timedelta(hours=1)
    assert accounts.remove_session("d1")
    assert not accounts.remove_session("d1")


def test_expired_sessions_are_purged(accounts: SQLAccountStore) -> None:
    accounts.add_account("ann", "h", NOW)
    accounts.add_session(session("old", expires=timedelta(minutes=-1)))
    accounts.add_session(session("live"))
    assert accounts.remove_expired_sessions(NOW) == 1
    assert accounts.session("old") is None
    assert accounts.session("live") is not None


def test_a_new_password_or_removal_ends_the_accounts_sessions(accounts: SQLAccountStore) -> None:
    accounts.add_account("ann", "h", NOW)
    accounts.add_account("bob", "h", NOW)
    accounts.add_session(session("a1"))
    accounts.add_session(session("b1", "bob"))
    assert accounts.set_password_hash("ann", "h2", NOW)
    assert not accounts.set_password_hash("nobody", "h2", NOW)
    assert accounts.session("a1") is None
    account = accounts.account("ann")
    assert account is not None
    assert account.password_hash == "h2"
    assert accounts.remove_account("bob")
    assert not accounts.remove_account("bob")
    assert accounts.session("b1") is None


def test_failures_count_lock_and_clear(accounts: SQLAccountStore) -> None:
    assert accounts.failures("eve") is None
    assert [accounts.count_failure("eve", NOW) for _ in range(3)] == [1, 2, 3]
    assert accounts.failures("eve") == SignInFailures("eve", 3, None)
    accounts.lock("eve", NOW + timedelta(minutes=15), NOW)
    assert accounts.failures("eve") == SignInFailures("eve", 0, NOW + timedelta(minutes=15))
    assert accounts.count_failure("eve", NOW) == 1
    accounts.clear_failures("eve")
    assert accounts.failures("eve") is None


def test_parallel_failures_are_each_counted(accounts: SQLAccountStore) -> None:
    """Guesses sent in parallel cannot race past the count: every one is counted."""
    counts: list[int] = []
    lock = threading.Lock()

    def guess() -> None:
        value = accounts.count_failure("eve", NOW)
        with lock:
            counts.append(value)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == list(range(1, 9))
