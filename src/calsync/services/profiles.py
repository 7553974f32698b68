"""Integration profiles: one integration with its users in a JSON file, to move it between installations.

Why a passphrase and not the installation's key: the file travels (mail, a ticket, a USB stick) and the other
installation has a key of its own. Each secret is decrypted with this installation's key and sealed with a key
derived from the passphrase by scrypt (``calsync.crypto.seal``); importing unseals it and encrypts it with the
target's key. A wrong passphrase is a ``ConfigError`` and nothing is imported.

Why the whole file is authenticated (version 2): sealing the secrets alone let an altered file import with the
right passphrase, its server address changed, and the stored password then went to that server. The document
carries an HMAC (``mac``) over its canonical JSON, under a key derived from the same passphrase; importing checks
it before reading anything else, so a wrong passphrase or any change is refused even for a profile without
secrets. Version 1 files had no such tag and are refused: export them again.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from calsync.crypto import SCRYPT_N, PassphraseKey, Secret, new_salt
from calsync.errors import ConfigError
from calsync.model.users import UserOptions
from calsync.services.integrations import IntegrationInput, IntegrationService, IntegrationView, UserPatch

FORMAT = "calsync-integration-profile"
VERSION = 2
_SECRETS = ("password", "client_secret", "certificate")
_MAC = "mac"


def export_profile(
    service: IntegrationService, name: str, passphrase: Secret, *, rules: object = None
) -> dict[str, Any]:
    """The integration ``name``, its users and (when given) its ``rules`` as a JSON-ready document, secrets sealed
    with ``passphrase`` and the whole authenticated with it (``mac``): a change to any field makes it unreadable."""
    view = service.get(name)
    credentials = service.credentials(name)
    salt = new_salt()
    key = PassphraseKey(passphrase, salt)
    plain = {f.name: getattr(view, f.name) for f in fields(IntegrationInput) if f.name not in _SECRETS}
    if view.start_of_sync is not None:
        plain["start_of_sync"] = view.start_of_sync.isoformat()
    sealed = {s: key.seal(value) for s in _SECRETS if (value := getattr(credentials, s)) is not None}
    users = [
        {"business_user": u.business_user, "mailbox": u.mailbox, "options": asdict(u.flags)}
        for u in service.users(name)
    ]
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": 8, "p": 1, "salt": base64.b64encode(salt).decode("ascii")},
        "integration": plain,
        "secrets": sealed,
        "users": users,
    }
    if rules is not None:
        document["rules"] = rules
    document[_MAC] = key.sign(_canonical(document))
    return document


def import_profile(service: IntegrationService, document: Any, passphrase: Secret, *, where: str) -> IntegrationView:
    """Add the integration and users in ``document``; raises ``ConfigError`` (naming ``where``) for a malformed
    or altered document, a wrong passphrase or a name already taken, before anything is stored.

    Every field (``rules`` too, which the caller stores after this returns) is authenticated before any is read.
    """
    key = _verified(document, passphrase, where)
    sealed = document.get("secrets") or {}
    if not isinstance(sealed, dict) or not set(sealed) <= set(_SECRETS):
        raise ConfigError(f"'secrets' may only hold {', '.join(_SECRETS)}", where=where)
    secrets: dict[str, Any] = {s: key.unseal(str(token), where=where) for s, token in sealed.items()}
    given = _integration(document.get("integration"), secrets, where)
    users = _users(document.get("users"), where)
    view = service.add(given)
    try:
        for business_user, mailbox, flags in users:
            service.add_user(view.name, business_user, mailbox)
            service.update_user(view.name, business_user, UserPatch(**asdict(flags)))
    except BaseException:
        service.remove(view.name)  # a profile is imported whole or not at all
        raise
    return view


def write_profile(path: Path, document: dict[str, Any]) -> None:
    """Write the document readable by its owner only (the secrets are sealed, but the rest is private too)."""
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise ConfigError(f"cannot write the profile: {exc.strerror}", where=str(path)) from exc


def read_profile(path: Path) -> Any:
    """The JSON document in ``path``; raises ``ConfigError`` when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the profile: {exc.strerror}", where=str(path)) from exc
    except ValueError as exc:
        raise ConfigError(f"not JSON: {exc}", where=str(path)) from exc


def _verified(document: Any, passphrase: Secret, where: str) -> PassphraseKey:
    """The passphrase's key for ``document``, once its ``mac`` shows that nothing in it was changed."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ConfigError(f"not a calsync integration profile (version {VERSION})", where=where)
    if document.get("version") == 1:
        raise ConfigError(
            "this profile was written by an earlier calsync and only its secrets are protected; export it again "
            "with this version",
            where=where,
        )
    if document.get("version") != VERSION:
        raise ConfigError(f"not a calsync integration profile (version {VERSION})", where=where)
    key = PassphraseKey(passphrase, _salt(document.get("kdf"), where))
    body = {k: v for k, v in document.items() if k != _MAC}
    key.verify(_canonical(body), document.get(_MAC), where=where)
    return key


def _canonical(body: dict[str, Any]) -> bytes:
    """The bytes the ``mac`` covers: the document without it, as JSON with sorted keys and no spaces."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _salt(kdf: object, where: str) -> bytes:
    expected = {"name": "scrypt", "n": SCRYPT_N, "r": 8, "p": 1}
    if not isinstance(kdf, dict) or any(kdf.get(k) != v for k, v in expected.items()):
        raise ConfigError(f"unsupported key derivation; this version reads {expected}", where=where)
    try:
        return base64.b64decode(str(kdf.get("salt")), validate=True)
    except ValueError as exc:
        raise ConfigError("the salt is not base64", where=where) from exc


def _integration(plain: object, secrets: dict[str, Any], where: str) -> IntegrationInput:
    allowed = {f.name for f in fields(IntegrationInput)} - set(_SECRETS)
    if not isinstance(plain, dict) or not set(plain) <= allowed:
        unknown = sorted(set(plain) - allowed) if isinstance(plain, dict) else "not an object"
        raise ConfigError(f"'integration' is malformed ({unknown})", where=where)
    values = dict(plain)
    if values.get("start_of_sync") is not None:
        try:
            values["start_of_sync"] = datetime.fromisoformat(str(values["start_of_sync"]))
        except ValueError as exc:
            raise ConfigError("start_of_sync is not an ISO date and time", where=where) from exc
    try:
        return IntegrationInput(**values, **secrets)
    except TypeError as exc:
        raise ConfigError(f"'integration' is incomplete: {exc}", where=where) from exc


def _users(users: object, where: str) -> list[tuple[str, str, UserOptions]]:
    if not isinstance(users, list):
        raise ConfigError("'users' must be a list", where=where)
    try:
        return [(str(u["business_user"]), str(u["mailbox"]), UserOptions(**u.get("options", {}))) for u in users]
    except (TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(f"a user entry is malformed: {exc}", where=where) from exc
