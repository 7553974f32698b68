"""The AdminStore on SQLAlchemy Core: integrations and users in the state database.

Opens its own ``Database`` on the same URL as the sync state, so the services can use one without the other;
both migrate the same schema (``ensure_schema`` is cheap when it is at head).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import UTC, datetime

from sqlalchemy import URL, Connection, RowMapping, delete, or_, select, update

from calsync.model.users import UserOptions
from calsync.state.admin_port import SECRET_FIELDS, IntegrationRecord, UserRecord
from calsync.state.db import OwnDatabase, starts_with
from calsync.state.tables.hub import USER_FLAGS, integration_users, integrations
from calsync.state.tables.operations import schedule_mailboxes
from calsync.state.tables.sync import jobs, pairs

_RECORD_FIELDS = tuple(f.name for f in fields(IntegrationRecord))


def open_admin_store(url_or_path: str | os.PathLike[str] | URL) -> SQLAdminStore:
    """Open (creating or migrating when needed) the admin tables at a URL or SQLite file path."""
    return SQLAdminStore(url_or_path)


class SQLAdminStore(OwnDatabase):
    """Integrations and users on a SQLAlchemy database; thread-safe across calls."""

    def add_integration(self, record: IntegrationRecord) -> None:
        """Insert ``record``; a taken name is a ``StateError`` (unique constraint)."""
        now = datetime.now(UTC)
        with self._db.write() as conn:
            conn.execute(integrations.insert().values(**asdict(record), created_at=now, updated_at=now))

    def integration(self, name: str) -> IntegrationRecord | None:
        """The integration called ``name``, if any."""
        with self._db.read() as conn:
            row = conn.execute(select(integrations).where(integrations.c.name == name)).mappings().first()
        return _record(row) if row is not None else None

    def integrations(self) -> list[IntegrationRecord]:
        """Every integration, by name."""
        with self._db.read() as conn:
            rows = conn.execute(select(integrations).order_by(integrations.c.name)).mappings().all()
        return [_record(row) for row in rows]

    def replace_integration(self, record: IntegrationRecord, *, moved: bool = False) -> bool:
        """Overwrite every field of the integration ``record.name``; False when there is none.

        Its pairs' sync state stays, also when it reaches another server or account now: each pair is bound to
        the whereabouts its links were made on, so its next run shelves them and starts afresh there, or takes
        them up again when the integration is pointed back (``PairState.bind``). Forgetting them would leave the
        copies on the first server unlinked, and a pointing back would import them again or overwrite their edits.
        ``moved`` (it reaches another server or account now): its pairs no run has bound yet are forgotten in the
        same transaction (``_forget_unbound``), their jobs kept.
        """
        values = {k: v for k, v in asdict(record).items() if k != "name"}
        with self._db.write() as conn:
            stmt = update(integrations).where(integrations.c.name == record.name)
            done = conn.execute(stmt.values(**values, updated_at=datetime.now(UTC)))
            if done.rowcount and moved:
                _forget_unbound(conn, f"{record.name}/")
        return bool(done.rowcount)

    def remove_integration(self, name: str) -> bool:
        """Delete the integration with everything it left behind, in one transaction.

        The foreign keys' cascade takes what refers to the integration's id (users, tokens, business items,
        journal, schedule ...); the pairs' sync state (links, tokens) and the jobs with their lines are keyed by
        name (``<name>/<user>/<collection>``; a skipped turn's job by ``<name>``, as ``jobs_of`` reads them), so
        they are deleted here. Why: an integration given the same name later would otherwise read the old one's
        job history, item titles included, and its first sync would plan the old links' items as deletions.
        """
        with self._db.write() as conn:
            done = conn.execute(delete(integrations).where(integrations.c.name == name))
            if done.rowcount:
                conn.execute(delete(pairs).where(starts_with(pairs.c.name, f"{name}/")))
                own_job = starts_with(jobs.c.pair, f"{name}/")
                conn.execute(delete(jobs).where(or_(jobs.c.pair == name, own_job)))
        return bool(done.rowcount)

    def put_user(self, integration: str, user: UserRecord, *, case_blind: bool = False) -> bool:
        """Insert or replace one user; a mailbox taken by another user is a ``StateError``.

        A new mailbox forgets the old one's backoff. The user's pairs stay: their links name the old mailbox's
        items, and each pair is bound to the mailbox its links were made with, so its next run shelves them and
        starts afresh in the new one, or takes up those it had there if the user comes back (``PairState.bind``);
        only those no run has bound yet are forgotten, in the same transaction (``_forget_unbound``). Spaces
        around a mailbox never make it another one; its case does unless ``case_blind`` (e-mail addresses: EWS,
        Graph).
        """
        with self._db.write() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return False
            mailbox = conn.execute(
                select(integration_users.c.mailbox).where(
                    integration_users.c.integration_id == ident,
                    integration_users.c.business_user == user.business_user,
                )
            ).scalar_one_or_none()
            if mailbox is not None and _mailbox_key(mailbox, case_blind) != _mailbox_key(user.mailbox, case_blind):
                _forget_backoff(conn, ident, user.business_user)
                _forget_unbound(conn, f"{integration}/{user.business_user}/")
            row = {"integration_id": ident, "business_user": user.business_user, "mailbox": user.mailbox}
            row |= asdict(user.flags) | {"created_at": datetime.now(UTC)}
            stmt = self._db.upsert(integration_users, ("integration_id", "business_user"))
            conn.execute(stmt, row)
        return True

    def users(self, integration: str) -> list[UserRecord]:
        """The users of ``integration`` (none when it does not exist), by business user id."""
        query = (
            select(integration_users)
            .join(integrations, integrations.c.id == integration_users.c.integration_id)
            .where(integrations.c.name == integration)
            .order_by(integration_users.c.business_user)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [_user(row) for row in rows]

    def remove_user(self, integration: str, business_user: str) -> bool:
        """Delete one user with their sync state and jobs (``_forget_user``); False when there is none.

        Why the jobs too: the same user added again later would otherwise read the old history, item titles
        included. The business items assigned to the user stay: they are the business system's.
        """
        with self._db.write() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return False
            stmt = delete(integration_users).where(
                integration_users.c.integration_id == ident, integration_users.c.business_user == business_user
            )
            done = bool(conn.execute(stmt).rowcount)
            if done:
                _forget_user(conn, ident, integration, business_user)
            return done

    def reencrypt(self, transform: Callable[[str], str]) -> int:
        """Replace every ciphertext by ``transform`` of it in one transaction; an exception changes nothing."""
        count = 0
        columns = [integrations.c[name] for name in SECRET_FIELDS]
        with self._db.write() as conn:
            for row in conn.execute(select(integrations.c.id, *columns)).mappings().all():
                changed = {name: transform(row[name]) for name in SECRET_FIELDS if row[name] is not None}
                if changed:
                    conn.execute(update(integrations).where(integrations.c.id == row["id"]).values(**changed))
                    count += len(changed)
        return count

    @staticmethod
    def _id(conn: Connection, name: str) -> int | None:
        found = conn.execute(select(integrations.c.id).where(integrations.c.name == name)).scalar_one_or_none()
        return int(found) if found is not None else None


def _mailbox_key(mailbox: str, case_blind: bool) -> str:
    """A mailbox as compared: spaces around it mean nothing (older versions stored them as given), nor does an
    e-mail address's case; a CalDAV principal's or a folder's does."""
    return mailbox.strip().casefold() if case_blind else mailbox.strip()


def _forget_user(conn: Connection, ident: int, integration: str, business_user: str) -> None:
    """Delete the user's pairs (their links, shelved links and tokens go by cascade), mailbox backoff and jobs.

    The user's pairs are ``<integration>/<user>/<collection>`` (see ``remove_integration``).
    """
    prefix = f"{integration}/{business_user}/"
    conn.execute(delete(pairs).where(starts_with(pairs.c.name, prefix)))
    _forget_backoff(conn, ident, business_user)
    conn.execute(delete(jobs).where(starts_with(jobs.c.pair, prefix)))


def _forget_unbound(conn: Connection, prefix: str) -> None:
    """Delete the pairs named with ``prefix`` that no run has bound yet (made before pairs were bound: migration
    0011), with their links and tokens (by cascade); their jobs stay.

    Why: such a pair's next run binds it trusting its links (``PairState.bind``), which name the items of the
    server, account or mailbox they were made with; once the integration or the user's mailbox has moved, that run
    would read them as the new one's, take every linked item as deleted there and pass the deletions on to the
    business system. Nothing tells where their links were made, so they start afresh, matching items by identity,
    as every pair did before pairs were bound. Bound pairs keep their state: their binding tells the places apart.
    """
    conn.execute(delete(pairs).where(starts_with(pairs.c.name, prefix), pairs.c.bound_to.is_(None)))


def _forget_backoff(conn: Connection, ident: int, business_user: str) -> None:
    """Forget how the user's mailbox answered (``schedule_mailboxes``): a new mailbox is tried at once."""
    conn.execute(
        delete(schedule_mailboxes).where(
            schedule_mailboxes.c.integration_id == ident, schedule_mailboxes.c.business_user == business_user
        )
    )


def _record(row: RowMapping) -> IntegrationRecord:
    return IntegrationRecord(**{name: row[name] for name in _RECORD_FIELDS})


def _user(row: RowMapping) -> UserRecord:
    flags = UserOptions(**{flag: bool(row[flag]) for flag in USER_FLAGS})
    return UserRecord(row["business_user"], row["mailbox"], flags)
