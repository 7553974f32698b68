"""Integrations and their users: the use cases behind ``calsync integrations``/``users``, later the REST API and UI.

Secrets go in as ``Secret`` values, are encrypted here (``calsync.crypto``) before the store sees them, and never
come back out: views carry ``has_password``-style flags instead (DESIGN.md, invariant 6). Only ``credentials()``
decrypts, for the code that opens a connection or exports a profile.

Why a class with the store and the cipher passed in: the entry points build it per call
(``open_integrations(settings)``) and tests build it on any store; nothing is kept between calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from calsync.config import Settings
from calsync.config.reader import real_path
from calsync.crypto import KEY_ENV, Cipher, Secret, commit_key, default_key_file, load_cipher, new_key, stage_key
from calsync.errors import ConfigError
from calsync.model.users import UserOptions
from calsync.services.integration_rules import (
    ADDRESSED,
    AuthMode,
    CalendarType,
    IntegrationInput,
    check_integration,
    check_mailbox,
    check_name,
    clamp_start,
)
from calsync.state.admin_port import AdminStore, IntegrationRecord, UserRecord

__all__ = [
    "AuthMode",
    "CalendarType",
    "Credentials",
    "IntegrationInput",
    "IntegrationPatch",
    "IntegrationService",
    "IntegrationView",
    "UserOptions",
    "UserPatch",
    "UserView",
    "open_integrations",
]

logger = logging.getLogger(__name__)
_SECRETS = ("password", "client_secret", "certificate")
_PLAIN = tuple(f.name for f in fields(IntegrationInput) if f.name not in _SECRETS)


@dataclass(frozen=True, slots=True)
class IntegrationView:
    """An integration as shown to anyone: every setting, and whether each secret is set, never the secret."""

    name: str
    company: str
    connection_type: str
    auth_mode: str
    description: str
    department: str
    url: str
    autodiscover: str
    ca_bundle: str
    username: str
    client_id: str
    tenant_id: str
    two_way: bool
    days_back: int
    days_forward: int
    full_sync_minutes: int
    interval_minutes: int
    start_of_sync: datetime | None
    appointment_activity: str
    task_activity: str
    has_password: bool
    has_client_secret: bool
    has_certificate: bool


@dataclass(frozen=True, slots=True)
class IntegrationPatch:
    """The fields to change in an update; ``None`` leaves a field as it is (a secret too), and ``""`` empties a
    text field (an empty ``ca_bundle`` trusts the system's CAs again)."""

    company: str | None = None
    connection_type: str | None = None
    auth_mode: str | None = None
    description: str | None = None
    department: str | None = None
    url: str | None = None
    autodiscover: str | None = None
    ca_bundle: str | None = None
    username: str | None = None
    password: Secret | None = None
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: Secret | None = None
    certificate: Secret | None = None
    two_way: bool | None = None
    days_back: int | None = None
    days_forward: int | None = None
    full_sync_minutes: int | None = None
    interval_minutes: int | None = None
    start_of_sync: datetime | None = None
    appointment_activity: str | None = None
    task_activity: str | None = None


@dataclass(frozen=True, slots=True)
class UserView:
    """One user of an integration with its options."""

    integration: str
    business_user: str
    mailbox: str
    flags: UserOptions


@dataclass(frozen=True, slots=True)
class UserPatch:
    """The user fields to change; ``None`` leaves one as it is."""

    mailbox: str | None = None
    appointments: bool | None = None
    delete_in_calendar: bool | None = None
    delete_in_business: bool | None = None
    no_private_appointments: bool | None = None
    tasks: bool | None = None
    delete_tasks_in_calendar: bool | None = None
    delete_tasks_in_business: bool | None = None
    no_private_tasks: bool | None = None
    contacts: bool | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    """An integration's decrypted secrets, for opening its connection or exporting it; each shows as ``***``."""

    password: Secret | None = None
    client_secret: Secret | None = None
    certificate: Secret | None = None


class IntegrationService:
    """Add, read, change and remove integrations and users, validating each change before it is stored."""

    def __init__(
        self, store: AdminStore, cipher: Cipher, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._clock = clock

    def add(self, given: IntegrationInput) -> IntegrationView:
        """Validate and store a new integration; raises ``ConfigError`` naming the field at fault."""
        given = check_integration(given)
        if self._store.integration(given.name) is not None:
            raise ConfigError(f"an integration called {given.name!r} already exists", where="name")
        record = self._record(given, IntegrationRecord(given.name, given.company, "", ""))
        self._store.add_integration(record)
        logger.info("added integration %s (%s, %s)", record.name, record.company, record.connection_type)
        return _view(record)

    def integrations(self) -> list[IntegrationView]:
        """Every integration, by name."""
        return [_view(record) for record in self._store.integrations()]

    def get(self, name: str) -> IntegrationView:
        """The integration called ``name``; raises ``ConfigError`` when there is none."""
        return _view(self._stored(name))

    def update(self, name: str, patch: IntegrationPatch) -> IntegrationView:
        """Apply ``patch`` to the integration, validating the result as a whole before storing it.

        A change of server or account keeps its pairs' state: each pair is bound to the whereabouts its links were
        made on, so its next run starts afresh on the new ones and keeps the links, to take them up again if the
        integration is pointed back (a migration rolled back): the copies left there are then known as copies.
        Pairs no run has bound yet (made before pairs were bound) are forgotten with the change: nothing tells
        which server their links name, and read on the new one they would each be taken as deleted there.
        """
        current = self._stored(name)
        changes = {f.name: getattr(patch, f.name) for f in fields(patch) if getattr(patch, f.name) is not None}
        given = replace(_input(current), **changes)
        stored = {s for s in _SECRETS if getattr(current, f"{s}_enc") is not None}
        given = check_integration(given, stored, current.url if current.connection_type == "folder" else None)
        record = self._record(given, current)
        moved = whereabouts(current) != whereabouts(record)
        self._store.replace_integration(record, moved=moved)
        if moved:
            logger.warning(
                "integration %s reaches another server or account now: its users' pairs start afresh there, and take "
                "up their links again if it is pointed back",
                name,
            )
        logger.info("updated integration %s: %s", name, ", ".join(sorted(changes)) or "nothing")
        return _view(record)

    def remove(self, name: str) -> None:
        """Delete the integration with everything that was its own (users, tokens, items, journal, schedule, the
        pairs' sync state, jobs); raises ``ConfigError`` when there is none."""
        if not self._store.remove_integration(name):
            raise _unknown(name, self._store.integrations())
        logger.info("removed integration %s", name)

    def credentials(self, name: str) -> Credentials:
        """The integration's secrets, decrypted; raises ``StateError`` when the key is not the one they were
        encrypted with."""
        record = self._stored(name)
        found = {s: getattr(record, f"{s}_enc") for s in _SECRETS}
        return Credentials(**{s: self._cipher.decrypt(token) for s, token in found.items() if token is not None})

    def add_user(self, integration: str, business_user: str, mailbox: str) -> UserView:
        """Map a business user to a mailbox with every option on; refuses a user or mailbox already mapped."""
        record = self._stored(integration)
        check_name(business_user, "users.business_user")
        mailbox = check_mailbox(mailbox, record.connection_type)
        users = self._store.users(integration)
        if any(u.business_user == business_user for u in users):
            raise ConfigError(f"{business_user!r} is already a user of {integration}", where="users.business_user")
        self._check_mailbox_free(users, business_user, mailbox)
        user = UserRecord(business_user, mailbox)
        self._store.put_user(integration, user, case_blind=record.connection_type in ADDRESSED)
        logger.info("added user %s (%s) to %s", business_user, mailbox, integration)
        return UserView(integration, user.business_user, user.mailbox, user.flags)

    def users(self, integration: str) -> list[UserView]:
        """The users of an integration; raises ``ConfigError`` when it does not exist."""
        self._stored(integration)
        return [UserView(integration, u.business_user, u.mailbox, u.flags) for u in self._store.users(integration)]

    def update_user(self, integration: str, business_user: str, patch: UserPatch) -> UserView:
        """Change a user's mailbox or options; a new mailbox starts afresh (each pair's next run keeps the links of
        the old mailbox apart, for when the user comes back; a pair no run has bound yet is forgotten), so the next
        sync puts every item of the user there."""
        record = self._stored(integration)
        users = self._store.users(integration)
        current = next((u for u in users if u.business_user == business_user), None)
        if current is None:
            raise ConfigError(f"{integration} has no user {business_user!r}", where="users.business_user")
        mailbox = check_mailbox(patch.mailbox, record.connection_type) if patch.mailbox is not None else current.mailbox
        self._check_mailbox_free(users, business_user, mailbox)
        flags = {name: value for name, value in asdict(patch).items() if name != "mailbox" and value is not None}
        user = UserRecord(business_user, mailbox, replace(current.flags, **flags))
        self._store.put_user(integration, user, case_blind=record.connection_type in ADDRESSED)
        return UserView(integration, user.business_user, user.mailbox, user.flags)

    def remove_user(self, integration: str, business_user: str) -> None:
        """Delete one user of an integration with their sync state and jobs; their business items stay."""
        self._stored(integration)
        if not self._store.remove_user(integration, business_user):
            raise ConfigError(f"{integration} has no user {business_user!r}", where="users.business_user")

    @property
    def key_origin(self) -> str:
        """Where the current key came from: ``CALSYNC_SECRET_KEY`` or the key file's path."""
        return self._cipher.origin

    def rotate_key(self, new: Cipher) -> int:
        """Re-encrypt every stored secret with ``new`` in one transaction; returns how many were re-encrypted."""
        return self._store.reencrypt(lambda token: new.encrypt(self._cipher.decrypt(token)))

    def _stored(self, name: str) -> IntegrationRecord:
        record = self._store.integration(name)
        if record is None:
            raise _unknown(name, self._store.integrations())
        return record

    def _record(self, given: IntegrationInput, current: IntegrationRecord) -> IntegrationRecord:
        """The record to store: plain fields from ``given``, new secrets encrypted, other secrets kept."""
        plain: dict[str, Any] = {name: getattr(given, name) for name in _PLAIN}
        if given.start_of_sync != current.start_of_sync:  # clamped when set, not again on every later update
            plain["start_of_sync"] = clamp_start(given.start_of_sync, self._clock())
        secrets: dict[str, Any] = {
            f"{s}_enc": self._cipher.encrypt(value) if (value := getattr(given, s)) else getattr(current, f"{s}_enc")
            for s in _SECRETS
        }
        return IntegrationRecord(**plain, **secrets)

    @staticmethod
    def _check_mailbox_free(users: list[UserRecord], business_user: str, mailbox: str) -> None:
        taken = next(
            (
                u
                for u in users
                if u.mailbox.strip().casefold() == mailbox.strip().casefold() and u.business_user != business_user
            ),
            None,
        )
        if taken is not None:
            raise ConfigError(f"{mailbox!r} is already mapped to {taken.business_user!r}", where="users.mailbox")


@contextmanager
def open_integrations(settings: Settings) -> Iterator[IntegrationService]:
    """The service on the configured state database and secret key, closed when the block ends."""
    from calsync.state.admin import open_admin_store
    from calsync.state.db import database_url

    cipher = load_cipher(default_key_file(settings.state.url, settings.source))
    url = database_url(settings.state.url)
    if settings.state.password is not None:
        url = url.set(password=settings.state.password.reveal())
    store = open_admin_store(url)
    try:
        yield IntegrationService(store, cipher)
    finally:
        store.close()


def _input(record: IntegrationRecord) -> IntegrationInput:
    """The stored integration as input with no secrets given (so an update keeps them)."""
    return IntegrationInput(**{name: getattr(record, name) for name in _PLAIN})


def _view(record: IntegrationRecord) -> IntegrationView:
    plain: dict[str, Any] = {
        f.name: getattr(record, f.name) for f in fields(IntegrationView) if not f.name.startswith("has_")
    }
    has: dict[str, Any] = {f"has_{s}": getattr(record, f"{s}_enc") is not None for s in _SECRETS}
    return IntegrationView(**plain, **has)


class _Reaching(Protocol):
    """What says which server and account an integration reaches (a stored record or its view)."""

    @property
    def connection_type(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def autodiscover(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...


def whereabouts(integration: _Reaching) -> str:
    """Which server and account ``integration`` reaches, in one string that stays the same as long as they do:
    what its pairs are bound to (with each user's collection), so links made on one server are never read as
    another's (``PairState.bind``).

    Spaces around a value mean nothing (a url is stored stripped; other values, and records from before, may hold
    them), except around a folder stored before, which its connector opens as it is; a folder is its real path (a
    path through a symlink or ``..`` names the same folder); a URL on this machine that
    changes only its port is the same server (``calsync demo`` starts its CalDAV server on a free port each time).
    Never raises: an integration with a path or URL no connector can use must still be updated to a good one.
    Never holds a password: a url stored before they were refused there may have one, and bindings are shown in
    job warnings and logs (the user name stays: it names the account).
    """
    if integration.connection_type == "folder":
        url = real_path(integration.url)  # as the folder connector opens it (a relative path stored before: as is)
    else:
        url = integration.url.strip()
        try:
            parts = urlsplit(url)
            if parts.password is not None:
                host = parts.hostname or ""
                host = f"[{host}]" if ":" in host else host
                port = f":{parts.port}" if parts.port else ""
                parts = parts._replace(netloc=f"{parts.username or ''}@{host}{port}")
                url = parts.geturl()
            if parts.hostname in ("127.0.0.1", "localhost", "::1"):
                url = parts._replace(netloc=parts.hostname).geturl()
        except ValueError:  # not a URL (the connector refuses it too): as it is, but never with what may be a password
            url = url if "@" not in url else "(an unreadable URL)"
    values = (integration.autodiscover, integration.username, integration.tenant_id)
    return " ".join((integration.connection_type, url, *(value.strip() for value in values)))


def _unknown(name: str, known: list[IntegrationRecord]) -> ConfigError:
    names = ", ".join(r.name for r in known) or "none"
    return ConfigError(f"no integration called {name!r}; known: {names}", where="integration")


def rotate_secret_key(settings: Settings, given_key: Secret | None = None) -> int:
    """Re-encrypt every stored secret with a new key; returns how many secrets were re-encrypted.

    With a key file: a new key (``given_key`` or a random one) is staged beside it, the secrets are re-encrypted in
    one transaction, then the staged key replaces the old (``calsync.crypto`` explains why a crash in between is
    safe). With ``CALSYNC_SECRET_KEY``: ``given_key`` is required, and the admin sets the variable to it afterwards.
    Raises ``ConfigError`` for a malformed new key, ``StateError`` when the current key does not fit.
    """
    from calsync.services.access import open_access

    key_file = default_key_file(settings.state.url, settings.source)
    with open_integrations(settings) as service, open_access(settings) as access:
        key = given_key.reveal().encode("ascii", "replace") if given_key is not None else new_key()
        new = Cipher([key], origin="the new key")
        if service.key_origin == KEY_ENV:
            if given_key is None:
                raise ConfigError(f"the key comes from {KEY_ENV}: give the new key too", where="new key")
            return service.rotate_key(new) + access.webhooks.rotate_key(new)
        assert key_file is not None  # load_cipher needed it
        stage_key(key_file, key)
        count = service.rotate_key(new) + access.webhooks.rotate_key(new)
        commit_key(key_file)
    logger.info("re-encrypted %d secrets with a new key", count)
    return count
