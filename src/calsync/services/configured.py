"""Integrations declared in the configuration file, applied to the state database (configuration as code).

The service runs what is in the database (the admin UI and the CLI edit it there). A deployment that keeps its
integrations in ``calsync.toml`` (with secrets from the environment or files) has them applied when
``calsync serve`` or ``calsync worker`` starts, and with ``calsync integrations apply``: each is added, or
updated to what the file says; users in the file are added or updated. Nothing the file does not name is
removed, so integrations made in the admin UI live beside the file's. The calendar connection's settings become
the integration's: its address, account and secrets, and its ``ca_bundle`` (a company CA) when it names one. The
file's ``conflict`` becomes the conflict policy of the integration's rules (the rest of the rules stay as the
admin UI or the API set them); with ``two_way = false`` there are no conflicts, and the stored policy is left.

Why through ``IntegrationService``: its checks and its encryption of secrets apply to these as to any other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

from calsync.config import (
    Connection,
    DavConnection,
    EwsConnection,
    FolderConnection,
    GraphConnection,
    Integration,
    Settings,
)
from calsync.crypto import Secret
from calsync.errors import ConfigError
from calsync.services.hub import HubService, open_hub
from calsync.services.integrations import (
    Credentials,
    IntegrationInput,
    IntegrationPatch,
    IntegrationView,
    UserPatch,
    open_integrations,
)

_SECRETS = ("password", "client_secret", "certificate")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying the file did: integrations added and updated, users added and updated."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    users: int = 0


def apply_configured_integrations(settings: Settings) -> Applied:
    """Add or update every ``[[integrations]]`` of the file in the database, its conflict policy in its rules (a
    change of that alone counts as updated). Raises ``ConfigError`` naming the integration whose connection is
    missing, of a kind an integration cannot use, or whose secret is unset."""
    added, updated, users = [], [], 0
    with open_integrations(settings) as service:
        known = {view.name for view in service.integrations()}
        for integration in settings.integrations:
            given = _input(integration, settings.connection(integration.calendar))
            if integration.name in known:
                patch = _changes(given, service.get(integration.name), service.credentials(integration.name))
                if patch is not None:  # an unchanged file touches nothing (an edit brings an offline one back)
                    service.update(integration.name, patch)
                    updated.append(integration.name)
            else:
                service.add(given)
                added.append(integration.name)
            present = {u.business_user for u in service.users(integration.name)}
            for user in integration.users:
                if user.business_user not in present:
                    service.add_user(integration.name, user.business_user, user.mailbox)
                options = {f.name: getattr(user.options, f.name) for f in fields(user.options)}
                service.update_user(integration.name, user.business_user, UserPatch(mailbox=user.mailbox, **options))
                users += 1
    with open_hub(settings) as hub:  # after the block above: the integrations are stored by now
        for integration in settings.integrations:
            if _apply_conflict(hub, integration) and integration.name not in added + updated:
                updated.append(integration.name)
    if added or updated:
        logger.info("configured integrations applied: %d added, %d updated", len(added), len(updated))
    return Applied(tuple(added), tuple(updated), users)


def _apply_conflict(hub: HubService, integration: Integration) -> bool:
    """Store the file's conflict policy in the integration's rules; whether they changed. Other rules are kept."""
    rules = hub.rules(integration.name)
    if not integration.two_way or rules.conflict is integration.conflict:
        return False
    hub.set_rules(integration.name, json.loads(replace(rules, conflict=integration.conflict).to_json()))
    logger.info("conflict policy of %s set to %s", integration.name, integration.conflict.value)
    return True


def _input(integration: Integration, connection: Connection) -> IntegrationInput:
    base = IntegrationInput(
        name=integration.name,
        company=integration.company,
        connection_type="folder",
        description=integration.description,
        department=integration.department,
        two_way=integration.two_way,
        days_back=integration.days_back,
        days_forward=integration.days_forward,
        interval_minutes=integration.interval_minutes,
        full_sync_minutes=integration.full_sync_minutes,
    )
    where = f"integrations.{integration.name}.calendar"
    if isinstance(connection, DavConnection):
        password = _secret(connection.password.reveal, where)
        return replace(
            base,
            connection_type=connection.type.value,
            url=connection.url if "://" in connection.url else "",
            autodiscover="" if "://" in connection.url else connection.url,  # an address: the server is found from it
            ca_bundle=_path(connection.ca_bundle),
            username=connection.username,
            password=password,
        )
    if isinstance(connection, EwsConnection):
        ews_password = _secret(connection.password.reveal, where) if connection.password is not None else None
        return replace(
            base,
            connection_type="ews",
            auth_mode=connection.auth.value,
            url=connection.url,
            autodiscover=connection.autodiscover_email,
            ca_bundle=_path(connection.ca_bundle),
            username=connection.username,
            password=ews_password,
        )
    if isinstance(connection, GraphConnection):
        secret, certificate = connection.client_secret, connection.certificate
        return replace(
            base,
            connection_type="graph",
            auth_mode="oauth",
            tenant_id=connection.tenant_id,
            client_id=connection.client_id,
            client_secret=_secret(secret.reveal, where) if secret else None,
            certificate=_secret(certificate.reveal, where) if certificate else None,
        )
    if isinstance(connection, FolderConnection):
        return replace(base, url=str(connection.path))
    raise ConfigError(f"a {connection.type} connection cannot be an integration's calendar", where=where)


def _path(path: Path | None) -> str:
    """A file the connection names, as the services store it: absolute already (the configuration's reader
    resolves a relative path against the file's folder), ``""`` for none, so removing it from the file clears it."""
    return str(path) if path is not None else ""


def _secret(reveal: Callable[[], str], where: str) -> Secret:
    """A secret read from the environment or a file the file names; ``ConfigError`` says which integration."""
    try:
        return Secret(reveal())
    except ConfigError as exc:
        raise ConfigError(f"{exc}", where=where) from None


def _changes(given: IntegrationInput, view: IntegrationView, secrets: Credentials) -> IntegrationPatch | None:
    """What the file says differently from what is stored, as a patch; ``None`` when nothing differs.

    Why not always update: an update is an admin's edit, and an edit brings an offline integration back to try
    its credentials again; re-applying an unchanged file at every start would do that at every restart.
    """
    names = {f.name for f in fields(IntegrationPatch)}
    changed: dict[str, object] = {}
    for f in fields(given):
        if f.name not in names:
            continue
        value = getattr(given, f.name)
        stored = getattr(secrets, f.name) if f.name in _SECRETS else getattr(view, f.name, None)
        if f.name in _SECRETS:
            if value is not None and (stored is None or stored.reveal() != value.reveal()):
                changed[f.name] = value
        elif value != stored:
            changed[f.name] = value
    return IntegrationPatch(**changed) if changed else None  # type: ignore[arg-type]
