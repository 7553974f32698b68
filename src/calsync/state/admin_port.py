"""The AdminStore port: integrations and their users as stored, apart from the sync state (``store.py``).

Why a port of its own: the sync engine never needs integrations, and the REST API and admin UI will reach them
only through ``calsync.services.integrations``. Records here are what the database holds: secrets are the
ciphertexts the services produced (``calsync.crypto``), never plain values, so this layer cannot leak one.
``calsync.state.admin`` implements the port on SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from calsync.model.users import UserOptions


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One business user mapped to a mailbox (EWS, Graph) or principal (CalDAV)."""

    business_user: str
    mailbox: str
    flags: UserOptions = field(default_factory=UserOptions)


@dataclass(frozen=True, slots=True)
class IntegrationRecord:
    """One integration as stored; ``*_enc`` are ciphertexts (or ``None`` when the secret is not set)."""

    name: str
    company: str
    connection_type: str
    auth_mode: str
    description: str = ""
    department: str = ""
    url: str = ""
    autodiscover: str = ""
    ca_bundle: str = ""
    username: str = ""
    password_enc: str | None = None
    client_id: str = ""
    tenant_id: str = ""
    client_secret_enc: str | None = None
    certificate_enc: str | None = None
    two_way: bool = True
    days_back: int = 30
    days_forward: int = 30
    full_sync_minutes: int = 1440
    interval_minutes: int = 20
    start_of_sync: datetime | None = None
    appointment_activity: str = ""
    task_activity: str = ""


SECRET_FIELDS = ("password_enc", "client_secret_enc", "certificate_enc")
"""The record fields that hold ciphertexts (re-encrypted together by ``AdminStore.reencrypt``)."""


class AdminStore(Protocol):
    """Integrations and users. Implementations raise ``StateError`` for their library's failures; a name that is
    taken or unknown is the caller's to check first (the services do, to name the field in the error)."""

    def add_integration(self, record: IntegrationRecord) -> None:
        """Store a new integration."""
        ...

    def integration(self, name: str) -> IntegrationRecord | None:
        """The integration called ``name``, if any."""
        ...

    def integrations(self) -> list[IntegrationRecord]:
        """Every integration, by name."""
        ...

    def replace_integration(self, record: IntegrationRecord, *, moved: bool = False) -> bool:
        """Overwrite the integration of ``record.name``; False when there is none. Its pairs' sync state stays,
        also when it reaches another server or account now: each pair is bound to the whereabouts its links were
        made on (``PairState.bind`` keeps each server's links apart). ``moved`` (it reaches another server or
        account now): its pairs no run has bound yet, whose links could name either, are forgotten at once."""
        ...

    def remove_integration(self, name: str) -> bool:
        """Delete an integration with its users, pairs' sync state and jobs, at once; False when there is none."""
        ...

    def put_user(self, integration: str, user: UserRecord, *, case_blind: bool = False) -> bool:
        """Insert or replace the user ``user.business_user``; False when the integration does not exist. A changed
        mailbox (compared without case when ``case_blind``: e-mail addresses) forgets the old one's backoff; the
        user's pairs stay, bound to the mailbox their links were made with (``PairState.bind`` keeps each
        mailbox's links apart), but for those no run has bound yet, whose links could name either: forgotten."""
        ...

    def users(self, integration: str) -> list[UserRecord]:
        """The users of an integration, by business user id."""
        ...

    def remove_user(self, integration: str, business_user: str) -> bool:
        """Delete one user with their pairs' sync state and jobs, at once; False when there is none."""
        ...

    def reencrypt(self, transform: Callable[[str], str]) -> int:
        """Replace every stored ciphertext ``c`` by ``transform(c)`` in one transaction; returns how many.

        Why one transaction: a key rotation that stopped half-way would leave secrets under two keys.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
