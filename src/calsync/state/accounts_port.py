"""The AccountStore port: local admin accounts, their sign-in sessions and failed sign-ins.

Why a port apart from ``admin_port``: integrations are what calsync syncs; accounts are who may change them
through the admin web UI. Records hold what the database holds: a password's hash (never the password) and a
session's digest (never the cookie value), so nothing read through this port lets anyone sign in. The policy
(hashing, how long a session lives, when a name is locked) is the services' (``calsync.services.accounts``);
``calsync.state.accounts`` implements the mechanics on SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """One local admin account: its name and the hash of its password (``scrypt$…``)."""

    username: str
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One signed-in session: the SHA-256 of its cookie value, whose it is, its CSRF token and its lifetime.

    ``expires_at`` moves forward while the session is used (idle timeout); ``created_at`` bounds its whole life.
    """

    token_hash: str
    username: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SignInFailures:
    """Failed sign-ins under one name (known or not) since its last success or lock, and its lock if any."""

    username: str
    failures: int
    locked_until: datetime | None


class AccountStore(Protocol):
    """Accounts, sessions and failed sign-ins. Implementations raise ``StateError`` for their library's failures."""

    def add_account(self, username: str, password_hash: str, now: datetime) -> bool:
        """Store a new account; False when the name is taken."""
        ...

    def account(self, username: str) -> AccountRecord | None:
        """The account called ``username``, if any."""
        ...

    def accounts(self) -> list[AccountRecord]:
        """Every account, by name."""
        ...

    def set_password_hash(self, username: str, password_hash: str, now: datetime) -> bool:
        """Replace an account's password hash and end its sessions; False when there is no such account."""
        ...

    def remove_account(self, username: str) -> bool:
        """Delete an account with its sessions; False when there is none."""
        ...

    def add_session(self, session: SessionRecord) -> bool:
        """Store a new session for ``session.username``; False when the account is gone."""
        ...

    def session(self, token_hash: str) -> SessionRecord | None:
        """The session with this digest, expired or not."""
        ...

    def extend_session(self, token_hash: str, expires_at: datetime) -> None:
        """Move a session's idle expiry to ``expires_at``."""
        ...

    def remove_session(self, token_hash: str) -> bool:
        """End one session; False when there was none."""
        ...

    def remove_expired_sessions(self, now: datetime) -> int:
        """Delete every session that expired before ``now``; returns how many."""
        ...

    def failures(self, username: str) -> SignInFailures | None:
        """The failed sign-ins recorded under ``username``, if any."""
        ...

    def count_failure(self, username: str, now: datetime) -> int:
        """Add one failed sign-in under ``username`` atomically; returns the new count."""
        ...

    def lock(self, username: str, until: datetime, now: datetime) -> None:
        """Lock ``username`` until ``until`` and start its count again from zero."""
        ...

    def clear_failures(self, username: str) -> None:
        """Forget the failed sign-ins and any lock under ``username`` (after a success or a new password)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
