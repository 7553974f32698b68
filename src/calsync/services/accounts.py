"""Local admin accounts for the admin web UI: passwords, sign-in with lock-out, and server-side sessions.

Why these choices:

- Passwords are hashed with scrypt (``hashlib.scrypt``, 16 MiB, about 50 ms) under a random salt, the parameters
  stored with the hash so they can be raised later without breaking old hashes. A sign-in under an unknown name
  spends the same time hashing, so the answer's timing does not tell which names exist.
- Five failed sign-ins under one name lock that name for 15 minutes, whether the account exists or not (so a
  lock-out tells nothing either); while locked even the right password is refused. A success clears the count.
- A session is a random 256-bit cookie value; the database keeps only its SHA-256, with the session's CSRF token
  and its expiry. Signing out deletes the row, so a copied cookie is dead at once; a session also ends after
  30 idle minutes or 12 hours in all, and when its account's password changes or the account is removed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache

from calsync.config import Settings
from calsync.crypto import Secret
from calsync.errors import ConfigError
from calsync.services.integration_rules import check_name
from calsync.state.accounts_port import AccountStore, SessionRecord

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
MAX_FAILURES = 5
"""Failed sign-ins under one name before it is locked."""
LOCK_FOR = timedelta(minutes=15)
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=12)
_EXTEND_AFTER = timedelta(minutes=1)  # a session used again within a minute is not written again
_SCRYPT = (2**14, 8, 1)
_DUMMY_SALT = b"calsync-no-such-account"


class SignInOutcome(StrEnum):
    """What a sign-in attempt came to."""

    SIGNED_IN = "signed-in"
    REFUSED = "refused"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class AccountView:
    """An admin account as shown: its name and when it was created (never its hash)."""

    username: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AdminSession:
    """A signed-in admin's session: who, the CSRF token its forms must carry, and until when it holds.

    ``token`` is the cookie value: set only on the session a sign-in has just created, empty otherwise.
    """

    username: str
    csrf_token: str
    expires_at: datetime
    token: str = ""


@dataclass(frozen=True, slots=True)
class SignIn:
    """The answer to a sign-in: the new session, or why not (and until when a locked name stays locked)."""

    outcome: SignInOutcome
    session: AdminSession | None = None
    locked_until: datetime | None = None


class AccountService:
    """Add and remove admin accounts, sign admins in and out, and find the session behind a cookie."""

    def __init__(self, store: AccountStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._clock = clock

    def add(self, username: str, password: Secret) -> AccountView:
        """Create an account; raises ``ConfigError`` for a bad or taken name or a short password."""
        name = _username(username)
        now = self._clock()
        if not self._store.add_account(name, hash_password(_checked(password)), now):
            raise ConfigError(f"an admin account called {name!r} already exists", where="username")
        logger.info("added admin account %s", name)
        return AccountView(name, now)

    def accounts(self) -> list[AccountView]:
        """Every account, by name."""
        return [AccountView(record.username, record.created_at) for record in self._store.accounts()]

    def remove(self, username: str) -> None:
        """Delete an account, ending its sessions; raises ``ConfigError`` when there is none."""
        if not self._store.remove_account(_username(username)):
            raise _unknown(username)
        logger.info("removed admin account %s", username)

    def set_password(self, username: str, password: Secret) -> None:
        """Give an account a new password, ending its sessions and any lock on its name."""
        name = _username(username)
        if not self._store.set_password_hash(name, hash_password(_checked(password)), self._clock()):
            raise _unknown(name)
        self._store.clear_failures(name)
        logger.info("set a new password for admin account %s", name)

    def sign_in(self, username: str, password: str) -> SignIn:
        """Check the name and password and open a session; count a failure and lock the name after too many."""
        name = username.strip().lower()
        if "\x00" in name:
            # No account can have such a name (nor the database store it): refused, after the same work as a
            # real check, without counting a failure under a name that cannot be written.
            verify_password(password, _dummy_hash())
            return SignIn(SignInOutcome.REFUSED)
        now = self._clock()
        # The attempt is counted before the lock is looked at and the password checked (and uncounted when it
        # was right): checking first let parallel guesses all pass the lock test while the slow hash ran.
        attempts = self._store.count_failure(name, now)
        held = self._store.failures(name)
        if held is not None and held.locked_until is not None and held.locked_until > now:
            return SignIn(SignInOutcome.LOCKED, locked_until=held.locked_until)
        if attempts > MAX_FAILURES:
            self._store.lock(name, now + LOCK_FOR, now)
            return SignIn(SignInOutcome.LOCKED, locked_until=now + LOCK_FOR)
        account = self._store.account(name)
        if account is None:
            verify_password(password, _dummy_hash())  # the same work as a real check
        elif verify_password(password, account.password_hash):
            self._store.clear_failures(name)
            return SignIn(SignInOutcome.SIGNED_IN, session=self._open_session(name, now))
        counted = self._store.failures(name)
        if counted is not None and counted.failures >= MAX_FAILURES:
            self._store.lock(name, now + LOCK_FOR, now)
            logger.warning("admin sign-in locked for %s after %d failures", name, MAX_FAILURES)
            return SignIn(SignInOutcome.LOCKED, locked_until=now + LOCK_FOR)
        return SignIn(SignInOutcome.REFUSED)

    def session(self, token: str) -> AdminSession | None:
        """The live session behind a cookie value, its idle expiry moved forward; None when unknown or expired."""
        if not token:
            return None
        digest = _digest(token)
        found = self._store.session(digest)
        now = self._clock()
        if found is None:
            return None
        if found.expires_at <= now or found.created_at + SESSION_MAX <= now:
            self._store.remove_session(digest)
            return None
        expires = min(now + SESSION_IDLE, found.created_at + SESSION_MAX)
        if expires - found.expires_at >= _EXTEND_AFTER:
            self._store.extend_session(digest, expires)
        return AdminSession(found.username, found.csrf_token, expires)

    def sign_out(self, token: str) -> None:
        """End the session behind a cookie value (nothing happens for an unknown one)."""
        if token:
            self._store.remove_session(_digest(token))

    def _open_session(self, username: str, now: datetime) -> AdminSession:
        self._store.remove_expired_sessions(now)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        record = SessionRecord(_digest(token), username, csrf, now, now + SESSION_IDLE)
        if not self._store.add_session(record):  # the account was removed a moment ago
            raise _unknown(username)
        logger.info("admin %s signed in", username)
        return AdminSession(username, csrf, record.expires_at, token)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` for ``password`` (a random salt unless one is given)."""
    n, r, p = _SCRYPT
    salt = secrets.token_bytes(16) if salt is None else salt
    derived = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(derived)}"


@cache
def _dummy_hash() -> str:
    return hash_password("no such account", _DUMMY_SALT)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by ``hash_password``; a malformed hash matches nothing."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        derived = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32, maxmem=2**26
        )
    except ValueError:
        return False
    return hmac.compare_digest(_b64(derived), expected)


@contextmanager
def open_accounts(settings: Settings) -> Iterator[AccountService]:
    """The service on the configured state database, closed when the block ends."""
    from calsync.state.accounts import open_account_store
    from calsync.state.db import database_url

    url = database_url(settings.state.url)
    if settings.state.password is not None:
        url = url.set(password=settings.state.password.reveal())
    store = open_account_store(url)
    try:
        yield AccountService(store)
    finally:
        store.close()


def _username(username: str) -> str:
    return check_name(username.strip().lower(), "username")


def _checked(password: Secret) -> str:
    value = password.reveal()
    if len(value) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"use at least {MIN_PASSWORD_LENGTH} characters", where="password")
    return value


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unknown(username: str) -> ConfigError:
    return ConfigError(f"no admin account called {username!r}", where="username")
