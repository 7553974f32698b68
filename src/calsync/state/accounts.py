"""The AccountStore on SQLAlchemy Core: admin accounts, sessions and failed sign-ins in the state database.

Opens its own ``Database`` on the state URL, like ``calsync.state.admin``, so the web app can check a session
without opening the sync state. Counting a failure is one atomic statement (insert-if-missing, then an increment
in the same transaction), so parallel guesses cannot slip past the lock-out by racing each other.
"""

from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy import URL, Connection, RowMapping, delete, select, update

from calsync.state.accounts_port import AccountRecord, SessionRecord, SignInFailures
from calsync.state.db import OwnDatabase
from calsync.state.tables.operations import admin_accounts, admin_sessions, admin_sign_in_failures

_SESSION_COLUMNS = (
    admin_sessions.c.token_hash,
    admin_accounts.c.username,
    admin_sessions.c.csrf_token,
    admin_sessions.c.created_at,
    admin_sessions.c.expires_at,
)


def open_account_store(url_or_path: str | os.PathLike[str] | URL) -> SQLAccountStore:
    """Open (creating or migrating when needed) the account tables at a URL or SQLite file path."""
    return SQLAccountStore(url_or_path)


class SQLAccountStore(OwnDatabase):
    """Accounts, sessions and failed sign-ins on a SQLAlchemy database; thread-safe across calls."""

    def add_account(self, username: str, password_hash: str, now: datetime) -> bool:
        """Insert an account unless the name is taken (checked in the same write transaction)."""
        with self._db.write() as conn:
            if self._id(conn, username) is not None:
                return False
            conn.execute(
                admin_accounts.insert().values(
                    username=username, password_hash=password_hash, created_at=now, updated_at=now
                )
            )
        return True

    def account(self, username: str) -> AccountRecord | None:
        """The account called ``username``, if any."""
        query = select(admin_accounts).where(admin_accounts.c.username == username)
        with self._db.read() as conn:
            row = conn.execute(query).mappings().first()
        return _account(row) if row is not None else None

    def accounts(self) -> list[AccountRecord]:
        """Every account, by name."""
        with self._db.read() as conn:
            rows = conn.execute(select(admin_accounts).order_by(admin_accounts.c.username)).mappings().all()
        return [_account(row) for row in rows]

    def set_password_hash(self, username: str, password_hash: str, now: datetime) -> bool:
        """Replace the hash and delete the account's sessions in one transaction."""
        with self._db.write() as conn:
            ident = self._id(conn, username)
            if ident is None:
                return False
            stmt = update(admin_accounts).where(admin_accounts.c.id == ident)
            conn.execute(stmt.values(password_hash=password_hash, updated_at=now))
            conn.execute(delete(admin_sessions).where(admin_sessions.c.account_id == ident))
        return True

    def remove_account(self, username: str) -> bool:
        """Delete the account and (by the foreign key's cascade) its sessions."""
        with self._db.write() as conn:
            done = conn.execute(delete(admin_accounts).where(admin_accounts.c.username == username))
        return bool(done.rowcount)

    def add_session(self, session: SessionRecord) -> bool:
        """Insert a session for its account; False when the account no longer exists."""
        with self._db.write() as conn:
            ident = self._id(conn, session.username)
            if ident is None:
                return False
            conn.execute(
                admin_sessions.insert().values(
                    token_hash=session.token_hash,
                    account_id=ident,
                    csrf_token=session.csrf_token,
                    created_at=session.created_at,
                    expires_at=session.expires_at,
                )
            )
        return True

    def session(self, token_hash: str) -> SessionRecord | None:
        """The session with this digest joined with its account's name."""
        query = (
            select(*_SESSION_COLUMNS)
            .join(admin_accounts, admin_accounts.c.id == admin_sessions.c.account_id)
            .where(admin_sessions.c.token_hash == token_hash)
        )
        with self._db.read() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return SessionRecord(
            row["token_hash"], row["username"], row["csrf_token"], row["created_at"], row["expires_at"]
        )

    def extend_session(self, token_hash: str, expires_at: datetime) -> None:
        """Move the idle expiry of one session."""
        with self._db.write() as conn:
            stmt = update(admin_sessions).where(admin_sessions.c.token_hash == token_hash)
            conn.execute(stmt.values(expires_at=expires_at))

    def remove_session(self, token_hash: str) -> bool:
        """Delete one session."""
        with self._db.write() as conn:
            done = conn.execute(delete(admin_sessions).where(admin_sessions.c.token_hash == token_hash))
        return bool(done.rowcount)

    def remove_expired_sessions(self, now: datetime) -> int:
        """Delete the sessions whose idle expiry has passed."""
        with self._db.write() as conn:
            done = conn.execute(delete(admin_sessions).where(admin_sessions.c.expires_at < now))
        return int(done.rowcount)

    def failures(self, username: str) -> SignInFailures | None:
        """The failures and lock recorded under ``username``."""
        query = select(admin_sign_in_failures).where(admin_sign_in_failures.c.username == username)
        with self._db.read() as conn:
            row = conn.execute(query).mappings().first()
        return SignInFailures(row["username"], row["failures"], row["locked_until"]) if row is not None else None

    def count_failure(self, username: str, now: datetime) -> int:
        """Insert a zero row if there is none, then increment it, in one transaction."""
        table = admin_sign_in_failures
        with self._db.write() as conn:
            insert = self._db.upsert(table, ("username",), replace=False)
            conn.execute(insert, {"username": username, "failures": 0, "locked_until": None, "updated_at": now})
            stmt = update(table).where(table.c.username == username)
            conn.execute(stmt.values(failures=table.c.failures + 1, updated_at=now))
            count = conn.execute(select(table.c.failures).where(table.c.username == username)).scalar_one()
        return int(count)

    def lock(self, username: str, until: datetime, now: datetime) -> None:
        """Set the lock and reset the count, creating the row if needed."""
        row = {"username": username, "failures": 0, "locked_until": until, "updated_at": now}
        with self._db.write() as conn:
            conn.execute(self._db.upsert(admin_sign_in_failures, ("username",)), row)

    def clear_failures(self, username: str) -> None:
        """Delete the row of ``username``."""
        with self._db.write() as conn:
            conn.execute(delete(admin_sign_in_failures).where(admin_sign_in_failures.c.username == username))

    @staticmethod
    def _id(conn: Connection, username: str) -> int | None:
        query = select(admin_accounts.c.id).where(admin_accounts.c.username == username)
        found = conn.execute(query).scalar_one_or_none()
        return int(found) if found is not None else None


def _account(row: RowMapping) -> AccountRecord:
    return AccountRecord(row["username"], row["password_hash"], row["created_at"])
