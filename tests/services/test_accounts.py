"""Admin accounts through the service: hashing, validation, sign-in, lock-out and the lifetime of sessions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.config import Settings, StateSettings
from calsync.crypto import Secret
from calsync.errors import ConfigError
from calsync.services.accounts import (
    LOCK_FOR,
    MAX_FAILURES,
    SESSION_IDLE,
    SESSION_MAX,
    AccountService,
    SignInOutcome,
    hash_password,
    open_accounts,
    verify_password,
)
from calsync.state.accounts import SQLAccountStore, open_account_store

PASSWORD = "correct horse battery staple"
START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLAccountStore]:
    opened = open_account_store(str(tmp_path / "state.db"))
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(store: SQLAccountStore, clock: Clock) -> AccountService:
    accounts = AccountService(store, clock=clock)
    accounts.add("Ann", Secret(PASSWORD))
    return accounts


def test_a_hash_is_salted_scrypt_and_verifies_only_its_password() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("scrypt$16384$8$1$")
    assert first != second  # a random salt each time
    assert PASSWORD not in first
    assert verify_password(PASSWORD, first)
    assert not verify_password(PASSWORD + "!", first)
    assert not verify_password(PASSWORD, "md5$abc")
    assert not verify_password(PASSWORD, "scrypt$x$y")


def test_the_store_holds_the_hash_never_the_password(service: AccountService, store: SQLAccountStore) -> None:
    record = store.account("ann")
    assert record is not None
    assert verify_password(PASSWORD, record.password_hash)
    assert PASSWORD not in record.password_hash
    assert [view.username for view in service.accounts()] == ["ann"]  # names are kept in lower case


@pytest.mark.parametrize(
    ("name", "password", "where", "message"),
    [
        ("ann", PASSWORD, "username", "already exists"),
        ("a b", PASSWORD, "username", "not a valid name"),
        ("bob", "short", "password", "at least 12 characters"),
    ],
)
def test_bad_accounts_are_refused_naming_the_field(
    service: AccountService, name: str, password: str, where: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        service.add(name, Secret(password))
    assert caught.value.where == where


def test_a_sign_in_opens_a_session_found_by_its_token(service: AccountService, store: SQLAccountStore) -> None:
    answer = service.sign_in(" ANN ", PASSWORD)
    assert answer.outcome is SignInOutcome.SIGNED_IN
    assert answer.session is not None
    assert len(answer.session.token) >= 43  # 256 random bits
    found = service.session(answer.session.token)
    assert found is not None
    assert (found.username, found.csrf_token, found.token) == ("ann", answer.session.csrf_token, "")
    assert store.session(answer.session.token) is None  # stored by digest only
    assert service.session("not-a-token") is None
    assert service.session("") is None


def test_wrong_passwords_lock_the_name_even_for_the_right_one(service: AccountService, clock: Clock) -> None:
    for _ in range(MAX_FAILURES - 1):
        assert service.sign_in("ann", "wrong password").outcome is SignInOutcome.REFUSED
    locked = service.sign_in("ann", "wrong password")
    assert locked.outcome is SignInOutcome.LOCKED
    assert locked.locked_until == START + LOCK_FOR
    assert service.sign_in("ann", PASSWORD).outcome is SignInOutcome.LOCKED
    clock.now += LOCK_FOR + timedelta(seconds=1)
    assert service.sign_in("ann", PASSWORD).outcome is SignInOutcome.SIGNED_IN


def test_a_success_clears_the_failures(service: AccountService) -> None:
    for _ in range(MAX_FAILURES - 1):
        service.sign_in("ann", "wrong password")
    assert service.sign_in("ann", PASSWORD).outcome is SignInOutcome.SIGNED_IN
    for _ in range(MAX_FAILURES - 1):
        assert service.sign_in("ann", "wrong password").outcome is SignInOutcome.REFUSED


def test_an_unknown_name_is_locked_alike_so_a_lock_tells_nothing(service: AccountService) -> None:
    outcomes = [service.sign_in("nobody", PASSWORD).outcome for _ in range(MAX_FAILURES + 1)]
    assert outcomes == [SignInOutcome.REFUSED] * (MAX_FAILURES - 1) + [SignInOutcome.LOCKED] * 2


def test_a_session_ends_when_idle_and_after_its_longest_life(service: AccountService, clock: Clock) -> None:
    answer = service.sign_in("ann", PASSWORD)
    assert answer.session is not None
    token = answer.session.token
    for _ in range(int(SESSION_MAX / (SESSION_IDLE / 2))):  # used every quarter of an hour: kept alive…
        clock.now += SESSION_IDLE / 2
        if clock.now >= START + SESSION_MAX:
            break
        assert service.session(token) is not None
    clock.now = START + SESSION_MAX
    assert service.session(token) is None  # …but never beyond its longest life
    again = service.sign_in("ann", PASSWORD).session
    assert again is not None
    clock.now += SESSION_IDLE
    assert service.session(again.token) is None


def test_sign_out_a_new_password_and_removal_end_sessions(service: AccountService) -> None:
    def new_token() -> str:
        session = service.sign_in("ann", PASSWORD).session
        assert session is not None
        return session.token

    token = new_token()
    service.sign_out(token)
    assert service.session(token) is None
    token = new_token()
    service.set_password("ann", Secret(PASSWORD + " 2"))
    assert service.session(token) is None
    assert service.sign_in("ann", PASSWORD).outcome is SignInOutcome.REFUSED
    service.set_password("ann", Secret(PASSWORD))
    token = new_token()
    service.remove("ann")
    assert service.session(token) is None
    with pytest.raises(ConfigError, match="no admin account called 'ann'"):
        service.remove("ann")
    with pytest.raises(ConfigError, match="no admin account"):
        service.set_password("ann", Secret(PASSWORD))


def test_a_new_password_lifts_a_lock(service: AccountService) -> None:
    for _ in range(MAX_FAILURES):
        service.sign_in("ann", "wrong password")
    service.set_password("ann", Secret(PASSWORD))
    assert service.sign_in("ann", PASSWORD).outcome is SignInOutcome.SIGNED_IN


def test_open_accounts_uses_the_configured_database(tmp_path: Path) -> None:
    settings = Settings(source=None, state=StateSettings(url=str(tmp_path / "state.db")))
    with open_accounts(settings) as accounts:
        accounts.add("ann", Secret(PASSWORD))
    with open_accounts(settings) as accounts:
        assert [view.username for view in accounts.accounts()] == ["ann"]


def test_parallel_guesses_cannot_pass_the_lock_while_the_hash_runs(
    service: AccountService, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from calsync.services import accounts

    service.add("admin", Secret("correct horse battery"))
    checked: list[str] = []
    real = accounts.verify_password

    def slow(password: str, stored: str) -> bool:
        checked.append(password)
        time.sleep(0.05)  # the window the race used: the hash is slow
        return real(password, stored)

    monkeypatch.setattr(accounts, "verify_password", slow)
    start = threading.Barrier(20)

    def guess(n: int) -> None:
        start.wait()
        service.sign_in("admin", f"guess {n}")

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) <= accounts.MAX_FAILURES, f"{len(checked)} guesses were checked"
    assert service.sign_in("admin", "correct horse battery").outcome is accounts.SignInOutcome.LOCKED
